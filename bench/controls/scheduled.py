#!/usr/bin/env python3
"""Scheduled hand-over (issue 16 item 4): how close to its moment it happens.

N rounds on a 3-node loopback cluster: `baton resign --to FOLLOWER --in 1s` asked of
the leader; from the agents' logs (CLOCK_BOOTTIME, one clock on one machine): the
moment is the leader's `handover-scheduled` event + 1 s; measured to the leader's
`handover-due` (its timer) and to the target's `office-enter` (moment -> in office:
the timer plus the transfer, demote hook none).

  BATON_BIN=.build/release/baton python3 bench/controls/scheduled.py [--rounds 20]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import cluster, last_event, pct  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-scheduled-")
    c = cluster.Cluster(tmp, ["n1", "n2", "n3"])
    due, entered = [], []
    try:
        c.form()
        for k in range(args.rounds):
            leader, _ = c.wait_leader(timeout=10)
            target = [n for n in c.names if n != leader][k % 2]
            mark = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            r = subprocess.run([cluster.BATON, "resign", "--to", target, "--in", "1s", "--api", f"127.0.0.1:{c.api_port[leader]}"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                print(f"round {k}: not scheduled: {r.stderr.strip()}")
                continue
            cluster.wait_for(lambda: last_event(c, target, "office-enter", mark), 20, f"{target} in office")
            scheduled = last_event(c, leader, "handover-scheduled", mark)
            carried = last_event(c, leader, "handover-due", mark)
            if scheduled is None or carried is None:
                print(f"round {k}: {target} took office without the scheduled hand-over (an election): left out")
                continue
            moment = scheduled + 1_000_000_000
            due.append((carried - moment) / 1e6)
            entered.append((last_event(c, target, "office-enter", mark) - moment) / 1e6)
            time.sleep(0.3)
        print(f"scheduled hand-over over {len(entered)} rounds (3 nodes, --in 1s, {cluster.BATON}):")
        print(f"  moment -> leader carries it out: p50 {pct(due, 50):.1f} ms, p99 {pct(due, 99):.1f} ms, max {max(due):.1f} ms")
        print(f"  moment -> target in office:      p50 {pct(entered, 50):.1f} ms, p99 {pct(entered, 99):.1f} ms, max {max(entered):.1f} ms")
    finally:
        c.stop_all()


if __name__ == "__main__":
    main()
