"""examples/hooks: the virtual-IP hook inside network namespaces made for the test, the
fencing-token hook with the application's stale-token check, and the leader-only cron
wrapper against real agents.

The hook scripts are driven here with exactly the environment the agent gives them
(BATON_EVENT, BATON_TERM, BATON_NODE_ID, BATON_LEADER_ID, BATON_REASON). The tests at
the end run them from a real agent's --on-promote/--on-demote/--on-change.
"""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from cluster import BATON, free_port
from example_support import EXAMPLES

HOOKS = os.path.join(EXAMPLES, "hooks")
VIP = os.path.join(HOOKS, "vip")
TOKEN_HOOK = os.path.join(HOOKS, "fencing-token")
FENCED_WRITE = os.path.join(HOOKS, "fenced_write.py")
CRON = os.path.join(HOOKS, "leader-only-cron")


def hook_env(event, term, **extra):
    env = dict(os.environ, BATON_EVENT=event, BATON_TERM=str(term), BATON_NODE_ID="n1",
               BATON_LEADER_ID="n1" if event == "promote" else "",
               BATON_REASON={"promote": "election", "demote": "lease-lost", "startup": "startup"}[event])
    env.update(extra)
    return env


def run(argv, env=None, check=True):
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert p.returncode == 0, f"{argv} exited {p.returncode}: {p.stdout}{p.stderr}"
    return p


# --- virtual IP -------------------------------------------------------------------

needs_netns = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("arping") is None,
                                 reason="needs root, ip and arping (iputils-arping; scripts/test installs it)")


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair: `node` (v0, 192.0.2.1/24) where the
    hook runs, and `neighbour` (v1, 192.0.2.2/24) that accepts gratuitous ARP, so the
    test can see the announcement arrive."""
    tag = uuid.uuid4().hex[:6]
    node, neighbour = f"baton-node-{tag}", f"baton-nbr-{tag}"
    try:
        for ns in (node, neighbour):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", "v0", "netns", node, "type", "veth", "peer", "name", "v1", "netns", neighbour])
        run(["ip", "-n", node, "addr", "add", "192.0.2.1/24", "dev", "v0"])
        run(["ip", "-n", neighbour, "addr", "add", "192.0.2.2/24", "dev", "v1"])
        run(["ip", "netns", "exec", neighbour, "sysctl", "-q", "-w", "net.ipv4.conf.v1.arp_accept=1"])
        run(["ip", "-n", node, "link", "set", "v0", "up"])
        run(["ip", "-n", neighbour, "link", "set", "v1", "up"])
        yield node, neighbour
    finally:
        for ns in (node, neighbour):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def addresses(ns, dev):
    out = run(["ip", "-n", ns, "-o", "-4", "addr", "show", "dev", dev]).stdout
    return re.findall(r"inet (\S+)", out)


def mac(ns, dev):
    return re.search(r"link/ether (\S+)", run(["ip", "-n", ns, "link", "show", dev]).stdout).group(1)


def vip(ns, event, term=0, **settings):
    env = hook_env(event, term, VIP_ADDRESS="192.0.2.100/24", VIP_DEVICE="v0", VIP_ARP_COUNT="2")
    env.update(settings)
    return run(["ip", "netns", "exec", ns, VIP], env=env, check=False)


@needs_netns
def test_vip_promote_adds_and_announces_demote_removes(two_hosts):
    node, neighbour = two_hosts
    assert addresses(node, "v0") == ["192.0.2.1/24"]

    p = vip(node, "promote", 7)
    assert p.returncode == 0, p.stderr
    assert "192.0.2.100/24" in addresses(node, "v0")
    assert "term 7" in p.stdout
    # The neighbour learned the address from the gratuitous ARP, with the node's MAC.
    neigh = run(["ip", "-n", neighbour, "neigh", "show", "192.0.2.100", "dev", "v1"]).stdout
    assert mac(node, "v0") in neigh, f"no ARP entry for the VIP at the neighbour: {neigh!r}"
    # And the node answers ARP requests for it.
    run(["ip", "netns", "exec", neighbour, "arping", "-q", "-c", "1", "-w", "2", "-I", "v1", "192.0.2.100"])

    # Promote twice (a retried hook) keeps one copy of the address.
    assert vip(node, "promote", 7).returncode == 0
    assert addresses(node, "v0").count("192.0.2.100/24") == 1

    p = vip(node, "demote", 7)
    assert p.returncode == 0, p.stderr
    assert addresses(node, "v0") == ["192.0.2.1/24"]
    # Demote again, and the startup demote on a node that never had it: still success.
    assert vip(node, "demote", 7).returncode == 0
    assert vip(node, "startup", 0).returncode == 0
    assert addresses(node, "v0") == ["192.0.2.1/24"]


@needs_netns
def test_vip_refuses_to_guess_its_settings(two_hosts):
    node, _ = two_hosts
    for missing in ("VIP_ADDRESS", "VIP_DEVICE"):
        env = hook_env("promote", 3, VIP_ADDRESS="192.0.2.100/24", VIP_DEVICE="v0")
        del env[missing]
        p = run(["ip", "netns", "exec", node, VIP], env=env, check=False)
        assert p.returncode != 0 and missing in p.stderr, p.stderr
    assert addresses(node, "v0") == ["192.0.2.1/24"]
    # A device that does not exist fails the hook (the agent counts a failed promote).
    assert vip(node, "promote", 3, VIP_DEVICE="nosuch0").returncode != 0


# --- fencing token ----------------------------------------------------------------

def write_token(path, event, term):
    return run([TOKEN_HOOK], env=hook_env(event, term, FENCING_TOKEN_FILE=str(path)), check=False)


def fenced_write(token_file, store, text):
    return run([FENCED_WRITE, "--token-file", str(token_file), "--store", str(store), text], check=False)


def test_fencing_token_refuses_a_stale_leader(tmp_path):
    store = tmp_path / "store"
    old_node, new_node = tmp_path / "old-token", tmp_path / "new-token"

    assert write_token(old_node, "startup", 0).returncode == 0
    assert old_node.read_text() == "0\n"
    # Out of office (token 0): refused.
    p = fenced_write(old_node, store, "before office")
    assert p.returncode == 3 and "not in office" in p.stderr
    assert not (store / "data").exists()

    # n1 takes office in term 5 and writes.
    assert write_token(old_node, "promote", 5).returncode == 0
    assert old_node.read_text() == "5\n"
    assert fenced_write(old_node, store, "from n1, term 5").returncode == 0
    assert (store / "data").read_text() == "from n1, term 5"

    # n1 freezes without demoting; n2 takes office in term 6 and writes.
    assert write_token(new_node, "promote", 6).returncode == 0
    assert fenced_write(new_node, store, "from n2, term 6").returncode == 0

    # n1 wakes up, still holding token 5: its write is refused and changes nothing.
    p = fenced_write(old_node, store, "from n1, stale")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "token 5 is older than 6" in p.stderr
    assert (store / "data").read_text() == "from n2, term 6"
    assert (store / "highest-token").read_text() == "6\n"

    # n2 demotes: the token file says 0 and its writes stop too.
    assert write_token(new_node, "demote", 6).returncode == 0
    assert new_node.read_text() == "0\n"
    assert fenced_write(new_node, store, "after office").returncode == 3
    # A later leader writes again.
    assert write_token(old_node, "promote", 9).returncode == 0
    assert fenced_write(old_node, store, "from n1, term 9").returncode == 0


def test_fencing_token_hook_rejects_a_bad_term(tmp_path):
    f = tmp_path / "token"
    f.write_text("4\n")
    p = write_token(f, "promote", "4x")
    assert p.returncode == 1 and "not a number" in p.stderr
    assert f.read_text() == "4\n"
    assert not [x for x in os.listdir(tmp_path) if ".tmp." in x], "left a temporary file behind"


# --- leader-only cron -------------------------------------------------------------

def cron(api, marker, baton=BATON):
    env = dict(os.environ, BATON_API=api, BATON=baton)
    return run([CRON, "sh", "-c", f"echo ran >> {marker}"], env=env, check=False)


def test_leader_only_cron_runs_the_job_on_the_leader_only(tmp_path, cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, _ = c.wait_leader()
    for name in ("n1", "n2", "n3"):
        marker = tmp_path / f"ran-{name}"
        p = cron(f"127.0.0.1:{c.api_port[name]}", marker)
        assert p.returncode == 0, p.stderr
        if name == leader:
            assert marker.read_text() == "ran\n"
        else:
            assert not marker.exists(), f"the job ran on follower {name}"
            assert p.stderr == "", "a follower's skip should be quiet"


def test_leader_only_cron_reports_an_unreachable_agent(tmp_path):
    marker = tmp_path / "ran"
    p = cron(f"127.0.0.1:{free_port()}", marker)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "cannot tell whether this node leads" in p.stderr
    assert not marker.exists()
    p = run([CRON], check=False)
    assert p.returncode == 2 and "usage" in p.stderr


# --- the hooks run by a real agent ------------------------------------------------

@needs_netns
def test_vip_hook_run_by_a_real_agent(tmp_path, two_hosts):
    node, _ = two_hosts
    port, api = free_port(), free_port()
    env = dict(os.environ, VIP_ADDRESS="192.0.2.100/24", VIP_DEVICE="v0", VIP_ARP_COUNT="1")
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        ["ip", "netns", "exec", node, BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{port}",
         "--api-listen", f"127.0.0.1:{api}", "--data-dir", str(tmp_path / "data"), "--bootstrap",
         "--insecure-peers", "--on-promote", VIP, "--on-demote", VIP],
        env=env, stdout=log, stderr=log)
    try:
        end = time.monotonic() + 10
        while "192.0.2.100/24" not in addresses(node, "v0"):
            assert time.monotonic() < end, "the promote hook never added the VIP: " + (tmp_path / "agent.log").read_text()
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()
            time.sleep(0.05)
        agent.send_signal(signal.SIGTERM)  # a leader leaving office runs its demote hook
        agent.wait(timeout=30)
        assert addresses(node, "v0") == ["192.0.2.1/24"], (tmp_path / "agent.log").read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


def test_fencing_token_hook_run_by_a_real_agent(tmp_path):
    token = tmp_path / "fencing-token"
    port, api = free_port(), free_port()
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{port}", "--api-listen", f"127.0.0.1:{api}",
         "--data-dir", str(tmp_path / "data"), "--bootstrap", "--insecure-peers", "--on-change", TOKEN_HOOK],
        env=dict(os.environ, FENCING_TOKEN_FILE=str(token)), stdout=log, stderr=log)
    try:
        end = time.monotonic() + 10
        while not (token.exists() and token.read_text() != "0\n"):
            assert time.monotonic() < end, "the promote hook never wrote a token: " + (tmp_path / "agent.log").read_text()
            time.sleep(0.05)
        leader = subprocess.run([BATON, "leader", "--api", f"127.0.0.1:{api}"], capture_output=True, text=True)
        assert leader.stdout.strip() == "n1"
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", api, timeout=2)
        c.request("GET", "/leader")
        term = c.getresponse().getheader("X-Baton-Term")
        assert token.read_text() == f"{term}\n", "the token file must hold the term of the office"
        # Writes with it are accepted.
        assert fenced_write(token, tmp_path / "store", "x").returncode == 0
        agent.send_signal(signal.SIGTERM)  # leaving office: the demote writes 0
        agent.wait(timeout=30)
        assert token.read_text() == "0\n", (tmp_path / "agent.log").read_text()
        assert fenced_write(token, tmp_path / "store", "y").returncode == 3
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
