"""The nemesis: a fault schedule drawn from a seed (the same seed gives the same schedule,
printed before the run), and the code that applies and heals each fault.

Faults run one after another, each followed by its heal and a short gap, so the checker's
lease bound for a stopped leader stays sound (design note in checker.py). A target written
as "leader" is resolved at run time from the observer; the resolved node is recorded.
Every run ends with a final heal (everything undone, every agent running) and a quiet
period in which the checker allows no election.
"""
import random
import time

from .members import MemberOps

ALL_KINDS = {
    # kind: weight
    "kill": 4, "pause": 4, "restart": 2, "rolling-restart": 1,
    "partition": 2, "one-way": 2, "isolate-leader": 2,
    "loss": 1, "duplicate": 1, "delay": 2,
    "disk-full": 1, "fsync-fail": 1,
}
PROCESS_KINDS = ("kill", "pause", "restart")
# Membership changes and wipes (faultlib/members.py), through `baton members`:
#   replace        stop a member (kill -9 or SIGTERM), remove it, wipe its data dir,
#                  start it without --bootstrap and add it (before or after the start);
#   wipe           a member restarted on an empty data dir (with or without --bootstrap)
#                  without being removed: refused by its peers (never votes, the group
#                  keeps its leader) until the nemesis removes and adds it again;
#   remove-leader  remove the leader (it hands over), stop it, wipe, start, add it back.
# Each waits for the member to be a voter again, so the group is whole after every one.
MEMBERSHIP_KINDS = {"replace": 2, "wipe": 2, "remove-leader": 2}
LATE_LIMIT_S = 30.0
ALL_KINDS.update(MEMBERSHIP_KINDS)


class Plan:
    """Everything a seed decides: cluster shape and the ordered faults."""

    def __init__(self, seed, names, duration, kinds, lease_ms, emin_ms):
        rng = random.Random(seed)
        self.seed = seed
        self.names = list(names)
        self.duration = duration
        self.disk_node = rng.choice(self.names)
        # One node (sometimes two) runs with a constant clock offset in a time namespace.
        self.boot_offsets = {}
        for n in rng.sample(self.names, 2 if rng.random() < 0.3 else 1):
            self.boot_offsets[n] = rng.randrange(1_000, 10_000_000)
        self.kinds = list(kinds)
        weights = {k: ALL_KINDS[k] for k in kinds}
        self.faults = []
        t = 1.0
        while t < duration:
            kind = rng.choices(list(weights), list(weights.values()))[0]
            f = {"at": round(t, 2), "kind": kind}
            if kind in ("kill", "pause", "restart", "fsync-fail"):
                f["target"] = "leader" if rng.random() < 0.6 else rng.choice(self.names)
            if kind == "kill":
                f["hold"] = round(rng.uniform(0.05, 1.5), 2)  # down time before the restart
            elif kind == "pause":
                # Longer than the lease, so the paused leader's office must end.
                f["hold"] = round(rng.uniform(max(1.5 * lease_ms, emin_ms + 50) / 1000, 2.5), 2)
            elif kind == "restart":
                f["hold"] = round(rng.uniform(0.0, 0.5), 2)
            elif kind == "rolling-restart":
                f["hold"] = round(rng.uniform(0.5, 1.2), 2)  # per node, after its restart
            elif kind == "partition":
                side = rng.sample(self.names, rng.randint(1, len(self.names) // 2))
                f["side"] = sorted(side)
                f["hold"] = round(rng.uniform(0.5, 3.0), 2)
            elif kind == "one-way":
                a, b = rng.sample(self.names, 2)
                f["from"], f["to"] = a, b
                f["hold"] = round(rng.uniform(0.5, 3.0), 2)
            elif kind == "isolate-leader":
                f["hold"] = round(rng.uniform(0.5, 3.0), 2)
            elif kind in ("loss", "duplicate"):
                f["pct"] = rng.choice([5, 10, 20, 35])
                f["nodes"] = "all" if rng.random() < 0.5 else rng.choice(self.names)
                f["hold"] = round(rng.uniform(0.5, 3.0), 2)
            elif kind == "delay":
                f["base_ms"] = rng.choice([2, 5, 15, 40])
                f["jitter_ms"] = rng.choice([0, 5, 20, 60])
                f["nodes"] = "all" if rng.random() < 0.5 else rng.choice(self.names)
                f["hold"] = round(rng.uniform(0.5, 3.0), 2)
            elif kind == "disk-full":
                f["target"] = self.disk_node
                f["hold"] = round(rng.uniform(0.3, 2.0), 2)
            elif kind == "fsync-fail":
                f["hold"] = round(rng.uniform(0.3, 2.0), 2)
            elif kind == "replace":
                f["target"] = "leader" if rng.random() < 0.4 else rng.choice(self.names)
                f["stop"] = rng.choice(["kill", "term"])
                f["order"] = rng.choice(["start-first", "add-first"])
                f["hold"] = round(rng.uniform(0.1, 1.0), 2)  # down before the remove
            elif kind == "wipe":
                f["target"] = "leader" if rng.random() < 0.4 else rng.choice(self.names)
                f["stop"] = rng.choice(["kill", "term"])
                f["bootstrap"] = rng.random() < 0.5
                # Re-added as it runs (the README's way) or restarted on an empty dir.
                f["rejoin"] = rng.choice(["in-place", "restart"])
                f["hold"] = round(rng.uniform(1.0, 3.0), 2)  # refused for this long
            elif kind == "remove-leader":
                f["hold"] = round(rng.uniform(0.1, 0.8), 2)  # removed, still running
            self.faults.append(f)
            t += f["hold"] * (len(self.names) if kind == "rolling-restart" else 1) + rng.uniform(0.3, 1.2)

    def describe(self):
        lines = [f"seed {self.seed}: {len(self.names)} nodes, {self.duration:.0f} s, disk node {self.disk_node}, "
                 f"clock offsets {self.boot_offsets}"]
        for f in self.faults:
            rest = ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("at", "kind"))
            lines.append(f"  t={f['at']:7.2f}s {f['kind']:<16} {rest}")
        return "\n".join(lines)


class Nemesis:
    def __init__(self, cluster, plan):
        self.c = cluster
        self.plan = plan
        self.counts = {}
        self.members = MemberOps(cluster)
        self.cut = 0  # faults of the schedule dropped to keep the run bounded
        self.skipped_ops = 0  # membership faults not applied: the group was not whole

    def resolve(self, target):
        if target != "leader":
            return target
        return self.c.current_leader() or random.Random(self.plan.seed).choice(self.plan.names)

    def nodes_of(self, spec):
        return self.c.names if spec == "all" else [spec]

    def execute(self, t0):
        c = self.c
        for i, f in enumerate(self.plan.faults):
            # Membership changes wait for commits and promotions, which a starved machine
            # can stretch: a run stays bounded by dropping what is left of its schedule
            # once it runs LATE_LIMIT_S behind (said in the run's line, never silent).
            if time.monotonic() - t0 - f["at"] > LATE_LIMIT_S:
                self.cut = len(self.plan.faults) - i
                c.event("faults-cut", left=self.cut, behind_s=round(time.monotonic() - t0 - f["at"], 1))
                return
            wait = t0 + f["at"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            c.reap_unexpected()
            self.restart_dead()  # an agent that exited on its own comes back
            # The last fault is left in place for the final heal to undo, so the
            # liveness check measures a real recovery.
            self.apply(f, heal=i + 1 < len(self.plan.faults))

    def count(self, kind, n=1):
        self.counts[kind] = self.counts.get(kind, 0) + n

    def apply(self, f, heal=True):
        c, kind, hold = self.c, f["kind"], f.get("hold", 0)
        target = self.resolve(f["target"]) if "target" in f else None
        node = c.nodes[target] if target else None
        c.event("fault", kind=kind, target=target, spec=f)
        if kind == "kill":
            if c.kill(node) is not None:
                self.count("kill")
            time.sleep(hold)
            if heal:
                c.start(node)
        elif kind == "pause":
            if c.pause(node) is not None:
                self.count("pause")
            time.sleep(hold)
            if heal:
                c.resume(node)
        elif kind == "restart":
            if c.terminate(node) is not None:
                self.count("restart")
            time.sleep(hold)
            if heal:
                c.start(node)
        elif kind == "rolling-restart":
            for n in c.names:
                if c.terminate(c.nodes[n]) is not None:
                    self.count("restart")
                c.start(c.nodes[n])
                time.sleep(hold)
        elif kind in ("partition", "one-way", "isolate-leader"):
            if kind == "partition":
                side = f["side"]
                c.net.partition(side, [n for n in c.names if n not in side])
            elif kind == "one-way":
                c.net.one_way(f["from"], f["to"])
            else:
                leader = self.resolve("leader")
                c.event("fault-target", kind=kind, target=leader)
                c.net.partition([leader], [n for n in c.names if n != leader])
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.net.heal()
        elif kind == "loss":
            c.net.set_loss(self.nodes_of(f["nodes"]), f["pct"])
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.net.heal()
        elif kind == "duplicate":
            c.net.set_dup(self.nodes_of(f["nodes"]), f["pct"])
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.net.heal()
        elif kind == "delay":
            nodes = self.nodes_of(f["nodes"])
            spec = [f["base_ms"], f["jitter_ms"]]
            # Delay every link that touches one of `nodes`, in whichever proxy carries it.
            table = {n: {m: spec for m in c.names if m != n and (n in nodes or m in nodes)} for n in c.names}
            c.set_delays(table)
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.set_delays({})
        elif kind == "disk-full":
            c.fill_disk(node, True)
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.fill_disk(node, False)
        elif kind == "fsync-fail":
            c.fail_fsync(node, True)
            self.count(kind)
            time.sleep(hold)
            if heal:
                c.fail_fsync(node, False)
        elif kind in MEMBERSHIP_KINDS:
            # A membership change is always finished (the member a voter again): the
            # group must be whole for the next fault and for the liveness check.
            if kind == "remove-leader":
                target = self.c.wait_leader(5.0)
                if target is None:
                    c.event("fault-skipped", kind=kind, reason="no leader in office within 5 s")
                    return
                node = c.nodes[target]
                c.event("fault-target", kind=kind, target=target)
            # Never shrink a group that is not whole: after a change that failed (a
            # learner never promoted), removing another voter would leave fewer voters
            # than the run was configured with (seed 1022 of the first soak ended a
            # 3-node group with one voter). The final heal restores it.
            roles = self.members.roles(avoid=[n for n in c.names if c.nodes[n].refused])
            short = sorted(n for n in c.names if (roles or {}).get(n) != "voter")
            if roles is None or short:
                why = "no member answered GET /members" if roles is None else f"not voters: {', '.join(short)}"
                c.event("fault-skipped", kind=kind, reason=f"the group is not whole ({why})")
                self.skipped_ops += 1
                return
            node.held = True
            try:
                if getattr(self, "_" + kind.replace("-", "_"))(node, f):
                    self.count(kind)
            finally:
                node.held = False
        if heal:
            c.event("heal", kind=kind, target=target)

    # Membership changes (one at a time: each call returns once it is done or failed)

    def _stop(self, node, how):
        if how == "kill":
            self.c.kill(node)
        else:
            self.c.terminate(node)

    def _rejoin(self, node, order):
        """A member removed from the group comes back on an empty data dir, without
        --bootstrap, started before or after it is added; done once it is a voter."""
        c, m = self.c, self.members
        if node.alive:
            c.terminate(node)
        c.wipe(node, bootstrap=False)
        if order == "start-first":
            c.start(node)
            ok = m.add(node)
        else:
            ok = m.add(node)
            c.start(node)
        return ok and m.wait_voter(node)

    def _replace(self, node, f):
        self._stop(node, f["stop"])
        time.sleep(f["hold"])
        if not self.members.remove(node):
            self.c.start(node)  # still a member: back on its own data dir
            return False
        return self._rejoin(node, f["order"])

    def _wipe(self, node, f):
        c, m = self.c, self.members
        self._stop(node, f["stop"])
        c.wipe(node, bootstrap=f["bootstrap"])
        node.refused = True
        c.start(node)
        c.event("wiped-start", node=node.name, inc=node.incarnation, bootstrap=f["bootstrap"])
        time.sleep(f["hold"])
        # The fix the agents' messages give: remove it and add it again, as it runs or
        # restarted on an empty data dir without --bootstrap.
        if not m.remove(node):
            return False
        c.event("wiped-removed", node=node.name, inc=node.incarnation)
        node.refused = False
        if f["rejoin"] == "restart":
            return self._rejoin(node, "start-first")
        return m.add(node) and m.wait_voter(node)

    def _remove_leader(self, node, f):
        if not self.members.remove(node):
            return False
        time.sleep(f["hold"])
        return self._rejoin(node, "start-first")

    def restore_membership(self):
        """Before the final heal's mark: every node a voter again, whatever a failed
        change left behind (removed, refused after a wipe, a learner not promoted)."""
        c, m = self.c, self.members
        end = time.monotonic() + 15
        roles = None
        while roles is None and time.monotonic() < end:
            roles = m.roles(avoid=[n for n in c.names if c.nodes[n].refused])
            if roles is None:
                time.sleep(0.3)
        if roles is None:
            m.failures.append(("restore", "-", "final heal: no member answered GET /members within 15 s"))
            return
        for name in c.names:
            node = c.nodes[name]
            if node.refused and name in roles:
                c.event("restore", node=name, why="refused after a wipe")
                if not m.remove(node):
                    continue
                roles.pop(name)
                node.refused = False
            if name not in roles:
                c.event("restore", node=name, why="not a member")
                self._rejoin(node, "start-first")
            elif roles[name] != "voter":
                c.event("restore", node=name, why=f"role {roles[name]}")
                m.wait_voter(node)

    def restart_dead(self):
        for node in self.c.nodes.values():
            if node.proc is None and not node.held:
                self.c.start(node)

    def final_heal(self):
        c = self.c
        c.net.heal()
        c.set_delays({})
        for node in c.nodes.values():
            c.fail_fsync(node, False)
            if node.tmpfs_kb:
                c.fill_disk(node, False)
            if node.paused:
                c.resume(node)
        c.reap_unexpected()
        self.restart_dead()
        if any(k in MEMBERSHIP_KINDS for k in self.plan.kinds):
            self.restore_membership()
        return c.event("heal-final")
