"""Operator controls in the replicated log (issue 16), with real agents: the maintenance
pause (`baton pause`, `baton resume`, POST /pause, POST /resume)."""
import os
import shutil
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
        assert c.in_office() == [], f"a paused group elected a leader: {c.in_office()}"
        time.sleep(0.05)
    after = terms(c)
    assert all(after[n] == before[n] for n in after), (before, after)
    started = time.monotonic()
    code, out, err = baton(c, follower, "resume")
    assert code == 0, (out, err)
    new, new_term = c.wait_leader(timeout=3)
    took = time.monotonic() - started
    assert new != leader and new_term > term
    # One election timeout (300 ms at most) plus the CLI and a commit; generous for a
    # loaded machine, far below the pause's ten minutes.
    assert took < 5.0, f"resume took {took:.2f}s to a leader"
    print(f"resume to a leader in office: {took * 1000:.0f} ms")
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


def history(c, name):
    status, _, data = c.get(name, "/history")
    assert status == 200, (status, data)
    return data["history"]


def same_history_everywhere(c, timeout=10):
    """Waits until every running member answers /history with the same non-empty list."""
    def same():
        answers = [c.get(n, "/history") for n in c.procs]
        if any(status != 200 for status, _, _ in answers):
            return None  # a member still starting
        lists = [data["history"] for _, _, data in answers]
        return lists[0] if lists[0] and all(h == lists[0] for h in lists) else None
    return wait_for(same, timeout, "the same history on every member")


def test_history_is_the_same_on_every_member_and_survives_a_minority_and_restarts(cluster_factory):
    """Elections, a resign, a pause and a crash are each a record, identical on every
    member; a member that lost its data dir and is re-added gets the same list; a whole
    restart keeps it."""
    c = cluster_factory(["n1", "n2", "n3"], extra=["--on-promote", "true"])
    first, _ = c.form()
    code, out, err = baton(c, first, "resign")
    assert code == 0, (out, err)
    second, _ = c.wait_leader(timeout=5, exclude=(first,))
    assert baton(c, second, "pause", "--for", "1m", "--reason", "maintenance")[0] == 0
    assert baton(c, second, "resume")[0] == 0
    c.kill(second)
    third, _ = c.wait_leader(timeout=5, exclude=(second,))
    c.start(second, bootstrap=False)
    h = same_history_everywhere(c)
    enters = [r for r in h if r["event"] == "enter"]
    assert [e["member"] for e in enters][-3:] == [first, second, third], h
    assert enters[-2]["reason"] == "transfer" and enters[-2]["previous"] == first, enters
    assert enters[-1]["reason"] == "election" and enters[-1]["previous"] == second, enters
    assert all(e["unix_ms"] and e["boottime_ns"] > 0 for e in enters)
    hand_over = next(r for r in h if r["event"] == "hand-over")
    assert hand_over["member"] == first and hand_over["reason"] == "resign" and hand_over["by"], hand_over
    pause = next(r for r in h if r["event"] == "pause")
    assert pause["reason"] == "maintenance" and pause["duration_ms"] == 60_000
    assert any(r["event"] == "resume" and r["index"] > pause["index"] for r in h)
    hooks = [r for r in h if r["event"] == "hook"]
    assert {(r["member"], r["hook"], r["exit_code"]) for r in hooks} >= {(m, "on-promote", 0) for m in (first, second, third)}, hooks
    # Filters.
    status, _, data = c.get(third, f"/history?since={enters[-1]['term']}&limit=2")
    assert status == 200 and 1 <= data["count"] <= 2 and all(r["term"] >= enters[-1]["term"] for r in data["history"]), data
    assert c.get(third, "/history?limit=0")[0] == 400 and c.get(third, "/history?since=x")[0] == 400
    code, out, _ = baton(c, third, "history")
    assert code == 0 and "hand-over" in out and "maintenance" in out, out
    # A follower loses its data dir: removed, wiped, added again, it holds the same list.
    victim = next(n for n in c.names if n != third)
    c.kill(victim)
    shutil.rmtree(c.data_dir(victim))
    assert c.members(third, "remove", victim)[0] == 0
    c.start(victim, bootstrap=False)
    code, out, err = c.members(third, "add", victim, f"127.0.0.1:{c.peer_port[victim]}",
                               "--api-address", f"127.0.0.1:{c.api_port[victim]}")
    assert code == 0, (out, err)
    wait_for(lambda: c.member_list(third)[victim]["role"] == "voter", 15, f"{victim} back as a voter")
    after = same_history_everywhere(c)
    assert after[:len(h)] == h
    # Everybody restarts: the history is what the disks hold.
    for n in list(c.procs):
        c.kill(n, signal.SIGTERM)
    for n in c.names:
        c.start(n, bootstrap=False)
    c.wait_leader(timeout=10)
    again = same_history_everywhere(c)
    assert again[:len(after)] == after
