#!/usr/bin/env python3
"""bench/matrix/median.py DIR...: medians over repeated `bench/matrix/run` output dirs of
every report's p50/p99 per system (and the failover floor, idle RSS/CPU by role), with
each run's values beside them.

  bench/matrix/median.py bench/matrix/results/2026-11-27-{a,b,c}
"""
import json
import os
import statistics
import sys

REPORTS = ["handover-vs-etcd", "failover-150-300", "failover-50-100", "failover-500-1000",
           "failover-5-nodes", "failover-7-nodes"]


def load(d, name):
    p = os.path.join(d, name + ".txt.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def row(label, vals, nd=1):
    got = [v for v in vals if v is not None]
    med = f"{statistics.median(got):.{nd}f}" if got else "—"
    each = ", ".join("—" if v is None else f"{v:.{nd}f}" for v in vals)
    return f"  {label:<34} median {med:>8}   runs: {each}"


def main():
    dirs = sys.argv[1:]
    if not dirs:
        sys.exit(__doc__)
    print(f"medians over {len(dirs)} runs: {', '.join(dirs)}")
    for name in REPORTS:
        reps = [load(d, name) for d in dirs]
        if not any(reps):
            continue
        print(f"\n{name} ({sum(1 for r in reps if r)} runs)")
        systems = []
        for r in reps:
            for s in (r or {}).get("summary", {}):
                if s not in systems:
                    systems.append(s)
        for s in systems:
            for k in ("p50", "p99"):
                print(row(f"{s} {k} (ms)", [(r or {}).get("summary", {}).get(s, {}).get(k) for r in reps]))
            if name.startswith("failover"):
                print(row(f"{s} split votes", [(r or {}).get("summary", {}).get(s, {}).get("split") for r in reps], 0))
        if name.startswith("failover"):
            print(row("floor (ms)", [(r or {}).get("floor", {}).get("floor_ms") for r in reps]))
            print(row("Emin + 1 RTT + 1 fsync (ms)", [r["emin_ms"] + r["floor"]["rtt_us"] / 1000 + r["floor"]["fsync_ms"] if r and "emin_ms" in r else None for r in reps]))
            if "baton" in systems and "etcd" in systems:
                for k in ("p50", "p99"):
                    vals = []
                    for r in reps:
                        s = (r or {}).get("summary", {})
                        b, e = s.get("baton", {}).get(k), s.get("etcd", {}).get(k)
                        vals.append(b / e if b and e else None)
                    print(row(f"baton/etcd {k}", vals, 2))
        if name == "handover-vs-etcd":
            for b in ("baton-sigterm", "baton-resign"):
                for e in ("etcd-ctl", "etcd-gw"):
                    vals = []
                    for r in reps:
                        s = (r or {}).get("summary", {})
                        x, y = s.get(b, {}).get("p50"), s.get(e, {}).get("p50")
                        vals.append(x / y if x and y else None)
                    print(row(f"{b}/{e} p50", vals, 2))
        idle = [(r or {}).get("idle") for r in reps]
        if any(idle):
            for system in ("baton", "etcd"):
                for role in ("leader", "follower"):
                    rss = [statistics.median([p["rss_mib"] for p in i["procs"] if p["system"] == system and p.get("role") == role] or [float("nan")]) if i else None for i in idle]
                    cpu = [statistics.median([p["cpu_pct"] for p in i["procs"] if p["system"] == system and p.get("role") == role] or [float("nan")]) if i else None for i in idle]
                    print(row(f"idle {system} {role} VmRSS (MiB)", rss))
                    print(row(f"idle {system} {role} CPU (% of a core)", cpu, 2))


if __name__ == "__main__":
    main()
