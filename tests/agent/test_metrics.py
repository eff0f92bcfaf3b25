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
    count = s["baton_heartbeat_rtt_seconds_count"]
    assert count >= 2 and 0 < s["baton_heartbeat_rtt_seconds_sum"] / count < 1.0
    assert s['baton_heartbeat_rtt_seconds_bucket{le="+Inf"}'] == count
    assert s['baton_http_requests_total{code="200"}'] >= 3
    # A follower is not the leader; a dead peer is unreachable.
    types, fs = scrape(cluster, followers[0])
    assert fs["baton_is_leader"] == 0 and fs["baton_term"] >= term
    cluster.kill(followers[1])
    end = time.monotonic() + 5
    while scrape(cluster, leader)[1][f'baton_peer_reachable{{peer="{followers[1]}"}}'] != 0:
        assert time.monotonic() < end
        time.sleep(0.05)
