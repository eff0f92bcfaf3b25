"""Membership interfaces and roles with real agents (issue 14, items 2, 3, 4 and 5): the
admin protection of /members, `baton members` exit codes and JSON, founders with
different member lists, promotion held by a failing check, observers answering
long-polls, witnesses counting for quorum."""
import http.client
import json
import os
import subprocess
import threading
import time

from cluster import BATON, free_port, wait_for

def post(port, path, body, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    c.request("POST", path, body=json.dumps(body), headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def test_membership_changes_need_the_admin_token_and_change_nothing_without(cluster_factory, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    c = cluster_factory(["n1", "n2", "n3", "o1"], founders=["n1", "n2", "n3"], extra=["--admin-token-file", str(token)])
    leader, _ = c.form()
    status, body = post(c.api_port[leader], "/members", {"name": "o1", "peer": f"127.0.0.1:{c.peer_port['o1']}", "role": "observer"})
    assert status == 401 and body["reason"], body
    status, _ = post(c.api_port[leader], "/members", {"name": "o1", "peer": f"127.0.0.1:{c.peer_port['o1']}", "role": "observer"},
                     token="wrong")
    assert status == 401
    assert set(c.member_list(leader)) == {"n1", "n2", "n3"}
    code, _, err = c.members(leader, "remove", "n3")
    assert code == 1 and set(c.member_list(leader)) == {"n1", "n2", "n3"}, err
    code, out, err = c.members(leader, "add", "o1", f"127.0.0.1:{c.peer_port['o1']}", "--observer", token_file=str(token))
    assert code == 0 and "committed" in out, (out, err)
    assert c.member_list(leader)["o1"]["role"] == "observer"


def test_baton_members_lists_as_json_and_says_refused_or_unreachable(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    leader, _ = c.form()
    follower = next(n for n in c.names if n != leader)
    code, out, err = c.members(follower, "--json")
    assert code == 0, err
    listed = json.loads(out)
    # (change_in_progress may be true for a moment: the leader's own bookkeeping.)
    assert listed["leader"] in c.names and listed["membership"] == "voter" and listed["change_in_progress"] in (True, False)
    assert sorted(m["name"] for m in listed["members"]) == ["n1", "n2", "n3"]
    assert all(m["role"] == "voter" and m["incarnation"] for m in listed["members"])
    code, out, _ = c.members(follower)
    assert code == 0 and out.splitlines()[0].split()[:2] == ["NAME", "ROLE"] and "this node: voter; leader: n" in out, out
    code, _, err = c.members(leader, "remove", "nobody")
    assert code == 1 and "'nobody' is not a member" in err, err
    code, _, err = c.members(leader, "add", "n9", "not-an-address")
    assert code == 1 and "HOST:PORT" in err, err
    r = subprocess.run([BATON, "members", "--api", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "cannot reach the agent" in r.stderr, r.stderr
    r = subprocess.run([BATON, "members", "add", "n9", "127.0.0.1:1", "--witness", "--observer",
                        "--api", f"127.0.0.1:{c.api_port[leader]}"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "exclude each other" in r.stderr, r.stderr


def test_founders_with_different_member_lists_refuse_each_other_and_say_so(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start("n1")
    c.start("n2")
    argv = c.argv("n3")
    argv[argv.index("--peers") + 1] = f"n1=127.0.0.1:{c.peer_port['n1']},n3=127.0.0.1:{c.peer_port['n3']}"
    log = open(os.path.join(c.tmp, "n3.log"), "ab")
    c.procs["n3"] = subprocess.Popen(argv, stdout=log, stderr=log)
    wait_for(lambda: "bootstrapped with another member list" in c.log("n1")
             and "bootstrapped with another member list" in c.log("n3"), 10, "both sides refusing")
    # Neither group elects: a new group's first election needs every one of its founders.
    time.sleep(1.0)
    assert not c.in_office()


def test_a_learner_is_promoted_only_once_its_check_passes(cluster_factory, tmp_path):
    ok = tmp_path / "n4-healthy"
    c = cluster_factory(["n1", "n2", "n3", "n4"], founders=["n1", "n2", "n3"])
    leader, _ = c.form()
    c.start("n4", bootstrap=False, extra=[f"--check=test -e {ok}", "--check-interval=100ms", "--check-failures=1"])
    code, out, err = c.members(leader, "add", "n4", f"127.0.0.1:{c.peer_port['n4']}")
    assert code == 0, (out, err)
    wait_for(lambda: c.member_list(leader)["n4"]["caught_up"] is True, 10, "n4 caught up")
    time.sleep(1.5)
    m = c.member_list(leader)["n4"]
    assert m["role"] == "learner" and m["promotes_to"] == "voter", m
    ok.write_text("")
    wait_for(lambda: c.member_list(leader)["n4"]["role"] == "voter", 10, "n4 promoted once healthy")


def test_an_observer_answers_long_polls_across_a_failover(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3", "o1"], founders=["n1", "n2", "n3"])
    leader, term = c.form()
    c.start("o1", bootstrap=False)
    assert c.members(leader, "add", "o1", f"127.0.0.1:{c.peer_port['o1']}", "--observer")[0] == 0
    wait_for(lambda: c.get("o1")[0] == 200, 10, "o1 naming the leader")
    # The leader as the observer knows it (on a loaded machine it may have changed).
    _, _, seen = c.get("o1")
    leader, term = seen["leader"]["id"], seen["term"]
    answer = {}

    def long_poll():
        answer["reply"] = c.get("o1", f"/leader?wait=20s&term={term}&leader={leader}", timeout=25)
    t = threading.Thread(target=long_poll)
    t.start()
    time.sleep(0.3)
    c.kill(leader)
    new, new_term = c.wait_leader(timeout=10, exclude=(leader,))
    t.join(timeout=25)
    status, _, body = answer["reply"]
    assert status == 200 and body["leader"]["id"] == new and body["term"] > term, body
    assert c.get("o1", "/is-leader")[0] == 503 and c.get("o1", "/health")[2]["membership"] == "observer"


def test_a_witness_added_later_counts_for_quorum_and_never_leads(cluster_factory):
    c = cluster_factory(["n1", "n2", "w1"], founders=["n1", "n2"])
    leader, _ = c.form()
    c.start("w1", bootstrap=False)
    code, out, err = c.members(leader, "add", "w1", f"127.0.0.1:{c.peer_port['w1']}", "--witness")
    assert code == 0, (out, err)
    wait_for(lambda: c.member_list(leader)["w1"]["role"] == "witness", 10, "w1 promoted to witness")
    # Two voters and a witness: with the other voter gone, the witness makes the majority.
    other = next(n for n in ("n1", "n2") if n != leader)
    c.kill(other)
    time.sleep(1.0)
    now, _ = c.wait_leader(timeout=10)
    assert now == leader
    assert c.get("w1", "/is-leader")[0] == 503 and c.get("w1", "/health")[2]["membership"] == "witness"
    # And the witness never takes office: with the leader gone too, nobody leads.
    c.kill(leader)
    time.sleep(1.5)
    assert c.get("w1", "/is-leader")[0] == 503 and not c.in_office()
