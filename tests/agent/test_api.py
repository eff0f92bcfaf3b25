"""The HTTP API of `baton agent` (issue 5): headers, /ready, /status, the /leader
long-poll and POST /resign, against real agent processes on loopback."""
import http.client
import json
import os
import subprocess
import threading
import time

import pytest

from cluster import wait_for



def request(port, method, path, headers=None, timeout=5.0):
    """(status, headers with lower-case names, body as JSON or text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def no_transfer_happened(c):
    """True when no node started a hand-over: a refused request changed nothing. (An
    election of its own on a loaded machine is not a hand-over, so the term alone
    would not tell.)"""
    return all("event=resign-requested" not in c.log(n) and "reason=transfer" not in c.log(n) for n in c.names)


def follower_of(c, leader):
    return next(n for n in c.procs if n != leader)


# 1. Headers on every response

def test_every_answer_carries_term_and_leader_and_the_leader_its_lease(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    follower = follower_of(c, leader)
    lease_ms_max = 150  # Emin (150 ms) bounds any lease; the margin makes it shorter
    for path in ["/leader", "/is-leader", "/health", "/ready", "/status"]:
        status, h, _ = request(c.api_port[leader], "GET", path)
        assert status == 200, path
        assert h["x-baton-term"] == str(term) and h["x-baton-leader"] == leader, (path, h)
        remaining = int(h["x-baton-lease-remaining-ms"])
        assert 0 <= remaining <= lease_ms_max, (path, remaining)
        status, h, _ = request(c.api_port[follower], "GET", path)
        assert h["x-baton-term"] == str(term) and h["x-baton-leader"] == leader, (path, h)
        assert "x-baton-lease-remaining-ms" not in h, path
    # The server's own refusals carry the fencing token and leader too.
    for method, path, want in [("GET", "/nowhere", 404), ("DELETE", "/leader", 405)]:
        for node in (leader, follower):
            status, h, _ = request(c.api_port[node], method, path)
            assert status == want and h["x-baton-term"] == str(term) and h["x-baton-leader"] == leader, (node, path, h)
    # The lease header is computed at answer time: over 300 ms of renewals it changes.
    seen = set()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        seen.add(request(c.api_port[leader], "GET", "/is-leader")[1]["x-baton-lease-remaining-ms"])
    assert len(seen) > 1, seen
    # A node that knows no leader still gives the fencing token, and no leader header.
    for n in [n for n in c.names if n != follower]:
        c.kill(n)
    end = time.monotonic() + 5
    while True:
        status, h, _ = request(c.api_port[follower], "GET", "/is-leader")
        if "x-baton-leader" not in h:
            break
        assert time.monotonic() < end, "the follower kept naming a dead leader"
        time.sleep(0.05)
    assert status == 503 and int(h["x-baton-term"]) >= term


# 2. /ready and /status

def test_ready_follows_contact_with_a_leader_in_office(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    for n in c.names:
        status, _, body = request(c.api_port[n], "GET", "/ready")
        assert status == 200 and body == {"ready": True, "term": term, "leader": leader}
    follower = follower_of(c, leader)
    for n in [n for n in c.names if n != follower]:
        c.kill(n)
    end = time.monotonic() + 2
    while request(c.api_port[follower], "GET", "/ready")[0] != 503:
        assert time.monotonic() < end, "/ready stayed 200 without a leader"
        time.sleep(0.02)
    status, h, body = request(c.api_port[follower], "GET", "/ready")
    assert body["ready"] is False and "leader" in body["reason"] and h["retry-after"] == "1"
    # /health stays 200: an election (or no quorum) is not a reason to restart the agent.
    assert request(c.api_port[follower], "GET", "/health")[0] == 200


def test_status_reports_the_node_its_peers_and_config(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    c.wait_round_trips(leader)
    status, h, s = request(c.api_port[leader], "GET", "/status")
    assert status == 200 and h["content-type"] == "application/json"
    assert s["id"] == leader and s["role"] == "leader" and s["term"] == term and s["in_office"] is True
    assert s["leader"]["id"] == leader and s["leader"]["api"] == f"127.0.0.1:{c.api_port[leader]}"
    assert 0 <= s["lease_remaining_ms"] <= 150 and s["office_since"].endswith("Z")
    assert s["commit_index"] >= 1 and s["last_log_index"] >= s["commit_index"]
    assert s["witness"] is False and s["storage"] == {"ok": True, "error": None}
    assert s["config"] == {"members": ["n1", "n2", "n3"], "election_timeout_ms": [150, 300],
                           "heartbeat_ms": 50, "max_drift": 0.05}
    assert s["version"]
    assert sorted(p["id"] for p in s["peers"]) == sorted(n for n in c.names if n != leader)
    for p in s["peers"]:
        assert p["reachable"] is True and p["peer"] == f"127.0.0.1:{c.peer_port[p['id']]}"
        # Bounds loose enough for a loaded 2-core machine (heartbeats every 50 ms).
        assert 0 <= p["last_contact_ms_ago"] < 1000
        assert p["rtt_ms"] is not None and 0 < p["rtt_ms"] < 1000
        assert p["match_index"] == s["last_log_index"]
        assert p["can_lead"] is True
        assert p["api"] == f"127.0.0.1:{c.api_port[p['id']]}"
    # A follower has no round trips or match indexes to report, and is not in office.
    follower = follower_of(c, leader)
    _, h, f = request(c.api_port[follower], "GET", "/status")
    assert f["role"] == "follower" and f["in_office"] is False and f["lease_remaining_ms"] is None
    assert f["leader"]["id"] == leader and all(p["rtt_ms"] is None and p["match_index"] is None and p["can_lead"] is None
                                               for p in f["peers"])
    # A dead peer becomes unreachable and its last contact ages.
    c.kill(follower)
    end = time.monotonic() + 5
    while True:
        s = request(c.api_port[leader], "GET", "/status")[2]
        p = next(p for p in s["peers"] if p["id"] == follower)
        if p["reachable"] is False:
            break
        assert time.monotonic() < end, p
        time.sleep(0.05)
    wait_for(lambda: next(p for p in request(c.api_port[leader], "GET", "/status")[2]["peers"]
                          if p["id"] == follower)["last_contact_ms_ago"] >= 250, 5, "the dead peer's last contact to age")


# 3. The /leader long-poll

# Long election timeouts keep a starved leader on a loaded machine from changing by
# itself while a test asserts that nothing changed.
STEADY = ["--election-timeout", "1s..2s", "--heartbeat-interval", "100ms"]


def test_long_poll_answers_on_change_and_at_the_end_of_the_wait(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"], extra=STEADY)
    c.start_all()
    leader, term = c.wait_leader()
    follower = follower_of(c, leader)
    port = c.api_port[follower]
    # Nothing changes: answered when the wait ends, with the same view.
    t0 = time.monotonic()
    status, _, body = request(port, "GET", f"/leader?wait=700ms&term={term}&leader={leader}")
    elapsed = time.monotonic() - t0
    assert status == 200 and body["term"] == term and body["leader"]["id"] == leader
    assert 0.6 <= elapsed < 2.0, elapsed
    # A bare number is seconds (first-release clients), and compound values are read.
    for wait, low in [("1", 0.9), ("0m0.5s", 0.45)]:
        t0 = time.monotonic()
        status, _, body = request(port, "GET", f"/leader?wait={wait}&term={term}&leader={leader}")
        assert status == 200 and low <= time.monotonic() - t0 < low + 1.5, wait
    # The caller saw an older term, or another leader: answered at once.
    for query in [f"term={term - 1}", f"term={term}&leader=nobody", f"term={term}&leader="]:
        t0 = time.monotonic()
        status, _, body = request(port, "GET", f"/leader?wait=30s&{query}")
        assert status == 200 and body["term"] == term and time.monotonic() - t0 < 0.5, query
    # A wait across a failover: answered by the change, not the end of the wait.
    answers = []
    waiters = [threading.Thread(target=lambda: answers.append(
        (time.monotonic(), request(port, "GET", f"/leader?wait=30s&term={term}&leader={leader}", timeout=40))))
        for _ in range(20)]
    for w in waiters:
        w.start()
    wait_for(lambda: request(port, "GET", "/status")[2]["long_poll_waiters"] >= 20, 5, "20 long-polls held")
    assert answers == [], "a waiter was answered before anything changed"
    killed = time.monotonic()
    c.kill(leader)
    for w in waiters:
        w.join(timeout=15)
    assert len(answers) == 20
    for at, (status, h, body) in answers:
        assert at - killed < 6.0
        assert int(h["x-baton-term"]) > term or status == 503 or body["leader"]["id"] != leader
    # The agent logs each wave: how many waiters and how long from change to last answer.
    assert "event=long-poll-answered" in c.log(follower)


@pytest.mark.parametrize("query,fragment", [
    ("wait=6m", "at most 5m"), ("wait=abc", "duration"), ("wait=-1s", "duration"),
    ("wait=10s&term=x", "term must be"), ("wait=99999999999s", "too long a time"), ("wait=30s1m", "largest to smallest"),
    ("wait=301", "at most 5m"), ("wait=1.5", "write 1.5s for seconds"), ("wait=5m1ms", "at most 5m"),
    ("term=-1", "term must be"), ("term=99999999999999999999", "term must be"),
    ("leader=%F3%84%98%82", "leader must be"), ("wait=1s&leader=a%20b", "leader must be"),
])
def test_long_poll_refuses_bad_values(cluster_factory, query, fragment):
    c = cluster_factory(["n1"])
    c.start_all()
    c.wait_leader()
    status, h, body = request(c.api_port["n1"], "GET", f"/leader?{query}")
    assert status == 400 and fragment in body["reason"] and "x-baton-term" in h


# 4. POST /resign

def test_resign_hands_over_and_names_the_successor(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    follower = follower_of(c, leader)
    status, _, body = request(c.api_port[follower], "POST", "/resign")
    assert status == 409 and body["leader"]["id"] == leader and "not in office" in body["reason"]
    for to, fragment in [("nobody", "not a member"), (leader, "this node")]:
        status, _, body = request(c.api_port[leader], "POST", f"/resign?to={to}")
        assert status == 400 and fragment in body["reason"]
    assert no_transfer_happened(c), "a refused resignation changed something"
    target = next(n for n in c.names if n not in (leader, follower))
    t0 = time.monotonic()
    status, _, body = request(c.api_port[leader], "POST", f"/resign?to={target}")
    assert status == 200, body
    assert body["resigned"] is True and body["term"] == term and body["successor"] == target
    assert body["successor_term"] > term and time.monotonic() - t0 < 1.0
    new_leader, new_term = c.wait_leader()
    assert new_leader == target and new_term == body["successor_term"]
    # Without `to`, the most up-to-date member takes over.
    status, _, body = request(c.api_port[target], "POST", "/resign")
    assert status == 200 and body["successor"] != target
    assert "event=resign-requested" in c.log(target)


def test_admin_token_guards_resign(cluster_factory, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    c = cluster_factory(["n1", "n2", "n3"], extra=["--admin-token-file", str(token_file)])
    c.start_all()
    leader, term = c.wait_leader()
    port = c.api_port[leader]
    for headers in [{}, {"Authorization": "Bearer wrong-token!"}, {"Authorization": "Bearer s3cret-toke"},
                    {"Authorization": "Basic s3cret-token"}]:
        status, h, body = request(port, "POST", "/resign", headers)
        assert status == 401 and "Bearer" in body["reason"] and h["www-authenticate"].startswith("Bearer")
    assert no_transfer_happened(c), "a refused resignation changed something"
    status, _, body = request(port, "POST", "/resign", {"Authorization": "Bearer s3cret-token"})
    assert status == 200 and body["successor"] != leader


def test_admin_token_file_must_be_readable_and_not_empty(cluster_factory, tmp_path):
    c = cluster_factory(["n1"])
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, fragment in [(tmp_path / "missing", "cannot read"), (empty, "is empty")]:
        p = c.start("n1", extra=["--admin-token-file", str(path)])
        assert p.wait(timeout=10) == 2
        c.procs.pop("n1")
        assert "--admin-token-file" in c.log("n1") and fragment in c.log("n1")
    # The environment works as for every setting.
    p = subprocess.Popen(c.argv("n1"), env={**os.environ, "BATON_ADMIN_TOKEN_FILE": str(tmp_path / "missing")},
                         stderr=subprocess.PIPE, text=True)
    assert p.wait(timeout=10) == 2 and "cannot read" in p.stderr.read()


def test_without_a_token_admin_needs_a_loopback_listener(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    wildcard = {n: ["--api-listen", f"0.0.0.0:{c.api_port[n]}"] for n in c.names}
    for n in c.names:
        c.start(n, extra=wildcard[n])
    leader, term = c.wait_leader()
    status, _, body = request(c.api_port[leader], "POST", "/resign")
    assert status == 403 and "--admin-token-file" in body["reason"]
    assert no_transfer_happened(c)
