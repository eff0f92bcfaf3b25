#!/usr/bin/env python3
"""bench/peer-flood: does a connection flood on the peer ports slow failover or rejoin?

Three agents on loopback (a cluster secret, default timing: election 150–300 ms). Each
round measures, once unflooded and once flooded (the order alternating by round):
  failover - kill -9 of the leader → a survivor answers /leader as the leader in office;
  rejoin   - restart of the killed member → its /leader names the leader in office.
Flooded means bench/peer-flood/flood.c opening --rate new connections per second to
EVERY peer port (half silent, garbage or a partial frame header, each held up to 2 s
or until the agent closes it), from 127.0.0.1 like the members themselves, started 1 s
before the kill and stopped after the rejoin. The flood's achieved rate is printed.
Target (issue 15): flooded medians within 1.5x of the unflooded ones."""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CHILDREN = []


def cleanup(*_):
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


signal.signal(signal.SIGTERM, cleanup)
signal.signal(signal.SIGINT, cleanup)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, baton, workdir, names=("n1", "n2", "n3")):
        self.baton, self.dir, self.names = baton, workdir, list(names)
        self.peer = {n: free_port() for n in names}
        self.api = {n: free_port() for n in names}
        self.secret = os.path.join(workdir, "secret")
        with open(self.secret, "wb") as f:
            f.write(os.urandom(32))
        self.procs = {}

    def start(self, n, bootstrap):
        peers = ",".join(f"{m}=127.0.0.1:{self.peer[m]}" for m in self.names)
        args = [self.baton, "agent", "--id", n, "--peers", peers, "--peer-listen", f"127.0.0.1:{self.peer[n]}",
                "--api-listen", f"127.0.0.1:{self.api[n]}", "--data-dir", os.path.join(self.dir, f"data-{n}"),
                "--cluster-secret-file", self.secret]
        if bootstrap:
            args.append("--bootstrap")
        log = open(os.path.join(self.dir, f"{n}.log"), "ab")
        p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        CHILDREN.append(p)
        self.procs[n] = p

    def kill(self, n):
        p = self.procs.pop(n)
        p.kill()
        p.wait()

    def leader_view(self, n, timeout=0.25):
        """(leader id or None, self in office?) from n's /leader; (None, False) if unreachable."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.api[n], timeout=timeout)
            c.request("GET", "/leader")
            r = c.getresponse()
            body = json.loads(r.read() or b"null")
            c.close()
        except (OSError, ValueError):
            return None, False
        leader = (body or {}).get("leader") or {}
        return leader.get("id"), r.status == 200 and bool((body or {}).get("self"))

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.002)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}")

    def in_office(self, among):
        for n in among:
            if n in self.procs and self.leader_view(n)[1]:
                return n
        return None


def settled_leader(c):
    """The leader in office once every other member follows it."""
    def check():
        leader = c.in_office(c.names)
        if leader and all(c.leader_view(n)[0] == leader for n in c.names if n != leader):
            return leader
        return None
    return c.wait(check, 10, "a leader that everyone follows")


def office_entries(c, since_ns, until_ns):
    """office-enter events logged between two CLOCK_BOOTTIME instants, all members."""
    n = 0
    for m in c.names:
        with open(os.path.join(c.dir, f"{m}.log"), "rb") as f:
            for line in f:
                if b"event=office-enter" in line:
                    b = int(line.split(b"boottime_ns=", 1)[1].split(b" ", 1)[0])
                    n += since_ns <= b <= until_ns
    return n


def first_event_ms(c, name, marker, since_ns):
    """Milliseconds from `since_ns` (CLOCK_BOOTTIME) to the first `marker` line of `name`."""
    with open(os.path.join(c.dir, f"{name}.log"), "rb") as f:
        for line in f:
            if marker in line:
                b = int(line.split(b"boottime_ns=", 1)[1].split(b" ", 1)[0])
                if b >= since_ns:
                    return (b - since_ns) / 1e6
    return float("nan")


def one_round(c, flood_bin, rate, flooded):
    flood = None
    if flooded:
        ports = ",".join(str(c.peer[n]) for n in c.names)
        flood = subprocess.Popen([flood_bin, "--ports", ports, "--rate", str(rate), "--seconds", "60"],
                                 stdout=subprocess.PIPE, text=True)
        CHILDREN.append(flood)
        time.sleep(1.0)
    # The leader is found after the flood began, so the kill always hits the one in office.
    leader = settled_leader(c)
    survivors = [n for n in c.names if n != leader]
    since = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    t0 = time.monotonic()
    c.kill(leader)
    c.wait(lambda: c.in_office(survivors), 10, "failover")
    failover_ms = (time.monotonic() - t0) * 1000
    t1 = time.monotonic()
    t1_boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    c.start(leader, bootstrap=False)
    # Rejoined: the restarted member names the leader the others have in office now.
    c.wait(lambda: (lambda now: now is not None and c.leader_view(leader)[0] == now)(c.in_office(survivors)),
           20, "rejoin")
    rejoin_ms = (time.monotonic() - t1) * 1000
    startup_ms = first_event_ms(c, leader, b"event=started", t1_boot)
    # Leader changes beyond the one the kill caused: a flood must not cause any.
    extra = office_entries(c, since, time.clock_gettime_ns(time.CLOCK_BOOTTIME)) - 1
    achieved = None
    if flood:
        flood.send_signal(signal.SIGTERM)
        out, _ = flood.communicate(timeout=10)
        achieved = json.loads(out.strip().splitlines()[-1])
    time.sleep(1.0)  # let the group settle (and the strangers' sockets drain)
    return failover_ms, rejoin_ms, achieved, extra, startup_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baton", default=".build/release/baton")
    ap.add_argument("--flood", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--rate", type=int, default=2000, help="new connections per second to each peer port")
    ap.add_argument("--nice", type=int, default=0,
                    help="lower the niceness of this bench, the agents and the flood by N (root; as bench/failover's "
                         "--nice): on a shared machine other jobs then delay both sides of the comparison less")
    ap.add_argument("--report")
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    if a.nice:
        os.nice(-a.nice)  # inherited by every agent and the flood started below
    work = tempfile.mkdtemp(prefix="peer-flood-")
    c = Cluster(os.path.abspath(a.baton), work)
    for n in c.names:
        c.start(n, bootstrap=True)
    res = {False: {"failover": [], "rejoin": [], "extra": []}, True: {"failover": [], "rejoin": [], "extra": []}}
    rates = []
    try:
        for r in range(a.rounds):
            for flooded in ((False, True) if r % 2 == 0 else (True, False)):
                f, j, achieved, extra, startup = one_round(c, a.flood, a.rate, flooded)
                res[flooded].setdefault("startup", []).append(startup)
                res[flooded]["failover"].append(f)
                res[flooded]["rejoin"].append(j)
                res[flooded]["extra"].append(extra)
                extra = ""
                if achieved:
                    rates.append(achieved["connected_per_port_per_s"])
                    extra = f"  flood {achieved['connected_per_port_per_s']:.0f} conn/s per port ({achieved['ports']} ports)"
                print(f"round {r + 1} {'flooded  ' if flooded else 'unflooded'} failover {f:7.1f} ms  rejoin {j:7.1f} ms"
                      f" (process start {startup:5.1f} ms)"
                      f"  other leader changes {res[flooded]['extra'][-1]}{extra}", flush=True)
    finally:
        for n in list(c.procs):
            c.kill(n)
    lines = [f"bench/peer-flood: {a.command or ' '.join(sys.argv)}",
             f"binary {a.baton}; {a.rounds} rounds each; niceness {os.getpriority(os.PRIO_PROCESS, 0)}; "
             f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; medians (min–max)",
             f"flood achieved: median {statistics.median(rates):.0f} new connections/s per peer port "
             f"(target {a.rate}), 3 ports, min {min(rates):.0f}",
             f"{'':10}{'unflooded':>24}{'flooded':>24}{'ratio':>8}  target ≤ 1.5x"]
    ok = True
    for what in ("failover", "rejoin"):
        u, f = res[False][what], res[True][what]
        ratio = statistics.median(f) / statistics.median(u)
        ok = ok and ratio <= 1.5
        lines.append(f"{what:10}{statistics.median(u):10.1f} ms ({min(u):.0f}–{max(u):.0f}){'':>1}"
                     f"{statistics.median(f):10.1f} ms ({min(f):.0f}–{max(f):.0f}){ratio:8.2f}  {'met' if ratio <= 1.5 else 'MISSED'}")
    lines.append(f"of the rejoin, process start (exec to 'started' logged): unflooded "
                 f"{statistics.median(res[False]['startup']):.1f} ms, flooded {statistics.median(res[True]['startup']):.1f} ms")
    lines.append(f"leader changes beyond the failover, all rounds: unflooded {sum(res[False]['extra'])}, "
                 f"flooded {sum(res[True]['extra'])}")
    text = "\n".join(lines)
    print(text)
    if a.report:
        with open(a.report, "w") as fh:
            fh.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
