"""`baton demo` end to end: the README's first command.

Runs the real binary, reads its output as a user would, and checks afterwards — from
/proc, not from the demo's word — that no agent of the demo survived and that its
temporary directory is gone: after a full run, after SIGINT or SIGTERM in the middle,
and after SIGKILL of the demo itself (the agents die with it).
"""
import http.client
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from cluster import BATON

STEP_TIMEOUT = 90  # seconds for a whole demo run; a healthy one takes under 10


def free_base_port():
    """A base port whose six demo ports (base..base+2, base+100..base+102) are free."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base > 65535 - 102:
            continue
        ports = [base + i for i in range(3)] + [base + 100 + i for i in range(3)]
        ok = True
        for p in ports:
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    raise RuntimeError("no free port range")


def processes_mentioning(text):
    """Pids of live processes whose command line contains `text` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry))
    return found


def wait_gone(text, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = processes_mentioning(text)
        if not left:
            return []
        time.sleep(0.05)
    return processes_mentioning(text)


class Demo:
    """A running `baton demo` whose output is read line by line."""

    def __init__(self, tmp_path, *args):
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        self.base = free_base_port()
        env = dict(os.environ, TMPDIR=str(self.tmpdir))
        self.proc = subprocess.Popen([BATON, "demo", "--base-port", str(self.base), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.directory = None

    def read_until(self, pattern, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"secret in (\S+)", line)
            if m and self.directory is None:
                self.directory = m.group(1)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")

    def finish(self, timeout=STEP_TIMEOUT):
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        self.output = "".join(self.lines)
        self.stderr = err
        return self.proc.returncode

    def agent_pids(self):
        return [int(p) for p in re.findall(r"started n\d \(pid (\d+)\)", "".join(self.lines))]

    def assert_nothing_left(self):
        assert self.directory and self.directory.startswith(str(self.tmpdir)), self.directory
        assert wait_gone(self.directory) == [], "agents of the demo survived it"
        for pid in self.agent_pids():
            assert not os.path.exists(f"/proc/{pid}/cmdline") or self.directory not in open(
                f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        assert not os.path.exists(self.directory), "the demo's directory was not removed"
        assert os.listdir(self.tmpdir) == []


def test_demo_runs_end_to_end(tmp_path):
    demo = Demo(tmp_path)
    demo.read_until(r"started n3")
    assert len(demo.agent_pids()) == 3
    for pid in demo.agent_pids():  # the agents run while the demo does, with our secret
        deadline = time.monotonic() + 10
        while True:  # a child shows the demo's command line until its exec
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if b"agent" in cmdline or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert b"agent" in cmdline and b"--cluster-secret-file" in cmdline and b"--insecure-peers" not in cmdline
    rc = demo.finish()
    out = demo.output
    assert rc == 0, out + demo.stderr

    first = re.search(r"(n\d) leads, term (\d+): GET /leader on n1, n2 and n3 all name \1", out)
    assert first, out
    # The demo kills whoever leads at that moment (on a starved machine a lease may
    # lapse between the two lines, so the victim need not be the first leader).
    victim = re.search(r"kill -9 (n\d) \(pid \d+\)", out)
    assert victim, out
    failover = re.search(r"failover: (n\d) answers /is-leader 200 (\d+) ms after the kill of (n\d)", out)
    assert failover, out
    assert failover.group(3) == victim.group(1) and failover.group(1) != victim.group(1)
    assert 0 < int(failover.group(2)) < 15000
    # The agents' own log shows the new office, with a higher term than the first one.
    enters = [(n, int(t)) for n, t in re.findall(r"· (n\d) enters office, term (\d+)", out)]
    assert (first.group(1), int(first.group(2))) in enters
    assert any(n == failover.group(1) and t > int(first.group(2)) for n, t in enters), out
    terms = [t for _, t in enters]
    assert terms == sorted(set(terms)), "fencing tokens strictly increase, one office per term"
    # The killed node comes back as a follower. On a quiet machine the leader keeps
    # office and term; on a starved one a lease may lapse meanwhile, and the demo must
    # then say so rather than claim "no election".
    rejoin = re.search(r"(n\d) rejoined as a follower of (n\d) \d+ ms after its restart(; .* no election|, but the leadership changed: .*)", out)
    assert rejoin and rejoin.group(1) == victim.group(1) and rejoin.group(2) != victim.group(1), out
    if "no election" in rejoin.group(3):
        assert rejoin.group(2) == failover.group(1)
    handover = re.search(r"hand-over: (n\d) answers /is-leader 200 (\d+) ms after SIGTERM to (n\d)", out)
    assert handover and handover.group(1) != handover.group(3), out
    assert re.search(rf"{handover.group(3)} exited, status 0", out), "the old leader exits cleanly after handing over"
    assert re.search(r"summary:\n(.*\n)*  failover after kill -9: \d+ ms", out), out
    assert re.search(r"\+\d+\.\d{3}s  kill -9 n\d", out), "lines are stamped with the time since the start"
    demo.assert_nothing_left()


@pytest.mark.parametrize("sig, after", [(signal.SIGINT, r"kill -9 n\d"), (signal.SIGTERM, r"started n3")])
def test_a_stop_signal_in_the_middle_leaves_nothing(tmp_path, sig, after):
    demo = Demo(tmp_path)
    demo.read_until(after)
    demo.proc.send_signal(sig)
    rc = demo.finish()
    assert rc == 128 + sig, demo.output + demo.stderr
    assert f"{signal.Signals(sig).name} received: stopping every agent" in demo.output
    assert "failover:" not in demo.output or sig != signal.SIGTERM
    demo.assert_nothing_left()


def test_agents_die_with_a_killed_demo(tmp_path):
    demo = Demo(tmp_path)
    demo.read_until(r"leads, term")
    pids = demo.agent_pids()
    assert all(os.path.exists(f"/proc/{p}") for p in pids)
    demo.proc.kill()  # SIGKILL: the demo cannot clean up; the kernel kills the agents
    demo.finish()
    assert wait_gone(demo.directory) == [], "agents outlived a SIGKILLed demo"


def test_keep_running_serves_until_ctrl_c(tmp_path):
    demo = Demo(tmp_path, "--keep-running")
    demo.read_until(r"--keep-running: n\d restarted")
    deadline = time.monotonic() + 10
    statuses = []
    while time.monotonic() < deadline:
        statuses = []
        for port in (demo.base, demo.base + 1, demo.base + 2):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                c.request("GET", "/is-leader")
                statuses.append(c.getresponse().status)
            except OSError as e:
                statuses.append(repr(e))
            finally:
                c.close()
        if sorted(map(str, statuses)) == ["200", "503", "503"]:
            break
        time.sleep(0.05)
    assert sorted(map(str, statuses)) == ["200", "503", "503"], statuses
    demo.proc.send_signal(signal.SIGINT)
    assert demo.finish() == 0, demo.output + demo.stderr
    demo.assert_nothing_left()


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    base = free_base_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", base + 101))
    blocker.listen(1)
    try:
        p = subprocess.run([BATON, "demo", "--base-port", str(base)], capture_output=True, text=True,
                           env=dict(os.environ, TMPDIR=str(tmpdir)), timeout=30)
    finally:
        blocker.close()
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"port {base + 101}" in p.stderr and "--base-port" in p.stderr
    assert p.stdout == "" and os.listdir(tmpdir) == []


def test_a_bad_base_port_is_refused(tmp_path):
    p = subprocess.run([BATON, "demo", "--base-port", "80"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    assert "--base-port" in p.stderr
