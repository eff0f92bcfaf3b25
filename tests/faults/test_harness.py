"""The harness's fault tools must do what they claim: the proxy delays, the fsync shim
fails flushes only while its flag file exists, the nft rules drop and duplicate, the time
namespace shifts the clock, and the schedule is a function of the seed.

Run: python3 -m pytest -q tests/faults/test_harness.py (the namespace tests need root).
"""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from faultlib import cluster, netns  # noqa: E402
from faultlib import runner  # noqa: E402
from faultlib.members import MemberOps  # noqa: E402
from faultlib.nemesis import ALL_KINDS, MEMBERSHIP_KINDS, Plan  # noqa: E402

root_only = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft")


def test_same_seed_same_schedule():
    a = Plan(42, ["n1", "n2", "n3"], 60, list(ALL_KINDS), 125, 150).describe()
    b = Plan(42, ["n1", "n2", "n3"], 60, list(ALL_KINDS), 125, 150).describe()
    c = Plan(43, ["n1", "n2", "n3"], 60, list(ALL_KINDS), 125, 150).describe()
    assert a == b and a != c


def test_pauses_outlast_the_lease():
    for seed in range(50):
        for f in Plan(seed, ["n1", "n2", "n3"], 60, ["pause"], 125, 150).faults:
            assert f["hold"] * 1000 >= 1.5 * 125


def test_membership_faults_are_behind_a_flag_and_fully_specified():
    # The default mix (and so every existing seed's schedule) is unchanged.
    assert not set(MEMBERSHIP_KINDS) & set(runner.DEFAULT_KINDS)
    assert runner.replay_kinds(runner.DEFAULT_KINDS + list(MEMBERSHIP_KINDS)) == " --membership"
    assert runner.parse_kinds("membership,kill") == ["replace", "wipe", "remove-leader", "kill"]
    seen = set()
    for seed in range(40):
        for f in Plan(seed, ["n1", "n2", "n3"], 60, list(MEMBERSHIP_KINDS), 125, 150).faults:
            seen.add(f["kind"])
            assert f["hold"] > 0
            if f["kind"] == "replace":
                assert f["stop"] in ("kill", "term") and f["order"] in ("start-first", "add-first") and f["target"]
            elif f["kind"] == "wipe":
                assert f["stop"] in ("kill", "term") and f["rejoin"] in ("in-place", "restart")
                seen.add(("wipe", f["bootstrap"]))
    assert seen == {"replace", "wipe", "remove-leader", ("wipe", True), ("wipe", False)}


class NoAgents:
    """A cluster whose agents are all down: no membership change can be sent."""
    names = ["n1", "n2"]

    def __init__(self):
        self.events = []
        self.nodes = {n: type("N", (), {"name": n, "alive": False, "paused": False, "addr": "10.213.0.9"})()
                      for n in self.names}

    def current_leader(self):
        return None

    def event(self, name, **fields):
        self.events.append(dict(fields, ev=name))


def test_a_membership_change_that_never_commits_is_reported():
    c = NoAgents()
    ops = MemberOps(c)
    ops.op_bound_s = 0.5
    assert ops.remove(c.nodes["n2"]) is False
    assert [f[:2] for f in ops.failures] == [("remove", "n2")]
    assert any(e["ev"] == "member-op-failed" and e["node"] == "n2" for e in c.events)
    # The run fails with the reason, and the summary counts it apart from safety.
    res = runner.Result(1, 3, {"replace": 1}, None, "/nonexistent", None, member_ops={"add": 1},
                        member_failures=ops.failures)
    assert res.violations == [f"membership op failed: {ops.failures[0][2]}"]
    assert "no running member" in res.violations[0]
    line, detail = runner.summary([res], 60)
    assert "1 violations" in line and "0 safety, 0 liveness, 1 membership ops failed" in detail


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_proxy_delays_both_directions(tmp_path):
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen(1)

    def serve():
        conn, _ = echo.accept()
        while True:
            data = conn.recv(100)
            if not data:
                return
            conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    cfg = tmp_path / "delays.json"
    cfg.write_text('{"peer": [100, 0]}')
    local = free_port()
    p = subprocess.Popen([sys.executable, "-m", "faultlib.proxy", str(cfg), "1",
                          f"{local}=peer=127.0.0.1:{echo.getsockname()[1]}"], cwd=HERE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "proxy ready"
        c = socket.create_connection(("127.0.0.1", local))
        t0 = time.monotonic()
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        delayed = time.monotonic() - t0
        cfg.write_text('{}')
        time.sleep(0.3)
        t0 = time.monotonic()
        c.sendall(b"y")
        assert c.recv(1) == b"y"
        direct = time.monotonic() - t0
        assert delayed >= 0.2 and direct < 0.1, (delayed, direct)
    finally:
        p.kill()
        p.wait()


def test_fsync_shim_fails_only_with_flag(tmp_path):
    shims = cluster.build_shims(os.path.join(HERE, ".build"))
    flag = tmp_path / "flag"
    code = ("import os,sys\nfd=os.open(sys.argv[1],os.O_CREAT|os.O_WRONLY)\n"
            "try:\n os.fsync(fd); os.fdatasync(fd); print('ok')\nexcept OSError as e: print(e.errno)\n")
    env = dict(os.environ, LD_PRELOAD=shims["fsyncfail.so"], BFZ_FSYNC_FLAG=str(flag))

    def attempt():
        return subprocess.run([sys.executable, "-c", code, str(tmp_path / "f")], env=env,
                              capture_output=True, text=True).stdout.strip()

    assert attempt() == "ok"
    flag.touch()
    assert attempt() == "5"  # EIO
    flag.unlink()
    assert attempt() == "ok"


@root_only
def test_namespaces_rules_and_clock_offset(tmp_path):
    netns.cleanup_leftovers()
    c = cluster.Cluster(str(tmp_path / "run"), ["n1", "n2"], {"election_timeout": (150, 300), "heartbeat": 10,
                                                             "drift": 0.05, "margin": 10}, seed=1,
                        boot_offsets={"n2": 86400})
    try:
        c.setup()
        n1, n2 = c.nodes["n1"], c.nodes["n2"]

        def reach(ns, addr):
            """A connect to a closed port: refused = reachable, timeout = dropped."""
            code = ("import socket,sys\ns=socket.socket();s.settimeout(0.5)\n"
                    "try: s.connect((sys.argv[1], 9))\nexcept ConnectionRefusedError: print('reached')\n"
                    "except OSError: print('dropped')\n")
            return netns.Network.exec_in(ns, [sys.executable, "-c", code, addr]).stdout.strip() == "reached"

        assert reach(n1.ns, n2.addr) and reach(n2.ns, n1.addr)
        c.net.one_way("n1", "n2")  # n1 → n2 dropped: n1's SYN never arrives; n2's reaches n1
        assert not reach(n1.ns, n2.addr)
        c.net.heal()
        assert reach(n1.ns, n2.addr)
        c.net.partition(["n1"], ["n2"])
        assert not reach(n1.ns, n2.addr) and not reach(n2.ns, n1.addr)
        c.net.heal()
        c.net.set_dup(["n1"], 50)
        c.net.set_loss(["n2"], 35)
        rules = netns.Network.exec_in(n1.ns, ["nft", "list", "ruleset"]).stdout
        assert "dup to 10.213.0.2" in rules and "numgen random mod 100 < 50" in rules
        rules = netns.Network.exec_in(n2.ns, ["nft", "list", "ruleset"]).stdout
        assert "numgen random mod 100 < 35 drop" in rules
        c.net.heal()
        # The offset node's CLOCK_BOOTTIME is the host's plus the offset.
        out = subprocess.run(["nsenter", "-t", str(n2.holder_pid), "-m", "-n", "-T", "cat", "/proc/uptime"],
                             capture_output=True, text=True).stdout
        host = time.clock_gettime(time.CLOCK_BOOTTIME)
        assert abs(float(out.split()[0]) - host - 86400) < 5
    finally:
        c.teardown()
    assert not [ns for ns in netns.list_namespaces() if ns.startswith(netns.PREFIX)]


@root_only
def test_leftovers_of_a_crashed_run_are_removed():
    ns = netns.PREFIX + "leftover"
    netns.run(["ip", "netns", "add", ns])
    p = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "600"])
    time.sleep(0.2)
    removed = netns.cleanup_leftovers(verbose=False)
    assert ns in removed
    assert p.wait(timeout=5) == -9
    assert ns not in netns.list_namespaces()
