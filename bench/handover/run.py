#!/usr/bin/env python3
"""Planned hand-over on a 3-node loopback cluster (issue 6, first figure).

N times: SIGTERM the leader; measure from the signal until the successor's promote
hook starts (the successor agent's `hook-start` log line, CLOCK_BOOTTIME), minus the
old leader's demote hook's own run time (its `hook-end` duration). Then restart the old
leader and wait for the cluster to settle. Prints p50/p99 beside the fsync latency
measured in the same run on the same filesystem as the data dirs.

  BATON_BIN=.build/release/baton python3 bench/handover/run.py [--rounds 50]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "agent"))
os.environ.setdefault("BATON_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "baton"))
import cluster  # noqa: E402

LINE = re.compile(r'boottime_ns=(\d+) node=(\S+) term=(\d+) role=\S+ event=(\S+)(.*)')


def events(c, name, event, after_ns):
    out = []
    for line in c.log(name).splitlines():
        m = LINE.search(line)
        if m and m.group(4) == event and int(m.group(1)) > after_ns:
            fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', m.group(5)))
            fields["boottime_ns"] = int(m.group(1))
            out.append(fields)
    return out


def fsync_latency(directory, count=100):
    path = os.path.join(directory, "fsync-probe")
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"x" * 4096
        for _ in range(count):
            os.write(fd, block)
            t = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            os.fsync(fd)
            samples.append((time.clock_gettime_ns(time.CLOCK_BOOTTIME) - t) / 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return samples


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait_for(pred, timeout, what):
    return cluster.wait_for(pred, timeout, what, interval=0.005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--election-timeout", default=None,
                    help="passed to every agent (default: the agent's 150ms..300ms); a longer one keeps an overloaded machine from election storms between rounds and does not enter the hand-over path (TimeoutNow skips it)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the bench and its agents N steps above normal priority (root only): on a machine shared with builds, scheduling delays otherwise dominate")
    ap.add_argument("--settle-ms", type=int, default=400, help="pause after every node follows the leader, before the signal (default 400)")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    ap.add_argument("--dir", default=None, help="where the data dirs go (default: a new dir under $TMPDIR)")
    args = ap.parse_args()
    if args.nice:
        os.nice(-args.nice)
    tmp = tempfile.mkdtemp(prefix="baton-handover-", dir=args.dir)
    hooks = ["--on-promote", "/bin/true", "--on-demote", "/bin/true"]
    if args.election_timeout:
        hooks += ["--election-timeout", args.election_timeout]
    names = ["n1", "n2", "n3"]
    c = cluster.Cluster(tmp, names)
    results, demotes, unsettled = [], [], []
    elections = 0
    fsyncs = fsync_latency(tmp)
    try:
        for n in names:
            c.start(n, extra=hooks)
        i = 0
        while i < args.rounds:
            leader, term = c.wait_leader(timeout=10)
            try:
                # The promote of this term has run: the leader is settled.
                wait_for(lambda: [e for e in events(c, leader, "hook-end", 0) if e.get("hook_event") == "promote" and e.get("token") == str(term)], 5, "promote end")
                # Every follower follows this leader (the restarted one has caught up).
                def follows(n):
                    data = c.get(n)[2] or {}
                    return data.get("term") == term and (data.get("leader") or {}).get("id") == leader
                wait_for(lambda: all(follows(n) for n in names), 5, "followers in this term")
                # The restarted node has heard from the leader; give it a moment past its
                # start-up (stickiness, catching up) so the round measures a hand-over to
                # a settled cluster, not a restart.
                time.sleep(args.settle_ms / 1000)
            except AssertionError as e:  # cluster.wait_for timed out
                unsettled.append(str(e))
                if len(unsettled) > 100:
                    raise
                continue  # a new election meanwhile: start the round again
            i += 1
            t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            p = c.procs.pop(leader)
            p.send_signal(signal.SIGTERM)
            if p.wait(timeout=15) != 0:
                raise RuntimeError(f"{leader} exited with {p.returncode}")
            demotes_after = [e for e in events(c, leader, "hook-end", t0) if e.get("hook_event") == "demote"]
            if not demotes_after:
                # It had lost its lease just before the signal (an overloaded machine):
                # there was nothing to hand over. Not a hand-over round; start again.
                unsettled.append(f"{leader} was no longer in office at SIGTERM")
                c.start(leader, bootstrap=False, extra=hooks)
                i -= 1
                continue
            demote = demotes_after[0]

            def successor_promote():
                for n in names:
                    if n == leader:
                        continue
                    for e in events(c, n, "hook-start", t0):
                        if e.get("hook_event") == "promote":
                            return n, e
            succ, start = wait_for(successor_promote, 15, "successor promote")
            if start.get("reason") != "transfer":
                elections += 1
            demote_ms = float(demote["duration_ms"])
            total_ms = (start["boottime_ns"] - t0) / 1e6
            results.append(total_ms - demote_ms)
            demotes.append(demote_ms)
            print(f"round {i:2d}: {leader} -> {succ}: {total_ms:7.2f} ms total, demote hook {demote_ms:6.2f} ms, hand-over {total_ms - demote_ms:7.2f} ms", flush=True)
            c.start(leader, bootstrap=False, extra=hooks)
        fsyncs += fsync_latency(tmp)
    finally:
        c.stop_all()
        if results and len(results) == args.rounds and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")
    f50, f99 = statistics.median(fsyncs), pct(fsyncs, 99)
    h50, h99 = statistics.median(results), pct(results, 99)
    print()
    print(f"planned hand-over, {len(results)} rounds, 3 nodes on loopback ({os.environ['BATON_BIN']}, election timeout {args.election_timeout or 'default'}, nice -{args.nice})")
    print(f"  SIGTERM -> successor's promote hook starts, minus the old demote hook's run time")
    print(f"  {'':22s}{'p50':>10s}{'p99':>10s}")
    print(f"  {'hand-over (ms)':22s}{h50:10.2f}{h99:10.2f}")
    print(f"  {'demote hook (ms)':22s}{statistics.median(demotes):10.2f}{pct(demotes, 99):10.2f}")
    print(f"  successor promoted by transfer in {len(results) - elections} rounds, by an ordinary election in {elections}; {len(unsettled)} restarts of a round that had not settled")
    print(f"  {'fsync 4 KiB (ms)':22s}{f50:10.2f}{f99:10.2f}   ({len(fsyncs)} samples, same filesystem)")
    target50 = 20.0 if f50 <= 4 else 4 * f50 + 5
    print(f"  target: p50 <= {target50:.1f} ms, p99 <= 60 ms -> p50 {'met' if h50 <= target50 else 'MISSED'}, p99 {'met' if h99 <= 60 else 'MISSED'}")
    print("  peers (issue 6, same machine class): etcdctl elect resign ~6 ms, kazoo ~8 ms (key delete only, no demote-then-promote ordering)")


if __name__ == "__main__":
    main()
