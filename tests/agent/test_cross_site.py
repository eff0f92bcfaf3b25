"""Admin requests from a browser on another site, or through a rebound DNS name, are
refused with 403 and change nothing (issue 15 item 5); a query value that fails to
decode is 400, never "absent" (item 6). Real agents, raw HTTP over real sockets."""
import socket
import time

import pytest


def raw_post(port, path, headers, body=b""):
    """POST with exactly these headers (http.client would add its own Host)."""
    lines = [f"POST {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall("\r\n".join(lines).encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode(errors="replace")


def still_leader(c, leader, term):
    """No node started a hand-over (an election of its own on a loaded machine is not
    one, so the term alone would not tell; the same test as test_api's)."""
    time.sleep(0.6)  # a hand-over takes a few heartbeats; none may have started
    return all("event=resign-requested" not in c.log(n) and "reason=transfer" not in c.log(n) for n in c.names)


@pytest.mark.parametrize("headers,body,fragment", [
    # A form on evil.example posting to the loopback API.
    ([("Origin", "http://evil.example"), ("Content-Type", "application/x-www-form-urlencoded"),
      ("Sec-Fetch-Site", "cross-site")], b"x=1", "Sec-Fetch-Site"),
    ([("Origin", "http://evil.example"), ("Content-Type", "application/x-www-form-urlencoded")], b"x=1", "Origin"),
    ([("Content-Type", "text/plain;charset=UTF-8")], b"hi", "Content-Type"),
    ([("Content-Type", "multipart/form-data; boundary=x")], b"", "Content-Type"),
    # DNS rebinding: attacker.example resolved to 127.0.0.1 after the page loaded.
    ([("Host", "attacker.example")], b"", "Host"),
    ([("Host", "attacker.example:8080"), ("Origin", "http://attacker.example:8080")], b"", "Host"),
])
def test_cross_site_admin_request_is_403_and_changes_nothing(cluster_factory, headers, body, fragment):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    port = c.api_port[leader]
    if not any(k == "Host" for k, _ in headers):
        headers = [("Host", f"127.0.0.1:{port}")] + headers
    status, text = raw_post(port, "/resign", headers, body)
    assert status == 403, (status, text)
    assert fragment in text, text
    assert still_leader(c, leader, term)


def test_same_origin_and_command_line_requests_still_work(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    port = c.api_port[leader]
    status, text = raw_post(port, "/resign", [("Host", f"localhost:{port}"), ("Origin", f"http://localhost:{port}"),
                                              ("Sec-Fetch-Site", "same-origin")])
    assert status == 200, text
    leader2, term2 = c.wait_leader(exclude=(leader,))
    status, text = raw_post(c.api_port[leader2], "/resign", [("Host", f"127.0.0.1:{c.api_port[leader2]}")])
    assert status == 200, text


def test_resign_to_a_value_that_fails_to_decode_is_400(cluster_factory):
    c = cluster_factory(["n1", "n2", "n3"])
    c.start_all()
    leader, term = c.wait_leader()
    port = c.api_port[leader]
    for bad in ["%ff", "%zz", "%c3%28"]:
        status, text = raw_post(port, f"/resign?to={bad}", [("Host", f"127.0.0.1:{port}")])
        assert status == 400, (bad, status, text)
    assert still_leader(c, leader, term)
