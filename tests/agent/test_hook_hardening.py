"""Hooks that cannot work must not leave the group silently leaderless (issue 15 item 4)
and must not outlive their agent (item 6). Real agents, real hook processes."""
import os
import subprocess

import pytest

from cluster import BATON, wait_for


@pytest.mark.parametrize("flag,program,needle", [
    ("--on-promote", "/usr/local/bin/promote-typo.sh", "does not exist"),
    ("--on-demote", "{tmp}/not-executable.sh", "not executable"),
    ("--on-change", "/tmp", "not a regular file"),
    ("--check", "no-such-check-program-baton", "not an executable in any PATH directory"),
])
def test_a_hook_program_that_cannot_run_exits_2_naming_the_flag(tmp_path, flag, program, needle):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    program = program.format(tmp=tmp_path)
    p = subprocess.run([BATON, "agent", "--id", "n1", "--peers", "n1=127.0.0.1:1", "--insecure-peers",
                        "--data-dir", str(tmp_path / "d"), "--bootstrap", flag, program],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p.stderr
    assert f"{flag}:" in p.stderr and needle in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "d")


def test_every_member_failing_its_promote_hook_says_so_on_health(cluster_factory):
    # A promote hook that exists but always fails: each winner resigns and sits out.
    c = cluster_factory(["n1", "n2", "n3"], extra=["--on-promote", "/bin/false"])
    c.start_all()

    def all_warn():
        answers = [c.get(n, "/health") for n in c.names]
        return all(status == 503 and body and body.get("status") == "leaderless-promote-failing"
                   for status, _, body in answers)
    wait_for(all_warn, 20, "every member's /health to say the group is leaderless for failing promote hooks")
    status, _, body = c.get("n1", "/health")
    assert "promote hook failed" in body["reason"]
    metrics = c.get("n1", "/metrics")
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.api_port["n1"], timeout=2)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    assert "baton_leaderless_after_promote_failure 1" in text


def test_hooks_die_with_their_agent_even_on_kill_9(cluster_factory, tmp_path):
    pidfile = tmp_path / "sleeper.pid"
    # The start-up demote hook leaves a grandchild (sh → sleep), as real hooks do.
    hook = f"/bin/sh -c 'sleep 1000 & echo $! > {pidfile}; wait'"
    c = cluster_factory(["n1"], extra=["--on-demote", hook])
    c.start("n1")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the hook to start its sleeper")
    sleeper = int(pidfile.read_text())
    try:
        os.kill(sleeper, 0)  # running
        c.kill("n1")  # SIGKILL: the agent gets no chance to clean up
        def gone():
            try:
                os.kill(sleeper, 0)
            except ProcessLookupError:
                return True
            # A zombie waiting for its reaper is gone too.
            with open(f"/proc/{sleeper}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        wait_for(gone, 2, "the hook's sleeper to die with its agent")
    finally:
        try:
            os.kill(sleeper, 9)
        except ProcessLookupError:
            pass
