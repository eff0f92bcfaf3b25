#!/usr/bin/env python3
"""Idle CPU of a 3-node loopback cluster's leader and followers, for several baton
binaries whose clusters run at the same time (same minutes, same noise). CPU is the
sum of /proc/PID/task/*/schedstat on-CPU ns over --seconds, after --settle.
Usage: idle_cpu.py BIN... [--runs 3] [--seconds 60]. The leader is the node in office when
the stretch starts (after --settle); a run where the office moved meanwhile says so ("still nX").
Ratios are against the first binary."""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(HERE, "tests", "agent"))
import cluster as harness  # noqa: E402


def oncpu_ns(pid):
    t = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            t += int(f.read().split()[0])
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binaries", nargs="+")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--settle", type=float, default=5)
    a = p.parse_args()
    lead = {b: [] for b in a.binaries}; fol = {b: [] for b in a.binaries}
    for r in range(a.runs):
        tmps, clusters = [], {}
        try:
            for b in a.binaries:
                harness.BATON = b
                t = tempfile.TemporaryDirectory(); tmps.append(t)
                c = harness.Cluster(t.name, ["n1", "n2", "n3"]); c.start_all(); clusters[b] = c
            for c in clusters.values():
                c.wait_leader(timeout=15)
            time.sleep(a.settle)
            leaders = {b: c.wait_leader(timeout=5)[0] for b, c in clusters.items()}
            start = {b: {n: oncpu_ns(p.pid) for n, p in c.procs.items()} for b, c in clusters.items()}
            t0 = time.monotonic(); time.sleep(a.seconds); wall = time.monotonic() - t0
            for b, c in clusters.items():
                now = c.wait_leader(timeout=5)[0]
                for n, pr in c.procs.items():
                    pct = 100.0 * (oncpu_ns(pr.pid) - start[b][n]) / 1e9 / wall
                    (lead if n == leaders[b] else fol)[b].append(pct)
                print(f"run {r+1} {b}: leader {leaders[b]} (still {now}) "
                      f"leader {lead[b][-1]:.3f} % followers {fol[b][-2]:.3f} {fol[b][-1]:.3f} %", flush=True)
        finally:
            for c in clusters.values(): c.stop_all()
            for t in tmps: t.cleanup()
    for b in a.binaries:
        print(f"{b}: leader median {statistics.median(lead[b]):.3f} % of a core {['%.3f' % x for x in lead[b]]}; "
              f"followers median {statistics.median(fol[b]):.3f} %")
    base = a.binaries[0]
    for b in a.binaries[1:]:
        print(f"ratio {b} / {base}: leader {statistics.median(lead[b]) / statistics.median(lead[base]):.3f}, "
              f"followers {statistics.median(fol[b]) / statistics.median(fol[base]):.3f}")

main()
