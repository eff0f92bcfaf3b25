"""Real `baton agent` processes on loopback, for the multi-process tests.

Every agent gets its own data dir, peer port and API port; optional TCP proxies sit on
the peer links so a test can cut a node off (a blackhole, like a partition: connections
stay open and nothing arrives) and heal it again.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from freeport import free_port  # noqa: E402  (re-exported: the tests import it from here)

BATON = os.environ.get("BATON_BIN", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "baton"))


def records(path):
    """The JSON lines hookrec.py appended to `path` (none when it does not exist yet)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_for(pred, timeout, what, interval=0.02):
    """pred()'s first true value, polled every `interval` s; AssertionError naming `what` after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class Proxy:
    """A TCP forwarder on loopback whose traffic can be blackholed and restored."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=1)
                upstream.settimeout(None)  # a link may be quiet one way for long
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        while not self.closed:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if self.cut:
                continue  # blackhole: swallow, like a partitioned network
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.listener.close()


class Cluster:
    def __init__(self, tmp, names, witnesses=(), secret=b"s" * 32, proxies=False, extra=(), founders=None):
        self.tmp = str(tmp)
        self.names = list(names)
        # founders: the members --bootstrap founds the group with (every name, unless
        # some are to join later with 'baton members add'); each agent's --peers lists
        # them and itself.
        self.founders = list(founders) if founders is not None else list(names)
        self.witnesses = set(witnesses)
        self.peer_port = {n: free_port() for n in names}
        self.api_port = {n: free_port() for n in names}
        self.secret_file = os.path.join(self.tmp, "secret")
        with open(self.secret_file, "wb") as f:
            f.write(secret)
        self.procs = {}
        self.extra = list(extra)
        # proxy[(a, b)] carries a's connections to b.
        self.proxy = {}
        if proxies:
            for a in names:
                for b in names:
                    if a != b:
                        self.proxy[(a, b)] = Proxy(self.peer_port[b])

    def peers_for(self, name):
        parts = []
        for n in self.names:
            if n not in self.founders and n != name:
                continue
            port = self.peer_port[n] if n == name or not self.proxy else self.proxy[(name, n)].port
            parts.append(f"{n}=127.0.0.1:{port}")
        return ",".join(parts)

    def data_dir(self, name):
        return os.path.join(self.tmp, f"data-{name}")

    def argv(self, name, bootstrap=True, extra=(), peers=None):
        args = [BATON, "agent", "--id", name, "--peers", peers or self.peers_for(name),
                "--peer-listen", f"127.0.0.1:{self.peer_port[name]}",
                "--api-listen", f"127.0.0.1:{self.api_port[name]}",
                "--data-dir", self.data_dir(name), "--cluster-secret-file", self.secret_file]
        if bootstrap:
            args.append("--bootstrap")
        if name in self.witnesses:
            args.append("--witness")
        return args + self.extra + list(extra)

    def start(self, name, bootstrap=True, extra=(), peers=None):
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(self.argv(name, bootstrap, extra, peers), stdout=log, stderr=log)
        return self.procs[name]

    def start_all(self):
        for n in self.names:
            self.start(n)
        # The next wait_leader also waits for the new group to bind its founders'
        # incarnations: until then an election needs every founder, so a test that kills
        # the first leader at once would wait for it to come back (design S6).
        self.forming = True

    def send_signal(self, name, sig):
        """Sends `sig` to a running member and leaves it in the cluster (SIGSTOP, SIGCONT, SIGHUP)."""
        self.procs[name].send_signal(sig)

    def kill(self, name, sig=signal.SIGKILL):
        """Sends `sig` (a signal that ends the process) and waits for the member to exit."""
        p = self.procs.pop(name)
        p.send_signal(sig)
        p.wait(timeout=10)

    def stop_all(self):
        for name in list(self.procs):
            self.kill(name)
        for p in self.proxy.values():
            p.close()

    def log(self, name):
        with open(os.path.join(self.tmp, f"{name}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def get(self, name, path="/leader", timeout=1.0):
        """(status, headers dict, parsed JSON or None); (None, …) when unreachable."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.api_port[name], timeout=timeout)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            return r.status, dict(r.getheaders()), data
        except OSError:
            return None, {}, None

    def in_office(self):
        """Names of the live nodes whose /leader says this node is in office."""
        out = []
        for n in self.procs:
            status, _, data = self.get(n)
            if status == 200 and data and data.get("self"):
                out.append((n, data["term"]))
        return out

    def wait_leader(self, timeout=5.0, exclude=()):
        if getattr(self, "forming", False):
            self.forming = False
            self.wait_bound(timeout=max(timeout, 5.0))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            office = [o for o in self.in_office() if o[0] not in exclude]
            if len(office) == 1:
                return office[0]
            time.sleep(0.01)
        raise AssertionError(f"no single leader in office within {timeout}s: {self.in_office()}{self.exited_report()}")

    def exited_report(self):
        """For a failure message: the members whose process has ended, with their log's last
        lines (a member that could not start explains a group that cannot elect)."""
        lines = []
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = self.log(name).strip().splitlines()[-5:]
                lines.append(f"\n  {name} exited with {p.returncode}:\n    " + "\n    ".join(tail))
        return "".join(lines)

    def wait_bound(self, timeout=5.0):
        """The leader once its membership binds every member's incarnation: from then on
        a majority elects (a group just bootstrapped needs every founding member for its
        first election, design S6)."""
        def bound():
            leader, _ = self.wait_leader(timeout=timeout)
            # Every running member holds the binding (a configuration is in force once
            # appended), so any majority of them can elect the next leader.
            for n in list(self.procs):
                status, _, data = self.get(n, "/members")
                if status != 200 or not all(m["incarnation"] for m in data["members"]):
                    return None
                # ...and knows the binding committed (a follower learns it with the next
                # heartbeat): no change left in progress anywhere.
                if data.get("change_in_progress"):
                    return None
            return leader
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            leader = bound()
            if leader:
                return leader
            time.sleep(0.02)
        raise AssertionError(f"the membership was not bound within {timeout}s{self.exited_report()}")

    def form(self, *names, timeout=10.0):
        """Starts every founding member (a new group's first election needs all of them),
        waits for the first leader to bind their incarnations, then stops the members not
        in `names` (SIGTERM), leaving a running group of the rest."""
        for n in self.founders:
            self.start(n)
        self.wait_bound(timeout=timeout)
        for n in self.founders:
            if names and n not in names:
                self.kill(n, signal.SIGTERM)
        return self.wait_leader(timeout=timeout)

    def members(self, name, *args, token_file=None):
        """Runs `baton members ARGS --api` against `name`'s API: (exit status, stdout, stderr)."""
        argv = [BATON, "members", *args, "--api", f"127.0.0.1:{self.api_port[name]}"]
        if token_file:
            argv += ["--token-file", token_file]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def member_list(self, name):
        status, _, data = self.get(name, "/members")
        assert status == 200, (status, data)
        return {m["name"]: m for m in data["members"]}

    def wait_round_trips(self, leader, timeout=5.0):
        """`leader`'s /status once every peer is reachable, has a measured round trip and
        has caught up with the log: what tests used to sleep "a few heartbeats" for."""
        def ready():
            status, _, s = self.get(leader, "/status")
            if status != 200 or not s or not s.get("in_office"):
                return None
            peers = s["peers"]
            if all(p["reachable"] and p["rtt_ms"] is not None and p["match_index"] == s["last_log_index"] for p in peers):
                return s
            return None
        return wait_for(ready, timeout, f"round trips from {leader} to every peer")

    def cut(self, name, on=True):
        """Blackholes every peer link to and from `name` (a partition)."""
        for (a, b), p in self.proxy.items():
            if name in (a, b):
                p.cut = on
