"""GET /metrics: Prometheus text format with Prometheus naming, from a live cluster."""
import re
import time

import pytest

from cluster import Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, ["n1", "n2", "n3"])
    c.start_all()
    yield c
    c.stop_all()


def scrape(c, name):
    import http.client
    h = http.client.HTTPConnection("127.0.0.1", c.api_port[name], timeout=5)
    h.request("GET", "/metrics")
    r = h.getresponse()
    text = r.read().decode()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, metric, kind = line.split()
            types[metric] = kind
        elif line and not line.startswith("#"):
            m = re.fullmatch(r"([a-z_:]+)(\{[^}]*\})? (\S+)", line)
            assert m, f"not a sample line: {line!r}"
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def test_metrics_follow_prometheus_conventions_and_the_cluster(cluster):
    leader, term = cluster.wait_leader()
    cluster.wait_round_trips(leader)  # round trips recorded
    for _ in range(3):
        cluster.get(leader, "/is-leader")
    # On a loaded machine a starved leader may lose office between two requests: ask
    # until one scrape happens while its node is in office.
    end = time.monotonic() + 10
    while True:
        leader, term = cluster.wait_leader()
        types, s = scrape(cluster, leader)
        if s["baton_is_leader"] == 1 or time.monotonic() > end:
            break
    assert types["baton_is_leader"] == "gauge" and types["baton_term"] == "gauge"
    assert types["baton_elections_total"] == "counter" and types["baton_office_changes_total"] == "counter"
    assert types["baton_heartbeat_rtt_seconds"] == "histogram"
    assert types["baton_peer_reachable"] == "gauge" and types["baton_http_requests_total"] == "counter"
    assert s["baton_is_leader"] == 1 and s["baton_term"] >= term
    assert s["baton_elections_total"] >= 1 and s["baton_office_changes_total"] >= 1
    followers = [n for n in cluster.names if n != leader]
    for f in followers:
        assert s[f'baton_peer_reachable{{peer="{f}"}}'] == 1
    # The stored membership by role (issue 14): three founding voters, nothing else.
    assert types["baton_members"] == "gauge"
    assert s['baton_members{role="voter"}'] == 3 and s['baton_members{role="observer"}'] == 0
    assert s['baton_members{role="learner"}'] == 0 and s['baton_members{role="witness"}'] == 0
    assert s["baton_membership_change_in_progress"] == 0
    # Round trips per peer (the help text says "to each peer").
    for f in followers:
        count = s[f'baton_heartbeat_rtt_seconds_count{{peer="{f}"}}']
        assert count >= 1 and 0 < s[f'baton_heartbeat_rtt_seconds_sum{{peer="{f}"}}'] / count < 1.0
        assert s[f'baton_heartbeat_rtt_seconds_bucket{{peer="{f}",le="+Inf"}}'] == count
    assert s['baton_http_requests_total{path="/is-leader",code="200"}'] >= 3
    # A follower is not the leader; a dead peer is unreachable.
    types, fs = scrape(cluster, followers[0])
    assert fs["baton_is_leader"] == 0 and fs["baton_term"] >= term
    cluster.kill(followers[1])
    end = time.monotonic() + 5
    while scrape(cluster, leader)[1][f'baton_peer_reachable{{peer="{followers[1]}"}}'] != 0:
        assert time.monotonic() < end
        time.sleep(0.05)


def test_standard_alert_metrics_are_present(cluster):
    """Issue 17 point 8: build info, process_* as Prometheus' clients name them, a
    has-leader gauge, leader changes seen, per-peer RTT and last contact, the lease."""
    leader, _ = cluster.wait_leader()
    cluster.wait_round_trips(leader)
    end = time.monotonic() + 10
    while True:
        leader, _ = cluster.wait_leader()
        types, s = scrape(cluster, leader)
        if s["baton_is_leader"] == 1 or time.monotonic() > end:
            break
    for name, kind in [("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"),
                       ("process_start_time_seconds", "gauge"), ("process_cpu_seconds_total", "counter"),
                       ("process_max_fds", "gauge"), ("process_virtual_memory_bytes", "gauge"),
                       ("baton_build_info", "gauge"), ("baton_has_leader", "gauge"),
                       ("baton_leader_changes_seen_total", "counter"), ("baton_lease_remaining_seconds", "gauge"),
                       ("baton_peer_rtt_seconds", "gauge"), ("baton_peer_last_contact_seconds", "gauge"),
                       ("baton_log_lines_dropped_total", "counter")]:
        assert types.get(name) == kind, (name, types.get(name))
    assert 1_000_000 < s["process_resident_memory_bytes"] < 1_000_000_000
    assert 3 <= s["process_open_fds"] < s["process_max_fds"]
    assert abs(s["process_start_time_seconds"] - time.time()) < 600
    assert s["process_cpu_seconds_total"] > 0
    assert [k for k in s if k.startswith("baton_build_info{version=")] and s["baton_has_leader"] == 1
    assert s["baton_leader_changes_seen_total"] >= 1
    assert 0 < s["baton_lease_remaining_seconds"] <= 0.15
    for f in (n for n in cluster.names if n != leader):
        assert 0 < s[f'baton_peer_rtt_seconds{{peer="{f}"}}'] < 1
        assert 0 <= s[f'baton_peer_last_contact_seconds{{peer="{f}"}}'] < 1
    # A follower: no lease; it counted the leader it saw.
    follower = next(n for n in cluster.names if n != leader)
    _, fs = scrape(cluster, follower)
    assert fs["baton_lease_remaining_seconds"] == 0 and fs["baton_has_leader"] == 1 and fs["baton_leader_changes_seen_total"] >= 1


def test_promtool_passes_live_metrics_and_the_example_alert_rules(cluster):
    import os
    import subprocess
    leader, _ = cluster.wait_leader()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run([os.path.join(root, "tests", "packaging", "promtool-check"), f"127.0.0.1:{cluster.api_port[leader]}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([os.path.join(root, "tests", "packaging", "promtool-check"), "--rules"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
