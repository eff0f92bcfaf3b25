"""examples/kubernetes: the sidecar manifest parses as YAML and uses the field names and
types of the Kubernetes API (apps/v1 StatefulSet, v1 Service), checked against a small
schema written from the API reference for just the fields such a manifest uses; then the
wiring: peers, --id, probes, ports, the Secret and the volumes refer to each other.

A typo ("readinesProbe", "containerport") or a wrong type (a port as a string where
Kubernetes wants an integer) fails here instead of at `kubectl apply` time.
"""
import os
import re

import pytest

from example_support import EXAMPLES

yaml = pytest.importorskip("yaml")  # PyYAML; scripts/test installs python3-yaml

MANIFEST = os.path.join(EXAMPLES, "kubernetes", "baton-sidecar.yaml")

# --- the schema: field -> type. A type is "str", "int", "bool", "str|int" (IntOrString),
# "map" (string to string), a dict (an object with exactly those optional fields) or a
# one-element list (a list of that type). Written from the Kubernetes API reference
# (v1.30) for the fields this kind of manifest uses.
LABELS = "map"
OBJECT_META = {"name": "str", "namespace": "str", "labels": LABELS, "annotations": "map"}
HTTP_GET = {"path": "str", "port": "str|int", "host": "str", "scheme": "str",
            "httpHeaders": [{"name": "str", "value": "str"}]}
PROBE = {"httpGet": HTTP_GET, "exec": {"command": ["str"]}, "tcpSocket": {"port": "str|int", "host": "str"},
         "grpc": {"port": "int", "service": "str"},
         "initialDelaySeconds": "int", "periodSeconds": "int", "timeoutSeconds": "int",
         "successThreshold": "int", "failureThreshold": "int", "terminationGracePeriodSeconds": "int"}
ENV_VAR = {"name": "str", "value": "str",
           "valueFrom": {"fieldRef": {"fieldPath": "str", "apiVersion": "str"},
                         "secretKeyRef": {"name": "str", "key": "str", "optional": "bool"},
                         "configMapKeyRef": {"name": "str", "key": "str", "optional": "bool"},
                         "resourceFieldRef": {"resource": "str", "containerName": "str", "divisor": "str|int"}}}
CONTAINER_PORT = {"name": "str", "containerPort": "int", "protocol": "str", "hostPort": "int", "hostIP": "str"}
RESOURCES = {"requests": "map", "limits": "map"}
CONTAINER = {
    "name": "str", "image": "str", "imagePullPolicy": "str", "command": ["str"], "args": ["str"],
    "workingDir": "str", "ports": [CONTAINER_PORT], "env": [ENV_VAR],
    "envFrom": [{"prefix": "str", "secretRef": {"name": "str"}, "configMapRef": {"name": "str"}}],
    "resources": RESOURCES, "readinessProbe": PROBE, "livenessProbe": PROBE, "startupProbe": PROBE,
    "volumeMounts": [{"name": "str", "mountPath": "str", "readOnly": "bool", "subPath": "str"}],
    "securityContext": {"runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int",
                        "readOnlyRootFilesystem": "bool", "allowPrivilegeEscalation": "bool",
                        "privileged": "bool", "capabilities": {"add": ["str"], "drop": ["str"]}},
}
VOLUME = {"name": "str",
          "secret": {"secretName": "str", "defaultMode": "int", "optional": "bool",
                     "items": [{"key": "str", "path": "str", "mode": "int"}]},
          "configMap": {"name": "str", "defaultMode": "int"}, "emptyDir": {"medium": "str", "sizeLimit": "str"}}
POD_SPEC = {"containers": [CONTAINER], "initContainers": [CONTAINER], "volumes": [VOLUME],
            "terminationGracePeriodSeconds": "int", "serviceAccountName": "str",
            "securityContext": {"fsGroup": "int", "runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int"},
            "affinity": "any", "tolerations": "any", "nodeSelector": "map"}
PVC = {"metadata": OBJECT_META,
       "spec": {"accessModes": ["str"], "storageClassName": "str", "resources": RESOURCES}}
STATEFUL_SET = {
    "apiVersion": "str", "kind": "str", "metadata": OBJECT_META,
    "spec": {"serviceName": "str", "replicas": "int", "podManagementPolicy": "str", "minReadySeconds": "int",
             "updateStrategy": {"type": "str", "rollingUpdate": {"partition": "int", "maxUnavailable": "str|int"}},
             "selector": {"matchLabels": LABELS},
             "template": {"metadata": OBJECT_META, "spec": POD_SPEC},
             "volumeClaimTemplates": [PVC]},
}
SERVICE = {
    "apiVersion": "str", "kind": "str", "metadata": OBJECT_META,
    "spec": {"type": "str", "clusterIP": "str", "publishNotReadyAddresses": "bool", "selector": LABELS,
             "ports": [{"name": "str", "port": "int", "targetPort": "str|int", "protocol": "str", "nodePort": "int"}]},
}
DEPLOYMENT = {
    "apiVersion": "str", "kind": "str", "metadata": OBJECT_META,
    "spec": {"replicas": "int", "minReadySeconds": "int", "selector": {"matchLabels": LABELS},
             "strategy": {"type": "str", "rollingUpdate": {"maxUnavailable": "str|int", "maxSurge": "str|int"}},
             "template": {"metadata": OBJECT_META, "spec": POD_SPEC}},
}
CONFIG_MAP = {"apiVersion": "str", "kind": "str", "metadata": OBJECT_META, "data": "map"}
KINDS = {("apps/v1", "StatefulSet"): STATEFUL_SET, ("v1", "Service"): SERVICE,
         ("apps/v1", "Deployment"): DEPLOYMENT, ("v1", "ConfigMap"): CONFIG_MAP}
REQUIRED = {  # paths that must be present, per kind
    "StatefulSet": ["metadata.name", "spec.selector", "spec.template", "spec.serviceName"],
    "Service": ["metadata.name", "spec.ports"],
    "Deployment": ["metadata.name", "spec.selector", "spec.template"],
    "ConfigMap": ["metadata.name", "data"],
}


def check(value, schema, path, errors):
    if schema == "any":
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        for key, v in value.items():
            if key not in schema:
                errors.append(f"{path}.{key}: not a field here (known: {', '.join(sorted(schema))})")
            else:
                check(v, schema[key], f"{path}.{key}", errors)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            check(v, schema[0], f"{path}[{i}]", errors)
    elif schema == "map":
        if not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            errors.append(f"{path}: expected a map of strings to strings (quote numbers), got {value!r}")
    else:
        allowed = {"str": (str,), "int": (int,), "bool": (bool,), "str|int": (str, int)}[schema]
        if not isinstance(value, allowed) or (schema != "bool" and isinstance(value, bool)):
            errors.append(f"{path}: expected {schema}, got {value!r}")


def schema_errors(doc):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in KINDS:
        return [f"unknown apiVersion/kind {key}; known: {sorted(KINDS)}"]
    errors = []
    check(doc, KINDS[key], doc["kind"], errors)
    for p in REQUIRED[doc["kind"]]:
        node = doc
        for part in p.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            errors.append(f"{doc['kind']}.{p}: required")
    return errors


def load():
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def test_schema_catches_what_it_should():
    """The checker itself: a typo, a wrong type and a wrong kind are each reported."""
    sts = next(d for d in load() if d["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][1]
    container["readinesProbe"] = container.pop("readinessProbe")
    container["ports"][0]["containerPort"] = "7481"
    errors = schema_errors(sts)
    assert any("readinesProbe: not a field" in e for e in errors), errors
    assert any("containerPort: expected int" in e for e in errors), errors
    assert schema_errors({"apiVersion": "v1", "kind": "StatefulSet"})[0].startswith("unknown apiVersion/kind")


def test_manifest_is_valid_yaml_with_kubernetes_field_names():
    docs = load()
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "Service", "Service", "StatefulSet"]
    for d in docs:
        assert schema_errors(d) == [], schema_errors(d)
        name = d["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name


def test_manifest_wiring():
    docs = load()
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["podManagementPolicy"] == "Parallel", "OrderedReady deadlocks: no member is Ready before a majority is up"
    # Readiness is /ready (every cluster-connected member), so a rolling update can wait
    # for each replaced pod; one at a time keeps a majority.
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == 1

    # The headless Service gives the peer names and publishes pods before they are Ready.
    peers_svc = services[spec["serviceName"]]
    assert peers_svc["spec"]["clusterIP"] == "None"
    assert peers_svc["spec"]["publishNotReadyAddresses"] is True

    containers = {c["name"]: c for c in pod["containers"]}
    baton = containers["baton"]
    assert baton["args"][0] == "agent"
    # The image packaging/build-image builds (entrypoint /usr/bin/baton, user 65532).
    assert re.fullmatch(r"[a-z0-9.\-/]+/baton:\d+\.\d+\.\d+(-dev)?", baton["image"]), baton["image"]
    assert baton["securityContext"]["runAsUser"] == 65532
    env = {e["name"]: e for e in baton["env"]}
    ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
    for p in ports.values():
        assert 1 <= p <= 65535
    assert all(len(n) <= 15 for n in ports), "port names are at most 15 characters"

    # --id is the pod name, through the downward API.
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["BATON_ID"]["value"] == "$(POD_NAME)"
    # Peers: the founders, one per initial replica, named like the pods, at
    # <pod>.<headless service>:<peer port>.
    peers = dict(item.split("=", 1) for item in env["BATON_PEERS"]["value"].split(","))
    expected = {f"{sts['metadata']['name']}-{i}" for i in range(spec["replicas"])}
    assert set(peers) == expected
    for name, addr in peers.items():
        assert addr == f"{name}.{spec['serviceName']}:{ports['baton-peer']}", addr
    # A pod beyond them joins from the same template: it tells the group its stable
    # peer address, asks the founders' agents (their API port, by stable name) and joins
    # as an observer, so the voters — HAProxy's servers below — stay the founders.
    assert env["BATON_PEER_ADVERTISE"]["value"] == f"$(POD_NAME).{spec['serviceName']}:{ports['baton-peer']}"
    joins = env["BATON_JOIN"]["value"].split(",")
    assert joins == [f"{n}.{spec['serviceName']}:{ports['baton-api']}" for n in sorted(expected)], joins
    assert env["BATON_JOIN_AS"]["value"] == "observer"
    # Every BATON_* setting is one the agent knows (the names of `baton agent --help`).
    known = {"BATON_" + f.upper().replace("-", "_") for f in (
        "id peers peer-listen api-listen peer-advertise api-advertise data-dir cluster-secret-file "
        "insecure-peers bootstrap cluster-id witness election-timeout heartbeat-interval max-drift "
        "log-format log-level config admin-token-file join join-as").split()}
    assert {k for k in env if k.startswith("BATON_")} <= known, set(env) - known
    assert "BATON_INSECURE_PEERS" not in env
    assert env["BATON_API_LISTEN"]["value"].endswith(f":{ports['baton-api']}")
    assert env["BATON_PEER_LISTEN"]["value"].endswith(f":{ports['baton-peer']}")

    # Readiness is /ready on the agent's API port (by name): connected to a working cluster.
    ready = baton["readinessProbe"]["httpGet"]
    assert ready["path"] == "/ready" and ready["port"] == "baton-api"
    assert baton["livenessProbe"]["httpGet"]["path"] == "/health"
    for c in pod["containers"]:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in c:
                port = c[probe]["httpGet"]["port"]
                assert port in {p["name"] for p in c["ports"]} or port in {p["containerPort"] for p in c["ports"]}

    # The leader-only Service selects the HAProxy pods; HAProxy has one server per
    # replica at its stable name, on the application's port, checked with /is-leader on
    # the agent's API port.
    leader_svc = services["myapp-leader"]
    assert leader_svc["spec"].get("clusterIP") != "None"
    for p in peers_svc["spec"]["ports"]:
        assert p["targetPort"] in ports or p["targetPort"] in ports.values(), p
    proxy = next(d for d in docs if d["kind"] == "Deployment")
    proxy_labels = proxy["spec"]["template"]["metadata"]["labels"]
    assert leader_svc["spec"]["selector"].items() <= proxy_labels.items()
    assert not leader_svc["spec"]["selector"].items() <= labels.items(), "the leader Service must not select the app pods"
    proxy_pod = proxy["spec"]["template"]["spec"]
    proxy_ports = {p["name"]: p["containerPort"] for c in proxy_pod["containers"] for p in c.get("ports", [])}
    for p in leader_svc["spec"]["ports"]:
        assert p["targetPort"] in proxy_ports, p
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    cfg = config_map["data"]["haproxy.cfg"]
    assert {v["configMap"]["name"] for v in proxy_pod["volumes"] if "configMap" in v} == {config_map["metadata"]["name"]}
    assert "option httpchk GET /is-leader" in cfg and "http-check expect status 200" in cfg
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+) check port (\d+)", cfg, re.M)
    assert {s[0] for s in servers} == expected, servers
    for name, host, app_port, check_port in servers:
        assert host == f"{name}.{spec['serviceName']}" and int(app_port) == ports["http"] and int(check_port) == ports["baton-api"]
    assert re.search(rf"bind :{proxy_ports['http']}\b", cfg), cfg

    # The secret comes from a Secret, mounted where BATON_CLUSTER_SECRET_FILE points,
    # readable by the agent's group (fsGroup) and nobody else.
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in baton["volumeMounts"]}
    for name in mounts.values():
        assert name in volumes or name in claims, f"volumeMount {name} has no volume"
    secret_dir = os.path.dirname(env["BATON_CLUSTER_SECRET_FILE"]["value"])
    secret_volume = volumes[mounts[secret_dir]]
    assert secret_volume["secret"]["secretName"] == "baton-cluster-secret"
    assert secret_volume["secret"]["defaultMode"] & 0o007 == 0
    assert secret_volume["secret"]["defaultMode"] & 0o040, "the agent (group fsGroup) must read it"
    # The admin token (a joiner's request comes from another pod) is in the same Secret.
    assert os.path.dirname(env["BATON_ADMIN_TOKEN_FILE"]["value"]) == secret_dir
    with open(MANIFEST) as f:
        assert "--from-file=admin-token=" in f.read(), "the instructions create the admin token"
    assert pod["securityContext"]["fsGroup"] == baton["securityContext"]["runAsGroup"]
    # The data dir is a persistent claim (term and vote must survive restarts).
    assert mounts[env["BATON_DATA_DIR"]["value"]] in claims


def test_the_leader_proxys_haproxy_config_is_valid():
    """haproxy -c on the ConfigMap's haproxy.cfg (servers are resolved at run time)."""
    import shutil
    import subprocess
    import tempfile
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (scripts/test installs it)")
    cfg = next(d for d in load() if d["kind"] == "ConfigMap")["data"]["haproxy.cfg"]
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as f:
        f.write(cfg)
        f.flush()
        r = subprocess.run(["haproxy", "-c", "-f", f.name], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
