#!/usr/bin/env python3
"""Idle RSS of the agents of a 3-node loopback cluster, for two baton binaries side by
side (e.g. before and after a dependency): VmRSS of each agent after --settle seconds
idle, median over nodes and runs. Usage: idle_rss.py BIN_A BIN_B [--runs 3]"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "agent"))
import cluster as harness  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binaries", nargs=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=5.0)
    args = p.parse_args()
    out = {b: [] for b in args.binaries}
    for _ in range(args.runs):
        for b in args.binaries:
            harness.BATON = b
            with tempfile.TemporaryDirectory() as tmp:
                c = harness.Cluster(tmp, ["n1", "n2", "n3"])
                c.start_all()
                try:
                    c.wait_leader(timeout=10)
                    time.sleep(args.settle)
                    out[b] += [rss_kib(p.pid) / 1024 for p in c.procs.values()]
                finally:
                    c.stop_all()
    for b, vals in out.items():
        print(f"{os.path.getsize(b) / 1e6:7.2f} MB file  idle RSS median {statistics.median(vals):6.2f} MiB  (n={len(vals)})  {b}")


if __name__ == "__main__":
    main()
