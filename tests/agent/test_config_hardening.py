"""Start-up checks of issue 15 item 6: every length the wire imposes, bounds on every
interval, duplicate member addresses, and unsafe secret and token files. Each bad
setting is exit 2 naming the flag, before anything is written; each doubtful one is a
warning in the log. Real `baton agent` processes."""
import os
import subprocess
import time

import pytest

from cluster import BATON, free_port


def agent(tmp_path, *extra, secret=b"k" * 32, secret_mode=0o600, peers=None, wait=10):
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(secret)
    os.chmod(secret_file, secret_mode)
    port = free_port()
    args = [BATON, "agent", "--id", "n1", "--peers", peers or f"n1=127.0.0.1:{port}",
            "--api-listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"), "--bootstrap",
            "--cluster-secret-file", str(secret_file)] + list(extra)
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=wait)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the agent started (and ran {wait}s) instead of refusing: {args}") from e


@pytest.mark.parametrize("extra,peers,needle", [
    # A 253-character host passed validation, then trapped at the first dial.
    (["--peer-advertise", "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 70 + ":7001"],
     "n1=127.0.0.1:{p1},n2=127.0.0.1:{p2}", "--peer-advertise"),
    (["--heartbeat-interval", "0.0001ms"], None, "--heartbeat-interval"),
    (["--election-timeout", "5ms..8ms", "--heartbeat-interval", "1ms"], None, "--election-timeout"),
    (["--election-timeout", "120s..180s"], None, "--election-timeout"),
    ([], "n1=127.0.0.1:{p1},n2=127.0.0.1:{p1}", "same address"),
])
def test_bad_setting_exits_2_naming_it(tmp_path, extra, peers, needle):
    if peers:
        peers = peers.format(p1=free_port(), p2=free_port())
    r = agent(tmp_path, *extra, peers=peers)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert needle in r.stderr, r.stderr[-2000:]
    assert not os.path.exists(tmp_path / "d")


@pytest.mark.parametrize("secret,needle", [
    (bytes(32), "only zero bytes"),
    (b"x" * 5000, "more than 4096 bytes"),
    (b"short", "at least 16"),
])
def test_unsafe_secret_exits_2_saying_why(tmp_path, secret, needle):
    r = agent(tmp_path, secret=secret)
    assert r.returncode == 2 and "--cluster-secret-file" in r.stderr and needle in r.stderr, r.stderr


def run_briefly(tmp_path, *extra, **kw):
    """Starts an agent, lets it log its start-up, stops it; returns its output."""
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(kw.get("secret", b"k" * 32))
    os.chmod(secret_file, kw.get("secret_mode", 0o600))
    args = [BATON, "agent", "--id", "n1", "--peers", f"n1=127.0.0.1:{free_port()}",
            "--api-listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"), "--bootstrap",
            "--cluster-secret-file", str(secret_file)] + list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    p.terminate()
    out, _ = p.communicate(timeout=10)
    return out


def test_doubtful_secret_and_token_files_are_warned_about(tmp_path):
    token = tmp_path / "token"
    token.write_text("short\n")
    os.chmod(token, 0o644)
    out = run_briefly(tmp_path, "--admin-token-file", str(token), "--insecure-peers",
                      secret=b"k" * 20, secret_mode=0o644)
    assert "32 random bytes are recommended" in out, out
    assert "accessible to every user" in out and "chmod 600" in out, out
    assert "the token in" in out and "at least 16" in out, out
    # --insecure-peers with a secret: the secret is still used, and the log says so.
    assert "--insecure-peers is ignored" in out, out
    assert "peers are not authenticated" not in out, out
