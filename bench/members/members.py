#!/usr/bin/env python3
"""bench/members: the cost of membership in the log (issue 14), on loopback.

Modes (--mode):
  join       time from `baton members add` to the new member voting, and for a change to
             commit (add, remove), beside a 3-member etcd doing the same with
             `etcdctl member add --learner` + member promote (polled as fast as etcd
             accepts it) and `etcdctl member remove`; rounds interleaved.
  observers  the leader's CPU with 3 voters alone, then with 32 observers added.
  datadir    the data dir's size through N elections (POST /resign) and M membership
             changes (an observer added and removed), sampled as it goes.

Every process started is stopped on exit. python3 stdlib only. See README.md.
"""
import argparse
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CHILDREN = []


def cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def now_ms():
    return time.monotonic_ns() / 1e6


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def http_json(port, method, path, body=None, timeout=5.0):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, None
    except OSError:
        return None, None


def wait(pred, timeout, what, step=0.002):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Baton:
    """A group of `baton agent`s on loopback: founders, then members added later."""

    def __init__(self, binary, work, founders=("n1", "n2", "n3")):
        self.bin, self.work = binary, work
        self.peer, self.api, self.procs = {}, {}, {}
        self.founders = list(founders)
        for n in founders:
            self.ports(n)

    def ports(self, n):
        self.peer[n], self.api[n] = free_port(), free_port()

    def data(self, n):
        return os.path.join(self.work, "data-" + n)

    def start(self, n, bootstrap):
        contacts = [n] + self.founders if n not in self.founders else self.founders
        peers = ",".join(f"{m}=127.0.0.1:{self.peer[m]}" for m in dict.fromkeys(contacts))
        argv = [self.bin, "agent", "--id", n, "--peers", peers, "--peer-listen", f"127.0.0.1:{self.peer[n]}",
                "--api-listen", f"127.0.0.1:{self.api[n]}", "--data-dir", self.data(n), "--insecure-peers",
                "--log-level", "notice"]
        if bootstrap:
            argv.append("--bootstrap")
        log = open(os.path.join(self.work, n + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        CHILDREN.append(p)
        self.procs[n] = p

    def kill(self, n):
        p = self.procs.pop(n)
        p.kill()
        p.wait(timeout=10)

    def form(self):
        for n in self.founders:
            self.start(n, bootstrap=True)
        return self.wait_bound()

    def leader(self):
        for n in list(self.procs):
            s, body = http_json(self.api[n], "GET", "/leader", timeout=1)
            if s == 200 and body.get("leader"):
                return body["leader"]["id"]
        return None

    def members(self, via):
        s, body = http_json(self.api[via], "GET", "/members", timeout=2)
        return {m["name"]: m for m in body["members"]} if s == 200 else {}

    def wait_bound(self):
        def bound():
            lead = self.leader()
            return lead if lead and all(m["incarnation"] for m in self.members(lead).values()) else None
        return wait(bound, 30, "a leader with every founder's incarnation bound", step=0.05)

    def cli(self, via, *args):
        r = subprocess.run([self.bin, "members", *args, "--api", f"127.0.0.1:{self.api[via]}"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"baton members {' '.join(args)}: {r.returncode} {r.stderr.strip()}")


class Etcd:
    """A 3-member etcd on loopback; members added as learners and promoted."""

    def __init__(self, work, hb_ms, et_ms):
        self.work, self.hb, self.et = work, hb_ms, et_ms
        self.client, self.peer, self.procs = {}, {}, {}
        for n in ("e1", "e2", "e3"):
            self.client[n], self.peer[n] = free_port(), free_port()

    def start(self, n, initial, state):
        d = os.path.join(self.work, "etcd-" + n)
        argv = ["etcd", "--name", n, "--data-dir", d,
                "--listen-client-urls", f"http://127.0.0.1:{self.client[n]}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.client[n]}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer[n]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[n]}",
                "--initial-cluster", initial, "--initial-cluster-state", state,
                "--initial-cluster-token", "bench-members",
                "--heartbeat-interval", str(self.hb), "--election-timeout", str(self.et), "--pre-vote=true",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        log = open(os.path.join(self.work, n + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        CHILDREN.append(p)
        self.procs[n] = p

    def form(self):
        initial = ",".join(f"{n}=http://127.0.0.1:{self.peer[n]}" for n in ("e1", "e2", "e3"))
        for n in ("e1", "e2", "e3"):
            self.start(n, initial, "new")
        wait(lambda: http_json(self.client["e1"], "POST", "/v3/maintenance/status", {})[0] == 200, 30, "etcd up", 0.05)
        wait(lambda: int(http_json(self.client["e1"], "POST", "/v3/maintenance/status", {})[1].get("leader", 0)) != 0,
             30, "an etcd leader", 0.05)

    def ctl(self, *args):
        r = subprocess.run(["etcdctl", "--endpoints", f"127.0.0.1:{self.client['e1']}", "-w", "json", *args],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "ETCDCTL_API": "3"})
        if r.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def kill(self, n):
        p = self.procs.pop(n)
        p.kill()
        p.wait(timeout=10)
        shutil.rmtree(os.path.join(self.work, "etcd-" + n), ignore_errors=True)


def join_round_baton(b, k):
    """add (as a learner, committed), start the new agent, wait until the leader lists it as
    a voter; then remove it. Add-then-start, the order etcd needs."""
    n = f"j{k}"
    b.ports(n)
    lead = b.leader()
    t0 = now_ms()
    b.cli(lead, "add", n, f"127.0.0.1:{b.peer[n]}", "--api-address", f"127.0.0.1:{b.api[n]}")
    t_commit = now_ms()
    b.start(n, bootstrap=False)
    wait(lambda: b.members(lead).get(n, {}).get("role") == "voter", 30, f"{n} voting")
    t_voter = now_ms()
    lead = b.leader()
    t1 = now_ms()
    b.cli(lead, "remove", n)
    t_removed = now_ms()
    b.kill(n)
    shutil.rmtree(b.data(n), ignore_errors=True)
    return {"add_commit_ms": t_commit - t0, "add_to_voting_ms": t_voter - t0, "remove_commit_ms": t_removed - t1}


def join_round_etcd(e, k):
    n = f"x{k}"
    e.client[n], e.peer[n] = free_port(), free_port()
    # etcd refuses a change until its leader has been connected to a quorum for 5 s
    # ("unhealthy cluster"); an add it refused is retried, and timed from the accepted one.
    for _ in range(40):
        t0 = now_ms()
        try:
            out = e.ctl("member", "add", n, "--learner", f"--peer-urls=http://127.0.0.1:{e.peer[n]}")
            break
        except RuntimeError as err:
            if "unhealthy cluster" not in str(err):
                raise
            time.sleep(0.5)
    t_commit = now_ms()
    new_id = out["member"]["ID"]
    initial = ",".join(f"{m.get('name') or n}={m['peerURLs'][0]}" for m in out["members"])
    e.start(n, initial, "existing")
    # Promote as soon as etcd accepts it (it refuses a learner not yet in sync).
    def promoted():
        s, body = http_json(e.client["e1"], "POST", "/v3/cluster/member/promote", {"ID": str(new_id)}, timeout=2)
        return s == 200 and body is not None and "error" not in body
    wait(promoted, 30, f"etcd {n} promoted", step=0.002)
    t_voter = now_ms()
    t1 = now_ms()
    e.ctl("member", "remove", format(new_id, "x"))
    t_removed = now_ms()
    e.kill(n)
    return {"add_commit_ms": t_commit - t0, "add_to_voting_ms": t_voter - t0, "remove_commit_ms": t_removed - t1}


def summary(rounds, key):
    v = [r[key] for r in rounds]
    return {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v), "n": len(v)}


def mode_join(a, work, report):
    systems = ["baton", "etcd"] if a.system == "both" else [a.system]
    b = e = None
    if "baton" in systems:
        b = Baton(a.baton_bin, os.path.join(work, "baton"))
        os.makedirs(b.work)
        b.form()
    if "etcd" in systems:
        e = Etcd(os.path.join(work, "etcd"), a.etcd_heartbeat_ms, a.etcd_election_ms)
        os.makedirs(e.work)
        e.form()
    time.sleep(6)
    rounds = {s: [] for s in systems}
    for k in range(1, a.rounds + 1):
        for s in systems:
            r = join_round_baton(b, k) if s == "baton" else join_round_etcd(e, k)
            rounds[s].append(r)
            print(f"round {k:3d} {s:5s} add→voting {r['add_to_voting_ms']:7.1f} ms  add commit {r['add_commit_ms']:6.1f} ms"
                  f"  remove commit {r['remove_commit_ms']:6.1f} ms", flush=True)
            time.sleep(0.3)
    report["rounds"] = rounds
    report["summary"] = {s: {k: summary(rounds[s], k) for k in ("add_to_voting_ms", "add_commit_ms", "remove_commit_ms")}
                         for s in systems}
    lines = [f"{'':24s}" + "".join(f"{s:>28s}" for s in systems)]
    for key in ("add_to_voting_ms", "add_commit_ms", "remove_commit_ms"):
        lines.append(f"{key:24s}" + "".join(
            f"{'p50 %.1f / p99 %.1f' % (report['summary'][s][key]['p50'], report['summary'][s][key]['p99']):>28s}" for s in systems))
    return lines


def mode_observers(a, work, report):
    b = Baton(a.baton_bin, work)
    b.form()
    time.sleep(3)
    lead = b.leader()
    hz = os.sysconf("SC_CLK_TCK")

    def leader_cpu():
        pid = b.procs[lead].pid
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        time.sleep(a.seconds)
        t1, c1 = time.monotonic(), cpu_ticks(pid)
        if b.leader() != lead:
            raise RuntimeError("the leader changed during the measurement")
        return 100.0 * (c1 - c0) / hz / (t1 - t0)

    def measured():
        # The leader's CPU over a quiet stretch in which it stayed in office; a stretch
        # with a leader change is measured again (counted in the report).
        nonlocal lead
        for _ in range(5):
            lead = wait(b.leader, 30, "a leader", 0.05)
            try:
                return leader_cpu()
            except RuntimeError:
                report.setdefault("leader_changes_while_measuring", 0)
                report["leader_changes_while_measuring"] += 1
        raise RuntimeError("the leader changed in five measurements running")

    before = measured()
    for k in range(1, a.observers + 1):
        n = f"o{k}"
        b.ports(n)
        b.start(n, bootstrap=False)
        for _ in range(10):
            lead = wait(b.leader, 30, "a leader", 0.05)
            try:
                b.cli(lead, "add", n, f"127.0.0.1:{b.peer[n]}", "--api-address", f"127.0.0.1:{b.api[n]}", "--observer")
                break
            except RuntimeError as err:
                # A change answered 503 may still have taken effect; 409 'already a member' then.
                report.setdefault("adds_retried", []).append(str(err)[:200])
                if "already a member" in str(err):
                    break
                time.sleep(0.5)
    obs = [f"o{k}" for k in range(1, a.observers + 1)]
    wait(lambda: all(http_json(b.api[o], "GET", "/leader", timeout=1)[0] == 200 for o in obs), 60, "every observer following", 0.2)
    time.sleep(3)
    after = measured()
    report["leader_cpu_percent"] = {"voters_only": before, "with_observers": after, "observers": a.observers,
                                    "per_observer": (after - before) / a.observers, "seconds": a.seconds}
    return [f"leader CPU, 3 voters: {before:.2f} % of a core over {a.seconds} s"
            f" (leader changes while measuring: {report.get('leader_changes_while_measuring', 0)};"
            f" adds retried: {len(report.get('adds_retried', []))})",
            f"leader CPU, 3 voters + {a.observers} observers: {after:.2f} %",
            f"per observer: {(after - before) / a.observers:.3f} % of a core"]


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def mode_datadir(a, work, report):
    b = Baton(a.baton_bin, work)
    b.form()
    samples = []

    def sample(what, count):
        sizes = {n: du(b.data(n)) for n in b.founders}
        samples.append({"after": what, "count": count, "bytes": sizes})
        print(f"after {count:6d} {what:10s} largest so far {max(peak.values()) / 1024:.1f} KiB; data dirs {', '.join(f'{n} {v / 1024:.1f} KiB' for n, v in sizes.items())}", flush=True)

    # The largest size seen, sampled every 100 ms in the background: the log is compacted
    # each time it passes 1,000 entries, so samples at round counts would miss the peaks.
    peak = {n: 0 for n in b.founders}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for n in b.founders:
                peak[n] = max(peak[n], du(b.data(n)))
            time.sleep(0.1)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    sample("start", 0)
    elections = 0
    while elections < a.elections:
        lead = wait(b.leader, 10, "a leader", 0.005)
        s, body = http_json(b.api[lead], "POST", "/resign", timeout=10)
        if s == 200:
            elections += 1
            if elections % max(1, a.elections // 10) == 0 or elections % 1000 == 500:
                sample("elections", elections)
    changes = 0
    port = free_port()
    while changes < a.changes:
        lead = wait(b.leader, 10, "a leader", 0.005)
        name = f"c{changes}"
        s, _ = http_json(b.api[lead], "POST", "/members", {"name": name, "peer": f"127.0.0.1:{port}", "role": "observer"}, timeout=20)
        if s != 200:
            continue
        changes += 1
        while True:
            lead = wait(b.leader, 10, "a leader", 0.005)
            s, _ = http_json(b.api[lead], "DELETE", f"/members/{name}", timeout=20)
            if s in (200, 404):
                break
        changes += 1
        if changes % max(2, a.changes // 10) == 0:
            sample("changes", changes)
    stop.set()
    watcher.join()
    for n in b.founders:
        peak[n] = max(peak[n], max(s["bytes"][n] for s in samples))
    report["datadir"] = samples
    report["peak_bytes"] = peak
    first, last = samples[0]["bytes"], samples[-1]["bytes"]
    return [f"data dir at start: {max(first.values()) / 1024:.1f} KiB; after {a.elections} elections and {a.changes} changes: "
            f"{max(last.values()) / 1024:.1f} KiB (largest member); largest seen at any time (100 ms samples): "
            f"{max(peak.values()) / 1024:.1f} KiB"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["join", "observers", "datadir"], required=True)
    ap.add_argument("--report", required=True, help="the printed report; FILE.json holds every round")
    ap.add_argument("--baton-bin", default=os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "baton"))
    ap.add_argument("--system", choices=["baton", "etcd", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--etcd-heartbeat-ms", type=int, default=30)
    ap.add_argument("--etcd-election-ms", type=int, default=150)
    ap.add_argument("--observers", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=20, help="observers: CPU measured over this long, each side")
    ap.add_argument("--elections", type=int, default=10000)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--nice", type=int, default=0, help="lower the niceness by N (root), as the other benches do")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.nice:
        os.nice(-a.nice)
    a.baton_bin = os.path.abspath(a.baton_bin)
    work = tempfile.mkdtemp(prefix="bench-members-")
    report = {"command": " ".join(sys.argv), "mode": a.mode, "baton_bin": a.baton_bin,
              "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_start": os.getloadavg()[0]}
    try:
        lines = {"join": mode_join, "observers": mode_observers, "datadir": mode_datadir}[a.mode](a, work, report)
    finally:
        cleanup()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["load_end"] = os.getloadavg()[0]
    head = [f"bench/members --mode {a.mode}: {report['start']}, load {report['load_start']:.1f} → {report['load_end']:.1f}",
            f"command: {report['command']}", f"baton: {a.baton_bin}"]
    text = "\n".join(head + lines) + "\n"
    print(text, end="")
    with open(a.report, "w") as f:
        f.write(text)
    with open(a.report + ".json", "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
