"""free_port(): a loopback port for a test process to hand to an agent or an etcd member."""
import os
import random
import socket
import time

_ports_given = set()
_port_picker = random.Random(os.getpid() ^ time.time_ns())


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(v) for v in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback port that is free now and lies outside the kernel's ephemeral range.

    A port picked by binding to port 0 comes from the ephemeral range, and so does the
    local port of every outgoing connection: the tests' own HTTP polls and the agents'
    dials take hundreds a second, and one of them may take the port in the moment
    before the agent binds it. The agent then exits with EADDRINUSE, and a new group,
    whose first election needs every founder, never elects (seen in CI). Ports below
    the ephemeral range are handed out only here, each once per test process."""
    lo, hi = _ephemeral_range()
    span = (10_000, lo) if lo - 10_000 >= 5_000 else (hi + 1, 65_536)
    for _ in range(2_000):
        port = _port_picker.randrange(*span)
        if port in _ports_given:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {span[0]}..{span[1] - 1}")
