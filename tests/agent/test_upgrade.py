"""Upgrading from the first release (0.1): its data dirs hold a term, a vote and a log but
no identity and no stored membership. They are migrated in place on the first start of
this release: the membership is written from --peers (as every member of the group
computes it alike), the identity after it, and from then on the stored membership
decides. The fixture under fixtures/datadir-0.1 was written by a 0.1 build (see its
README)."""
import os
import shutil
import signal

from cluster import wait_for

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "datadir-0.1")


def install_fixture(c):
    for n in c.names:
        shutil.copytree(os.path.join(FIXTURE, n), c.data_dir(n))
        os.chmod(c.data_dir(n), 0o700)
        for f in os.listdir(c.data_dir(n)):
            os.chmod(os.path.join(c.data_dir(n), f), 0o600)


def test_a_first_release_data_dir_is_migrated_in_place(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    install_fixture(c)
    assert not any(os.path.exists(os.path.join(c.data_dir(n), "identity")) for n in c.names)
    # The README's command passes --bootstrap on every start; either way is a migration.
    c.start("n1", bootstrap=True)
    c.start("n2", bootstrap=False)
    c.start("n3", bootstrap=False)
    leader, term = c.wait_leader(timeout=15)
    # The fixture's group had reached term 2 with two entries; nothing of it is lost.
    assert term > 2, term
    for n in c.names:
        log = c.log(n)
        assert log.count("event=data-dir-migrated") == 1 and "from the first release" in log, log[-2000:]
        assert os.path.exists(os.path.join(c.data_dir(n), "identity"))
    assert "--bootstrap ignored" in c.log("n1")
    wait_for(lambda: all(m["incarnation"] for m in c.member_list(leader).values()), 10, "every incarnation bound")
    members = c.member_list(leader)
    assert {n: m["role"] for n, m in members.items()} == {"n1": "voter", "n2": "voter", "n3": "voter"}
    status = c.get(leader, "/status")[2]
    assert status["commit_index"] >= 3 and status["membership"] == "voter", status
    # A second start finds the identity: no second migration, and the member rejoins.
    f = next(n for n in c.names if n != leader)
    c.kill(f, signal.SIGTERM)
    c.start(f, bootstrap=False)
    wait_for(lambda: c.get(f)[0] == 200 and c.get(f)[2]["leader"]["id"] is not None, 10, f"{f} following again")
    assert c.log(f).count("event=data-dir-migrated") == 1
    # The migrated group changes membership like any other: the stored membership decides.
    code, out, err = c.members(leader, "remove", f)
    assert code == 0, (out, err)
    assert set(c.member_list(c.wait_leader(timeout=10)[0])) == set(c.names) - {f}
