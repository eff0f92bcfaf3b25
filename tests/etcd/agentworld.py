"""Real `baton agent --backend etcd` processes against real etcd members, recorded in the
fault suite's run-directory format so that its independent checker
(tests/faults/faultlib/checker.py, which shares no code with the agent) judges every run:
offices never overlap, tokens only grow, every "in office" answer an observer saw lies
inside a logged office, hooks run startup-first and in promote/demote pairs, and one
leader is back in office soon after the last fault healed.

The checker's lease arithmetic maps onto this engine with Emin = the lease TTL: an office
lasts until the send time of its last successful keep-alive + TTL·(1−d)/(1+d) − margin.
The agents run at --log-level debug, where they log every such deadline (`lease-renewed`)
before any answer can carry it, and the run says so (`renewals_logged`): a killed
holder's office ends at the last deadline it logged. (The Raft checker's bound, the kill
+ a lease, does not hold here: a successor waits for etcd to expire the lease, which
counts from the holder's last renewal, not from its death.)

Agents run on loopback ports, or (`Network`) each in a network namespace of its own with
etcd in another, so one agent can be cut off from etcd while the observer, in the bridge
namespace, still polls every agent.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAULTS = os.path.join(HERE, "..", "faults")
sys.path.insert(0, FAULTS)
# Namespaces of our own (`bez-…`): the fault suite's clean-up of leftovers removes every
# `bfz-…` namespace, and must never reach into a run of this suite, nor this one into its.
os.environ.setdefault("BFZ_PREFIX", "bez-")

from faultlib import cluster as faultcluster  # noqa: E402  (build_shims: the hook recorder)
from faultlib import netns  # noqa: E402
from faultlib.checker import Checker, History  # noqa: E402

from etcdharness import free_port, now_ns, wait_for  # noqa: E402

BATON = os.environ.get("BATON_BIN", os.path.join(HERE, "../../.build/debug/baton"))
DRIFT = 0.05
MARGIN_MS = 50  # EtcdElectionOptions.margin
S = 1_000_000_000


def keepalive_ms(ttl_s):
    """The election's default renewal interval: 49 % of TTL·(1−d)/(1+d) − margin."""
    return int((ttl_s * 1000 * (1 - DRIFT) / (1 + DRIFT) - MARGIN_MS) * 0.49)


def lease_ns(ttl_s):
    """How long an office outlives the send time of its last successful keep-alive."""
    return int(ttl_s * S * (1 - DRIFT) / (1 + DRIFT)) - MARGIN_MS * 1_000_000


class AgentNode:
    def __init__(self, name, run_dir, host, port, ns=None):
        self.name, self.host, self.port, self.ns = name, host, port, ns
        self.dir = os.path.join(run_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = os.path.join(self.dir, "data")
        self.hook_file = os.path.join(self.dir, "hooks.log")
        self.proc = None
        self.incarnation = 0
        self.log_path = None

    @property
    def api(self):
        return f"{self.host}:{self.port}"

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_lines(self):
        out = []
        try:
            with open(self.log_path, errors="replace") as f:
                for raw in f:
                    if raw.startswith("{"):
                        try:
                            out.append(json.loads(raw))
                        except ValueError:
                            pass
        except (FileNotFoundError, TypeError):
            pass
        return out

    def logged(self, event):
        return [l for l in self.log_lines() if l.get("event") == event]


class AgentRun:
    """A run directory: events.jsonl (what the harness did), one log per agent
    incarnation, each agent's hooks.log, and the observer's history."""

    def __init__(self, run_dir, names, endpoints, ttl=2, prefix="/baton/test", network=None, hooks=True, extra=()):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.ttl = ttl
        self.prefix = prefix
        self.endpoints = endpoints
        self.network = network
        self.extra = list(extra)
        self.events = open(os.path.join(run_dir, "events.jsonl"), "a", buffering=1)
        self.shims = faultcluster.build_shims(os.path.join(run_dir, "..", "shims")) if hooks else None
        self.nodes = {}
        for n in names:
            if network:
                self.nodes[n] = AgentNode(n, run_dir, network.addr[n], netns.API_PORT, ns=netns.node_ns(n))
            else:
                self.nodes[n] = AgentNode(n, run_dir, "127.0.0.1", free_port())
        self.observer = None
        self.event("config", nodes=list(names), election_timeout_ms=[ttl * 1000, ttl * 1000],
                   heartbeat_ms=keepalive_ms(ttl), drift=DRIFT, margin_ms=MARGIN_MS, boot_offsets_s={},
                   hooks=hooks, backend="etcd", renewals_logged=True)

    def event(self, ev, **kw):
        t = now_ns()
        self.events.write(json.dumps(dict(ev=ev, t=t, **kw)) + "\n")
        return t

    # Agents

    def argv(self, node):
        args = ([] if node.ns is None else ["ip", "netns", "exec", node.ns]) + [
            BATON, "agent", "--backend", "etcd", "--id", node.name, "--api-listen", node.api,
            "--data-dir", node.data_dir, "--etcd-endpoints", self.endpoints, "--etcd-prefix", self.prefix,
            "--etcd-lease-ttl", f"{self.ttl}s", "--log-format", "json", "--log-level", "debug"]
        if self.shims:
            cmd = f"{self.shims['hookrec']} {node.hook_file} {node.incarnation}"
            args += ["--on-promote", cmd, "--on-demote", cmd]
        return args + self.extra

    def start(self, node):
        node.incarnation += 1
        node.log_path = os.path.join(node.dir, f"agent.{node.incarnation}.log")
        log = open(node.log_path, "ab")
        node.proc = subprocess.Popen(self.argv(node), stdout=log, stderr=log)
        self.event("start", node=node.name, pid=node.proc.pid, inc=node.incarnation, log=node.log_path)

    def start_all(self):
        for node in self.nodes.values():
            self.start(node)

    def _exited(self, node, how, signal_t=None):
        extra = {} if signal_t is None else {"signal_t": signal_t}
        t = self.event("exit", node=node.name, pid=node.proc.pid, inc=node.incarnation, how=how,
                       code=node.proc.returncode, **extra)
        node.proc = None
        return t

    def kill(self, node):
        """kill -9; returns when kill(2) returned (the agent acts no more after it)."""
        os.kill(node.proc.pid, signal.SIGKILL)
        signal_t = now_ns()
        node.proc.wait()
        self._exited(node, "kill", signal_t)
        return signal_t

    def terminate(self, node, grace=10.0):
        t = self.event("term", node=node.name, pid=node.proc.pid, inc=node.incarnation)
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(timeout=grace)
            how = "term"
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()
            how = "term-timeout-kill"
        self._exited(node, how)
        return t

    def stop_all(self):
        for node in self.nodes.values():
            if node.alive:
                self.terminate(node)

    def kill_all(self):
        for node in self.nodes.values():
            if node.alive:
                node.proc.kill()
                node.proc.wait()
                self._exited(node, "end")

    # The observer (the fault suite's, unchanged): /leader and /is-leader every 20 ms

    def start_observer(self):
        history = os.path.join(self.run_dir, "observer.log")
        now_file = os.path.join(self.run_dir, "observer.now")
        targets = [f"{n.name}={n.api}" for n in self.nodes.values()]
        prefix = [] if self.network is None else ["ip", "netns", "exec", netns.BRIDGE_NS]
        self.now_file = now_file
        self.observer = subprocess.Popen(prefix + [sys.executable, "-m", "faultlib.observer", history, now_file, "20", *targets],
                                         cwd=FAULTS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_observer(self):
        if self.observer and self.observer.poll() is None:
            time.sleep(0.15)  # its last answers reach the file
            self.observer.kill()
            self.observer.wait()

    def observed(self):
        """The observer's latest answer per node: {name: {"in_office", "term", ...}}."""
        try:
            with open(self.now_file) as f:
                return json.load(f)
        except (OSError, ValueError, AttributeError):
            return {}

    def holders(self):
        """Agents whose latest /is-leader (at most ~120 ms old) said 200."""
        return sorted(n for n, o in self.observed().items() if o.get("in_office"))

    def one_holder(self, timeout, among=None):
        def find():
            h = [n for n in self.holders() if among is None or n in among]
            return h[0] if len(h) == 1 else None
        return self.nodes[wait_for(find, timeout, "exactly one agent in office")]

    def get(self, node, path):
        """GET from the agent's API (from the bridge namespace when agents have their own):
        (status, body bytes)."""
        if self.network is None:
            status, _, body = http_get(node.api, path)
            return status, body
        r = subprocess.run(["ip", "netns", "exec", netns.BRIDGE_NS, "curl", "-s", "-m", "2", "-w", "\n%{http_code}",
                            f"http://{node.api}{path}"], capture_output=True, timeout=5)
        body, _, code = r.stdout.rpartition(b"\n")
        return int(code or 0), body

    # Offices from the agents' own logs

    def office_enters(self, node=None):
        nodes = [node] if node else list(self.nodes.values())
        return sorted((l["boottime_ns"], n.name, l["token"]) for n in nodes for l in n.logged("office-enter"))

    def heal(self):
        """The last fault is over: the checker wants one leader within 2·TTL + a renewal
        interval from now, and no office change after that."""
        self.healed_at = self.event("heal-final")

    def finish(self, quiet_s=1.0):
        """Waits out the liveness bound and a quiet period, ends every agent and runs the
        fault suite's checker over the run; returns it (the caller asserts)."""
        bound_ns = 2 * self.ttl * S + keepalive_ms(self.ttl) * 1_000_000
        wait_s = (self.healed_at + bound_ns - now_ns()) / 1e9 + quiet_s
        if wait_s > 0:
            time.sleep(wait_s)
        self.event("end")
        self.stop_observer()
        self.kill_all()
        self.events.flush()
        return Checker(History(self.run_dir)).run()


def assert_clean(checker):
    assert not checker.violations, "\n".join(checker.violations + [f"stats {checker.stats}"])
    return checker.stats


def http_get(api, path, timeout=1.0):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{api}{path}", timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
