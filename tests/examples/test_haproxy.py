"""examples/haproxy: real HAProxy, with the shipped haproxy.cfg, in front of three
backends each beside a real agent. Traffic goes to the leader's backend only; after
kill -9 of the leader's agent it moves to the new leader's backend. Prints the time from
the kill until the first request served by the new leader's backend, per run and median.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time

import pytest

from cluster import free_port
from example_support import EXAMPLES, NameBackend

RUNS = int(os.environ.get("BATON_HAPROXY_RUNS", "5"))
pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (scripts/test installs it)")


def loopback_config(backends, api_ports, listen_port):
    """The example's haproxy.cfg with its addresses moved to loopback: the frontend on
    listen_port, server nN at its backend's port with its check on its agent's API port.
    Everything else (check, timing, options) is the shipped file, unchanged."""
    with open(os.path.join(EXAMPLES, "haproxy", "haproxy.cfg")) as f:
        text = f.read()
    text, n = re.subn(r"(?m)^(\s*bind) :80$", rf"\1 127.0.0.1:{listen_port}", text)
    assert n == 1, "haproxy.cfg: expected one 'bind :80' line"
    for name in backends:
        text, n = re.subn(rf"(?m)^(\s*server {name}) \S+ check port 7480$",
                          rf"\1 127.0.0.1:{backends[name].port} check port {api_ports[name]}", text)
        assert n == 1, f"haproxy.cfg: expected one 'server {name} ADDR check port 7480' line"
    return text


def ask(port):
    """(status, body) of one GET through HAProxy on a new connection; (None, '') on error."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/", headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException):
        return None, ""


def wait_until(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def office_terms(cluster, name):
    """The terms in which `name` entered office, from its own log (event=office-enter)."""
    return {int(m) for m in re.findall(r"event=office-enter .*?\btoken=(\d+)", cluster.log(name))}


def haproxy_log(c):
    path = os.path.join(c.tmp, "haproxy.log")
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-15:])


def steady(c, listen, exclude=()):
    """Waits until HAProxy sends 50 requests in a row to the node in office, with the
    same node in office (same term) before and after them, and returns (node, term,
    retries). A retry happens only when office changed hands meanwhile (on a loaded
    machine a lease can lapse), never because traffic went to a node out of office while
    office stood still: that fails the test."""
    for retry in range(5):
        leader, term = c.wait_leader(exclude=exclude)
        # HAProxy counts a server UP until its checks have failed (at start, fall x inter),
        # so wait until ten answers in a row come from the leader before sampling.
        recent = []
        end = time.monotonic() + 10
        while time.monotonic() < end and recent[-10:] != [(200, leader)] * 10:
            recent.append(ask(listen))
        if recent[-10:] != [(200, leader)] * 10:
            if c.wait_leader(exclude=exclude) != (leader, term):
                continue  # office moved meanwhile
            raise AssertionError(f"HAProxy did not settle on {leader} (term {term}) in 10 s; last answers "
                                 f"{recent[-10:]}; HAProxy log:\n{haproxy_log(c)}")
        answers = [ask(listen) for _ in range(50)]
        if c.wait_leader(exclude=exclude) != (leader, term) or any(t > term for n in c.procs for t in office_terms(c, n)):
            continue  # office changed hands during the sample: sample again
        assert answers == [(200, leader)] * 50, f"{leader} in office in term {term} throughout, yet: {answers}"
        return leader, term, retry
    raise AssertionError("office changed hands in 5 samples in a row: the cluster is not steady")


def one_failover(tmp_path, cluster_factory, run):
    names = ["n1", "n2", "n3"]
    work = tmp_path / f"run{run}"
    work.mkdir()
    c = cluster_factory(names, tmp=work)
    backends = {n: NameBackend(n) for n in names}
    listen = free_port()
    cfg = work / "haproxy.cfg"
    cfg.write_text(loopback_config(backends, c.api_port, listen))
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                             stderr=open(work / "haproxy.log", "wb"))
    try:
        c.start_all()
        # Steady state: every request reaches the leader's backend and no other.
        leader, term, _ = steady(c, listen)

        c.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        served = []  # (seconds after the kill, status, body)
        while time.monotonic() - killed_at < 10:
            status, body = ask(listen)
            served.append((time.monotonic() - killed_at, status, body))
            if status == 200 and body not in ("", leader):
                break
            time.sleep(0.002)
        moved = [s for s in served if s[1] == 200 and s[2] not in ("", leader)]
        assert moved, f"traffic never left {leader} within 10 s: {served[-5:]}"
        elapsed, _, first = moved[0]
        # The backend that took the traffic is beside an agent that entered office in a
        # newer term (read from that agent's own log, not from HAProxy).
        assert any(t > term for t in office_terms(c, first)), \
            f"{first}'s backend got traffic but its agent never entered office after term {term}"
        # Afterwards traffic stays on new leaders: never back to the killed leader's
        # backend, and it settles on the node in office now.
        current, current_term, _ = steady(c, listen, exclude=(leader,))
        to_old = sum(1 for s in served if s[2] == leader)
        refused = sum(1 for s in served if s[1] != 200)
        print(f"haproxy run {run}: killed {leader} (term {term}); first request served by {first} "
              f"{elapsed * 1000:.1f} ms after kill -9 (in office now: {current}, term {current_term}); "
              f"in between {to_old} answers from the old leader's backend (its app still runs; HAProxy "
              f"had not yet seen the agent die), {refused} without a server (503)")
        return elapsed
    finally:
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proxy.kill()
        for b in backends.values():
            b.close()
        c.stop_all()


def test_haproxy_follows_the_leader(tmp_path, cluster_factory):
    times = [one_failover(tmp_path, cluster_factory, run) for run in range(1, RUNS + 1)]
    ms = sorted(t * 1000 for t in times)
    print(f"haproxy failover, kill -9 of the leader's agent to the first request served by the new "
          f"leader's backend, {RUNS} runs: median {statistics.median(ms):.1f} ms, "
          f"min {ms[0]:.1f}, max {ms[-1]:.1f} (each: {', '.join(f'{t:.1f}' for t in ms)})")
    # Election (150-300 ms timeouts) plus HAProxy's checks (100 ms): well under 2 s.
    assert max(ms) < 2000
