"""examples/systemd: the leader-only unit and the drop-ins pass `systemd-analyze verify`
together with packaging/baton.service (any warning fails: systemd only warns about an
unknown key or a misspelt address family), and say what the agent and the hooks need.

The capability test runs the VIP hook as an unprivileged user holding exactly the
ambient capabilities vip.conf grants, inside network namespaces: it must work with
them and fail without them. Starting the unit through --leader-unit needs the systemd
branch and a running systemd; the systemd helper's tests cover the D-Bus calls.
"""
import os
import re
import shutil
import subprocess

import pytest

from example_support import EXAMPLES, REPO
from test_hooks import VIP, addresses, hook_env, needs_netns, two_hosts  # noqa: F401 (fixture)

SYSTEMD = os.path.join(EXAMPLES, "systemd")
DROPINS = os.path.join(SYSTEMD, "baton.service.d")


def read(path):
    with open(path) as f:
        return f.read()


def setting(text, key):
    return [m.strip() for m in re.findall(rf"(?m)^{key}=(.*)$", text)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing (apt-get install systemd)")
def test_units_and_dropins_verify_clean(tmp_path):
    shutil.copy(os.path.join(REPO, "packaging", "baton.service"), tmp_path)
    shutil.copy(os.path.join(SYSTEMD, "myapp-leader.service"), tmp_path)
    shutil.copytree(DROPINS, tmp_path / "baton.service.d")
    # The programs they start are not installed here; point ExecStart at one that is.
    for unit in ("baton.service", "myapp-leader.service"):
        p = tmp_path / unit
        p.write_text(re.sub(r"(?m)^(ExecStart|ExecStartPre)=\S+", r"\1=/bin/true", p.read_text()))
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{tmp_path}:")
    argv = ["systemd-analyze", "verify", "--man=no", str(tmp_path / "baton.service"), str(tmp_path / "myapp-leader.service")]
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    # The drop-ins were read: a broken one is reported.
    (tmp_path / "baton.service.d" / "zz-broken.conf").write_text("[Service]\nRestrictAddressFamilies=AF_NOPE\n")
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert "AF_NOPE" in p.stderr


def test_leader_unit_wiring():
    unit = read(os.path.join(SYSTEMD, "myapp-leader.service"))
    assert setting(unit, "BindsTo") == ["baton.service"], "it must stop when the agent stops or dies"
    assert "[Install]" not in unit, "only the agent starts it: it must not be enabled"
    dropin = read(os.path.join(DROPINS, "leader-unit.conf"))
    assert setting(dropin, "Environment") == ["BATON_LEADER_UNIT=myapp-leader.service"]
    rule = read(os.path.join(SYSTEMD, "50-baton-leader-unit.rules"))
    assert '"org.freedesktop.systemd1.manage-units"' in rule
    assert 'subject.user == "baton"' in rule
    assert 'action.lookup("unit") == "myapp-leader.service"' in rule
    assert rule.count("{") == rule.count("}") and rule.count("(") == rule.count(")")
    service = read(os.path.join(REPO, "packaging", "baton.service"))
    assert setting(service, "User") == ["baton"]


def vip_capabilities():
    dropin = read(os.path.join(DROPINS, "vip.conf"))
    caps = setting(dropin, "AmbientCapabilities")[0].split()
    assert setting(dropin, "CapabilityBoundingSet")[0].split() == caps
    families = setting(dropin, "RestrictAddressFamilies")[0].split()
    assert {"AF_NETLINK", "AF_PACKET"} <= set(families), "ip needs netlink, arping a packet socket"
    return [c.lower().removeprefix("cap_") for c in caps]


@needs_netns
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv missing (util-linux)")
def test_vip_hook_works_with_exactly_the_dropin_capabilities(two_hosts):  # noqa: F811
    node, _ = two_hosts
    caps = ",".join("+" + c for c in vip_capabilities())
    env = hook_env("promote", 4, VIP_ADDRESS="192.0.2.100/24", VIP_DEVICE="v0", VIP_ARP_COUNT="1")

    def as_nobody(extra, event):
        e = dict(env, BATON_EVENT=event)
        return subprocess.run(["ip", "netns", "exec", node, "setpriv", "--reuid=65534", "--regid=65534",
                               "--clear-groups", "--no-new-privs", *extra, VIP],
                              env=e, capture_output=True, text=True, timeout=30)

    p = as_nobody([], "promote")
    assert p.returncode != 0, "without capabilities the hook must fail"
    assert addresses(node, "v0") == ["192.0.2.1/24"]

    with_caps = [f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set=-all,{caps}"]
    p = as_nobody(with_caps, "promote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "arping" not in p.stderr, f"arping failed with the drop-in's capabilities: {p.stderr}"
    assert "192.0.2.100/24" in addresses(node, "v0")
    p = as_nobody(with_caps, "demote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert addresses(node, "v0") == ["192.0.2.1/24"]
