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

ALL_KINDS = {
    # kind: weight
    "kill": 4, "pause": 4, "restart": 2, "rolling-restart": 1,
    "partition": 2, "one-way": 2, "isolate-leader": 2,
    "loss": 1, "duplicate": 1, "delay": 2,
    "disk-full": 1, "fsync-fail": 1,
}
PROCESS_KINDS = ("kill", "pause", "restart")


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

    def resolve(self, target):
        if target != "leader":
            return target
        return self.c.current_leader() or random.Random(self.plan.seed).choice(self.plan.names)

    def nodes_of(self, spec):
        return self.c.names if spec == "all" else [spec]

    def execute(self, t0):
        c = self.c
        for i, f in enumerate(self.plan.faults):
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
        if heal:
            c.event("heal", kind=kind, target=target)

    def restart_dead(self):
        for node in self.c.nodes.values():
            if node.proc is None:
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
        return c.event("heal-final")
