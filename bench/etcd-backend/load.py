#!/usr/bin/env python3
"""bench/etcd-backend/load.py: requests per second each idle candidate costs etcd.

Starts one etcd member and N candidates of each contestant (as in run.py), waits until
one leads and things settle, then reads etcd's own counter of gRPC calls started
(`grpc_server_started_total`, which also counts what arrives through the JSON gateway)
over a window, and divides by N. Idle: nobody joins, leaves or fails meanwhile.

    python3 bench/etcd-backend/load.py --candidates 3,20 --window 20 --nice 10
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "../../tests/etcd"))
from etcdharness import EtcdCluster  # noqa: E402
import run  # noqa: E402


def started_calls(url):
    total = 0.0
    with urllib.request.urlopen(url + "/metrics", timeout=2) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("grpc_server_started_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default="3,20")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--ttl", type=int, default=2)
    ap.add_argument("--contestants", default="etcd3,baton,baton-probe")
    ap.add_argument("--baton", default=os.environ.get("BATON_BIN", os.path.join(HERE, "../../.build/release/baton")))
    ap.add_argument("--probe", default=os.environ.get("BATON_ETCD_PROBE", os.path.join(HERE, "../../.build/release/baton-etcd-probe")))
    ap.add_argument("--nice", type=int, default=0)
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)
    # SIGTERM ends the run like Ctrl-C: the finally blocks stop etcd and the candidates.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = tempfile.mkdtemp(prefix="baton-etcd-load-")
    cluster = EtcdCluster(root, 1, lifetime_s=6 * 3600)
    url = cluster.members[0].url
    endpoint = url.replace("http://", "")
    env = dict(os.environ, ETCDCTL_API="3")
    rows = []
    try:
        for key, contestant in run.contestants(args).items():
            for n in [int(x) for x in args.candidates.split(",")]:
                prefix = f"/load/{key}/{n}"
                cands = [run.Candidate(contestant.argv(f"cand-{k}", args.ttl, prefix, endpoint), contestant.leads, env,
                                       contestant.stderr_lines) for k in range(n)]
                try:
                    run.wait_for(lambda: any(c.led_at for c in cands), 30)
                    time.sleep(2 * args.ttl)
                    before = started_calls(url)
                    time.sleep(args.window)
                    after = started_calls(url)
                    rows.append((contestant.name, n, (after - before) / args.window))
                finally:
                    for c in cands:
                        c.kill()
                time.sleep(args.ttl + 1)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(run.SCRATCH, ignore_errors=True)
    print(f"idle load on etcd, TTL {args.ttl} s, window {args.window:.0f} s (grpc_server_started_total)")
    print(f"{'contestant':30} {'candidates':>10} {'calls/s':>9} {'per candidate':>14}")
    for name, n, rate in rows:
        print(f"{name:30} {n:>10} {rate:>9.2f} {rate / n:>14.2f}")


if __name__ == "__main__":
    main()
