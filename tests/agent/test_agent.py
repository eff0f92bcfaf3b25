"""Multi-process tests of `baton agent` (issue 4): real processes, sockets and files."""
import os
import re
import signal
import subprocess
import time

import pytest

from cluster import BATON, free_port, wait_for


def leaders_agree(c, term, leader):
    for n in c.procs:
        status, headers, data = c.get(n)
        if status != 200 or data["term"] != term or data["leader"]["id"] != leader:
            return False
        if headers.get("X-Baton-Term") != str(term):
            return False
    return True


@pytest.mark.parametrize("size", [1, 3, 5])
def test_cluster_elects_one_leader(cluster_factory, size):
    c = cluster_factory([f"n{i}" for i in range(1, size + 1)])
    c.start_all()
    leader, term = c.wait_leader()
    deadline = time.monotonic() + 3
    while not leaders_agree(c, term, leader):
        assert time.monotonic() < deadline, "followers do not name the leader"
        time.sleep(0.02)
    # The leader's answer names its own API address, as advertised.
    _, _, data = c.get(leader)
    assert data["leader"]["api"] == f"127.0.0.1:{c.api_port[leader]}"


def test_two_copies_and_a_witness(cluster_factory):
    c = cluster_factory(["a", "b", "w"], witnesses=["w"])
    # Until the first leader has bound the founders' incarnations, an election needs
    # every founder (a founder wiped mid-bootstrap must not vote twice): form first.
    leader, term = c.form()
    assert leader != "w"
    c.kill(leader)
    other = "b" if leader == "a" else "a"
    new, new_term = c.wait_leader(timeout=5)
    assert new == other and new_term > term


def test_kill_leader_fails_over_and_restart_does_not_depose(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    old, term = c.wait_leader()
    killed_at = time.monotonic()
    c.kill(old)
    new, new_term = c.wait_leader(timeout=3)
    elapsed_ms = (time.monotonic() - killed_at) * 1000
    assert new != old and new_term > term
    assert elapsed_ms < 1000, f"failover took {elapsed_ms:.0f} ms"
    # The old leader comes back from its data dir (no --bootstrap) and must not depose.
    c.start(old, bootstrap=False)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        assert c.in_office() in ([(new, new_term)], []), c.in_office()
        time.sleep(0.02)
    assert c.wait_leader() == (new, new_term)
    assert "office-enter" in c.log(new)


def test_partitioned_node_does_not_disrupt_when_it_returns(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"], proxies=True)
    c.start_all()
    leader, term = c.wait_leader()
    follower = next(n for n in c.names if n != leader)
    mark = len(c.log(follower))
    c.cut(follower)
    # The cut follower does campaign (pre-votes), and many election timeouts later the
    # term has not risen: pre-vote keeps it from disrupting the leader on return.
    wait_for(lambda: "asks for pre-votes" in c.log(follower)[mark:], 5, "the cut follower's pre-vote")
    time.sleep(2.0)
    assert c.wait_leader() == (leader, term)
    c.cut(follower, on=False)
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        office = c.in_office()
        assert office in ([(leader, term)], []), f"leader disrupted: {office}"
        time.sleep(0.02)
    assert c.wait_leader() == (leader, term)


def test_isolated_leader_leaves_office_and_majority_elects(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"], proxies=True)
    c.start_all()
    leader, term = c.wait_leader()
    c.cut(leader)
    # Never two in office: poll until the majority has a new leader.
    end = time.monotonic() + 3
    new = None
    while time.monotonic() < end:
        office = c.in_office()
        assert len(office) <= 1, f"two nodes in office: {office}"
        if office and office[0][0] != leader:
            new = office[0]
            break
        time.sleep(0.005)
    assert new is not None and new[1] > term
    assert "reason=lease-lost" in c.log(leader)


def test_wrong_secret_and_wrong_cluster_are_rejected(cluster_factory, tmp_path):
    c = cluster_factory(["n1", "n2", "n3"])
    leader, term = c.form("n1", "n2")

    def rejections(since):
        """peer-rejected lines written on n1 and n2 after the byte offsets in `since`."""
        return [l for n in ("n1", "n2") for l in c.log(n)[since[n]:].splitlines() if "event=peer-rejected" in l]

    # n3 with another secret, then with another cluster id: each refused for its own
    # reason, and nothing changes. Each half looks only at what was logged after it began.
    bad = tmp_path / "other-secret"
    bad.write_bytes(b"x" * 32)
    mark = {n: len(c.log(n)) for n in ("n1", "n2")}
    p = subprocess.Popen(c.argv("n3")[:-3] + ["--cluster-secret-file", str(bad), "--bootstrap"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lines = wait_for(lambda: [l for l in rejections(mark) if "cluster secret" in l], 10,
                         "a peer-rejected line naming the cluster secret")
    finally:
        p.kill(); p.wait()
    assert not any("belongs to cluster" in l for l in lines), lines
    assert c.wait_leader() == (leader, term)
    # n3's own data dir belongs to cluster "baton": started as "other" it refuses to run.
    r = run_agent(c.argv("n3") + ["--cluster-id", "other"])
    assert r.returncode == 2 and "belongs to cluster baton" in r.stderr and "--cluster-id" in r.stderr, r.stderr
    # On a data dir of its own, the peers refuse it for the other cluster.
    mark = {n: len(c.log(n)) for n in ("n1", "n2")}
    p = subprocess.Popen(c.argv("n3") + ["--cluster-id", "other", "--data-dir", str(tmp_path / "other-n3")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: [l for l in rejections(mark) if "belongs to cluster" in l and "other" in l], 10,
                 "a peer-rejected line naming the other cluster")
    finally:
        p.kill(); p.wait()
    assert c.wait_leader() == (leader, term)


def run_agent(argv, timeout=10, env=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_second_agent_on_same_data_dir_exits_2(cluster_factory):
    c = cluster_factory(["n1"])
    c.start("n1")
    c.wait_leader()
    argv = c.argv("n1")
    # Other ports, same data dir: the lock must refuse it, naming the holder.
    argv[argv.index("--api-listen") + 1] = f"127.0.0.1:{free_port()}"
    argv[argv.index("--peer-listen") + 1] = f"127.0.0.1:{free_port()}"
    r = run_agent(argv)
    assert r.returncode == 2
    assert f"process {c.procs['n1'].pid}" in r.stderr and "lock" in r.stderr


def test_empty_data_dir_without_bootstrap_waits_to_be_added(cluster_factory):
    """An empty data dir without --bootstrap is a member waiting to be added (issue 14):
    it never votes or campaigns; /health answers, /ready says what to run."""
    c = cluster_factory(["n1", "n2", "n3"])
    c.start("n1", bootstrap=False)
    wait_for(lambda: c.get("n1", "/health")[0] == 200, 10, "n1 answering")
    status, _, body = c.get("n1", "/ready")
    assert status == 503 and "baton members add n1" in body["reason"], body
    assert c.get("n1", "/health")[2]["membership"] == "waiting-to-be-added"
    assert "waits to be added" in c.log("n1") and "bootstrapped" not in c.log("n1")
    time.sleep(1.0)  # well past an election timeout: still nobody in office
    assert c.get("n1", "/is-leader")[0] == 503


def test_corrupted_state_file_exits_2_naming_it(cluster_factory):
    c = cluster_factory(["n1"])
    c.start("n1")
    c.wait_leader()
    c.kill("n1", signal.SIGTERM)
    state = os.path.join(c.data_dir("n1"), "state")
    data = bytearray(open(state, "rb").read())
    data[14] ^= 0xFF
    open(state, "wb").write(bytes(data))
    r = run_agent(c.argv("n1", bootstrap=False))
    assert r.returncode == 2
    assert state in r.stderr or "state" in r.stderr
    assert "checksum" in r.stderr.lower() or "damaged" in r.stderr.lower()


@pytest.mark.parametrize("flag,value,fragment", [
    ("--election-timeout", "300ms..150ms", "minimum"),
    ("--heartbeat-interval", "100ms", "heartbeat"),
    ("--peers", "n1", "NAME=HOST:PORT"),
    ("--max-drift", "lots", "fraction"),
])
def test_bad_flags_exit_2_naming_the_flag(cluster_factory, flag, value, fragment):
    c = cluster_factory(["n1", "n2", "n3"])
    argv = c.argv("n1")
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    r = run_agent(argv)
    assert r.returncode == 2
    assert flag in r.stderr and fragment in r.stderr


def test_no_form_of_a_boolean_flag_overrides_the_environment_and_the_file(cluster_factory, tmp_path):
    # BATON_BOOTSTRAP=true in the environment (say, left in /etc/default/baton after the
    # first start): --no-bootstrap on the command line wins, so an empty data dir does not
    # found a group: it waits to be added.
    c = cluster_factory(["n1", "n2", "n3"])
    argv = c.argv("n1", bootstrap=False) + ["--no-bootstrap"]
    p = subprocess.Popen(argv, env={**os.environ, "BATON_BOOTSTRAP": "true"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: c.get("n1", "/health")[0] == 200, 10, "n1 answering")
        assert c.get("n1", "/health")[2]["membership"] == "waiting-to-be-added"
    finally:
        p.kill()
        err = p.communicate(timeout=10)[1].decode()
    assert "waits to be added" in err and "bootstrapped" not in err, err
    # BATON_WITNESS=true in the --config file: --no-witness wins and the node leads.
    conf = tmp_path / "baton.conf"
    conf.write_text("BATON_WITNESS=true\n")
    solo = cluster_factory(["w1"])
    solo.start("w1", extra=["--config", str(conf), "--no-witness"])
    leader, _ = solo.wait_leader(timeout=10)
    assert leader == "w1" and solo.get("w1", "/status")[2]["witness"] is False
    # Without the --no- form, the file's setting holds: a lone witness is refused.
    solo.kill("w1", signal.SIGTERM)
    r = run_agent(solo.argv("w1", bootstrap=False) + ["--config", str(conf)])
    assert r.returncode == 2 and "witness" in r.stderr, r.stderr

def test_missing_secret_requires_insecure_flag(cluster_factory):
    c = cluster_factory(["n1"])
    argv = c.argv("n1")
    i = argv.index("--cluster-secret-file")
    del argv[i:i + 2]
    r = run_agent(argv)
    assert r.returncode == 2 and "--cluster-secret-file" in r.stderr and "--insecure-peers" in r.stderr


def test_sigterm_hands_over_in_milliseconds(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    c.wait_round_trips(leader)  # every follower caught up: a transfer target is ready
    p = c.procs.pop(leader)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    new = None
    while time.monotonic() - t0 < 2:
        office = c.in_office()
        if office:
            new = office[0]
            break
        time.sleep(0.001)
    elapsed_ms = (time.monotonic() - t0) * 1000
    assert p.wait(timeout=5) == 0
    assert new is not None and new[0] != leader and new[1] == term + 1
    # A hand-over, not an election: the successor went from follower straight to
    # candidate on TimeoutNow (an election would pass through pre-vote first), and
    # the old leader logged leaving office for shutdown. (Speed is bench/failover's.)
    successor_log = c.log(new[0])
    assert re.search(rf"term={term + 1} role=candidate event=role msg=\S.* from_role=follower", successor_log), successor_log[-1500:]
    assert "reason=shutdown" in c.log(leader)
    assert elapsed_ms < 1000, f"hand-over took {elapsed_ms:.1f} ms"


def can_mount_tmpfs(path):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def test_full_disk_makes_the_node_unhealthy_and_it_recovers(cluster_factory, tmp_path):
    c = cluster_factory(["n1", "n2", "n3"])
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or not can_mount_tmpfs(mount):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        c.data_dir = lambda name, base=c.data_dir: str(mount / name) if name == "n3" else base(name)
        # n3 is a follower when its disk fills (and the first election needs all three).
        c.start_all()
        leader = c.wait_bound()
        if leader == "n3":
            c.kill("n3", signal.SIGTERM)
            c.wait_leader(exclude=("n3",))
            c.start("n3")
        end = time.monotonic() + 5
        while c.get("n3")[0] != 200:
            assert time.monotonic() < end, "n3 did not join"
            time.sleep(0.02)
        filler = mount / "filler"
        # Fill the disk, then force n3 to write (an election): it must turn unhealthy.
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass  # ENOSPC: the disk is full
        leader, term = c.wait_leader()
        assert leader != "n3"
        c.kill(leader)
        end = time.monotonic() + 5
        unhealthy = False
        while time.monotonic() < end:
            status, _, data = c.get("n3", "/health")
            if status == 503 and "storage" in str(data):
                unhealthy = True
                break
            time.sleep(0.02)
        assert unhealthy, c.log("n3")[-2000:]
        # Space returns: n3 recovers by itself.
        os.remove(filler)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            status, _, _ = c.get("n3", "/health")
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200
        assert "storage-recovered" in c.log("n3")
    finally:
        c.stop_all()
        subprocess.run(["umount", "-l", str(mount)])


def test_is_leader_endpoint_and_client_commands(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    follower = next(n for n in c.names if n != leader)
    status, headers, _ = c.get(leader, "/is-leader")
    assert status == 200 and headers.get("X-Baton-Term") == str(term)
    assert c.get(follower, "/is-leader")[0] == 503

    def baton(*args, api):
        return subprocess.run([BATON, *args, "--api", f"127.0.0.1:{api}"], capture_output=True, text=True, timeout=10)

    r = baton("leader", api=c.api_port[follower])
    assert r.returncode == 0 and r.stdout.strip() == leader
    assert baton("is-leader", api=c.api_port[leader]).returncode == 0
    assert baton("is-leader", api=c.api_port[follower]).returncode == 1
    # Nothing listening: exit 2 ("cannot tell"), with a message saying what to check.
    r = baton("is-leader", api=free_port())
    assert r.returncode == 2 and "cannot reach the agent" in r.stderr
    # BATON_API is honoured when --api is absent.
    r = subprocess.run([BATON, "leader"], capture_output=True, text=True, timeout=10,
                       env={**os.environ, "BATON_API": f"http://127.0.0.1:{c.api_port[leader]}"})
    assert r.returncode == 0 and r.stdout.strip() == leader
    # With the majority gone no leader can be in office: leader exits 1.
    for n in [n for n in c.names if n != follower]:
        c.kill(n)
    end = time.monotonic() + 3
    while baton("leader", api=c.api_port[follower]).returncode != 1:
        assert time.monotonic() < end, "follower kept naming a dead leader"
        time.sleep(0.05)
