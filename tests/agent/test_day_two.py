"""Day-two operations with the real binary (issue 17 points 1-3): SIGHUP reload,
`baton agent --check-config`, `baton hook-test`, and hook programs checked at start."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cluster import BATON, free_port, records, wait_for

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hookrec.py")


def write_config(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class ConfiguredCluster:
    """Agents that take everything from their --config file, as under the packaged unit."""

    def __init__(self, tmp, names):
        self.tmp = tmp
        self.names = names
        self.peer = {n: free_port() for n in names}
        self.api = {n: free_port() for n in names}
        self.secret = tmp / "secret"
        self.secret.write_bytes(os.urandom(32))
        self.procs = {}

    def config_lines(self, name, extra=()):
        peers = ",".join(f"{n}=127.0.0.1:{self.peer[n]}" for n in self.names)
        base = ["# written by the test", f"export BATON_ID={name}", f'BATON_PEERS="{peers}"',
                f"BATON_API_LISTEN=127.0.0.1:{self.api[name]}", f"BATON_DATA_DIR={self.tmp / ('data-' + name)}",
                f"BATON_CLUSTER_SECRET_FILE={self.secret}", "BATON_BOOTSTRAP=true"]
        # A key in `extra` replaces the base line (the file refuses a key set twice).
        keys = {l.split("=", 1)[0] for l in extra}
        return [l for l in base if l.replace("export ", "").split("=", 1)[0] not in keys] + list(extra)

    def config(self, name):
        return self.tmp / f"{name}.conf"

    def start(self, name, extra=()):
        write_config(self.config(name), self.config_lines(name, extra))
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([BATON, "agent", "--config", str(self.config(name))], stdout=log, stderr=log)

    def log(self, name):
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def leader(self):
        import http.client
        for n in self.procs:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.api[n], timeout=1)
                c.request("GET", "/leader")
                r = c.getresponse()
                data = json.loads(r.read())
                if r.status == 200 and data.get("self"):
                    return n, data["term"]
            except (OSError, ValueError):
                pass
        return None

    def stop(self):
        for p in self.procs.values():
            p.kill()
            p.wait()


@pytest.fixture
def configured(tmp_path):
    made = []

    def make(names):
        c = ConfiguredCluster(tmp_path, names)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


def test_sighup_keeps_the_leader_in_office_and_applies_a_changed_hook(configured, tmp_path):
    c = configured(["n1", "n2", "n3"])
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    for n in c.names:
        c.start(n, [f"BATON_ON_DEMOTE={sys.executable} {HOOK} {first}"])
    leader, term = wait_for(c.leader, 10, "a leader")
    wait_for(lambda: len([r for r in records(first) if r["event"] == "startup"]) == 3, 10, "start-up hooks")
    # The leader's file now names another demote hook, an application variable for it, a
    # new log level, and a timing change that only a restart applies.
    write_config(c.config(leader), c.config_lines(leader, [
        f"BATON_ON_DEMOTE={sys.executable} {HOOK} {second}", "APP_COLOUR=blue",
        "BATON_LOG_LEVEL=notice", "BATON_HEARTBEAT_INTERVAL=40ms"]))
    c.procs[leader].send_signal(signal.SIGHUP)
    line = wait_for(lambda: [l for l in c.log(leader).splitlines() if "event=reloaded" in l], 5, "the reloaded line")[0]
    assert "--on-demote" in line and "--log-level" in line and "application variables" in line, line
    assert "needs_restart=--heartbeat-interval" in line and "level=warning" in line, line
    time.sleep(0.5)
    assert c.procs[leader].poll() is None, "SIGHUP must not stop the agent"
    assert c.leader() == (leader, term), "SIGHUP must leave the leader in office in the same term"
    # A hand-over now runs the new demote hook, with the new variable.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.api[leader], timeout=10)
    conn.request("POST", "/resign")
    assert conn.getresponse().status == 200
    demote = wait_for(lambda: [r for r in records(second) if r["event"] == "demote"], 10, "the new demote hook")[0]
    assert demote["env"]["BATON_TERM"] == str(term) and demote["env"]["BATON_NODE_ID"] == leader
    assert not [r for r in records(first) if r["event"] == "demote" and r["env"]["BATON_NODE_ID"] == leader]
    # The new level took effect: no info lines after the reload.
    after = c.log(leader).split("event=reloaded", 1)[1]
    assert "level=info" not in after, after[:2000]


def test_sighup_with_a_bad_config_keeps_the_running_one(configured, tmp_path):
    c = configured(["n1"])
    rec = tmp_path / "hooks.jsonl"
    c.start("n1", [f"BATON_ON_PROMOTE={sys.executable} {HOOK} {rec}"])
    wait_for(c.leader, 10, "n1 in office")
    for bad, fragment in ((["BATON_ELECTON_TIMEOUT=1s"], "did you mean BATON_ELECTION_TIMEOUT"),
                          (["BATON_ON_DEMOTE=/no/such/demote-hook"], "--on-demote: /no/such/demote-hook does not exist"),
                          (["BATON_HOOK_TIMEOUT=30"], "--hook-timeout")):
        write_config(c.config("n1"), c.config_lines("n1", bad))
        c.procs["n1"].send_signal(signal.SIGHUP)
        wait_for(lambda: fragment in c.log("n1") and "event=reload-refused" in c.log("n1"), 5, f"refusal of {bad}")
        assert c.procs["n1"].poll() is None
        wait_for(c.leader, 5, "n1 still leading after a refused reload")


def run(argv, env=None, timeout=20):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("BATON_"):
            del e[k]
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)


def check_config_case(tmp_path, lines, env=None, extra=()):
    c = ConfiguredCluster(tmp_path, ["n1", "n2", "n3"])
    write_config(c.config("n1"), c.config_lines("n1", lines))
    return run([BATON, "agent", "--config", str(c.config("n1")), "--check-config", *extra], env=env)


def test_check_config_passes_a_good_config_and_shows_sources(tmp_path):
    r = check_config_case(tmp_path, ["BATON_ON_PROMOTE=/bin/true", "VIP_ADDRESS=10.0.0.10/24"],
                          env={"BATON_HEARTBEAT_INTERVAL": "40ms"}, extra=["--cluster-id", "prod"])
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert re.search(r"--id\s+n1\s+\S+n1\.conf:2", out), out
    assert re.search(r"--heartbeat-interval\s+40ms\s+environment BATON_HEARTBEAT_INTERVAL", out), out
    assert re.search(r"--cluster-id\s+prod\s+command line", out), out
    assert re.search(r"--log-format\s+text\s+default", out), out
    assert "VIP_ADDRESS" in out and "ok    --on-promote" in out and "--bootstrap will create" in out
    assert "holds 32 bytes" in out and "the agent would start" in out
    # Nothing was created: the data dir is still missing.
    assert not (tmp_path / "data-n1").exists()


@pytest.mark.parametrize("lines, env, fragment", [
    (["BATON_ELECTON_TIMEOUT=1s"], None, "did you mean BATON_ELECTION_TIMEOUT?"),
    (["BATON_ON_PROMOTE=/usr/local/bin/promote-typo.sh"], None, "/usr/local/bin/promote-typo.sh does not exist"),
    (["BATON_CHECK=no-such-program-anywhere --flag"], None, "'no-such-program-anywhere' is not an executable in any PATH directory"),
    (["BATON_CLUSTER_SECRET_FILE=/nonexistent/secret"], None, "--cluster-secret-file  cannot read /nonexistent/secret (ENOENT"),
    (["BATON_BOOTSTRAP=false"], None, "does not exist: give --bootstrap"),
    (["BATON_API_LISTEN=no-such-host.invalid:7480"], None, "--api-listen"),
])
def test_check_config_refuses_bad_configs_with_exit_2(tmp_path, lines, env, fragment):
    r = check_config_case(tmp_path, lines, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert fragment in r.stdout + r.stderr, r.stdout + r.stderr


def test_check_config_warns_about_a_mistyped_environment_variable(tmp_path):
    r = check_config_case(tmp_path, [], env={"BATON_ELECTON_TIMEOUT": "1s"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"warn\s+BATON_ELECTON_TIMEOUT.*did you mean BATON_ELECTION_TIMEOUT", r.stdout), r.stdout


def test_the_agent_refuses_to_start_with_a_missing_hook_program(tmp_path):
    peer, api = free_port(), free_port()
    r = run([BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{peer}", "--api-listen", f"127.0.0.1:{api}",
             "--data-dir", str(tmp_path / "d"), "--bootstrap", "--insecure-peers",
             "--on-promote", "/usr/local/bin/promote-typo.sh"], timeout=10)
    assert r.returncode == 2 and "--on-promote: /usr/local/bin/promote-typo.sh does not exist" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


def test_hook_test_runs_the_hook_with_the_agents_environment(tmp_path):
    c = ConfiguredCluster(tmp_path, ["n1", "n2"])
    rec = tmp_path / "rec.jsonl"
    write_config(c.config("n1"), c.config_lines("n1", [
        f"BATON_ON_PROMOTE={sys.executable} {HOOK} {rec}",
        "BATON_ON_DEMOTE=sh -c 'echo demoting $BATON_NODE_ID in $BATON_TERM; echo oops >&2; exit 4'",
        "VIP_ADDRESS=10.0.0.10/24"]))
    r = run([BATON, "hook-test", "promote", "--term", "42", "--config", str(c.config("n1"))],
            env={"NOTIFY_SOCKET": "/run/systemd/notify", "BATON_ID": "n1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: exit 0 after" in r.stdout, r.stdout
    env = records(rec)[0]["env"]
    assert env["BATON_EVENT"] == "promote" and env["BATON_TERM"] == "42" and env["BATON_NODE_ID"] == "n1"
    assert env["BATON_LEADER_ID"] == "n1" and env["BATON_REASON"] == "election" and int(env["BATON_LEASE_DEADLINE_MS"]) > 0
    # Exactly what the agent gives a hook: its settings and systemd's variables are not passed on.
    assert "BATON_ID" not in env and "NOTIFY_SOCKET" not in records(rec)[0].get("all_env", {})
    r = run([BATON, "hook-test", "demote", "--term", "7", "--config", str(c.config("n1"))])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "stdout| demoting n1 in 7" in r.stdout and "stderr| oops" in r.stdout and "result: exit 4 after" in r.stdout, r.stdout
    r = run([BATON, "hook-test", "change", "--config", str(c.config("n1"))])
    assert r.returncode == 2 and "--on-change is not set" in r.stderr, r.stderr


def test_host_names_are_accepted_for_listen_addresses_and_this_members_peer_entry(tmp_path):
    """Issue 17 point 6: `localhost` wherever an address goes."""
    peer, api = free_port(), free_port()
    p = subprocess.Popen([BATON, "agent", "--id", "n1", "--peers", f"n1=localhost:{peer}", "--api-listen", f"localhost:{api}",
                          "--data-dir", str(tmp_path / "d"), "--bootstrap", "--insecure-peers"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(run([BATON, "leader", "--api", f"localhost:{api}"], timeout=5)),
                     10, "baton leader --api localhost:PORT")
        assert r.stdout.strip() == "n1"
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
    assert "peer_listen=127.0.0.1:" in err or "peer_listen=[::1]:" in err, err


def test_an_address_in_use_names_the_flag_and_address_and_other_errors_get_no_port_hint(tmp_path):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = run([BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{free_port()}", "--api-listen", f"127.0.0.1:{port}",
                 "--data-dir", str(tmp_path / "d"), "--bootstrap", "--insecure-peers"], timeout=10)
    finally:
        taken.close()
    assert r.returncode == 2, r.stderr
    assert f"--api-listen: 127.0.0.1:{port} is in use (EADDRINUSE)" in r.stderr, r.stderr
    r = run([BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{free_port()}", "--api-listen", f"127.0.0.1:{free_port()}",
             "--data-dir", str(tmp_path / "d2"), "--bootstrap", "--insecure-peers", "--leader-unit", "bad/name.service"], timeout=10)
    assert r.returncode == 2 and "--leader-unit" in r.stderr and "another process" not in r.stderr, r.stderr
    r = run([BATON, "agent", "--id", "n1", "--peers", f"n1=no-such-host.invalid:{free_port()}", "--api-listen", f"127.0.0.1:{free_port()}",
             "--data-dir", str(tmp_path / "d3"), "--bootstrap", "--insecure-peers"], timeout=20)
    assert r.returncode == 2 and "--peer-listen" in r.stderr and "no-such-host.invalid" in r.stderr, r.stderr
    assert "another process" not in r.stderr
    r = run([BATON, "agent", "--electon-timeout", "1s"], timeout=10)
    assert r.returncode == 2 and "--electon-timeout" in r.stderr, r.stderr


def test_mismatched_secret_and_cluster_id_say_which_flag_and_both_sides(cluster_factory, tmp_path):
    c = cluster_factory(["n1", "n2"])
    c.form("n1")
    bad = tmp_path / "other-secret"
    bad.write_bytes(b"x" * 32)
    p = subprocess.Popen(c.argv("n2")[:-3] + ["--cluster-secret-file", str(bad), "--bootstrap"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "the two hold different secrets" in c.log("n1"), 10, "a wrong-secret refusal on n1")
    finally:
        p.kill()
        p.wait()
    assert "--cluster-secret-file" in c.log("n1")
    p = subprocess.Popen(c.argv("n2") + ["--cluster-id", "other", "--data-dir", str(tmp_path / "other-n2")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: 'peer belongs to cluster \\"other\\", this node to \\"baton\\"' in c.log("n1")
                 or "peer belongs to cluster" in c.log("n1"), 10, "a cluster-id refusal")
    finally:
        p.kill()
        p.wait()
    line = next(l for l in c.log("n1").splitlines() if "peer belongs to cluster" in l)
    assert "other" in line and "baton" in line and "--cluster-id" in line, line


def test_check_config_reads_the_data_dir_without_changing_it(tmp_path):
    """--check-config looks at a data dir that has state (term, vote, log length) and
    leaves it byte for byte as it was."""
    peer, api = free_port(), free_port()
    base = [BATON, "agent", "--api-listen", f"127.0.0.1:{api}", "--data-dir", str(tmp_path / "d"), "--insecure-peers",
            "--id", "n1", "--peers", f"n1=127.0.0.1:{peer}"]
    p = subprocess.Popen(base + ["--bootstrap"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run([BATON, "leader", "--api", f"127.0.0.1:{api}"], timeout=5).returncode == 0, 10, "n1 leads")
        # While the agent runs: the data dir is reported in use, and nothing fails.
        r = run(base + ["--check-config"])
        assert r.returncode == 0 and "in use by a running agent (pid" in r.stdout, r.stdout + r.stderr
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    before = {f.name: f.read_bytes() for f in (tmp_path / "d").iterdir()}
    r = run(base + ["--check-config"])
    assert r.returncode == 0 and re.search(r"d: term 1, voted for n1, \d+ log entries", r.stdout), r.stdout + r.stderr
    assert {f.name: f.read_bytes() for f in (tmp_path / "d").iterdir()} == before
