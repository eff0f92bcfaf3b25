"""The checker must be able to fail. Hand-made histories, each with one defect, must each
produce the violation they contain (and a clean one none); then a real cluster run with a
deliberately unsafe setting must be caught.

Run: python3 -m pytest -q tests/faults/test_checker.py   (the real-cluster test needs
root, nft and a built agent; it is skipped otherwise).
"""
import json
import os
import shutil
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import checker  # noqa: E402

MS = 1_000_000
# Election timeout 150..300 ms, heartbeat 10 ms, drift 0.05, margin 10 ms:
# lease = 150·0.95/1.05 − 10 ≈ 125.7 ms; liveness bound 2·300 + 10 = 610 ms.
LEASE = int(150 * MS * 0.95 / 1.05) - 10 * MS


class FakeRun:
    """Writes a run directory the way the harness does, from a hand-made story."""

    def __init__(self, root, nodes=("n1", "n2", "n3"), offsets=None, hooks=False):
        self.dir = str(root)
        self.offsets = offsets or {}
        self.events = []
        self.logs = {}
        self.hooklines = {}
        self.observer = []
        self.ev("config", nodes=list(nodes), seed=7, election_timeout_ms=[150, 300], heartbeat_ms=10,
                drift=0.05, margin_ms=10, hooks=hooks, disk_node=None,
                boot_offsets_s={n: self.offsets.get(n, 0) for n in nodes}, t=0)

    def ev(self, name, t, **fields):
        fields.update(ev=name, t=t)
        self.events.append(fields)

    def start(self, node, inc, t):
        path = os.path.join(self.dir, node, f"agent.{inc}.log")
        self.logs[path] = []
        self.ev("start", t, node=node, inc=inc, pid=1000 + inc, log=path)
        return path

    def log(self, node, inc, t, event, term, **fields):
        """t is host time; the line carries the node's own boottime (host + offset)."""
        path = os.path.join(self.dir, node, f"agent.{inc}.log")
        line = {"boottime_ns": t + self.offsets.get(node, 0) * 1_000_000_000, "node": node, "term": term,
                "role": fields.pop("role", "leader"), "event": event}
        line.update({k: str(v) for k, v in fields.items()})
        self.logs[path].append(line)

    def enter(self, node, inc, t, token):
        self.log(node, inc, t, "office-enter", token, token=token,
                 lease_deadline_boottime_ns=t + LEASE - MS + self.offsets.get(node, 0) * 1_000_000_000)

    def leave(self, node, inc, t, token):
        self.log(node, inc, t, "office-leave", token, token=token, reason="lease-lost", role="follower")

    def hook(self, node, inc, event, term, t):
        off = self.offsets.get(node, 0) * 1_000_000_000
        self.hooklines.setdefault(node, []).append(f"{event} {node} {inc} {term} {t + off} {t + off + MS} x\n")

    def write(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "events.jsonl"), "w") as f:
            for e in self.events:
                f.write(json.dumps(e) + "\n")
        for path, lines in self.logs.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("not json: a line the checker must skip\n")
                for line in lines:
                    f.write(json.dumps(line) + "\n")
        for node, lines in self.hooklines.items():
            with open(os.path.join(self.dir, node, "hooks.log"), "w") as f:
                f.writelines(lines)
        with open(os.path.join(self.dir, "observer.log"), "w") as f:
            f.writelines(self.observer)
        return checker.check(self.dir)


def healthy(root, **kw):
    """Three nodes; n1 leads (token 2) until lease loss at 3 s, n2 leads (token 3) from 3.3 s;
    final heal at 5 s, end at 9 s, everyone killed at the end."""
    r = FakeRun(root, **kw)
    for n in ("n1", "n2", "n3"):
        r.start(n, 1, 0)
    r.enter("n1", 1, 1000 * MS, 2)
    r.leave("n1", 1, 3000 * MS, 2)
    r.enter("n2", 1, 3300 * MS, 3)
    r.ev("heal-final", 5000 * MS)
    r.ev("end", 9000 * MS)
    for n in ("n1", "n2", "n3"):
        r.ev("exit", 9001 * MS, node=n, inc=1, how="end", code=-9)
        r.ev("state", 9002 * MS, node=n, inc=1, term=3, vote=2, commit=3)
    return r


def test_clean_history_passes(tmp_path):
    c = healthy(tmp_path).write()
    assert c.violations == [], c.violations
    assert c.stats["offices"] == 2 and c.stats["overlaps"] == 0


def test_overlapping_offices_fail(tmp_path):
    r = healthy(tmp_path)
    r.enter("n3", 1, 2500 * MS, 4)  # n3 in office while n1 still is (n1 leaves at 3 s)
    c = r.write()
    assert any("overlapping offices" in v and "n3" in v for v in c.violations), c.violations


def test_token_not_increasing_fails(tmp_path):
    r = FakeRun(tmp_path)
    for n in ("n1", "n2"):
        r.start(n, 1, 0)
    r.enter("n1", 1, 100 * MS, 5)
    r.leave("n1", 1, 200 * MS, 5)
    r.enter("n2", 1, 400 * MS, 5)  # same token again
    c = r.write()
    assert any("token not increasing" in v for v in c.violations), c.violations


def test_killed_leader_lease_bound(tmp_path):
    # Killed at 1 s: its office lasts to 1 s + lease (≈1.126 s). A successor at 1.05 s overlaps.
    for successor_ms, bad in ((1050, True), (1200, False)):
        d = tmp_path / str(successor_ms)
        r = FakeRun(d)
        r.start("n1", 1, 0)
        r.start("n2", 1, 0)
        r.enter("n1", 1, 500 * MS, 2)
        r.ev("exit", 1000 * MS, node="n1", inc=1, how="kill", code=-9)
        r.enter("n2", 1, successor_ms * MS, 3)
        c = r.write()
        assert any("overlapping offices" in v for v in c.violations) == bad, (successor_ms, c.violations)


def test_killed_leader_with_logged_renewals_ends_at_its_last_logged_deadline(tmp_path):
    # The etcd engine logs every renewal: a holder killed at 1 s whose last renewal (at
    # 0.8 s) moved its deadline to 0.8 s + lease ends there (≈0.926 s), not at the kill +
    # lease. A successor at 0.95 s is fine; one at 0.9 s overlaps; a renewal logged
    # further ahead than a lease is a violation of its own.
    for successor_ms, renewed_ahead, expect in ((950, LEASE, None), (900, LEASE, "overlapping offices"),
                                                 (1200, LEASE + 5 * MS, "renewed lease deadline")):
        d = tmp_path / str(successor_ms)
        r = FakeRun(d)
        r.events[0]["renewals_logged"] = True
        r.start("n1", 1, 0)
        r.start("n2", 1, 0)
        r.enter("n1", 1, 500 * MS, 2)
        r.log("n1", 1, 800 * MS, "lease-renewed", 2, token=2, lease_deadline_boottime_ns=800 * MS + renewed_ahead)
        r.ev("exit", 1000 * MS, node="n1", inc=1, how="kill", code=-9)
        r.enter("n2", 1, successor_ms * MS, 3)
        c = r.write()
        found = [v for v in c.violations if expect and expect in v]
        assert (found != []) == (expect is not None) and (expect is not None or c.violations == []), (successor_ms, c.violations)
    # Without the run saying renewals are logged, the kill-time bound applies (Raft runs).
    r = FakeRun(tmp_path / "raft")
    r.start("n1", 1, 0)
    r.start("n2", 1, 0)
    r.enter("n1", 1, 500 * MS, 2)
    r.log("n1", 1, 800 * MS, "lease-renewed", 2, token=2, lease_deadline_boottime_ns=800 * MS + LEASE)
    r.ev("exit", 1000 * MS, node="n1", inc=1, how="kill", code=-9)
    r.enter("n2", 1, 950 * MS, 3)
    assert any("overlapping offices" in v for v in r.write().violations)


def test_paused_leader(tmp_path):
    # Paused at 1 s for 1 s (longer than the lease), leaves 1 ms after waking: its office
    # ends at 1 s + lease. Successor at 1.3 s is fine, at 1.1 s overlaps; leaving 400 ms
    # after waking is a violation of its own.
    cases = [(1300, 1, None), (1100, 1, "overlapping offices"), (1300, 400, "still in office")]
    for i, (successor_ms, leave_after_ms, expected) in enumerate(cases):
        r = FakeRun(tmp_path / str(i))
        r.start("n1", 1, 0)
        r.start("n2", 1, 0)
        r.enter("n1", 1, 500 * MS, 2)
        r.ev("stop", 1000 * MS, node="n1", inc=1)
        r.ev("cont", 2000 * MS, node="n1", inc=1)
        r.leave("n1", 1, (2000 + leave_after_ms) * MS, 2)
        r.enter("n2", 1, successor_ms * MS, 3)
        c = r.write()
        if expected is None:
            assert c.violations == [], c.violations
        else:
            assert any(expected in v for v in c.violations), (i, c.violations)


def test_clock_offset_is_converted(tmp_path):
    # n2 runs 5000 s ahead in its time namespace. Its office at host 3.3 s is logged at
    # 5003.3 s; only after conversion does the checker see that n2 starts after n1 left.
    c = healthy(tmp_path / "ok", offsets={"n2": 5000}).write()
    assert c.violations == [], c.violations
    r = healthy(tmp_path / "bad", offsets={"n2": 5000})
    r.enter("n2", 1, 2000 * MS, 1)  # an earlier office of n2 overlapping n1's, in n2's clock
    r.leave("n2", 1, 2100 * MS, 1)
    c = r.write()
    assert any("overlapping offices" in v for v in c.violations), c.violations


def test_observer_claim_outside_office_fails(tmp_path):
    r = healthy(tmp_path)
    r.observer.append(f"I n1 {1500 * MS} {1501 * MS} 200 2 1\n")  # inside n1's office: fine
    r.observer.append(f"I n1 {3200 * MS} {3201 * MS} 200 2 1\n")  # after n1 left: violation
    c = r.write()
    assert sum("observer" in v for v in c.violations) == 1, c.violations


def test_state_going_back_fails(tmp_path):
    r = healthy(tmp_path)
    r.ev("state", 9500 * MS, node="n1", inc=2, term=2, vote=1, commit=3)  # term 3 → 2
    r.ev("state", 9600 * MS, node="n2", inc=2, term=3, vote=3, commit=3)  # vote 2 → 3 in term 3
    c = r.write()
    assert any("term went back" in v for v in c.violations), c.violations
    assert any("vote in term 3 changed" in v for v in c.violations), c.violations


def wiped_n3(root):
    """healthy(), plus n3 killed at 1.5 s, its data dir wiped, started again at 1.6 s
    (incarnation 2, refused by its peers), removed at 2.5 s and re-added."""
    r = healthy(root)
    r.events = [e for e in r.events if not (e.get("node") == "n3" and e["t"] > 9000 * MS)]
    r.ev("exit", 1500 * MS, node="n3", inc=1, how="kill", code=-9, signal_t=1500 * MS)
    r.ev("state", 1501 * MS, node="n3", inc=1, term=2, vote=1, commit=2)
    r.ev("wipe", 1502 * MS, node="n3", inc=1, wipes=1, bootstrap=True)
    r.start("n3", 2, 1600 * MS)
    r.ev("wiped-start", 1601 * MS, node="n3", inc=2, bootstrap=True)
    r.log("n3", 2, 1700 * MS, "role", 1, role="candidate")  # its own campaigns are expected
    r.log("n1", 1, 1800 * MS, "peer-refused", 2, peer="n3")
    r.ev("wiped-removed", 2500 * MS, node="n3", inc=2)
    # The wiped dir starts over at term 1: not a term going back.
    r.ev("exit", 9001 * MS, node="n3", inc=2, how="end", code=-9)
    r.ev("state", 9002 * MS, node="n3", inc=2, term=1, vote=None, commit=0)
    r.events.sort(key=lambda e: e["t"])  # the harness writes its events in time order
    return r


def test_wiped_member_starting_over_is_not_a_violation(tmp_path):
    c = wiped_n3(tmp_path).write()
    assert c.violations == [], c.violations
    assert c.stats["wiped_refusals"] == 1


def test_wiped_member_in_office_while_refused_fails(tmp_path):
    r = wiped_n3(tmp_path)
    r.enter("n3", 2, 2000 * MS, 9)  # a refused member must never lead
    r.leave("n3", 2, 2100 * MS, 9)
    c = r.write()
    assert any("wipe: n3#2" in v and "entered office" in v for v in c.violations), c.violations


def test_leader_change_while_a_wiped_member_is_refused_fails(tmp_path):
    r = wiped_n3(tmp_path)
    r.leave("n1", 1, 2200 * MS, 2)  # n1 had the office until 3 s; the refused n3 disrupted it
    r.enter("n2", 1, 2300 * MS, 3)
    c = r.write()
    assert any(v.startswith("wipe: the group changed leader while n3 was refused") for v in c.violations), c.violations


def early_handover(root):
    """wiped_n3, but n1's office ends at 1.55 s (before n3's wiped start) and n2's
    healthy() office at 3.3 s is taken out: no one is in office when n3 starts."""
    r = wiped_n3(root)
    for lines in r.logs.values():
        lines[:] = [l for l in lines if not (l["event"] == "office-leave" and l["node"] == "n1")
                    and not (l["event"] == "office-enter" and l["node"] == "n2")]
    r.leave("n1", 1, 1550 * MS, 2)
    return r


def test_one_election_allowed_when_no_one_held_office_at_the_wiped_start(tmp_path):
    r = early_handover(tmp_path)
    r.enter("n2", 1, 2300 * MS, 3)  # the one election that replaces n1: late, not a violation
    c = r.write()
    assert c.violations == [], c.violations
    r = early_handover(tmp_path / "second")
    r.enter("n2", 1, 2000 * MS, 3)
    r.leave("n2", 1, 2100 * MS, 3)
    r.enter("n1", 1, 2300 * MS, 4)  # a second change of leader is one too many
    c = r.write()
    assert any(v.startswith("wipe: the group changed leader while n3 was refused: n1#1") for v in c.violations), c.violations


def test_term_going_back_without_a_wipe_still_fails(tmp_path):
    r = wiped_n3(tmp_path)
    r.events = [e for e in r.events if e["ev"] != "wipe"]
    c = r.write()
    assert any("n3's term went back" in v for v in c.violations), c.violations


def test_hooks_pairing(tmp_path):
    r = healthy(tmp_path, hooks=True)
    for n in ("n1", "n2", "n3"):
        r.hook(n, 1, "startup", 0, 10 * MS)
    r.hook("n1", 1, "promote", 2, 1001 * MS)
    r.hook("n1", 1, "demote", 2, 3001 * MS)
    r.hook("n2", 1, "promote", 3, 3301 * MS)  # killed at the end while in office: no demote needed
    c = r.write()
    assert c.violations == [], c.violations
    assert c.stats["hook_pairs"] == 1
    r.hook("n1", 1, "demote", 2, 3100 * MS)  # a second demote
    c = r.write()
    assert any("demote (term 2) without a promote" in v for v in c.violations), c.violations


def test_campaign_before_startup_hook_fails(tmp_path):
    r = healthy(tmp_path, hooks=True)
    r.hook("n1", 1, "startup", 0, 10 * MS)
    r.hook("n2", 1, "startup", 0, 10 * MS)
    r.hook("n3", 1, "startup", 0, 600 * MS)
    r.log("n3", 1, 500 * MS, "role", 1, role="preCandidate")  # before its startup hook ended
    r.hook("n1", 1, "promote", 2, 1001 * MS)
    r.hook("n1", 1, "demote", 2, 3001 * MS)
    r.hook("n2", 1, "promote", 3, 3301 * MS)
    c = r.write()
    assert c.violations == ["hooks: n3#1 campaigned before its startup hook finished"], c.violations


def test_missing_demote_for_live_agent_fails(tmp_path):
    r = healthy(tmp_path, hooks=True)
    for n in ("n1", "n2", "n3"):
        r.hook(n, 1, "startup", 0, 10 * MS)
    r.hook("n1", 1, "promote", 2, 1001 * MS)  # office left at 3 s, agent lived on: no demote
    r.hook("n2", 1, "promote", 3, 3301 * MS)
    r.events = [e for e in r.events if not (e["ev"] == "exit" and e["node"] == "n1")]
    r.ev("exit", 9001 * MS, node="n1", inc=1, how="term", code=0)
    c = r.write()
    assert any("never followed by a demote" in v for v in c.violations), c.violations


def test_no_leader_after_heal_and_quiet_election_fail(tmp_path):
    r = FakeRun(tmp_path)
    for n in ("n1", "n2"):
        r.start(n, 1, 0)
    r.enter("n1", 1, 100 * MS, 2)
    r.leave("n1", 1, 200 * MS, 2)
    r.ev("heal-final", 1000 * MS)
    r.enter("n2", 1, 2000 * MS, 3)  # 1 s after the heal: more than 610 ms
    r.log("n1", 1, 3000 * MS, "role", 3, role="candidate")  # an election in the quiet period
    r.ev("end", 5000 * MS)
    c = r.write()
    assert any(v.startswith("liveness") for v in c.violations), c.violations
    assert any(v.startswith("quiet period") for v in c.violations), c.violations
    # Only n1's candidacy: the quiet period starts with n2's (late) entry into office.
    assert c.stats["quiet_elections"] == 1


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or not os.path.exists(
        os.environ.get("BATON_BIN", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "baton"))),
    reason="needs root, nft and a built agent")


@needs_root
def test_unsafe_cluster_is_caught(tmp_path):
    """A cluster whose members disagree on the election timeout is unsafe: a leader with
    a 1000 ms minimum holds a ~895 ms lease, while followers with a 150 ms minimum stop
    refusing votes after 150 ms. Isolating that leader must show two nodes in office."""
    from faultlib import cluster as cl, netns
    netns.cleanup_leftovers()
    names = ["n1", "n2", "n3"]
    settings = {"election_timeout": (1000, 1500), "heartbeat": 50, "drift": 0.05, "margin": 10}
    c = cl.Cluster(str(tmp_path / "run"), names, settings, seed=1, hooks=False)
    try:
        c.setup()
        c.start_all()
        leader = c.wait_leader(15)
        assert leader, "no leader"
        for n in names:  # the followers come back with the short timeout
            if n != leader:
                c.node_timeouts[n] = (150, 300)
                c.terminate(c.nodes[n])
                c.start(c.nodes[n])
                time.sleep(1.5)
        assert c.current_leader() == leader, "the long-lease leader must still lead"
        c.event("fault", kind="isolate-leader", target=leader)
        c.net.partition([leader], [n for n in names if n != leader])
        time.sleep(3)
        c.net.heal()
        c.event("heal-final")
        time.sleep(2)
        c.event("end")
        for node in c.nodes.values():
            c.kill(node, how="end")
    finally:
        c.teardown()
    result = checker.check(str(tmp_path / "run"))
    print("\n".join(result.violations))
    assert any("overlapping offices" in v for v in result.violations), result.violations
