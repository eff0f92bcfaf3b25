"""One seeded run (set up, fault, heal, quiet, check, tear down) and the command lines of
`tests/faults/run` and `tests/faults/soak`."""
import argparse
import os
import shutil
import signal
import sys
import time

from . import checker as checker_mod
from . import cluster as cluster_mod
from . import netns
from .nemesis import ALL_KINDS, LATE_LIMIT_S, MEMBERSHIP_KINDS, PROCESS_KINDS, Nemesis, Plan


def settings_from(args):
    lo, hi = (int(x.strip().removesuffix("ms")) for x in args.election_timeout.split(".."))
    return {"election_timeout": (lo, hi), "heartbeat": args.heartbeat, "drift": args.drift, "margin": 10}


def lease_ms(settings):
    lo = settings["election_timeout"][0]
    d = settings["drift"]
    return lo * (1 - d) / (1 + d) - settings["margin"]


MEMBER_OP_PREFIX = "membership op failed"


class Result:
    def __init__(self, seed, nodes, counts, checker, run_dir, plan, error=None, member_ops=None, member_failures=()):
        self.seed, self.nodes, self.counts, self.checker = seed, nodes, counts, checker
        self.run_dir, self.plan, self.error = run_dir, plan, error
        self.member_ops = member_ops or {}         # committed `baton members` changes by op
        self.member_failures = list(member_failures)  # (op, node, reason)

    @property
    def violations(self):
        v = list(self.checker.violations) if self.checker else []
        # A change that never committed (or a member never promoted) is reported, not
        # dropped: the nemesis could not do what its schedule says.
        v += [f"{MEMBER_OP_PREFIX}: {reason}" for _, _, reason in self.member_failures]
        if self.error:
            v.append(f"harness error: {self.error}")
        return v

    @property
    def faults(self):
        return sum(self.counts.values())


def run_one(seed, nodes, duration, kinds, settings, out_dir, quiet_s, keep=False, hooks=None, log=print):
    netns.cleanup_leftovers()
    names = [f"n{i + 1}" for i in range(nodes)]
    plan = Plan(seed, names, duration, kinds, lease_ms(settings), settings["election_timeout"][0])
    log(plan.describe())
    run_dir = os.path.join(out_dir, f"seed-{seed}-{nodes}n")
    shutil.rmtree(run_dir, ignore_errors=True)
    if hooks is None:
        hooks = cluster_mod.agent_supports_hooks()
    c = cluster_mod.Cluster(run_dir, names, settings, seed, hooks=hooks, disk_node=plan.disk_node,
                            boot_offsets=plan.boot_offsets)
    nem = Nemesis(c, plan)
    error = None
    try:
        c.setup()
        c.start_all()
        if c.wait_leader(10.0) is None:
            error = "no leader within 10 s of the first start"
        else:
            c.event("faults-start")
            nem.execute(time.monotonic())
        nem.final_heal()
        lo, hi = settings["election_timeout"]
        time.sleep((2 * hi + settings["heartbeat"]) / 1000 + quiet_s)
        c.reap_unexpected()
        c.event("end")
        for node in c.nodes.values():
            c.kill(node, how="end")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a harness failure is reported, never hidden
        error = f"{type(e).__name__}: {e}"
    finally:
        c.teardown()
    chk = checker_mod.check(run_dir)
    res = Result(seed, nodes, nem.counts, chk, run_dir, plan, error, nem.members.counts, nem.members.failures)
    status = "FAIL" if res.violations else "ok"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(nem.counts.items()))
    ops = ""
    if any(k in MEMBERSHIP_KINDS for k in kinds):
        ops = (" member ops: " + ", ".join(f"{k} {v}" for k, v in sorted(nem.members.counts.items()))
               + f", failed {len(nem.members.failures)}, skipped {nem.skipped_ops} (group not whole);")
    if nem.cut:
        ops += f" {nem.cut} faults of the schedule dropped (over {LATE_LIMIT_S:.0f} s behind it);"
    log(f"seed {seed} ({nodes} nodes): {status}: {res.faults} faults ({counts});{ops} {chk.stats}")
    if res.violations:
        for v in res.violations:
            log(f"  VIOLATION {v}")
        log(plan.describe())
        log(f"  history kept in {run_dir}; replay: tests/faults/run --nodes {nodes} --seed {seed} --duration {duration:g}"
            + replay_kinds(kinds))
    elif not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


# The default mix: every kind but the membership changes (nemesis.MEMBERSHIP_KINDS), which
# `--membership` adds: with them a 25 s run takes longer (each change waits for its commit
# and for the member to be a voter again), so CI runs them for one seed apart.
DEFAULT_KINDS = [k for k in ALL_KINDS if k not in MEMBERSHIP_KINDS]


def replay_kinds(kinds):
    if set(kinds) == set(DEFAULT_KINDS):
        return ""
    if set(kinds) == set(DEFAULT_KINDS) | set(MEMBERSHIP_KINDS):
        return " --membership"
    return f" --kinds {','.join(kinds)}"


def common_args(p):
    p.add_argument("--duration", type=float, default=30, help="seconds of faults per run (default 30)")
    p.add_argument("--kinds", default=",".join(DEFAULT_KINDS),
                   help=f"comma-separated fault kinds (default: {','.join(DEFAULT_KINDS)}); 'process' = {','.join(PROCESS_KINDS)}; "
                        f"'membership' = {','.join(MEMBERSHIP_KINDS)}")
    p.add_argument("--membership", action="store_true",
                   help="add the membership changes and wipes (replace, wipe, remove-leader) to the mix")
    p.add_argument("--election-timeout", default="150ms..300ms")
    p.add_argument("--heartbeat", type=int, default=10, help="heartbeat interval in ms (default 10; see README)")
    p.add_argument("--drift", type=float, default=0.05)
    p.add_argument("--quiet", type=float, default=3.0, help="quiet seconds after the final heal (default 3)")
    p.add_argument("--out", default="/tmp/baton-faults", help="where run histories go (kept on failure)")
    p.add_argument("--keep", action="store_true", help="keep the history of passing runs too")
    p.add_argument("--no-hooks", action="store_true", help="do not pass hook flags even if the agent has them")


def parse_kinds(text):
    kinds = []
    for k in text.split(","):
        k = k.strip()
        if k == "process":
            kinds += list(PROCESS_KINDS)
        elif k == "membership":
            kinds += list(MEMBERSHIP_KINDS)
        elif k in ALL_KINDS:
            kinds.append(k)
        else:
            sys.exit(f"unknown fault kind '{k}'; choose from {', '.join(ALL_KINDS)}, 'process' or 'membership'")
    return list(dict.fromkeys(kinds))


def summary(results, elapsed):
    runs = len(results)
    faults = sum(r.faults for r in results)
    v = sum(len(r.violations) for r in results)
    quiet = sum(r.checker.stats.get("quiet_elections", 0) for r in results if r.checker)
    by_kind = {}
    for r in results:
        for k, n in r.counts.items():
            by_kind[k] = by_kind.get(k, 0) + n
    overlaps = sum(r.checker.stats.get("overlaps", 0) for r in results if r.checker)
    offices = sum(r.checker.stats.get("offices", 0) for r in results if r.checker)
    hooks = [r.checker.stats for r in results if r.checker and "hook_pairs" in r.checker.stats]
    line = f"{runs} runs, {faults} faults, {v} violations, {quiet} elections during quiet periods"
    # Safety (S1–S5) apart from liveness (L1, flapping, a cluster that never got going).
    # A wiped member's leader change while it was refused is disruption, not two leaders.
    live_prefixes = ("liveness", "quiet period", "harness error: no leader", "wipe: the group changed leader")
    liveness = sum(1 for r in results for x in r.violations if x.startswith(live_prefixes))
    member_failed = sum(1 for r in results for x in r.violations if x.startswith(MEMBER_OP_PREFIX))
    ops = {}
    for r in results:
        for k, n in r.member_ops.items():
            ops[k] = ops.get(k, 0) + n
    detail = (f"  violations: {v - liveness - member_failed} safety, {liveness} liveness, {member_failed} membership ops failed; "
              f"offices {offices}, overlapping offices {overlaps}, faults by kind "
              + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
              + f"; process events (kill -9/SIGSTOP/restart) {sum(by_kind.get(k, 0) for k in PROCESS_KINDS)}")
    if ops:
        refused = sum(r.checker.stats.get("wiped_refusals", 0) for r in results if r.checker)
        detail += ("; committed member changes " + ", ".join(f"{k} {n}" for k, n in sorted(ops.items()))
                   + f"; refusals of wiped members logged by their peers {refused}")
    if hooks:
        detail += (f"; hook pairs {sum(s['hook_pairs'] for s in hooks)}, duplicate {sum(s['hook_duplicates'] for s in hooks)}, "
                   f"missing {sum(s['hook_missing'] for s in hooks)}")
    else:
        detail += "; hooks not checked (agent without --on-promote)"
    margins = [r.checker.stats["min_successor_margin_ms"] for r in results if r.checker and "min_successor_margin_ms" in r.checker.stats]
    if margins:
        detail += f"; smallest margin between a stopped leader's lease bound and its successor {min(margins)} ms"
    return line, detail + f"; {elapsed / 60:.1f} min"


def preflight():
    if os.geteuid() != 0:
        sys.exit("tests/faults needs root (network, mount and time namespaces, nft)")
    for tool in ("ip", "nft", "unshare", "nsenter", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"tests/faults needs '{tool}' (apt-get install iproute2 nftables util-linux gcc)")
    if not os.path.exists(cluster_mod.BATON):
        sys.exit(f"no agent at {cluster_mod.BATON}: run 'swift build' or set BATON_BIN")


def install_signal_cleanup():
    """Ctrl-C and SIGTERM unwind through the run's `finally` (processes, namespaces)."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)


def main_run(argv):
    p = argparse.ArgumentParser(prog="tests/faults/run", description="Seeded fault-injection runs on real agents.")
    p.add_argument("--nodes", default="3", help="3, 5 or 3,5 (each seed runs on each size)")
    p.add_argument("--seeds", type=int, default=1, help="how many seeds (from --first-seed)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--seed", type=int, help="replay exactly this seed")
    common_args(p)
    a = p.parse_args(argv)
    preflight()
    install_signal_cleanup()
    kinds = parse_kinds(a.kinds + (",membership" if a.membership else ""))
    sizes = [int(x) for x in a.nodes.split(",")]
    seeds = [a.seed] if a.seed is not None else list(range(a.first_seed, a.first_seed + a.seeds))
    settings = settings_from(a)
    results, t0 = [], time.monotonic()
    hooks = False if a.no_hooks else None
    try:
        for seed in seeds:
            for n in sizes:
                results.append(run_one(seed, n, a.duration, kinds, settings, a.out, a.quiet, a.keep, hooks))
    except KeyboardInterrupt:
        print("interrupted; cleaned up", flush=True)
        netns.cleanup_leftovers(verbose=False)
        return 130
    line, detail = summary(results, time.monotonic() - t0)
    print(line)
    print(detail)
    return 1 if any(r.violations for r in results) else 0


def main_soak(argv):
    p = argparse.ArgumentParser(prog="tests/faults/soak", description="Mixed-fault runs for hours; one summary line.")
    p.add_argument("--hours", type=float, required=True)
    p.add_argument("--nodes", default="3,5", help="sizes to alternate (default 3,5)")
    p.add_argument("--first-seed", type=int, default=1000)
    p.add_argument("--log", help="also append every run's lines to this file")
    common_args(p)
    p.set_defaults(duration=60)
    a = p.parse_args(argv)
    preflight()
    install_signal_cleanup()
    kinds = parse_kinds(a.kinds + (",membership" if a.membership else ""))
    sizes = [int(x) for x in a.nodes.split(",")]
    settings = settings_from(a)
    hooks = False if a.no_hooks else None
    logf = open(a.log, "a", buffering=1) if a.log else None

    def log(msg):
        print(msg, flush=True)
        if logf:
            logf.write(msg + "\n")

    results, t0 = [], time.monotonic()
    end = t0 + a.hours * 3600
    seed = a.first_seed
    try:
        # Runs start until the time is up, so a soak lasts at least --hours (it used to
        # stop a run short of it, and a "2-hour" soak came out at 119.9 minutes).
        while time.monotonic() < end:
            n = sizes[(seed - a.first_seed) % len(sizes)]
            results.append(run_one(seed, n, a.duration, kinds, settings, a.out, a.quiet, a.keep, hooks, log=log))
            line, _ = summary(results, time.monotonic() - t0)
            log(f"soak so far: {line}")
            seed += 1
    except KeyboardInterrupt:
        log("interrupted; cleaned up; summary of the finished runs:")
        netns.cleanup_leftovers(verbose=False)
    line, detail = summary(results, time.monotonic() - t0)
    log(line)
    log(detail)
    return 1 if any(r.violations for r in results) else 0
