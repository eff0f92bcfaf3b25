"""Operator controls in the replicated log (issue 16), with real agents: the maintenance
pause (`baton pause`, `baton resume`, POST /pause, POST /resume)."""
import os
import signal
import subprocess
import time

from cluster import BATON, wait_for


def baton(c, name, *args):
    """Runs `baton ARGS --api` against `name`'s API: (exit status, stdout, stderr)."""
    r = subprocess.run([BATON, *args, "--api", f"127.0.0.1:{c.api_port[name]}"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def metric(c, name, metric_name):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.api_port[name], timeout=2)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(metric_name + " "):
            return float(line.split()[1])
    return None


def terms(c):
    return {n: c.get(n, "/status")[2]["term"] for n in c.procs}


def test_pause_holds_a_leaderless_group_until_resume(cluster_factory):
    """pause → kill -9 of the leader → nobody takes office for the pause (no member even
    starts an election: terms stay) → resume on a follower → a leader within about one
    election timeout; /status, /health, /metrics and `baton status` show the pause."""
    c = cluster_factory(["n1", "n2", "n3"])
    leader, term = c.form()
    code, out, err = baton(c, leader, "pause", "--for", "10m", "--reason", "restarting the database")
    assert code == 0, (out, err)
    assert "paused at index" in out
    for n in c.names:
        wait_for(lambda: (c.get(n, "/status")[2] or {}).get("pause"), 5, f"{n} shows the pause")
        p = c.get(n, "/status")[2]["pause"]
        assert p["paused"] and p["reason"] == "restarting the database" and 590_000 < p["remaining_ms"] <= 600_000, p
        assert c.get(n, "/health")[2]["paused"] is True
        assert metric(c, n, "baton_paused") == 1
    code, out, _ = baton(c, leader, "status")
    assert code == 0 and "paused" in out and "restarting the database" in out, out
    follower = next(n for n in c.names if n != leader)
    before = terms(c)
    c.kill(leader)
    # 4 s: more than ten election timeouts (150..300 ms).
    end = time.monotonic() + 4
    while time.monotonic() < end:
        assert c.in_office() == [], "a paused group elected a leader"
        time.sleep(0.05)
    after = terms(c)
    assert all(after[n] == before[n] for n in after), (before, after)
    started = time.monotonic()
    code, out, err = baton(c, follower, "resume")
    assert code == 0, (out, err)
    new, new_term = c.wait_leader(timeout=3)
    took = time.monotonic() - started
    assert new != leader and new_term > term
    assert took < 2.0, f"resume took {took:.2f}s to a leader"
    for n in c.procs:
        wait_for(lambda: (c.get(n, "/status")[2] or {}).get("pause", 1) is None, 5, f"{n} resumed")
        assert c.get(n, "/health")[2]["paused"] is False
        assert metric(c, n, "baton_paused") == 0
    assert "event=resume-logged" in c.log(follower) or "event=resume-logged" in c.log(new)


def test_a_failing_check_on_a_paused_leader_does_not_hand_over(cluster_factory, tmp_path):
    flags = {n: tmp_path / f"ok-{n}" for n in ("n1", "n2", "n3")}
    for f in flags.values():
        f.write_text("")
    c = cluster_factory(["n1", "n2", "n3"])
    for n in c.names:
        c.start(n, extra=["--check", f"test -e {flags[n]}", "--check-interval", "100ms", "--check-failures", "1"])
    leader = c.wait_bound(timeout=10)
    _, term = c.wait_leader()
    code, out, err = baton(c, leader, "pause")
    assert code == 0, (out, err)
    os.unlink(flags[leader])
    wait_for(lambda: "event=check-failed-paused" in c.log(leader), 5, "the paused leader's failing check")
    time.sleep(2)
    assert c.in_office() == [(leader, term)]
    # Resumed: the hand-over the pause held back happens.
    code, out, err = baton(c, leader, "resume")
    assert code == 0, (out, err)
    new, _ = c.wait_leader(timeout=5, exclude=(leader,))
    assert new != leader


def test_resign_still_works_while_paused_and_a_pause_ends_by_itself(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"], extra=["--pause-max", "1h"])
    leader, term = c.form()
    # Bad input: refused, nothing changes.
    code, _, err = baton(c, leader, "pause", "--for", "2h")
    assert code == 1 and "--pause-max" in err, err
    code, _, err = baton(c, leader, "pause", "--for", "soon")
    assert code != 0 and "soon" in err, err
    assert c.get(leader, "/status")[2]["pause"] is None
    # Asked of a follower, which names the leader: the CLI follows it.
    follower = next(n for n in c.names if n != leader)
    code, out, err = baton(c, follower, "pause", "--for", "3s")
    assert code == 0, (out, err)
    code, out, err = baton(c, leader, "resign")
    assert code == 0, (out, err)
    new, _ = c.wait_leader(timeout=5, exclude=(leader,))
    assert c.get(new, "/status")[2]["pause"] is not None, "the pause outlives a planned hand-over"
    wait_for(lambda: all(c.get(n, "/status")[2]["pause"] is None for n in c.procs), 6, "the pause's end")
    assert "event=pause-ended" in c.log(new)
    c.kill(new)
    c.wait_leader(timeout=5, exclude=(new,))
