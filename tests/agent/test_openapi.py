"""The OpenAPI document (api/openapi.json) is the one description of the API: the agent
serves it, the embedded copy is current, and schemathesis finds the live agent true to it."""
import json
import os
import re
import subprocess
import sys

import pytest

from cluster import Cluster

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DOCUMENT = os.path.join(ROOT, "api", "openapi.json")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, ["n1", "n2", "n3"])
    c.start_all()
    c.wait_leader()
    yield c
    c.stop_all()


def test_embedded_document_matches_the_repository_copy():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "embed-openapi"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_agent_serves_the_document_and_it_lists_every_route(cluster):
    status, headers, served = cluster.get("n1", "/openapi.json")
    with open(DOCUMENT) as f:
        document = json.load(f)
    assert status == 200 and served == document and "X-Baton-Term" in headers
    assert set(document["paths"]) == {"/leader", "/is-leader", "/health", "/ready", "/status",
                                      "/metrics", "/resign", "/members", "/members/{name}", "/pause", "/resume",
                                      "/history", "/history/hooks", "/handover", "/openapi.json"}


def test_schemathesis_finds_no_failure(cluster, tmp_path):
    """Runs schemathesis' positive and negative examples against a live agent. The hooks
    file keeps generated long-poll waits short (a valid `wait` may hold a request for
    five minutes); the long-poll itself is tested in test_api.py. The coverage phase is
    left out: it sends the non-standard method QUERY and counts the server's 501 (RFC
    9110 §15.6.2: a method it does not recognize) as a failure; 405 with Allow for the
    standard methods is tested below. Two checks are left out because they contradict
    the API's contract, not because of a defect: `not_a_server_error` counts every 5xx,
    but 503 is this API's documented answer for "no leader known" and "not in office"
    (status_code_conformance still fails any undocumented status, such as 500); and
    `positive_data_acceptance` wants every well-formed `to` accepted, but a well-formed
    name that is not a member is refused with the documented 400."""
    hooks = tmp_path / "baton_hooks.py"
    hooks.write_text(
        "import schemathesis\n\n"
        "@schemathesis.hook\n"
        "def before_call(ctx, case, kwargs):\n"
        "    if case.query and 'wait' in case.query:\n"
        "        case.query['wait'] = '0'\n")
    leader = cluster.wait_leader()[0]
    base = f"http://127.0.0.1:{cluster.api_port[leader]}"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "baton_hooks", "PYTHONPATH": str(tmp_path)}
    r = subprocess.run(["schemathesis", "run", DOCUMENT, "--url", base, "--max-examples", "50",
                        "--request-timeout", "10", "--seed", "1", "--no-color",
                        "--phases", "examples,fuzzing",
                        "--exclude-checks", "not_a_server_error,positive_data_acceptance"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    print(r.stdout[-6000:])
    summary = r.stdout
    assert r.returncode == 0, summary[-6000:] + r.stderr[-2000:]
    assert re.search(r"Tested:\s+18\b", summary), summary[-3000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated and int(generated.group(1)) >= 50 and generated.group(1) == generated.group(2), summary[-3000:]


def test_wrong_method_gets_405_with_allow_and_head_works(cluster):
    import http.client
    port = cluster.api_port["n1"]
    for method, path, allow in [("POST", "/leader", "GET, HEAD"), ("GET", "/resign", "POST"),
                                ("DELETE", "/status", "GET, HEAD")]:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request(method, path)
        r = c.getresponse()
        r.read()
        assert r.status == 405 and r.getheader("Allow") == allow, (method, path)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("HEAD", "/status")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"" and int(r.getheader("Content-Length")) > 100


def test_the_document_and_the_agent_agree_on_every_path_and_method(cluster):
    """A method no path serves (PUT) gets 405 with Allow: the methods the agent serves
    there, which must be the document's (with HEAD beside GET), for every documented path."""
    import http.client
    with open(DOCUMENT) as f:
        document = json.load(f)
    port = cluster.api_port["n1"]
    for path, operations in document["paths"].items():
        documented = {m.upper() for m in operations} | ({"HEAD"} if "get" in operations else set())
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("PUT", path.replace("{name}", "n2"))
        r = c.getresponse()
        r.read()
        served = {m.strip() for m in (r.getheader("Allow") or "").split(",") if m.strip()}
        assert r.status == 405 and served == documented, (path, r.status, served, documented)
