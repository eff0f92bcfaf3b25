"""Real etcd members and baton-etcd-probe candidates as processes, and the outside
checker of their offices (shared by tests/etcd and bench/etcd-backend).

Every probe prints JSON lines stamped with CLOCK_BOOTTIME (one clock for every process
on the host), so offices of different processes can be laid side by side: an office
runs from its `enter` to its `leave`, or to its last lease deadline if that came first
(answers check the clock, design section 2), or to the kill of its process.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from freeport import free_port  # noqa: E402  (outside the ephemeral range: see there)

ETCD_BIN = os.environ.get("BATON_ETCD_BIN", shutil.which("etcd") or "/usr/bin/etcd")


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)




def wait_for(predicate, timeout, what, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class EtcdMember:
    """One etcd member on loopback ports with its own data dir."""

    def __init__(self, root, name, client_port=None, peer_port=None, lifetime_s=900, host="127.0.0.1", ns=None):
        self.name = name
        # In a network namespace (`ns`), etcd listens on `host` there with fixed ports.
        self.host, self.ns = host, ns
        self.client_port = client_port or (2379 if ns else free_port())
        self.peer_port = peer_port or (2380 if ns else free_port())
        self.data_dir = os.path.join(root, name)
        self.log_path = os.path.join(root, name + ".log")
        self.proc = None
        self.killed_at = None
        self.lifetime_s = lifetime_s

    @property
    def url(self):
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://{self.host}:{self.peer_port}"

    def start(self, initial_cluster, state="new"):
        log = open(self.log_path, "ab")
        # Under `timeout` in a process group of its own: if the test process dies without
        # its teardown, etcd still ends after `lifetime_s`; `kill` takes the whole group.
        self.proc = subprocess.Popen(
            ([] if self.ns is None else ["ip", "netns", "exec", self.ns]) +
            ["timeout", "-s", "KILL", str(self.lifetime_s), ETCD_BIN, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
             "--initial-cluster-token", "baton-test"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.killed_at = None

    def kill(self):
        """kill -9 of etcd (and its timeout wrapper), recording when (CLOCK_BOOTTIME)."""
        if self.proc and self.proc.poll() is None:
            self.killed_at = now_ns()
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def post(self, path, body, timeout=1.0):
        if self.ns is not None:
            # The host has no route into the namespaces: ask from inside etcd's own.
            r = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-sf", "-m", str(timeout), "-X", "POST",
                                self.url + path, "-d", json.dumps(body)], capture_output=True, timeout=timeout + 2)
            if r.returncode != 0:
                raise OSError(f"curl {path}: {r.returncode}")
            return json.loads(r.stdout)
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())

    def healthy(self):
        try:
            self.post("/v3/kv/range", {"key": "AA=="}, timeout=0.5)
            return True
        except Exception:
            return False

    def is_leader(self):
        try:
            status = self.post("/v3/maintenance/status", {}, timeout=0.5)
            return status.get("leader") == status["header"]["member_id"]
        except Exception:
            return False


class EtcdCluster:
    """1 or 3 members started together; `endpoints` is the client URL list."""

    def __init__(self, root, size=1, lifetime_s=900, placement=None):
        """placement: optional [(host, ns)] per member (network namespaces)."""
        os.makedirs(root, exist_ok=True)
        placement = placement or [("127.0.0.1", None)] * size
        self.members = [EtcdMember(root, f"e{i + 1}", lifetime_s=lifetime_s, host=placement[i][0], ns=placement[i][1])
                        for i in range(size)]
        self.initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            m.start(self.initial)
        wait_for(lambda: all(m.healthy() for m in self.members), 30, "etcd to serve")

    @property
    def endpoints(self):
        return ",".join(m.url for m in self.members)

    def restart(self, member):
        member.start(self.initial)

    def leader(self):
        return wait_for(lambda: next((m for m in self.members if m.proc.poll() is None and m.is_leader()), None),
                        10, "an etcd leader")

    def stop(self):
        for m in self.members:
            m.kill()


class Probe:
    """One baton-etcd-probe process and the events it printed."""

    def __init__(self, binary, name, endpoints, prefix="/baton/test", ttl=2, extra=()):
        self.name = name
        self.events = []
        self.killed_at = None
        self.proc = subprocess.Popen(
            [binary, "--name", name, "--endpoints", endpoints, "--prefix", prefix, "--ttl", str(ttl), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def of(self, kind):
        return [e for e in list(self.events) if e["event"] == kind]

    def in_office(self, at=None):
        """True while its last enter has no leave and its lease deadline is ahead."""
        at = at or now_ns()
        if self.killed_at is not None:
            return False
        office = None
        for e in list(self.events):
            if e["event"] == "enter":
                office = e["deadline"]
            elif e["event"] == "renew" and office is not None:
                office = e["deadline"]
            elif e["event"] == "leave":
                office = None
        return office is not None and at < office

    def leader_name(self):
        leaders = self.of("leader")
        return leaders[-1]["name"] if leaders else None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.killed_at = now_ns()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(1)


def offices(probes):
    """Every office of every probe as (start_ns, end_ns, token, name, reason)."""
    out = []
    for p in probes:
        current = None
        for e in list(p.events):
            if e["event"] == "enter":
                current = [e["t"], e["deadline"], e["token"]]
            elif e["event"] == "renew" and current:
                current[1] = e["deadline"]
            elif e["event"] == "leave" and current:
                out.append((current[0], min(e["t"], current[1]), current[2], p.name, e["reason"]))
                current = None
        if current:
            end = current[1]
            if p.killed_at is not None:
                end = min(end, p.killed_at)
            out.append((current[0], end, current[2], p.name, "open" if p.killed_at is None else "killed"))
    return sorted(out)


def check_offices(probes):
    """The outside checker: offices never overlap and tokens strictly increase."""
    found = offices(probes)
    for a, b in zip(found, found[1:]):
        assert b[0] >= a[1], f"overlap: {b[3]} entered at {b[0]} before {a[3]}'s office ended at {a[1]}"
        assert b[2] > a[2], f"token went from {a[2]} ({a[3]}) to {b[2]} ({b[3]})"
    return found
