"""systemd wiring of a real agent: sd_notify on a real datagram socket set as
NOTIFY_SOCKET, and --leader-unit against a private dbus-daemon with the mock systemd
manager of Tests/SystemdTests (StartUnit on promote, StopUnit at start-up and demote)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from cluster import BATON, Cluster, wait_for

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MOCK = os.path.join(ROOT, "Tests", "SystemdTests", "mock_systemd_manager.py")


def maps_of(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


class NotifySocket:
    """The receiving end systemd would hold: one datagram per sd_notify call."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, text)

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                return
            self.messages.append((time.monotonic(), data.decode()))

    def texts(self):
        self.drain()
        return [t for _, t in self.messages]


def test_notify_ready_after_startup_hook_status_watchdog_and_stopping(tmp_path, monkeypatch):
    n = NotifySocket(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "300000")  # WATCHDOG=1 every 150 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    done = tmp_path / "startup-done"
    env_file = tmp_path / "hook-env"
    hook = f"sh -c 'env > {env_file}; sleep 0.4; touch {done}'"
    c = Cluster(tmp_path, ["n1"])
    c.start("n1", extra=[f"--on-demote={hook}"])
    try:
        ready = wait_for(lambda: [t for t in n.texts() if "READY=1" in t], 10, "READY=1")
        # READY=1 waits for the start-up hook (and so for storage and the listeners).
        assert done.exists(), "READY=1 was sent before the start-up hook finished"
        # The notify protocol needs no libsystemd: without --leader-unit it is never mapped.
        assert "libsystemd" not in maps_of(c.procs["n1"].pid)
        assert "STATUS=" in ready[0]
        st = wait_for(lambda: (lambda r: r[2] if r[0] == 200 and r[2]["in_office"] else None)(c.get("n1", "/status")),
                      10, "n1 in office")
        wait_for(lambda: f"STATUS=leader, term {st['term']}" in n.texts(), 5, "STATUS=leader, term N")
        # The watchdog ticks from the loop at half of WATCHDOG_USEC.
        before = len([t for t in n.texts() if t == "WATCHDOG=1"])
        time.sleep(1.0)
        ticks = len([t for t in n.texts() if t == "WATCHDOG=1"]) - before
        assert 4 <= ticks <= 9, f"{ticks} WATCHDOG=1 in 1 s at a 150 ms interval"
        # Hooks do not inherit the notify variables (they would pose as the service).
        hook_env = env_file.read_text()
        assert "NOTIFY_SOCKET=" not in hook_env and "WATCHDOG_USEC=" not in hook_env
        c.procs["n1"].send_signal(signal.SIGTERM)
        assert c.procs["n1"].wait(timeout=20) == 0
        texts = n.texts()
        stop = [i for i, t in enumerate(texts) if "STOPPING=1" in t]
        assert stop, f"no STOPPING=1 in {texts[-5:]}"
        assert "WATCHDOG=1" not in texts[stop[0] + 1:], "watchdog kept ticking after STOPPING=1"
    finally:
        c.stop_all()


class PrivateBus:
    """A dbus-daemon of our own with the mock systemd manager owning org.freedesktop.systemd1."""

    def __init__(self, tmp):
        if not shutil.which("dbus-daemon"):
            pytest.fail("dbus-daemon missing: apt-get install dbus-daemon (scripts/test installs it)")
        self.calls = tmp / "calls"
        sock = tmp / "bus"
        self.address = f"unix:path={sock}"
        conf = tmp / "bus.conf"
        conf.write_text(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>{self.address}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>""")
        self.daemon = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(sock.exists, 10, "the private bus socket")
        ready = tmp / "mock-ready"
        self.mock = subprocess.Popen(["/usr/bin/python3", MOCK, "--address", self.address,
                                      "--calls", str(self.calls), "--ready", str(ready)])
        wait_for(lambda: ready.exists() or self.mock.poll() is not None, 20, "the mock manager")
        assert ready.exists(), "the mock systemd manager did not start (needs python3-dbus, python3-gi)"

    def lines(self):
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def close(self):
        for p in (self.mock, self.daemon):
            p.terminate()
            p.wait(timeout=10)


def test_leader_unit_stopped_at_startup_started_on_promote_stopped_on_shutdown(tmp_path, monkeypatch):
    bus = PrivateBus(tmp_path)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    c = Cluster(tmp_path, ["n1"])
    c.start("n1", extra=["--leader-unit=app.service"])
    try:
        wait_for(lambda: any(l.startswith("StartUnit app.service replace") for l in bus.lines()), 15, "StartUnit")
        calls = [l.split()[0] for l in bus.lines()]
        assert calls[:2] == ["StopUnit", "StartUnit"], f"start-up stop, then start on promote: {calls}"
        status = wait_for(lambda: (lambda r: r[2] if r[0] == 200 and
                                   r[2]["hooks"]["last"].get("leader-unit", {}).get("result") == "exit 0" else None)(c.get("n1", "/status")),
                          10, "the leader-unit run in /status")
        assert status["hooks"]["failures"] == 0 and status["in_office"]
        assert "libsystemd.so.0" in maps_of(c.procs["n1"].pid), "sd-bus comes from libsystemd, loaded for --leader-unit"
        c.procs["n1"].send_signal(signal.SIGTERM)
        assert c.procs["n1"].wait(timeout=20) == 0
        assert [l.split()[0] for l in bus.lines()] == ["StopUnit", "StartUnit", "StopUnit"]
    finally:
        c.stop_all()
        bus.close()


def test_failing_leader_unit_counts_as_a_failed_promote(tmp_path, monkeypatch):
    bus = PrivateBus(tmp_path)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    c = Cluster(tmp_path, ["n1"])
    c.start("n1", extra=["--leader-unit=fail-app.service", "--log-format=json"])
    try:
        wait_for(lambda: any(l.startswith("StartUnit fail-app.service") for l in bus.lines()), 15, "StartUnit")

        def failed():
            for line in c.log("n1").splitlines():
                if line.startswith("{") and json.loads(line).get("event") == "promote-failed-resigning":
                    return True
            return False
        wait_for(failed, 10, "the failed unit start to resign like a failed promote hook")
        s = c.get("n1", "/status")[2]
        assert s["hooks"]["failures"] >= 1
        assert s["hooks"]["last"]["leader-unit"]["result"] != "exit 0"
    finally:
        c.stop_all()
        bus.close()


def test_the_c_target_is_checked_against_libsystemd_devs_headers(tmp_path):
    """Issue 17 point 9: CSystemd.c takes its sd-bus types from <systemd/sd-bus.h> and the
    native notify functions must match <systemd/sd-daemon.h>: a prototype or a call that
    does not match the real API does not compile."""
    import shutil
    cc = shutil.which("clang") or shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler"
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "CSystemd")
    source = open(os.path.join(root, "CSystemd.c")).read()
    header = open(os.path.join(root, "include", "CSystemd.h")).read()

    def compiles(src, hdr):
        inc = tmp_path / f"inc{len(list(tmp_path.iterdir()))}"
        inc.mkdir()
        (inc / "CSystemd.h").write_text(hdr)
        (inc / "CSystemd.c").write_text(src)
        r = subprocess.run([cc, "-fsyntax-only", "-Werror", "-Wall", f"-I{inc}", str(inc / "CSystemd.c")],
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0, r.stderr

    ok, err = compiles(source, header)
    assert ok, err
    # A call with a wrong argument type (a pointer where sd_bus_wait takes a uint64_t).
    bad = source.replace("bus.sd_bus_wait(BUS(b), timeout_usec)", "bus.sd_bus_wait(BUS(b), &timeout_usec)")
    assert bad != source
    ok, err = compiles(bad, header)
    assert not ok, "a call that does not match sd-bus.h compiled"
    # A native notify function whose signature drifts from sd-daemon.h's.
    drift = "int baton_sd_notify(int unset_environment, char *state)"
    bad_header = header.replace("int baton_sd_notify(int unset_environment, const char *state);", drift + ";")
    bad_source = source.replace("int baton_sd_notify(int unset_environment, const char *state) {", drift + " {")
    assert bad_header != header and bad_source != source
    ok, err = compiles(bad_source, bad_header)
    assert not ok and "sd-daemon.h" in err, err
    # The binary itself never links libsystemd (it is dlopen'ed for --leader-unit only).
    r = subprocess.run(["readelf", "-d", BATON], capture_output=True, text=True)
    if r.returncode == 0:
        assert "libsystemd" not in r.stdout, r.stdout
