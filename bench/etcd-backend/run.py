#!/usr/bin/env python3
"""bench/etcd-backend: failover after kill -9 of the holder, elections through one etcd.

For each contestant and lease TTL, ROUNDS times: start 3 candidates under a fresh prefix
(one process each), wait until one leads, let it hold for a random part of a renewal
period (so the kill lands at a random phase), kill -9 it, and time until another says it
leads. Times are this process's CLOCK_BOOTTIME when the lines arrive, the same for every
contestant. Prints p50 / p99 / max per contestant and TTL, side by side.

Contestants (each a plain command that prints a line when it leads):
  etcd3        python-etcd3 put-if-absent election, correct (peer_etcd3.py), in a venv
               made here: etcd3 0.12.0 with protobuf pinned to 3.20.x (its generated
               code predates protobuf 4).
  etcdctl      `etcdctl elect` (etcd's own concurrency.Election). In etcd 3.4 its
               session TTL is fixed at 60 s (no flag), so it runs at 60 s only.
  baton        `baton agent --backend etcd`, the whole agent (API, hooks machinery, its
               log): it leads when it logs `office-enter`, the moment its API starts
               answering "in office".
  baton-probe  Baton's etcd engine alone (EtcdElection + EtcdClient) in baton-etcd-probe
               (also baton-probe-ttl4 and baton-probe-slow: other renewal intervals).

--stop term measures the planned hand-over instead: SIGTERM (etcdctl: SIGINT, which
makes it resign) to the holder, and the time until the next candidate leads.

    swift build -c release --product baton --product baton-etcd-probe
    python3 bench/etcd-backend/run.py --ttls 2,10 --rounds 10 --etcdctl-rounds 3 --nice 10
    python3 bench/etcd-backend/run.py --stop term --ttls 2 --contestants baton,etcd3,etcdctl --nice 10
"""
import argparse
import os
import socket
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../tests/etcd"))
from etcdharness import EtcdCluster, now_ns  # noqa: E402

VENV = os.path.join(HERE, ".venv")
# Each baton agent gets a data dir here (removed at the end of the run).
SCRATCH = tempfile.mkdtemp(prefix="baton-etcd-bench-agents-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def baton_argv(baton, c, ttl, prefix, ep):
    data_dir = tempfile.mkdtemp(prefix=c + "-", dir=SCRATCH)
    return [baton, "agent", "--backend", "etcd", "--id", c, "--api-listen", f"127.0.0.1:{free_port()}",
            "--data-dir", data_dir, "--etcd-endpoints", "http://" + ep, "--etcd-prefix", prefix,
            "--etcd-lease-ttl", f"{ttl}s", "--log-format", "json"]


def etcd3_python():
    """A venv with python-etcd3 that works against etcd 3.4 (made once, reused)."""
    python = os.path.join(VENV, "bin", "python")
    probe = [python, "-c", "import etcd3"]
    if not (os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "etcd3==0.12.0", "protobuf==3.20.3"], check=True)
    return python


class Contestant:
    def __init__(self, name, argv, leads, fixed_ttl=None, stderr_lines=False, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = argv          # (candidate, ttl, prefix, endpoint) -> [str]
        self.leads = leads        # line -> bool
        self.fixed_ttl = fixed_ttl
        self.stderr_lines = stderr_lines  # the line that says it leads is on stderr (the agent's log)
        self.stop_signal = stop_signal    # --stop term: the signal that makes it hand over


def contestants(args):
    out = {}
    if "etcd3" in args.contestants:
        python = etcd3_python()
        out["etcd3"] = Contestant(
            "python-etcd3 put-if-absent",
            lambda c, ttl, prefix, ep: [python, os.path.join(HERE, "peer_etcd3.py"), c, str(ttl), prefix, ep],
            lambda line: line.strip() == "LEADER")
    if "etcdctl" in args.contestants:
        out["etcdctl"] = Contestant(
            "etcdctl elect",
            lambda c, ttl, prefix, ep: ["etcdctl", "--endpoints", ep, "elect", prefix + "/elect", c],
            lambda line: line.strip().startswith("cand-"), fixed_ttl=60, stop_signal=signal.SIGINT)
    if "baton" in args.contestants:
        baton = args.baton
        out["baton"] = Contestant(
            "Baton agent --backend etcd",
            lambda c, ttl, prefix, ep: baton_argv(baton, c, ttl, prefix, ep),
            lambda line: '"event":"office-enter"' in line, stderr_lines=True)
    if "baton-probe" in args.contestants:
        probe = args.probe
        out["baton-probe"] = Contestant(
            "Baton etcd engine (probe)",
            lambda c, ttl, prefix, ep: [probe, "--name", c, "--endpoints", "http://" + ep, "--prefix", prefix, "--ttl", str(ttl)],
            lambda line: '"event":"enter"' in line)
    if "baton-probe-ttl4" in args.contestants:
        # The engine renewing every TTL/4 (its default before 2026-12-07): fresher leases,
        # so a dead holder's lease has longer to run.
        probe = args.probe
        out["baton-probe-ttl4"] = Contestant(
            "Baton engine, renewal TTL/4",
            lambda c, ttl, prefix, ep: [probe, "--name", c, "--endpoints", "http://" + ep, "--prefix", prefix, "--ttl", str(ttl),
                                        "--keepalive-ms", str(ttl * 250)],
            lambda line: '"event":"enter"' in line)
    if "baton-probe-slow" in args.contestants:
        # The longest interval the settings rule allows, rounded down (the default is 98 % of it).
        probe = args.probe

        def slow(ttl):
            return int(((ttl * 1000 * 0.95 / 1.05) - 50) / 2) - 20
        out["baton-probe-slow"] = Contestant(
            "Baton engine, longest renewal",
            lambda c, ttl, prefix, ep: [probe, "--name", c, "--endpoints", "http://" + ep, "--prefix", prefix, "--ttl", str(ttl),
                                        "--keepalive-ms", str(slow(ttl))],
            lambda line: '"event":"enter"' in line)
    return out


class Candidate:
    def __init__(self, argv, leads, env, stderr_lines=False):
        self.leads = leads
        self.led_at = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if stderr_lines else subprocess.DEVNULL,
                                     env=env, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if self.leads(line):
                self.led_at.append(now_ns())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, how):
        """kill: kill -9 now; else send signal `how` and let it hand over (reaped later)."""
        if how == "kill":
            self.kill()
        elif self.proc.poll() is None:
            self.proc.send_signal(how)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.002)
    return None


def one_round(contestant, ttl, endpoint, round_no, env, candidates=3, stop="kill"):
    prefix = f"/bench/{contestant.name.split()[0]}/{ttl}/{round_no}/{random.getrandbits(32):08x}"
    cands = []
    try:
        for k in range(candidates):
            cands.append(Candidate(contestant.argv(f"cand-{k}", ttl, prefix, endpoint), contestant.leads, env,
                                   contestant.stderr_lines))
            time.sleep(0.2)
        holder = wait_for(lambda: next((c for c in cands if c.led_at), None), 30)
        if holder is None:
            return None, "nobody led within 30 s"
        # Hold for a random part of a renewal period (every contestant renews within TTL/3).
        time.sleep(0.3 + random.uniform(0, ttl / 3))
        if sum(len(c.led_at) for c in cands) != 1:
            return None, "leadership changed before the kill"
        killed_at = now_ns()
        holder.stop("kill" if stop == "kill" else contestant.stop_signal)
        rest = [c for c in cands if c is not holder]
        successor = wait_for(lambda: next((c for c in rest if c.led_at), None), ttl * 3 + 10)
        if successor is None:
            return None, f"no successor within {ttl * 3 + 10} s"
        return (successor.led_at[0] - killed_at) / 1e9, None
    finally:
        for c in cands:
            c.kill()


def percentile(values, p):
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ttls", default="2,10")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--etcdctl-rounds", type=int, default=3, help="rounds for etcdctl elect (60 s TTL each)")
    ap.add_argument("--contestants", default="etcd3,etcdctl,baton")
    ap.add_argument("--candidates", type=int, default=3, help="candidates per round (the issue's 20 contenders: --candidates 20)")
    ap.add_argument("--stop", choices=["kill", "term"], default="kill", help="kill: kill -9 the holder; term: planned hand-over")
    ap.add_argument("--probe", default=os.environ.get("BATON_ETCD_PROBE", os.path.join(HERE, "../../.build/release/baton-etcd-probe")))
    ap.add_argument("--baton", default=os.environ.get("BATON_BIN", os.path.join(HERE, "../../.build/release/baton")))
    ap.add_argument("--nice", type=int, default=0)
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)
    # SIGTERM ends the run like Ctrl-C: the finally blocks stop etcd and the candidates.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ttls = [int(t) for t in args.ttls.split(",")]
    env = dict(os.environ, ETCDCTL_API="3")
    root = tempfile.mkdtemp(prefix="baton-etcd-bench-")
    cluster = EtcdCluster(root, 1, lifetime_s=6 * 3600)
    endpoint = cluster.endpoints.replace("http://", "")
    results = {}
    try:
        for key, contestant in contestants(args).items():
            for ttl in ([contestant.fixed_ttl] if contestant.fixed_ttl else ttls):
                rounds = args.etcdctl_rounds if contestant.fixed_ttl else args.rounds
                times, failures = [], []
                for r in range(rounds):
                    t, why = one_round(contestant, ttl, endpoint, r, env, args.candidates, args.stop)
                    (failures.append(why) if t is None else times.append(t))
                    print(f"  {contestant.name:28} TTL {ttl:>2} s round {r + 1}/{rounds}: "
                          + (f"{t:.3f} s" if t is not None else f"FAILED ({why})"), flush=True)
                results[(contestant.name, ttl)] = (times, failures)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(SCRATCH, ignore_errors=True)
    print()
    what = "failover after kill -9 of the holder" if args.stop == "kill" else "planned hand-over (SIGTERM; etcdctl SIGINT)"
    print(f"{what} ({args.candidates} candidates, one etcd 3.4 member on loopback)")
    print(f"{'contestant':30} {'TTL':>5} {'rounds':>7} {'p50':>9} {'p99':>9} {'max':>9} {'p50-TTL':>9}")
    for (name, ttl), (times, failures) in results.items():
        if not times:
            print(f"{name:30} {ttl:>4}s {0:>7}   (all failed: {failures[:1]})")
            continue
        p50 = statistics.median(times)
        print(f"{name:30} {ttl:>4}s {len(times):>7} {p50:>8.3f}s {percentile(times, 99):>8.3f}s {max(times):>8.3f}s "
              f"{p50 - ttl:>+8.3f}s" + (f"  ({len(failures)} failed)" if failures else ""))
    print("p99 of so few rounds is the largest but one at most; etcd revokes expired leases in a scan every 500 ms.")


if __name__ == "__main__":
    main()
