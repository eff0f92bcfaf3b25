"""The torn-tail repair may cut only what was written after the last fdatasync (issue 15
item 6): damage to records that were synced and acknowledged is exit 2, never a silent
repair. Real agents, real data dirs."""
import os
import subprocess
import time

from cluster import wait_for


def make_dir(c):
    """One member that took office once: its log holds the no-op of term 1, synced and
    acknowledged (office needs it committed)."""
    c.start("n1")
    c.wait_leader()
    time.sleep(0.2)
    c.kill("n1")
    return os.path.join(c.data_dir("n1"), "log")


def restart(c):
    try:
        return subprocess.run(c.argv("n1", bootstrap=False), capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None  # it started: the damage was "repaired"


def test_a_flipped_byte_in_the_last_acknowledged_record_exits_2(cluster_factory):
    c = cluster_factory(["n1"])
    log = make_dir(c)
    data = bytearray(open(log, "rb").read())
    data[-1] ^= 0xFF  # the last record's checksum
    open(log, "wb").write(bytes(data))
    for _ in range(2):
        r = restart(c)
        assert r is not None, "the agent repaired damage to an acknowledged record and started"
        assert r.returncode == 2 and "fsynced and acknowledged" in r.stderr, r.stderr
    assert open(log, "rb").read() == bytes(data), "nothing was cut"


def test_truncating_an_acknowledged_record_exits_2(cluster_factory):
    c = cluster_factory(["n1"])
    log = make_dir(c)
    size = os.path.getsize(log)
    os.truncate(log, size - 7)  # mid-record
    r = restart(c)
    assert r is not None and r.returncode == 2 and "fsynced and acknowledged" in r.stderr, r and r.stderr


def test_a_torn_append_after_the_last_sync_is_cut_and_the_member_runs(cluster_factory):
    c = cluster_factory(["n1"])
    log = make_dir(c)
    size = os.path.getsize(log)
    with open(log, "ab") as f:
        f.write(b"BTRC" + b"\x05\x00\x00\x00" + b"\x07" * 11)  # half a record header: a torn write
    c.start("n1", bootstrap=False)
    c.wait_leader()
    assert "never acknowledged" in c.log("n1")
    assert os.path.getsize(log) > size - 1  # cut back, then the new term's no-op appended


def test_a_data_dir_from_before_the_sync_marker_opens(cluster_factory):
    c = cluster_factory(["n1"])
    make_dir(c)
    os.unlink(os.path.join(c.data_dir("n1"), "synced"))  # as the previous release left it
    c.start("n1", bootstrap=False)
    c.wait_leader()
    assert "log records are synced" in c.log("n1")
    assert os.path.exists(os.path.join(c.data_dir("n1"), "synced"))
