#!/usr/bin/env python3
"""Operator controls (issue 16): preemption time and the cost of reading the history.

Preemption, N rounds on a 3-node loopback cluster with --preempt-after 1s: a follower
is given a priority above every other member ('baton members set', a logged change);
measured (CLOCK_BOOTTIME, from the agents' logs) from the leader's `preempt` event
(the stability period over) to the target's `office-enter`: the hand-over itself; and
from the priority change's commit to the target in office: --preempt-after + hand-over.

History read cost: wrk against the leader's GET /leader and GET /history (every
record kept so far), alternated, 3 runs of 5 s each, medians side by side.

  BATON_BIN=.build/release/baton python3 bench/controls/run.py [--rounds 20]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "agent"))
os.environ.setdefault("BATON_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "baton"))
import cluster  # noqa: E402

LINE = re.compile(r'boottime_ns=(\d+) node=(\S+) term=(\d+) role=\S+ event=(\S+)')


def last_event(c, name, event, after_ns):
    found = None
    for line in c.log(name).splitlines():
        m = LINE.search(line)
        if m and m.group(4) == event and int(m.group(1)) > after_ns:
            found = int(m.group(1))
    return found


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wrk(port, path, seconds):
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--wrk-seconds", type=int, default=5)
    p.add_argument("--fill", type=int, default=500, help="pause/resume pairs logged before the second /history reading (the history keeps 1,000 records)")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-controls-")
    c = cluster.Cluster(tmp, ["n1", "n2", "n3"], extra=["--preempt-after", "1s"])
    handover, total = [], []
    try:
        c.form()
        for k in range(args.rounds):
            leader, _ = c.wait_leader(timeout=10)
            target = [n for n in c.names if n != leader][k % 2]
            mark = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            r = subprocess.run([cluster.BATON, "members", "set", target, "--priority", str(200 + k),
                                "--api", f"127.0.0.1:{c.api_port[leader]}"], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                print(f"round {k}: set failed: {r.stderr.strip()}")
                continue
            committed = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            cluster.wait_for(lambda: last_event(c, target, "office-enter", mark), 20, f"{target} in office")
            entered = last_event(c, target, "office-enter", mark)
            preempt = last_event(c, leader, "preempt", mark)
            if preempt is None:
                print(f"round {k}: {target} took office without a preemption (an election): left out")
                continue
            handover.append((entered - preempt) / 1e6)
            total.append((entered - committed) / 1e6)
        print(f"preemption over {len(handover)} rounds (3 nodes, --preempt-after 1s, {os.path.basename(cluster.BATON)} {cluster.BATON}):")
        print(f"  hand-over (leader's preempt event -> target in office): p50 {pct(handover, 50):.1f} ms, p99 {pct(handover, 99):.1f} ms, max {max(handover):.1f} ms")
        print(f"  priority committed -> target in office:                p50 {pct(total, 50):.1f} ms, p99 {pct(total, 99):.1f} ms")
        leader, _ = c.wait_leader(timeout=10)
        port = c.api_port[leader]

        def reading(label):
            records = len(c.get(leader, "/history")[2]["history"])
            leader_rps, history_rps = [], []
            for _ in range(3):
                leader_rps.append(wrk(port, "/leader", args.wrk_seconds))
                history_rps.append(wrk(port, "/history", args.wrk_seconds))
            print(f"{label}: GET /leader median {statistics.median(leader_rps):,.0f} req/s (runs {', '.join(f'{x:,.0f}' for x in leader_rps)}); "
                  f"GET /history median {statistics.median(history_rps):,.0f} req/s (runs {', '.join(f'{x:,.0f}' for x in history_rps)}) with {records} records")

        reading("history small")
        import http.client
        for _ in range(args.fill):
            for path in ("/pause", "/resume"):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", path)
                conn.getresponse().read()
                conn.close()
        reading("history full ")
    finally:
        c.stop_all()


if __name__ == "__main__":
    main()
