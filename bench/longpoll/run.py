#!/usr/bin/env python3
"""bench/longpoll: 10,000 concurrent `GET /leader?wait=…` waiters on one agent of a
3-node loopback cluster.

For each run: start the cluster (release build), hold N waiters on a follower, and
report
  - RSS growth of that agent (VmRSS before the waiters and with all of them held),
  - its CPU while idle with the waiters held (utime+stime over --idle seconds),
  - the delay measured in the agent from the leadership change (a POST /resign on the
    leader) to the last waiter's answer written (its `long-poll-answered` log line),
  - the same as the client saw it (from sending the resign to the last answer read).
Prints each run and the medians. Usage: bench/longpoll/run.py [--runs 3] [--waiters 10000]
"""
import argparse
import json
import os
import re
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


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_split(pid):
    """(user, system) CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid):
    return sum(cpu_split(pid))


class Retry(Exception):
    """The run could not measure what it should (an election happened by itself)."""


def one_run(waiters_bin, n, idle_s):
    with tempfile.TemporaryDirectory() as tmp:
        # Long election timeouts: on a shared 2-core machine a starved leader would
        # otherwise lose its lease now and then, and such a change would end the wait
        # before the measured one. They do not enter the figures measured here.
        c = harness.Cluster(tmp, ["n1", "n2", "n3"], extra=["--election-timeout", "1s..2s", "--heartbeat-interval", "100ms"])
        c.start_all()
        try:
            leader, term = c.wait_leader(timeout=10)
            follower = next(x for x in c.names if x != leader)
            pid = c.procs[follower].pid
            time.sleep(1)
            rss_before = rss_kib(pid)
            # The view the waiters saw is the follower's own, read just before they
            # connect (on a loaded machine a term may have passed since the election).
            _, _, view = c.get(follower, "/leader", timeout=5)
            if not view or "leader" not in view or view["leader"]["id"] != leader:
                raise Retry(f"the follower does not name {leader}: {view}")
            path = f"/leader?wait=300s&term={view['term']}&leader={leader}"
            client = subprocess.Popen([waiters_bin, "127.0.0.1", str(c.api_port[follower]), str(n), path, "120"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            sent_line = client.stdout.readline().strip()
            end = time.monotonic() + 60
            while True:
                status = c.get(follower, "/status", timeout=5)[2] or {}
                if status.get("long_poll_waiters") == n:
                    break
                if time.monotonic() > end or "long-poll-answered" in c.log(follower):
                    client.kill()
                    raise Retry(f"only {status.get('long_poll_waiters')} of {n} held ({sent_line})")
                time.sleep(0.2)
            time.sleep(1)
            rss_held = rss_kib(pid)
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(idle_s)
            idle_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
            if "long-poll-answered" in c.log(follower):
                client.kill()
                raise Retry("the leadership changed by itself while the waiters were held (a loaded machine)")
            log_before = len(c.log(follower))
            split_before_wave = cpu_split(pid)
            client.stdin.write("go\n")
            client.stdin.flush()
            import http.client
            h = http.client.HTTPConnection("127.0.0.1", c.api_port[leader], timeout=10)
            h.request("POST", "/resign")
            resign = h.getresponse()
            resign_body = json.loads(resign.read())
            answered_line = client.stdout.readline().strip()
            client.wait(timeout=30)
            end = time.monotonic() + 10
            lines = []
            while time.monotonic() < end:
                lines = re.findall(r"event=long-poll-answered .*?waiters=(\d+) batches=(\d+) still_waiting=(\d+) delay_ms=([\d.]+)",
                                   c.log(follower)[log_before:])
                if sum(int(x[0]) for x in lines) >= n:
                    break
                time.sleep(0.1)
            split_after = cpu_split(pid)
            wave_user_ms = (split_after[0] - split_before_wave[0]) * 1000
            wave_system_ms = (split_after[1] - split_before_wave[1]) * 1000
            waves = [(int(w), int(b), float(d)) for w, b, _, d in lines]
            answered = dict(zip(answered_line.split()[0::2], answered_line.split()[1::2]))
            return {
                "resign_status": resign.status, "successor": resign_body.get("successor"),
                "rss_before_mib": rss_before / 1024, "rss_held_mib": rss_held / 1024,
                "rss_growth_mib": (rss_held - rss_before) / 1024,
                "idle_cpu_percent": idle_cpu,
                "agent_waves": waves,
                "agent_delay_ms": waves[0][2] if waves else None,
                "agent_batches": waves[0][1] if waves else None,
                # CPU the agent used from the change to the last answer (and the log
                # poll's few ms): when far below the delay, the delay is time spent
                # waiting for a core, not work.
                "agent_cpu_ms_during_wave": wave_user_ms + wave_system_ms,
                "agent_user_ms_during_wave": wave_user_ms,
                "agent_system_ms_during_wave": wave_system_ms,
                "loadavg_1m": float(open("/proc/loadavg").read().split()[0]),
                "client_answered": int(answered.get("answered", 0)),
                "client_last_answer_ms": float(answered.get("last_answer_ms", "nan")),
                "client_sent": sent_line,
            }
        finally:
            c.stop_all()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--waiters", type=int, default=10_000)
    p.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement")
    args = p.parse_args()
    waiters_bin = os.path.join(tempfile.gettempdir(), "baton-bench-waiters")
    subprocess.run(["gcc", "-O2", "-o", waiters_bin, os.path.join(HERE, "waiters.c")], check=True)
    runs = []
    for i in range(args.runs):
        for attempt in range(4):
            try:
                r = one_run(waiters_bin, args.waiters, args.idle)
                break
            except Retry as e:
                print(f"run {i + 1}: retrying: {e}", flush=True)
        else:
            sys.exit("no run succeeded in 4 attempts")
        runs.append(r)
        print(f"run {i + 1}: " + json.dumps(r), flush=True)
    print()
    print(f"medians of {len(runs)} runs, {args.waiters} waiters on one follower of a 3-node cluster")
    for key, target in [("rss_growth_mib", None), ("rss_held_mib", None), ("idle_cpu_percent", None),
                        ("agent_delay_ms", 50.0), ("agent_batches", None),
                        ("agent_cpu_ms_during_wave", None), ("agent_user_ms_during_wave", None),
                        ("agent_system_ms_during_wave", None), ("loadavg_1m", None), ("client_last_answer_ms", None),
                        ("client_answered", None)]:
        vals = [r[key] for r in runs if r[key] is not None]
        med = statistics.median(vals) if vals else float("nan")
        note = f"   target <= {target}: {'met' if med <= target else 'MISSED'}" if target else ""
        print(f"  {key:24s} {med:10.2f}{note}")


if __name__ == "__main__":
    main()
