#!/usr/bin/env python3
"""bench/members/median.py REPORT.json… — medians over repeated runs of one mode: for
`join` the per-run p50 and p99 of each figure (baton and etcd); for `observers` the
leader's CPU alone and with observers; for `datadir` the last sample of each run."""
import json
import statistics
import sys

runs = [json.load(open(p)) for p in sys.argv[1:]]
if not runs:
    sys.exit("usage: bench/members/median.py REPORT.json…")
mode = runs[0]["mode"]
print(f"{len(runs)} runs of --mode {mode}")
if mode == "join":
    for system in runs[0]["summary"]:
        for key in ("add_to_voting_ms", "add_commit_ms", "remove_commit_ms"):
            p50 = statistics.median(r["summary"][system][key]["p50"] for r in runs)
            p99 = statistics.median(r["summary"][system][key]["p99"] for r in runs)
            print(f"{system:6s} {key:18s} median of p50 {p50:7.1f} ms, median of p99 {p99:7.1f} ms")
elif mode == "observers":
    for key in ("voters_only", "with_observers", "per_observer"):
        v = [r["leader_cpu_percent"][key] for r in runs]
        print(f"{key:15s} median {statistics.median(v):.3f} % of a core (runs: {', '.join(f'{x:.3f}' for x in v)})")
elif mode == "datadir":
    for r in runs:
        last = r["datadir"][-1]
        print(f"after {last['count']} {last['after']}: " + ", ".join(f"{n} {b / 1024:.1f} KiB" for n, b in last["bytes"].items()))
