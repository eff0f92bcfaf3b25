"""Hostile peers (issue 15): what a member that holds the secret (or anyone, under
--insecure-peers) can send must never take a node down. Real agents, real sockets."""
import os
import struct
import subprocess
import time

from cluster import wait_for
from peerwire import PeerClient, crc32c, vote_response

TERM_MAX = 1 << 48  # RaftBounds.termMax


def status_term(c, name):
    status, _, data = c.get(name, "/leader")
    return data["term"] if status == 200 and data else None


def test_vote_response_with_term_2_64_minus_1_is_refused_and_the_node_lives(cluster_factory):
    secret = b"k" * 32
    c = cluster_factory(["n1", "n2", "n3"], secret=secret)
    c.start_all()
    leader, term = c.wait_leader()
    victim, posing_as = [n for n in c.names if n != leader]
    peer = PeerClient(c.peer_port[victim], posing_as, victim, secret=secret, then=[vote_response(2**64 - 1)])
    # Give the victim time to campaign on the adopted term (the old code trapped on the
    # next pre-vote's `term + 1`, i.e. within one election timeout).
    time.sleep(1.5)
    assert c.procs[victim].poll() is None, f"{victim} died:\n{c.log(victim)[-2000:]}"
    wait_for(lambda: (status_term(c, victim) or 0) >= term, 3, f"{victim} answers /leader")
    assert status_term(c, victim) < TERM_MAX
    assert "invalid term" in c.log(victim), c.log(victim)[-2000:]
    peer.close()
    # The group goes on with one leader and a sane term.
    leader2, term2 = c.wait_leader()
    assert term2 < TERM_MAX


def test_state_file_with_absurd_term_exits_2_naming_it(cluster_factory):
    c = cluster_factory(["n1"])
    c.start("n1")
    c.wait_leader()
    c.kill("n1")
    state = os.path.join(c.data_dir("n1"), "state")
    data = bytearray(open(state, "rb").read())
    data[12:20] = struct.pack("<Q", 2**64 - 1)
    data[-4:] = struct.pack("<I", crc32c(bytes(data[:-4])))  # a valid file, an absurd term
    open(state, "wb").write(bytes(data))
    for _ in range(2):  # the same clear answer at every restart, never a trap
        r = subprocess.run(c.argv("n1", bootstrap=False), capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "state" in r.stderr and "beyond" in r.stderr, r.stderr
