#!/usr/bin/env python3
"""A hook for the tests: appends one JSON line with its BATON_* environment, its pid
and CLOCK_MONOTONIC start and end times to the file named by argv[1].

Options after the file: `sleep=S` sleeps S seconds; `fail=EVENT` exits 1 for that
event; `failonce=PATH` exits 1 (for a promote) if it could take PATH away first;
`ignoreterm` ignores SIGTERM (to test SIGKILL after the grace period).
"""
import json
import os
import signal
import sys
import time

start = time.monotonic()
path = sys.argv[1]
opts = dict(a.split("=", 1) if "=" in a else (a, "") for a in sys.argv[2:])
env = {k: v for k, v in os.environ.items() if k.startswith("BATON_")}
event = env.get("BATON_EVENT", "")
record = {"env": env, "pid": os.getpid(), "start": start, "event": event}


def write(extra):
    r = dict(record, **extra)
    with open(path, "a") as f:
        f.write(json.dumps(r) + "\n")


def on_term(signum, frame):
    write({"end": time.monotonic(), "signal": "TERM"})
    if "ignoreterm" not in opts:
        sys.exit(143)


signal.signal(signal.SIGTERM, on_term)
if "ignoreterm" in opts:
    signal.signal(signal.SIGTERM, lambda s, f: write({"end": time.monotonic(), "signal": "TERM-ignored"}))
if "sleep" in opts:
    deadline = time.monotonic() + float(opts["sleep"])
    while time.monotonic() < deadline:
        time.sleep(0.01)
print(f"hook {event} term {env.get('BATON_TERM')}")
status = 0
if opts.get("fail") == event:
    status = 1
if "failonce" in opts and event == "promote":
    try:
        os.unlink(opts["failonce"])
        status = 1
    except FileNotFoundError:
        pass
write({"end": time.monotonic(), "status": status})
sys.exit(status)
