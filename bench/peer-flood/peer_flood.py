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


def one_round(c, flood_bin, rate, flooded):
    leader = c.wait(lambda: c.in_office(c.names), 10, "a leader")
    survivors = [n for n in c.names if n != leader]
    # Everyone follows before we start.
    c.wait(lambda: all(c.leader_view(n)[0] == leader for n in survivors), 10, "followers")
    flood = None
    if flooded:
        ports = ",".join(str(c.peer[n]) for n in c.names)
        flood = subprocess.Popen([flood_bin, "--ports", ports, "--rate", str(rate), "--seconds", "60"],
                                 stdout=subprocess.PIPE, text=True)
        CHILDREN.append(flood)
        time.sleep(1.0)
    t0 = time.monotonic()
    c.kill(leader)
    new = c.wait(lambda: c.in_office(survivors), 10, "failover")
    failover_ms = (time.monotonic() - t0) * 1000
    t1 = time.monotonic()
    c.start(leader, bootstrap=False)
    c.wait(lambda: c.leader_view(leader)[0] == new and c.in_office(survivors) == new, 20, "rejoin")
    rejoin_ms = (time.monotonic() - t1) * 1000
    achieved = None
    if flood:
        flood.send_signal(signal.SIGTERM)
        out, _ = flood.communicate(timeout=10)
        achieved = json.loads(out.strip().splitlines()[-1])
    time.sleep(1.0)  # let the group settle (and the strangers' sockets drain)
    return failover_ms, rejoin_ms, achieved


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baton", default=".build/release/baton")
    ap.add_argument("--flood", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--rate", type=int, default=2000, help="new connections per second to each peer port")
    ap.add_argument("--report")
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="peer-flood-")
    c = Cluster(os.path.abspath(a.baton), work)
    for n in c.names:
        c.start(n, bootstrap=True)
    res = {False: {"failover": [], "rejoin": []}, True: {"failover": [], "rejoin": []}}
    rates = []
    try:
        for r in range(a.rounds):
            for flooded in ((False, True) if r % 2 == 0 else (True, False)):
                f, j, achieved = one_round(c, a.flood, a.rate, flooded)
                res[flooded]["failover"].append(f)
                res[flooded]["rejoin"].append(j)
                extra = ""
                if achieved:
                    rates.append(achieved["connected_per_port_per_s"])
                    extra = f"  flood {achieved['connected_per_port_per_s']:.0f} conn/s per port ({achieved['ports']} ports)"
                print(f"round {r + 1} {'flooded  ' if flooded else 'unflooded'} failover {f:7.1f} ms  rejoin {j:7.1f} ms{extra}",
                      flush=True)
    finally:
        for n in list(c.procs):
            c.kill(n)
    lines = [f"bench/peer-flood: {a.command or ' '.join(sys.argv)}",
             f"binary {a.baton}; {a.rounds} rounds each; medians (min–max)",
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
    text = "\n".join(lines)
    print(text)
    if a.report:
        with open(a.report, "w") as fh:
            fh.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
