#!/usr/bin/env python3
"""bench/api-alloc: heap allocations per request on the API's hot paths.

Preloads malloc_count.so (counts malloc/calloc/realloc/aligned allocations; prints the
count on SIGUSR2) into the agents of a 3-node loopback cluster, then sends N keep-alive
requests to one path on one node and reports (allocations during the requests −
allocations during an idle span of the same length) / N. Usage:
  bench/api-alloc/run.py [--requests 20000] [--runs 3]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "agent"))
os.environ.setdefault("BATON_BIN", os.path.join(ROOT, ".build", "release", "baton"))
import cluster as harness  # noqa: E402


def count(c, name):
    log_len = len(c.log(name))
    c.procs[name].send_signal(signal.SIGUSR2)
    for _ in range(200):
        found = re.findall(r"mallocs (\d+)", c.log(name)[log_len:])
        if found:
            return int(found[-1])
        time.sleep(0.005)
    raise RuntimeError("no count from the preloaded counter")


def hammer(port, path, n):
    s = socket.create_connection(("127.0.0.1", port))
    req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    done = 0
    buf = b""
    while done < n:
        batch = min(50, n - done)
        s.sendall(req * batch)
        got = 0
        while got < batch:
            buf += s.recv(65536)
            got_now = buf.count(b"HTTP/1.1 ")
            if got_now >= batch:
                # Drop complete answers (bodies are tiny; the next batch starts clean).
                buf = b""
                got = batch
        done += batch
    s.close()


def measure(c, name, path, n):
    port = c.api_port[name]
    hammer(port, path, 200)  # warm: connection buffers, first stamps
    a = count(c, name)
    t0 = time.monotonic()
    hammer(port, path, n)
    span = time.monotonic() - t0
    b = count(c, name)
    time.sleep(span)
    idle = count(c, name) - b
    return (b - a - idle) / n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    lib = os.path.join(tempfile.gettempdir(), "baton-malloc-count.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", lib, os.path.join(HERE, "malloc_count.c"), "-ldl"], check=True)
    os.environ["LD_PRELOAD"] = lib
    results = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            c = harness.Cluster(tmp, ["n1", "n2", "n3"])
            c.start_all()
            try:
                leader, _ = c.wait_leader(timeout=10)
                follower = next(n for n in c.names if n != leader)
                for label, node, path in [("leader /is-leader", leader, "/is-leader"),
                                          ("leader /leader", leader, "/leader"),
                                          ("follower /is-leader", follower, "/is-leader"),
                                          ("follower /leader", follower, "/leader")]:
                    results.setdefault(label, []).append(measure(c, node, path, args.requests))
            finally:
                c.stop_all()
    print(f"heap allocations per request, median of {args.runs} runs of {args.requests} keep-alive requests")
    for label, vals in results.items():
        print(f"  {label:22s} {statistics.median(vals):6.3f}   runs: {', '.join(f'{v:.3f}' for v in vals)}")


if __name__ == "__main__":
    main()
