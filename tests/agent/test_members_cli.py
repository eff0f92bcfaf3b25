"""`baton members` when the leadership moves while a change waits (issue 14, item 5).

A configuration is in force once appended, so right after the leader changes, GET /members
may list a change that the new leader will still cut. The client must count a change as
done only from a settled answer (`change_in_progress` false), else it reports a change
that never committed as committed (fault soak, seed 1017). Which answer an agent gives at
which moment cannot be forced with real agents, so these tests put a scripted agent API
in front of the real `baton` client: each step answers what a real agent answers (the
bodies of MembersAPI.swift), in an order an election can produce."""
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cluster import BATON


class ScriptedAgent:
    """An agent API that answers POST /members and GET /members from two scripts (the
    last answer of each repeats) and records every request."""

    def __init__(self, posts, gets):
        self.posts, self.gets, self.seen = list(posts), list(gets), []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, script):
                status, body = script[0] if len(script) == 1 else script.pop(0)
                data = (json.dumps(body) + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                agent.seen.append(("POST", self.path, json.loads(self.rfile.read(length) or b"null")))
                self.answer(agent.posts)

            def do_GET(self):
                agent.seen.append(("GET", self.path, None))
                self.answer(agent.gets)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, method):
        return sum(1 for m, _, _ in self.seen if m == method)


def members_answer(names, in_progress):
    return {"members": [{"name": n, "role": "voter"} for n in names], "change_in_progress": in_progress, "term": 7}


MOVED = (503, {"changed": None, "reason": "the agent did not answer in time", "term": 7})
COMMITTED = (200, {"change": "add n4", "index": 41, "term": 8})


def add_n4(posts, gets):
    """Runs `baton members add n4 …` against a scripted agent: (the result, the agent)."""
    agent = ScriptedAgent(posts, gets)
    try:
        argv = [BATON, "members", "add", "n4", "127.0.0.1:7004", "--api", f"127.0.0.1:{agent.port}"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60), agent
    finally:
        agent.close()


def test_an_add_read_back_while_still_in_progress_and_then_cut_is_sent_again():
    # The leadership moves; the new leader first shows the add as appended (in force, in
    # progress), then cuts it. The client must not take the first reading as done.
    r, agent = add_n4(posts=[MOVED, COMMITTED],
                      gets=[(200, members_answer(["n1", "n2", "n3", "n4"], True))] * 3
                      + [(200, members_answer(["n1", "n2", "n3"], False))])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "committed at index 41, term 8" in r.stdout, r.stdout
    assert agent.count("POST") == 2, agent.seen
    assert agent.count("GET") >= 4, agent.seen


def test_an_add_that_settles_in_place_after_the_leader_moved_is_reported_once():
    r, agent = add_n4(posts=[MOVED],
                      gets=[(200, members_answer(["n1", "n2", "n3", "n4"], True))] * 2
                      + [(200, members_answer(["n1", "n2", "n3", "n4"], False))])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "committed (the leadership moved meanwhile)" in r.stdout, r.stdout
    assert agent.count("POST") == 1, agent.seen


def test_a_change_that_never_settles_is_not_reported_as_committed():
    # In progress at every reading (a group without a quorum): the client sends the change
    # again at most twice, then fails with the agent's reason instead of claiming success.
    r, agent = add_n4(posts=[MOVED], gets=[(200, members_answer(["n1", "n2", "n3", "n4"], True))])
    assert r.returncode != 0, r.stdout
    assert "committed" not in r.stdout, r.stdout
    assert agent.count("POST") == 3, agent.seen
