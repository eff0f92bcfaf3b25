#!/usr/bin/env python3
"""bench/failover: failover after kill -9 of the leader, Baton vs a 3-member etcd,
beside the floor of design §2, and the idle footprint (RSS, CPU) per process.

Everything runs on loopback, in a fresh temp dir, and every process started here is
killed on exit (normal, error, Ctrl-C or SIGTERM). See README.md for what each figure
means.
"""
import argparse
import atexit
import http.client
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HB_MS = 50
# etcd 3.4 refuses an election timeout below 5 heartbeats ("--election-timeout[150ms]
# should be at least as 5 times as --heartbeat-interval[50ms]"), so its members keep the
# 150 ms election timeout with 30 ms heartbeats (etcd randomizes to [5, 10) ticks:
# 150..270 ms in 30 ms steps). --etcd-heartbeat-ms changes it.
ETCD_HB_MS = 30
NODES = 3                   # members per cluster (--nodes)
ETCD_ET_MS = None           # etcd --election-timeout (--etcd-election-ms; default EMIN_MS)
EMIN_MS = 150
EMAX_MS = 300
ROUND_TIMEOUT_S = 10.0      # a failover that takes longer is recorded as a failure
SETTLE_TIMEOUT_S = 30.0     # restart + healthy + quiet must finish within this
QUIET_S = 1.0               # leader and term unchanged on every member for this long

CHILDREN = []               # every Popen started here, killed on exit


def cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except Exception:
            pass


atexit.register(cleanup)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def now_ns():
    return time.monotonic_ns()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


# ---------------------------------------------------------------------------------
# Latencies for the floor: loopback TCP round trip, fsync in the data dir's filesystem
# ---------------------------------------------------------------------------------

def measure_rtt_us(n=2000):
    """Round trip of a 64-byte message over loopback TCP (TCP_NODELAY) between two
    processes (no GIL between the ends). Python adds a few µs per side, so this is an
    upper bound of the kernel's round trip; p50 in µs."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # echo server
        try:
            c, _ = ls.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                d = c.recv(64)
                if not d:
                    break
                c.sendall(d)
        finally:
            os._exit(0)
    ls.close()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * 64
    samples = []
    try:
        for i in range(n + 100):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            got = 0
            while got < 64:
                d = s.recv(64 - got)
                if not d:
                    raise RuntimeError("echo server went away")
                got += len(d)
            if i >= 100:  # warm-up
                samples.append((time.perf_counter_ns() - t0) / 1000.0)
    finally:
        s.close()
        os.waitpid(pid, 0)
    return {"p50": pct(samples, 50), "p99": pct(samples, 99), "n": len(samples), "samples": samples}


def measure_fsync_ms(directory, n=200, n_atomic=50):
    """p50 of write(64 bytes at offset 0) + fsync of one file in `directory`, the pattern
    of a term/vote or log record write; also a full atomic state write
    (temp write + fsync + rename + fsync dir) for reference."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    one = []
    try:
        for i in range(n + 10):
            t0 = time.perf_counter_ns()
            os.pwrite(fd, os.urandom(64), 0)
            os.fsync(fd)
            if i >= 10:
                one.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    atomic = []
    dfd = os.open(directory, os.O_RDONLY)
    try:
        for i in range(n_atomic):
            t0 = time.perf_counter_ns()
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            os.write(fd, os.urandom(64))
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, path)
            os.fsync(dfd)
            atomic.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        os.close(dfd)
        if os.path.exists(path):
            os.unlink(path)
    return {"p50": pct(one, 50), "p99": pct(one, 99), "n": len(one),
            "atomic_p50": pct(atomic, 50), "samples": one, "atomic_samples": atomic}


# ---------------------------------------------------------------------------------
# Clusters. Each knows how to start/kill/restart a member and how to ask a member,
# over a persistent HTTP connection, "who leads, in which term, is it you?".
# ---------------------------------------------------------------------------------

class Member:
    def __init__(self, name, api_port):
        self.name = name
        self.api_port = api_port
        self.proc = None
        self.log_path = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Conn:
    """A keep-alive HTTP connection to one member; reconnects once on failure."""

    def __init__(self, port, timeout=1.0):
        self.port = port
        self.timeout = timeout
        self.c = None

    def _open(self):
        self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.c.connect()
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self._open()
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.c.request(method, path, body=body, headers=headers)
                return True
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return False
        return False

    def recv(self):
        """Status and body of the answer to the last send(), or (None, None)."""
        try:
            r = self.c.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException, AttributeError):
            self.close()
            return None, None

    def close(self):
        if self.c is not None:
            try:
                self.c.close()
            except Exception:
                pass
        self.c = None


class Cluster:
    system = "?"

    def __init__(self, workdir):
        self.workdir = workdir
        self.members = []

    # --- to be provided by subclasses
    def start_member(self, m, first):
        raise NotImplementedError

    def request(self):
        """(method, path, body) of the status request."""
        raise NotImplementedError

    def parse(self, m, status, body):
        """-> dict(leader=name|None, term=int|None, self=bool) or None if no answer."""
        raise NotImplementedError

    # --- shared
    def ask(self, m, conn=None):
        own = conn is None
        conn = conn or Conn(m.api_port, timeout=0.5)
        try:
            method, path, body = self.request()
            if not conn.send(method, path, body):
                return None
            status, data = conn.recv()
            if status is None:
                return None
            return self.parse(m, status, data)
        finally:
            if own:
                conn.close()

    def start(self):
        for m in self.members:
            self.start_member(m, first=True)

    def kill(self, m):
        m.proc.send_signal(signal.SIGKILL)

    def reap(self, m):
        try:
            m.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.system} {m.name} did not die after SIGKILL")

    def snapshot(self):
        return {m.name: (self.ask(m) if m.alive() else None) for m in self.members}

    def settled_view(self, snap):
        """(leader, term) if every member answers, agrees on leader and term, and
        exactly the leader says it is itself; else None."""
        views = list(snap.values())
        if any(v is None for v in views):
            return None
        leaders = {v["leader"] for v in views}
        terms = {v["term"] for v in views}
        if len(leaders) != 1 or len(terms) != 1 or None in leaders or None in terms:
            return None
        leader = leaders.pop()
        if [n for n, v in snap.items() if v["self"]] != [leader]:
            return None
        return leader, terms.pop()

    def wait_settled(self, timeout=SETTLE_TIMEOUT_S, quiet=QUIET_S):
        """Wait until every member is up and agrees on one leader and term, unchanged
        for `quiet` seconds. Returns (leader, term)."""
        deadline = time.monotonic() + timeout
        stable_since, last = None, None
        while time.monotonic() < deadline:
            for m in self.members:
                if not m.alive():
                    raise RuntimeError(f"{self.system} {m.name} exited with {m.proc.returncode}; log: {m.log_path}")
            view = self.settled_view(self.snapshot())
            t = time.monotonic()
            if view is None or view != last:
                stable_since, last = (t if view else None), view
            elif t - stable_since >= quiet:
                return view
            time.sleep(0.05)
        raise RuntimeError(f"{self.system}: cluster not settled within {timeout:.0f}s (last view {last})")


class EtcdCluster(Cluster):
    system = "etcd"

    def __init__(self, workdir, etcd_bin):
        super().__init__(workdir)
        self.bin = etcd_bin
        self.peer_ports = {}
        for i in range(1, NODES + 1):
            m = Member(f"e{i}", free_port())
            self.peer_ports[m.name] = free_port()
            self.members.append(m)
        self.initial = ",".join(f"{m.name}=http://127.0.0.1:{self.peer_ports[m.name]}" for m in self.members)
        self.id_to_name = {}

    def start_member(self, m, first):
        d = os.path.join(self.workdir, "etcd", m.name)
        os.makedirs(d, exist_ok=True)
        m.log_path = os.path.join(self.workdir, "etcd", m.name + ".log")
        args = [self.bin, "--name", m.name, "--data-dir", os.path.join(d, "data"),
                "--listen-client-urls", f"http://127.0.0.1:{m.api_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{m.api_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[m.name]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[m.name]}",
                "--initial-cluster", self.initial,
                "--initial-cluster-token", "bench-failover",
                "--initial-cluster-state", "new",  # ignored once the data dir holds a member
                "--heartbeat-interval", str(ETCD_HB_MS), "--election-timeout", str(ETCD_ET_MS or EMIN_MS),
                "--pre-vote=true",
                "--logger", "zap", "--log-outputs", "stderr"]
        # unsafe-no-fsync is never passed: etcd fsyncs its WAL as it does in production.
        with open(m.log_path, "ab") as log:
            m.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        CHILDREN.append(m.proc)

    def request(self):
        return "POST", "/v3/maintenance/status", "{}"

    def parse(self, m, status, body):
        if status != 200:
            return None
        try:
            j = json.loads(body)
            me = j["header"]["member_id"]
            self.id_to_name[me] = m.name
            lead = j.get("leader", "0")
            term = int(j.get("raftTerm", j["header"].get("raft_term", 0)))
        except (ValueError, KeyError):
            return None
        leader = None if lead in ("0", 0) else self.id_to_name.get(lead, "id:" + str(lead))
        return {"leader": leader, "term": term, "self": lead == me}


class BatonCluster(Cluster):
    system = "baton"

    def __init__(self, workdir, baton_bin, insecure):
        super().__init__(workdir)
        self.bin = baton_bin
        self.insecure = insecure
        self.peer_ports = {}
        for i in range(1, NODES + 1):
            m = Member(f"n{i}", free_port())
            self.peer_ports[m.name] = free_port()
            self.members.append(m)
        self.peers = ",".join(f"{m.name}=127.0.0.1:{self.peer_ports[m.name]}" for m in self.members)
        self.secret = os.path.join(workdir, "baton", "secret")
        os.makedirs(os.path.dirname(self.secret), exist_ok=True)
        with open(os.open(self.secret, os.O_CREAT | os.O_WRONLY, 0o600), "wb") as f:
            f.write(os.urandom(32))

    def start_member(self, m, first):
        d = os.path.join(self.workdir, "baton", m.name)
        m.log_path = d + ".log"
        args = [self.bin, "agent", "--id", m.name, "--peers", self.peers,
                "--peer-listen", f"127.0.0.1:{self.peer_ports[m.name]}",
                "--api-listen", f"127.0.0.1:{m.api_port}",
                "--data-dir", d,
                "--election-timeout", f"{EMIN_MS}ms..{EMAX_MS}ms",
                "--heartbeat-interval", f"{HB_MS}ms",
                "--log-format", "json"]
        args += ["--insecure-peers"] if self.insecure else ["--cluster-secret-file", self.secret]
        if first:
            args.append("--bootstrap")
        with open(m.log_path, "ab") as log:
            m.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        CHILDREN.append(m.proc)

    def request(self):
        return "GET", "/leader", None

    def parse(self, m, status, body):
        try:
            j = json.loads(body)
        except ValueError:
            return None
        if status == 503:
            return {"leader": None, "term": None, "self": False}
        if status != 200:
            return None
        try:
            return {"leader": j["leader"]["id"], "term": int(j["term"]), "self": bool(j["self"])}
        except (KeyError, TypeError, ValueError):
            return None

    def timeline(self, m, since_boot_ns, term):
        """Milliseconds from `since_boot_ns` (CLOCK_BOOTTIME at the kill) to the first of
        each step `m` logged towards office in `term`: leader connection lost,
        pre-candidate, candidate, leader, office-enter."""
        steps = {}
        try:
            with open(m.log_path, "rb") as f:
                for line in f:
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    b = int(j.get("boottime_ns", 0))
                    if b < since_boot_ns:
                        continue
                    ev = j.get("event")
                    key = None
                    if ev == "leader-connection-lost":
                        key = "conn_lost"
                    elif ev == "role" and j.get("role") in ("preCandidate", "candidate", "leader"):
                        key = j["role"]
                    elif ev == "office-enter" and int(j.get("term", -1)) == term:
                        key = "office_enter"
                    if key and key not in steps:
                        steps[key] = (b - since_boot_ns) / 1e6
        except OSError:
            pass
        return steps


# ---------------------------------------------------------------------------------
# One failover round
# ---------------------------------------------------------------------------------

class Poller:
    """Polls each survivor every `interval_us` from one thread, with up to `width`
    keep-alive connections per survivor in flight, so that a member slow to answer
    (etcd's JSON gateway takes ~1 ms, several under load) is still asked every interval.
    Raw sockets and a minimal HTTP/1.1 response reader: http.client is too slow here."""

    def __init__(self, cl, survivors, interval_us, width):
        self.cl, self.survivors = cl, survivors
        self.interval_ns = max(1, interval_us) * 1000
        method, path, body = cl.request()
        req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body is not None:
            req += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        else:
            req += "\r\n"
        self.req = req.encode()
        self.sel = selectors.DefaultSelector()
        self.socks = {m.name: [] for m in survivors}   # name -> [slot]
        for m in survivors:
            for _ in range(width):
                slot = {"m": m, "sock": None, "busy": False, "buf": b"", "t_send": 0}
                self._connect(slot)
                self.socks[m.name].append(slot)
        self.next_send = {m.name: 0 for m in survivors}
        self.sends = {m.name: [] for m in survivors}
        self.latencies = []

    def _connect(self, slot):
        s = socket.create_connection(("127.0.0.1", slot["m"].api_port), timeout=1.0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        slot["sock"], slot["busy"], slot["buf"] = s, False, b""

    def _drop(self, slot):
        try:
            self.sel.unregister(slot["sock"])
        except (KeyError, ValueError):
            pass
        slot["sock"].close()
        slot["busy"] = False
        try:
            self._connect(slot)
        except OSError:
            slot["sock"] = None

    def warm(self):
        """One request on every connection before the kill (and a check the answers parse)."""
        for slots in self.socks.values():
            for slot in slots:
                s = slot["sock"]
                s.setblocking(True)
                s.sendall(self.req)
                buf = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        raise RuntimeError(f"{self.cl.system} {slot['m'].name} closed the poll connection")
                    buf += d
                    r = parse_http(buf)
                    if r:
                        break
                s.setblocking(False)

    def close(self):
        for slots in self.socks.values():
            for slot in slots:
                if slot["sock"] is not None:
                    slot["sock"].close()
        self.sel.close()

    def run(self, deadline_ns, accept):
        """Poll until accept(member, view, t_recv) returns True or the deadline passes."""
        while True:
            now = now_ns()
            if now > deadline_ns:
                return False
            for m in self.survivors:
                if now < self.next_send[m.name]:
                    continue
                for slot in self.socks[m.name]:
                    if slot["sock"] is None:
                        try:
                            self._connect(slot)
                        except OSError:
                            continue
                    if slot["busy"]:
                        continue
                    try:
                        slot["sock"].send(self.req)
                    except OSError:
                        self._drop(slot)
                        continue
                    slot["busy"], slot["t_send"], slot["buf"] = True, now, b""
                    self.sel.register(slot["sock"], selectors.EVENT_READ, slot)
                    self.sends[m.name].append(now)
                    self.next_send[m.name] = now + self.interval_ns
                    break
            wait = min(self.next_send.values()) - now_ns()
            for key, _ in self.sel.select(timeout=max(0, wait) / 1e9):
                slot = key.data
                try:
                    d = slot["sock"].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    self._drop(slot)
                    continue
                slot["buf"] += d
                r = parse_http(slot["buf"])
                if not r:
                    continue
                t = now_ns()
                self.sel.unregister(slot["sock"])
                slot["busy"] = False
                self.latencies.append((t - slot["t_send"]) / 1e6)
                status, body = r
                v = self.cl.parse(slot["m"], status, body)
                if v and accept(slot["m"], v, t):
                    return True

    def send_gaps_ms(self):
        gaps = []
        for ts in self.sends.values():
            gaps += [(b - a) / 1e6 for a, b in zip(ts, ts[1:])]
        return gaps


def parse_http(buf):
    """(status, body) once `buf` holds a whole HTTP/1.1 response, else None."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = buf[:i].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    hdr = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip()
    rest = buf[i + 4:]
    if "content-length" in hdr:
        n = int(hdr["content-length"])
        return (status, rest[:n]) if len(rest) >= n else None
    if hdr.get("transfer-encoding", "").lower() == "chunked":
        body, pos = b"", 0
        while True:
            j = rest.find(b"\r\n", pos)
            if j < 0:
                return None
            size = int(rest[pos:j].split(b";")[0], 16)
            if size == 0:
                return (status, body) if rest.find(b"\r\n", j + 2) >= 0 else None
            if len(rest) < j + 2 + size + 2:
                return None
            body += rest[j + 2:j + 2 + size]
            pos = j + 2 + size + 2
    return (status, rest) if status in (204, 304) else None


def failover_round(cl, poll_interval_us, width):
    leader, term = cl.wait_settled()
    victim = next(m for m in cl.members if m.name == leader)
    survivors = [m for m in cl.members if m is not victim]
    poller = Poller(cl, survivors, poll_interval_us, width)
    state = {"first_self": None, "result": None}
    try:
        poller.warm()
        t_boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        t0 = now_ns()
        cl.kill(victim)

        def accept(m, v, t):
            if v["self"]:
                if state["first_self"] is None:
                    state["first_self"] = (t - t0) / 1e6
                if v["term"] is not None and v["term"] > term:
                    state["result"] = {"ms": (t - t0) / 1e6, "new_leader": m.name, "new_term": v["term"]}
                    return True
            return False

        poller.run(t0 + int(ROUND_TIMEOUT_S * 1e9), accept)
    finally:
        poller.close()
    cl.reap(victim)
    gaps = poller.send_gaps_ms()
    lat = poller.latencies
    result = state["result"]
    out = {"victim": victim.name, "old_term": term, "polls": len(lat),
           "poll_gap_max_ms": max(gaps) if gaps else None,
           "poll_gap_p99_ms": pct(gaps, 99) if gaps else None,
           "answer_p50_ms": pct(lat, 50) if lat else None,
           "answer_max_ms": max(lat) if lat else None,
           "first_self_ms": state["first_self"]}
    if result is None:
        out.update({"ms": None, "failed": True})
    else:
        out.update(result)
        out["term_increment"] = result["new_term"] - term
        if isinstance(cl, BatonCluster):
            m = next(x for x in cl.members if x.name == result["new_leader"])
            out["timeline"] = cl.timeline(m, t_boot, result["new_term"])
            out["office_enter_ms"] = out["timeline"].get("office_enter")
    cl.start_member(victim, first=False)
    return out


# ---------------------------------------------------------------------------------
# Idle footprint
# ---------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def idle_footprint(clusters, seconds):
    procs = [(cl.system, m) for cl in clusters for m in cl.members]
    start = {m.name: proc_cpu_ticks(m.pid) for _, m in procs}
    t0 = time.monotonic()
    rss_max = {m.name: proc_rss_kib(m.pid) for _, m in procs}
    end = t0 + seconds
    while True:  # sample RSS every 5 s (cheap, /proc only)
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(5.0, left))
        for _, m in procs:
            r = proc_rss_kib(m.pid)
            rss_max[m.name] = max(rss_max[m.name], r or 0)
    wall = time.monotonic() - t0
    out = []
    for system, m in procs:
        if not m.alive():
            raise RuntimeError(f"{system} {m.name} died during the idle window")
        ticks = proc_cpu_ticks(m.pid) - start[m.name]
        out.append({"system": system, "member": m.name, "pid": m.pid,
                    "rss_mib": proc_rss_kib(m.pid) / 1024.0, "rss_max_mib": rss_max[m.name] / 1024.0,
                    "cpu_pct": 100.0 * ticks / CLK_TCK / wall, "cpu_s": ticks / CLK_TCK})
    return {"seconds": wall, "procs": out}


# ---------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = open("/proc/loadavg").read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?") if hasattr(platform, "freedesktop_os_release") else "?",
            "loadavg_at_start": " ".join(load)}


def summarize(rounds):
    ok = [r["ms"] for r in rounds if r.get("ms") is not None]
    s = {"n": len(rounds), "ok": len(ok), "failed": len(rounds) - len(ok)}
    if ok:
        s.update({"p50": pct(ok, 50), "p99": pct(ok, 99), "max": max(ok), "min": min(ok),
                  "mean": statistics.fmean(ok)})
    incs = [r["term_increment"] for r in rounds if r.get("term_increment") is not None]
    s["split"] = sum(1 for i in incs if i > 1)
    # A term that rose between one round's new leader and the next round's kill: an
    # election nobody asked for while the killed member restarted and the cluster settled.
    s["unasked"] = sum(1 for a, b in zip(rounds, rounds[1:])
                       if a.get("new_term") is not None and b["old_term"] > a["new_term"])
    gaps = [r["poll_gap_max_ms"] for r in rounds if r.get("poll_gap_max_ms") is not None]
    gp99 = [r["poll_gap_p99_ms"] for r in rounds if r.get("poll_gap_p99_ms") is not None]
    if gaps:
        s["poll_gap_p99_ms"] = pct(gp99, 50)
        s["poll_gap_max_ms"] = max(gaps)
    al = [r["answer_p50_ms"] for r in rounds if r.get("answer_p50_ms") is not None]
    am = [r["answer_max_ms"] for r in rounds if r.get("answer_max_ms") is not None]
    if al:
        s["answer_p50_ms"] = pct(al, 50)
        s["answer_max_ms"] = max(am)
    firsts = [r["first_self_ms"] for r in rounds if r.get("first_self_ms") is not None]
    if firsts:
        s["first_self_p50"] = pct(firsts, 50)
        s["first_self_p99"] = pct(firsts, 99)
    tl = [r["timeline"] for r in rounds if r.get("timeline")]
    if tl:
        s["timeline_p50"] = {k: pct([t[k] for t in tl if k in t], 50)
                             for k in ("conn_lost", "preCandidate", "candidate", "leader", "office_enter")
                             if any(k in t for t in tl)}
        steps = (("preCandidate", "candidate"), ("candidate", "leader"), ("leader", "office_enter"))
        s["timeline_step_p50"] = {f"{a}->{b}": pct([t[b] - t[a] for t in tl if a in t and b in t], 50)
                                  for a, b in steps if any(a in t and b in t for t in tl)}
    oe = [r["office_enter_ms"] for r in rounds if r.get("office_enter_ms") is not None]
    if oe:
        s["office_enter_p50"] = pct(oe, 50)
        s["office_enter_p99"] = pct(oe, 99)
    return s


def fmt(v, nd=1):
    return "—" if v is None or (isinstance(v, float) and v != v) else f"{v:.{nd}f}"


def render(rep):
    L = []
    mc = rep["machine"]
    L.append("bench/failover — failover after kill -9 of the leader, and idle footprint")
    L.append(f"date:    {rep['date']}")
    L.append(f"command: {rep['command']}")
    L.append(f"machine: {mc['nproc']} CPUs ({mc['cpu']}), kernel {mc['kernel']}, {mc['os']}; "
             f"loadavg at start {mc['loadavg_at_start']}, at end {rep.get('loadavg_at_end', '?')} (shared machine: other builds run beside this)")
    L.append(f"versions: {rep['versions']}")
    L.append(f"settings: {NODES} members per cluster, election timeout {EMIN_MS}..{EMAX_MS} ms, heartbeat {HB_MS} ms (etcd: --election-timeout={ETCD_ET_MS or EMIN_MS} "
             f"--heartbeat-interval={rep.get('etcd_hb_ms', ETCD_HB_MS)} --pre-vote=true, as etcd 3.4 wants election ≥ 5 heartbeats), "
             f"poll interval {rep['poll_interval_us']} µs per survivor ({rep['poll_width']} connections each), "
             f"niceness {rep['niceness']}, data dirs in {rep['workdir_fs']}")
    L.append("")
    fl = rep["floor"]
    L.append("Floor of design §2 (from latencies measured in this run):")
    L.append(f"  Emin − hb/2                         {fmt(fl['stickiness_ms'], 3):>9} ms")
    L.append(f"  pre-vote + vote + first lease round {fmt(fl['rtts_ms'], 3):>9} ms  (3 × loopback TCP RTT p50 {fmt(fl['rtt_us'], 1)} µs)")
    L.append(f"  2 fsyncs                            {fmt(fl['fsyncs_ms'], 3):>9} ms  (2 × write+fsync p50 {fmt(fl['fsync_ms'], 3)} ms; p99 {fmt(fl['fsync_p99_ms'], 3)}; atomic state write p50 {fmt(fl['atomic_ms'], 3)} ms)")
    if fl.get("fsync_n"):
        L.append(f"  (pooled samples taken at the start, after every round and at the end: {fl['rtt_n']} round trips, {fl['fsync_n']} fsyncs; "
                 f"fsync p50 at the start {fmt(rep.get('fsync_at_start_p50_ms'), 3)} ms, at the end {fmt(rep.get('fsync_at_end_p50_ms'), 3)} ms)")
    L.append(f"  floor                               {fmt(fl['floor_ms'], 3):>9} ms")
    L.append(f"  (issue 7's simpler floor, Emin + 1 round trip + 1 fsync: {fmt(EMIN_MS + fl['rtt_us'] / 1000 + fl['fsync_ms'], 3)} ms)")
    L.append("")
    sums = rep["summary"]
    L.append("Failover, kill -9 → a survivor's status says it leads in a higher term (ms):")
    L.append(f"  {'system':<7} {'rounds':>6} {'p50':>8} {'p99':>8} {'max':>8} {'min':>8} {'failed':>6} {'split':>6}  {'poll gap p99/max':>16}  {'answer p50/max':>14}")
    for sysname in ("baton", "etcd"):
        s = sums.get(sysname)
        if not s:
            continue
        L.append(f"  {sysname:<7} {s['n']:>6} {fmt(s.get('p50')):>8} {fmt(s.get('p99')):>8} {fmt(s.get('max')):>8} "
                 f"{fmt(s.get('min')):>8} {s['failed']:>6} {s['split']:>6}  {fmt(s.get('poll_gap_p99_ms'), 2):>7}/{fmt(s.get('poll_gap_max_ms'), 2):<8}  {fmt(s.get('answer_p50_ms'), 2):>6}/{fmt(s.get('answer_max_ms'), 2)}")
    e = sums.get("etcd")
    if e and e.get("first_self_p50") is not None:
        L.append(f"  etcd: first status naming itself leader (any term, before its first entry applies): "
                 f"p50 {fmt(e['first_self_p50'])}, p99 {fmt(e['first_self_p99'])} ms")
    b = sums.get("baton")
    if b and b.get("office_enter_p50") is not None:
        L.append(f"  baton: kill → office-enter in the agent's log (CLOCK_BOOTTIME, no polling delay): "
                 f"p50 {fmt(b['office_enter_p50'])}, p99 {fmt(b['office_enter_p99'])} ms")
    if b and b.get("timeline_p50"):
        L.append("  baton: the new leader's own log, ms after the kill, p50 over rounds: " +
                 ", ".join(f"{k} {fmt(v)}" for k, v in b["timeline_p50"].items()))
        tl, st = b["timeline_p50"], b.get("timeline_step_p50", {})
        if "preCandidate" in tl and len(st) == 3:
            L.append(f"  baton: vs the floor: campaign starts {tl['preCandidate'] - fl['stickiness_ms']:+.1f} ms after Emin − hb/2; "
                     f"per round (p50): pre-vote round {st['preCandidate->candidate']:.1f}, vote round {st['candidate->leader']:.1f}, "
                     f"lease round {st['leader->office_enter']:.1f} ms (floor allows {fl['rtts_ms'] + fl['fsyncs_ms']:.1f} for all three; "
                     f"a vote needs the candidate's and the voter's atomic state write, p50 {fl['atomic_ms']:.2f} ms each here)")
    if e:
        L.append(f"  etcd split votes (term rose by more than one): {e['split']} of {e['ok']} rounds")
    for sysname in ("baton", "etcd"):
        s = sums.get(sysname)
        if s and s.get("unasked"):
            L.append(f"  {sysname}: {s['unasked']} times the term rose again while the killed member restarted and the cluster settled (between rounds)")
    L.append("")
    if b and e and b.get("p50") and e.get("p50"):
        r50, r99 = b["p50"] / e["p50"], b["p99"] / e["p99"]
        f = fl["floor_ms"]
        L.append("Targets:")
        L.append(f"  ours p50 {fmt(b['p50'])} ≤ floor + 15 = {fmt(f + 15)} ms: {'yes' if b['p50'] <= f + 15 else 'NO'}")
        L.append(f"  ours p99 {fmt(b['p99'])} ≤ floor + 100 = {fmt(f + 100)} ms: {'yes' if b['p99'] <= f + 100 else 'NO'}")
        L.append(f"  ours/etcd p50 {r50:.2f} ≤ 0.9: {'yes' if r50 <= 0.9 else 'NO'}")
        L.append(f"  ours/etcd p99 {r99:.2f} ≤ 0.7: {'yes' if r99 <= 0.7 else 'NO'}")
        L.append("")
    elif e and e.get("p50"):
        f = fl["floor_ms"]
        L.append(f"etcd above the floor: p50 +{e['p50'] - f:.1f} ms, p99 +{e['p99'] - f:.1f} ms (Baton not run)")
        L.append("")
    idle = rep.get("idle")
    if idle:
        L.append(f"Idle footprint over {idle['seconds']:.1f} s (both clusters idle side by side, nothing polling):")
        L.append(f"  {'system':<7} {'member':<6} {'VmRSS MiB':>10} {'max MiB':>8} {'CPU %':>7} {'CPU s':>7}  role")
        for p in idle["procs"]:
            L.append(f"  {p['system']:<7} {p['member']:<6} {p['rss_mib']:>10.1f} {p['rss_max_mib']:>8.1f} {p['cpu_pct']:>7.2f} {p['cpu_s']:>7.2f}  {p.get('role', '')}")
        ag = [p for p in idle["procs"] if p["system"] == "baton"]
        if ag:
            rmax = max(p["rss_max_mib"] for p in ag)
            cmax = max(p["cpu_pct"] for p in ag)
            L.append(f"  targets per agent: RSS ≤ 15 MiB: {'yes' if rmax <= 15 else 'NO'} (max {rmax:.1f}); "
                     f"CPU ≤ 0.5 % of a core: {'yes' if cmax <= 0.5 else 'NO'} (max {cmax:.2f} %)")
        L.append("  (CPU from utime+stime in /proc/PID/stat, resolution 1/%d s; RSS = VmRSS at the end, max = largest 5-s sample)" % CLK_TCK)
        L.append("")
    per = rep.get("rounds", {})
    for sysname, rs in per.items():
        L.append(f"{sysname} rounds (ms): " + " ".join(fmt(r.get("ms"), 1) + ("" if r.get("term_increment", 1) <= 1 else f"[+{r['term_increment']}]") for r in rs))
    return "\n".join(L) + "\n"


def main():
    global ETCD_HB_MS, NODES, ETCD_ET_MS, EMIN_MS, EMAX_MS, HB_MS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=50, help="kill -9 rounds per system (default 50)")
    ap.add_argument("--system", choices=["etcd", "baton", "both"], default="both")
    ap.add_argument("--idle-seconds", type=float, default=60, help="idle footprint window (default 60; 0 skips)")
    ap.add_argument("--report", required=True, help="file to write the text report to (JSON beside it, .json)")
    ap.add_argument("--baton-bin", default=None, help="the baton executable (default: .build/release/baton of this checkout)")
    ap.add_argument("--etcd-bin", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--insecure-peers", action="store_true", help="run Baton without a cluster secret (default: a 32-byte secret file)")
    ap.add_argument("--poll-interval-us", type=int, default=500, help="interval between polls of each survivor (default 500 µs; 0 = back to back)")
    ap.add_argument("--poll-width", type=int, default=4, help="keep-alive connections in flight per survivor (default 4)")
    ap.add_argument("--etcd-heartbeat-ms", type=int, default=ETCD_HB_MS, help="etcd heartbeat (default 30: etcd 3.4 wants election timeout >= 5 heartbeats)")
    ap.add_argument("--nodes", type=int, default=3, help="members per cluster, 3..9 (default 3)")
    ap.add_argument("--election-timeout", default=None, help="Baton's election timeout MIN..MAX in ms, e.g. 50..100 (default 150..300)")
    ap.add_argument("--heartbeat-ms", type=int, default=HB_MS, help="Baton's heartbeat interval (default 50); must satisfy 2·hb + 10 ms < Emin·0.95/1.05")
    ap.add_argument("--etcd-election-ms", type=int, default=None, help="etcd --election-timeout (default: Baton's Emin); etcd randomizes to [1, 2)×")
    ap.add_argument("--workdir", default=None, help="parent of the temp dir for data dirs (default $TMPDIR or /tmp)")
    ap.add_argument("--nice", type=int, default=0, help="lower the niceness of this bench and everything it starts by N (needs root; "
                    "on a shared machine this keeps other work from delaying the poller and the members; default 0)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data dirs) after the run")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    ETCD_HB_MS = a.etcd_heartbeat_ms
    NODES, HB_MS, ETCD_ET_MS = a.nodes, a.heartbeat_ms, a.etcd_election_ms
    if not 3 <= NODES <= 9:
        ap.error("--nodes must be 3..9")
    if a.election_timeout:
        try:
            EMIN_MS, EMAX_MS = (int(x.strip().removesuffix("ms")) for x in a.election_timeout.split(".."))
        except ValueError:
            ap.error("--election-timeout must look like 150..300 (milliseconds)")
        if not 0 < EMIN_MS <= EMAX_MS:
            ap.error("--election-timeout needs 0 < MIN <= MAX")
    if a.rounds < 1 or a.rounds > 1000:
        ap.error("--rounds must be 1..1000")

    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    systems = ["etcd", "baton"] if a.system == "both" else [a.system]
    baton_bin = a.baton_bin or os.path.join(repo, ".build", "release", "baton")
    if "baton" in systems and not os.access(baton_bin, os.X_OK):
        sys.exit(f"bench/failover: no baton executable at {baton_bin}; build it with "
                 f"'swift build -c release --static-swift-stdlib --product baton' or pass --baton-bin")
    if "etcd" in systems and not os.access(a.etcd_bin, os.X_OK):
        sys.exit("bench/failover: etcd not found; apt-get install -y etcd-server etcd-client")

    if a.nice:
        os.nice(-a.nice)  # inherited by every member started below
    work = tempfile.mkdtemp(prefix="bench-failover-", dir=a.workdir)
    fs = subprocess.run(["df", "--output=fstype,source", work], capture_output=True, text=True).stdout.split("\n")[1:2]
    versions = {}
    if "etcd" in systems:
        versions["etcd"] = subprocess.run([a.etcd_bin, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    if "baton" in systems:
        versions["baton"] = subprocess.run([baton_bin, "--version"], capture_output=True, text=True).stdout.strip() + f" ({baton_bin})"
    rep = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "command": a.command or " ".join([sys.argv[0]] + sys.argv[1:]),
           "machine": machine(), "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
           "poll_interval_us": a.poll_interval_us, "etcd_hb_ms": ETCD_HB_MS, "nodes": NODES,
           "emin_ms": EMIN_MS, "emax_ms": EMAX_MS, "hb_ms": HB_MS, "etcd_et_ms": ETCD_ET_MS or EMIN_MS, "poll_width": a.poll_width,
           "niceness": os.getpriority(os.PRIO_PROCESS, 0), "workdir_fs": f"{work} ({' '.join(fs).strip()})"}
    clusters = []
    try:
        print(f"work dir {work}", file=sys.stderr)
        # The floor's latencies are sampled at the start, after every round and at the
        # end, and pooled: a disk shared with other work has bursts of slow fsyncs, and
        # one burst at the start should not set the floor of the whole run.
        rtt_pool, fs_pool, at_pool = [], [], []

        def sample(n_rtt, n_fs, n_at):
            if n_rtt:
                rtt_pool.extend(measure_rtt_us(n_rtt)["samples"])
            f = measure_fsync_ms(work, n_fs, n_at)
            fs_pool.extend(f["samples"])
            at_pool.extend(f["atomic_samples"])
            return f

        f0 = sample(2000, 200, 50)
        rep["fsync_at_start_p50_ms"] = f0["p50"]
        print(f"fsync p50 {f0['p50']:.3f} ms, rtt p50 {pct(rtt_pool, 50):.1f} µs", file=sys.stderr)

        for s in systems:
            cl = EtcdCluster(work, a.etcd_bin) if s == "etcd" else BatonCluster(work, baton_bin, a.insecure_peers)
            cl.start()
            clusters.append(cl)
        leaders = {}
        for cl in clusters:
            leaders[cl.system] = cl.wait_settled(quiet=2.0)[0]
            print(f"{cl.system}: leader {leaders[cl.system]}", file=sys.stderr)

        if a.idle_seconds > 0:
            print(f"idle footprint: {a.idle_seconds:.0f} s", file=sys.stderr)
            rep["idle"] = idle_footprint(clusters, a.idle_seconds)
            after = {cl.system: cl.wait_settled(quiet=0.2)[0] for cl in clusters}
            for p in rep["idle"]["procs"]:
                p["role"] = "leader" if leaders[p["system"]] == p["member"] == after[p["system"]] else (
                    "leader?" if p["member"] in (leaders[p["system"]], after[p["system"]]) else "follower")

        # Rounds interleave the systems (alternating which goes first), so that the
        # machine's noise falls on both alike.
        rep["rounds"] = {cl.system: [] for cl in clusters}
        for i in range(a.rounds):
            order = clusters if i % 2 == 0 else list(reversed(clusters))
            for cl in order:
                r = failover_round(cl, a.poll_interval_us, a.poll_width)
                rep["rounds"][cl.system].append(r)
                sample(0, 10, 2)
                print(f"round {i + 1:>3} {cl.system:<5} {fmt(r.get('ms'))} ms victim {r['victim']} "
                      f"term {r['old_term']}→{r.get('new_term')} polls {r['polls']} gap max {fmt(r['poll_gap_max_ms'], 2)} ms answer p50 {fmt(r['answer_p50_ms'], 2)} max {fmt(r['answer_max_ms'], 2)} ms",
                      file=sys.stderr)
        for cl in clusters:
            cl.wait_settled()
        f1 = sample(2000, 200, 50)
        rep["fsync_at_end_p50_ms"] = f1["p50"]
        rtt50, fs50 = pct(rtt_pool, 50), pct(fs_pool, 50)
        rep["floor"] = {"stickiness_ms": EMIN_MS - HB_MS / 2, "rtt_us": rtt50, "rtts_ms": 3 * rtt50 / 1000,
                        "rtt_n": len(rtt_pool), "fsync_n": len(fs_pool),
                        "fsync_ms": fs50, "fsync_p99_ms": pct(fs_pool, 99), "fsyncs_ms": 2 * fs50,
                        "atomic_ms": pct(at_pool, 50)}
        rep["floor"]["floor_ms"] = rep["floor"]["stickiness_ms"] + rep["floor"]["rtts_ms"] + rep["floor"]["fsyncs_ms"]
        rep["summary"] = {s: summarize(rs) for s, rs in rep["rounds"].items()}
        rep["loadavg_at_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    finally:
        cleanup()
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = render(rep)
    sys.stdout.write(text)
    with open(a.report, "w") as f:
        f.write(text)
    with open(a.report + ".json", "w") as f:
        json.dump(rep, f, indent=1)
    print(f"report written to {a.report} (raw data {a.report}.json)", file=sys.stderr)


if __name__ == "__main__":
    main()
