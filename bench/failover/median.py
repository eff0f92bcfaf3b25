#!/usr/bin/env python3
"""median.py REPORT.json...: the median over repeated bench/failover runs of each
headline figure (the machine is shared and noisy, so one run says little on its own),
and the same figures pooled over all rounds of all runs."""
import json
import statistics
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from failover import pct  # noqa: E402


def main():
    reps = [json.load(open(p)) for p in sys.argv[1:]]
    if not reps:
        sys.exit("usage: median.py REPORT.json...")
    med = statistics.median
    print(f"{len(reps)} runs: " + ", ".join(r["date"] for r in reps))
    print(f"floor (ms): median {med(r['floor']['floor_ms'] for r in reps):.3f}; "
          f"fsync p50 median {med(r['floor']['fsync_ms'] for r in reps):.3f} ms; "
          f"RTT p50 median {med(r['floor']['rtt_us'] for r in reps):.1f} µs")
    systems = [s for s in ("baton", "etcd") if all(s in r.get("summary", {}) for r in reps)]
    print(f"{'system':<7} {'p50 (runs)':<28} {'p99 (runs)':<28} {'median p50':>10} {'median p99':>10} {'pooled p50':>10} {'pooled p99':>10} {'split':>8}")
    for s in systems:
        p50 = [r["summary"][s]["p50"] for r in reps]
        p99 = [r["summary"][s]["p99"] for r in reps]
        pooled = [x["ms"] for r in reps for x in r["rounds"][s] if x.get("ms") is not None]
        split = sum(r["summary"][s]["split"] for r in reps)
        print(f"{s:<7} {' '.join(f'{v:.1f}' for v in p50):<28} {' '.join(f'{v:.1f}' for v in p99):<28} "
              f"{med(p50):>10.1f} {med(p99):>10.1f} {pct(pooled, 50):>10.1f} {pct(pooled, 99):>10.1f} {split:>4}/{len(pooled)}")
    if len(systems) == 2:
        r50 = [r["summary"]["baton"]["p50"] / r["summary"]["etcd"]["p50"] for r in reps]
        r99 = [r["summary"]["baton"]["p99"] / r["summary"]["etcd"]["p99"] for r in reps]
        print(f"ours/etcd p50: {' '.join(f'{v:.2f}' for v in r50)} (median {med(r50):.2f}); "
              f"p99: {' '.join(f'{v:.2f}' for v in r99)} (median {med(r99):.2f})")
    if "baton" in systems:
        fl = med(r["floor"]["floor_ms"] for r in reps)
        b50 = med(r["summary"]["baton"]["p50"] for r in reps)
        b99 = med(r["summary"]["baton"]["p99"] for r in reps)
        print(f"targets on the medians: p50 {b50:.1f} ≤ floor + 15 = {fl + 15:.1f}: {'yes' if b50 <= fl + 15 else 'NO'}; "
              f"p99 {b99:.1f} ≤ floor + 100 = {fl + 100:.1f}: {'yes' if b99 <= fl + 100 else 'NO'}")
    idle = [r["idle"] for r in reps if r.get("idle")]
    if idle:
        for s in ("baton", "etcd"):
            rss = [p["rss_mib"] for i in idle for p in i["procs"] if p["system"] == s]
            cpu = [p["cpu_pct"] for i in idle for p in i["procs"] if p["system"] == s]
            if rss:
                by_role = {}
                for i in idle:
                    for p in i["procs"]:
                        if p["system"] == s and p.get("role") in ("leader", "follower"):
                            by_role.setdefault(p["role"], []).append(p["cpu_pct"])
                roles = "; ".join(f"{k} CPU % median {med(v):.2f} (n={len(v)})" for k, v in sorted(by_role.items()))
                print(f"idle {s}: RSS MiB median {med(rss):.1f} (range {min(rss):.1f}–{max(rss):.1f}); "
                      f"CPU % median {med(cpu):.2f} (range {min(cpu):.2f}–{max(cpu):.2f}) over {len(rss)} processes" + (f"; {roles}" if roles else ""))


if __name__ == "__main__":
    main()
