"""The etcd election engine against a real etcd 3.4 (Debian's etcd-server), one
candidate per baton-etcd-probe process: who leads, how fast a successor follows, and
that offices never overlap whatever happens to etcd (the outside checker runs at the end
of every test). TTL 2 s, etcd's minimum with default timing."""
import os
import signal
import time

import pytest

from etcdharness import EtcdCluster, Probe, check_offices, now_ns, wait_for

PROBE = os.environ.get("BATON_ETCD_PROBE", os.path.join(os.path.dirname(__file__), "../../.build/debug/baton-etcd-probe"))
TTL = 2
S = 1_000_000_000


@pytest.fixture
def world(tmp_path):
    made = {"clusters": [], "probes": []}

    def etcd(size=1):
        c = EtcdCluster(str(tmp_path / f"etcd{len(made['clusters'])}"), size)
        made["clusters"].append(c)
        return c

    def probes(cluster, n, prefix="/baton/test", **kw):
        ps = [Probe(PROBE, f"n{i + 1:02d}", cluster.endpoints, prefix=prefix, ttl=TTL, **kw) for i in range(n)]
        made["probes"].extend(ps)
        return ps

    yield etcd, probes
    for p in made["probes"]:
        p.kill()
    for c in made["clusters"]:
        c.stop()


def holders(probes):
    return [p for p in probes if p.in_office()]


def one_holder(probes, timeout=10):
    return wait_for(lambda: (lambda h: h[0] if len(h) == 1 else None)(holders(probes)), timeout, "exactly one holder")


@pytest.mark.parametrize("n", [3, 20])
def test_one_holder_among_n_and_everyone_knows_it(world, n):
    etcd, probes = world
    cluster = etcd()
    ps = probes(cluster, n)
    holder = one_holder(ps)
    wait_for(lambda: all(p.leader_name() == holder.name for p in ps), 10, "every probe to name the holder")
    # Held by keep-alives: still the one holder 2 TTLs later, never a second.
    deadline = time.monotonic() + 2 * TTL
    while time.monotonic() < deadline:
        assert holders(ps) in ([holder], []), [p.name for p in holders(ps)]
        time.sleep(0.05)
    assert holders(ps) == [holder]
    assert len(check_offices(ps)) == 1


def test_kill_of_the_holder_brings_a_successor_within_ttl_and_etcds_expiry_scan(world):
    etcd, probes = world
    cluster = etcd()
    ps = probes(cluster, 3)
    holder = one_holder(ps)
    time.sleep(1.3)  # mid-way between renewals
    holder.kill()
    rest = [p for p in ps if p is not holder]
    successor = one_holder(rest, timeout=TTL + 3)
    waited = successor.of("enter")[-1]["t"] - holder.killed_at
    # The lease outlives the last renewal by TTL; etcd scans for expired leases every
    # 500 ms; then one watch event and one step. Measured ~1.7-2.4 s here.
    assert waited <= TTL * S + 600_000_000, f"successor after {waited / 1e9:.3f} s"
    check_offices(ps)


def test_resign_hands_over_in_milliseconds_to_the_next_in_line(world):
    etcd, probes = world
    cluster = etcd()
    ps = probes(cluster, 3)
    holder = one_holder(ps)
    wait_for(lambda: all(p.leader_name() == holder.name for p in ps), 10, "everyone to know the holder")
    time.sleep(0.3)
    asked = now_ns()
    holder.signal(signal.SIGUSR1)
    rest = [p for p in ps if p is not holder]
    successor = one_holder(rest, timeout=2)
    took = successor.of("enter")[-1]["t"] - asked
    assert took < 300_000_000, f"hand-over took {took / 1e6:.1f} ms"
    assert holder.of("leave")[-1]["reason"] == "transfer"
    # The old holder rejoined the line at its end: it does not get the office back.
    time.sleep(0.5)
    assert holders(ps) == [successor]
    check_offices(ps)


def test_sigterm_hands_over_and_exits(world):
    etcd, probes = world
    cluster = etcd()
    ps = probes(cluster, 2)
    holder = one_holder(ps)
    other = next(p for p in ps if p is not holder)
    wait_for(lambda: other.leader_name() == holder.name, 5, "the other to know the holder")
    holder.stop()
    assert holder.proc.returncode == 0
    assert [e["event"] for e in holder.events][-1] == "stopped"
    assert holder.of("leave")[-1]["reason"] == "shutdown"
    one_holder([other], timeout=1)
    check_offices(ps)


def test_etcd_killed_holder_leaves_before_its_lease_could_expire_and_restart_restores_one_holder(world):
    etcd, probes = world
    cluster = etcd()
    ps = probes(cluster, 3)
    holder = one_holder(ps)
    first_token = holder.of("enter")[-1]["token"]
    time.sleep(1)
    member = cluster.members[0]
    member.kill()
    wait_for(lambda: holder.of("leave"), TTL + 1, "the holder to leave office")
    left = holder.of("leave")[-1]
    assert left["reason"] == "lease-lost"
    # etcd renewed the lease at the latest when it died: it could not expire before
    # kill + TTL. The holder left well before (TTL·(1−d)/(1+d) − margin after its last
    # successful renewal's send time).
    assert left["t"] < member.killed_at + TTL * S, f"left {(left['t'] - member.killed_at) / 1e9:.3f} s after etcd died"
    # Nobody holds while etcd is down.
    time.sleep(1.5)
    assert holders(ps) == []
    cluster.restart(member)
    new_holder = one_holder(ps, timeout=10 + TTL)
    assert new_holder.of("enter")[-1]["token"] > first_token
    time.sleep(1)
    assert holders(ps) == [new_holder]
    check_offices(ps)


def test_three_member_etcd_losing_its_leader_then_quorum(world):
    etcd, probes = world
    cluster = etcd(size=3)
    ps = probes(cluster, 3)
    one_holder(ps)
    # The etcd leader dies: renewals fail until the survivors elect a new one (etcd's
    # election timeout, 1-2 s), which may outlast the office (TTL·(1−d)/(1+d) after the
    # last renewal); then the line moves on. Either way: one holder again, and stable.
    killed = cluster.leader()
    killed.kill()

    def renewed_holder():
        # A holder whose office was renewed (or began) after the kill: the surviving
        # members serve it, so its office is not merely running out.
        h = holders(ps)
        if len(h) != 1:
            return None
        latest = [e for e in h[0].events if e["event"] in ("enter", "renew")]
        return h[0] if latest and latest[-1]["t"] > killed.killed_at + 100_000_000 else None

    holder = wait_for(renewed_holder, 10, "one holder renewed by the surviving members")
    time.sleep(TTL)
    assert holders(ps) == [holder]
    # Quorum lost: no member can renew; the holder leaves office and nobody holds.
    alive = [m for m in cluster.members if m.proc.poll() is None]
    alive[0].kill()
    lost_at = now_ns()
    leaves = wait_for(lambda: [e for p in ps for e in p.of("leave") if e["t"] > lost_at], TTL + 2,
                      "the holder to leave office without quorum")
    assert [e["reason"] for e in leaves] == ["lease-lost"]
    assert holders(ps) == []
    time.sleep(1)
    assert holders(ps) == []
    # Quorum back: one holder again.
    for m in cluster.members:
        if m.proc.poll() is not None:
            cluster.restart(m)
    one_holder(ps, timeout=15)
    check_offices(ps)
