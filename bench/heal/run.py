#!/usr/bin/env python3
"""bench/heal/run.py — after a partition heals, how long until the cut-off follower
hears from the leader again?

Three agents in network namespaces (the tests/faults harness, its delay proxies
included). Each round cuts one follower off from both others with nft for --cut-s
seconds (longer than the election timeout and the 1 s TCP user timeout, so its links
die and it pre-votes alone), heals, and reads from that follower's own log the first
moment it names the leader again (CLOCK_BOOTTIME, the same clock as the heal). Until
then it keeps pre-voting, which the fault checker counts as elections in the quiet
period. With --compare OLD, the same rounds run on a second binary, alternating blocks
of rounds, and the two are printed side by side.

  sudo bench/heal/run.py --baton .build/release/baton --compare /tmp/old-baton --rounds 20
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

# Namespaces of its own, so that a fault run or soak going on meanwhile is not touched.
os.environ.setdefault("BFZ_PREFIX", "bhl-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "faults"))
from faultlib import cluster as cluster_mod  # noqa: E402
from faultlib import netns  # noqa: E402

SETTINGS = {"election_timeout": (150, 300), "heartbeat": 10, "drift": 0.05, "margin": 10}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def first_leader_line(node, after_ns, leader):
    """CLOCK_BOOTTIME at which `node` first logged `leader` as its leader after `after_ns`."""
    path = os.path.join(node.dir, f"agent.{node.incarnation}.log")
    with open(path, errors="replace") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("boottime_ns", 0) > after_ns and d.get("leader") == leader and d.get("event") == "role":
                return d["boottime_ns"]
    return None


def rounds_on(binary, n, cut_s, work):
    """Runs n cut-and-heal rounds on a fresh 3-node cluster; returns ms per round."""
    cluster_mod.BATON = binary
    c = cluster_mod.Cluster(work, ["n1", "n2", "n3"], SETTINGS, seed=1)
    out = []
    try:
        c.setup()
        c.start_all()
        for i in range(n):
            leader = c.wait_leader(10)
            if leader is None:
                raise RuntimeError("no leader within 10 s")
            followers = [x for x in c.names if x != leader]
            cut = followers[i % 2]
            c.net.partition([cut], [x for x in c.names if x != cut])
            time.sleep(cut_s)
            if c.current_leader() != leader:
                c.net.heal()
                time.sleep(1.0)
                continue  # the majority side changed leader meanwhile: not this round's question
            healed = cluster_mod.boottime_ns()
            c.net.heal()
            end = time.monotonic() + 5
            t = None
            while t is None and time.monotonic() < end:
                time.sleep(0.05)
                t = first_leader_line(c.nodes[cut], healed, leader)
            out.append((t - healed) / 1e6 if t else 5000.0)
            time.sleep(0.5)  # settle before the next cut
    finally:
        c.teardown()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baton", default=cluster_mod.BATON, help="the agent to measure")
    ap.add_argument("--compare", help="a second agent binary, measured in the same run")
    ap.add_argument("--rounds", type=int, default=20, help="rounds per binary (default 20)")
    ap.add_argument("--cut-s", type=float, default=2.5, help="how long the follower is cut off (default 2.5)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/heal needs root (network namespaces, nft)")
    netns.cleanup_leftovers(verbose=True)
    binaries = [("baton", a.baton)] + ([("compare", a.compare)] if a.compare else [])
    results = {name: [] for name, _ in binaries}
    blocks = 2 if a.compare else 1
    with tempfile.TemporaryDirectory(prefix="baton-heal-") as tmp:
        for b in range(blocks):
            for name, path in binaries:
                n = a.rounds // blocks + (a.rounds % blocks if b == blocks - 1 else 0)
                results[name] += rounds_on(path, n, a.cut_s, os.path.join(tmp, f"{name}-{b}"))
    print(f"heal -> the cut-off follower names the leader again (ms), 3 nodes, Emin 150 ms, cut {a.cut_s} s")
    print(f"  {'binary':<10}{'rounds':>7}{'p50':>9}{'p90':>9}{'max':>9}  path")
    for name, path in binaries:
        xs = results[name]
        if not xs:
            print(f"  {name:<10}{0:>7}  (no round measured)  {path}")
            continue
        print(f"  {name:<10}{len(xs):>7}{statistics.median(xs):>9.1f}{pct(xs, 90):>9.1f}{max(xs):>9.1f}  {path}")
    if a.compare and results["baton"] and results["compare"]:
        print(f"  ratio of medians baton/compare: {statistics.median(results['baton']) / statistics.median(results['compare']):.2f}")


if __name__ == "__main__":
    main()
