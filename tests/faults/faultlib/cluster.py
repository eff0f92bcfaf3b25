"""Real `baton agent` processes, each in its own network namespace, mount namespace and
(optionally) time namespace, plus the per-node delay proxies and the observer.

Every node has a *holder*: a `sleep` process that owns the node's private mount namespace
(where the full-disk node's data dir is a small tmpfs) and its time namespace (a constant
CLOCK_BOOTTIME/CLOCK_MONOTONIC offset). Agents are started into the holder's namespaces
with nsenter, so a restarted agent finds the same data dir and the same clock offset.
The harness reads the data dir through /proc/HOLDER/root.

Everything the harness does to a process is written to events.jsonl with the host's
CLOCK_BOOTTIME, for the checker.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from . import netns
from . import statefile

HERE = os.path.dirname(os.path.abspath(__file__))
FAULTS_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(FAULTS_DIR))
BATON = os.environ.get("BATON_BIN", os.path.join(REPO, ".build", "debug", "baton"))


# The proxies stand in for the network and the observer is the measuring instrument:
# neither should lose the CPU to whatever else runs on the machine (the agents keep the
# default priority, so a starved agent is still the agent's problem).
INFRA_NICE = ["nice", "-n", "-10"]


def boottime_ns():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def build_shims(out_dir):
    """Compiles the fsync-failure shim and the hook recorder (once per source change)."""
    os.makedirs(out_dir, exist_ok=True)
    built = {}
    for name, args in (("fsyncfail.so", ["-shared", "-fPIC"]), ("hookrec", [])):
        src = os.path.join(FAULTS_DIR, "shim", name.split(".")[0] + ".c")
        dst = os.path.join(out_dir, name)
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            libs = ["-ldl"] if name.endswith(".so") else []
            netns.run(["gcc", "-O2", "-Wall"] + args + ["-o", dst, src] + libs)
        built[name] = dst
    return built


def agent_supports_hooks():
    out = subprocess.run([BATON, "agent", "--help"], capture_output=True, text=True)
    return "--on-promote" in out.stdout + out.stderr


class Node:
    def __init__(self, name, index, run_dir, boot_offset_s=0, tmpfs_kb=0):
        self.name = name
        self.index = index
        self.ns = netns.node_ns(name)
        self.addr = netns.node_addr(index)
        self.dir = os.path.join(run_dir, name)
        self.data_dir = os.path.join(self.dir, "data")
        self.fsync_flag = os.path.join(self.dir, "fsync-fail")
        self.delay_file = os.path.join(self.dir, "delays.json")
        self.hook_file = os.path.join(self.dir, "hooks.log")
        self.boot_offset_s = boot_offset_s
        self.tmpfs_kb = tmpfs_kb
        self.holder_launcher = None
        self.holder_pid = None
        self.proc = None
        self.incarnation = 0
        self.paused = False
        self.started_once = False
        self.last_state = None
        # Membership (faultlib/members.py): the next start founds a group (--bootstrap)
        # only on the first start, or after a wipe that the nemesis restarts that way.
        self.bootstrap_next = True
        self.wipes = 0
        # held: the nemesis manages this node's process itself (it is being replaced,
        # or was removed), so the "restart whatever died" sweep leaves it alone.
        self.held = False
        self.refused = False  # wiped and not yet removed: its peers refuse it

    @property
    def host_data_dir(self):
        """The data dir as the harness sees it: through the holder's mount namespace."""
        return f"/proc/{self.holder_pid}/root{self.data_dir}"

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, run_dir, names, settings, seed, hooks=False, disk_node=None,
                 boot_offsets=None, extra_args=None):
        self.run_dir = run_dir
        self.names = list(names)
        self.settings = settings  # dict: election_timeout (ms, ms), heartbeat ms, drift, margin
        self.seed = seed
        self.hooks = hooks
        os.makedirs(run_dir, exist_ok=True)
        offsets = boot_offsets or {}
        self.nodes = {n: Node(n, i + 1, run_dir, offsets.get(n, 0), 2048 if n == disk_node else 0)
                      for i, n in enumerate(self.names)}
        self.disk_node = disk_node
        self.extra_args = extra_args or {}
        self.net = netns.Network(self.names)
        self.events = open(os.path.join(run_dir, "events.jsonl"), "a", buffering=1)
        self.helpers = []  # proxies and observer (Popen)
        self.shims = build_shims(os.path.join(FAULTS_DIR, ".build"))
        self.secret = os.path.join(run_dir, "secret")
        with open(self.secret, "wb") as f:
            f.write(os.urandom(32))
        # The members endpoints are admin endpoints: the harness reaches the agents'
        # API from the bridge namespace (not loopback), so it holds their admin token.
        self.admin_token = os.path.join(run_dir, "admin-token")
        with open(self.admin_token, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        self.unexpected_exits = []
        # Per-node election timeout (lo, hi) overrides; only the checker's self-test uses
        # them, to run a deliberately unsafe cluster.
        self.node_timeouts = {}

    # History

    def event(self, ev_name, **fields):
        fields.update(t=boottime_ns(), ev=ev_name)
        self.events.write(json.dumps(fields) + "\n")
        return fields["t"]

    # Set-up and tear-down

    def setup(self):
        self.net.setup()
        et = self.settings["election_timeout"]
        self.event("config", nodes=self.names, seed=self.seed, election_timeout_ms=list(et),
                   heartbeat_ms=self.settings["heartbeat"], drift=self.settings["drift"],
                   margin_ms=self.settings["margin"], hooks=self.hooks, disk_node=self.disk_node,
                   boot_offsets_s={n: self.nodes[n].boot_offset_s for n in self.names})
        for node in self.nodes.values():
            os.makedirs(node.data_dir, exist_ok=True)
            self._start_holder(node)
            self._start_proxy(node)
        self._start_observer()

    def _start_holder(self, node):
        script = "set -e; "
        if node.tmpfs_kb:
            script += f"mount -t tmpfs -o size={node.tmpfs_kb}k bfz-disk {node.data_dir}; "
        script += "echo ready; exec sleep 2147483647"
        time_args = []
        if node.boot_offset_s:
            off = str(node.boot_offset_s)
            time_args = ["--time", "--boottime", off, "--monotonic", off]
        p = subprocess.Popen(["ip", "netns", "exec", node.ns, "unshare", "-m", "--propagation", "private"]
                             + time_args + ["--fork", "--kill-child", "sh", "-c", script],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"holder for {node.name} did not start: {line} {p.stdout.read()}")
        # ip netns exec execs unshare, so p.pid is unshare; the holder is its only child.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            if kids:
                node.holder_pid = int(kids[0])
                break
            time.sleep(0.01)
        node.holder_launcher = p
        self.helpers.append(p)

    def _start_proxy(self, node):
        routes = [f"{7100 + other.index}={other.name}={other.addr}:{netns.PEER_PORT}"
                  for other in self.nodes.values() if other is not node]
        log = open(os.path.join(node.dir, "proxy.log"), "a")
        p = subprocess.Popen(INFRA_NICE + ["ip", "netns", "exec", node.ns, sys.executable, "-m", "faultlib.proxy",
                              node.delay_file, str(self.seed * 100 + node.index)] + routes,
                             cwd=FAULTS_DIR, stdout=subprocess.PIPE, stderr=log, text=True)
        if p.stdout.readline().strip() != "proxy ready":
            raise RuntimeError(f"proxy for {node.name} did not start (see {node.dir}/proxy.log)")
        self.helpers.append(p)

    def _start_observer(self):
        targets = [f"{n.name}={n.addr}:{netns.API_PORT}" for n in self.nodes.values()]
        self.now_file = os.path.join(self.run_dir, "observer.now")
        log = open(os.path.join(self.run_dir, "observer.err"), "a")
        p = subprocess.Popen(INFRA_NICE + ["ip", "netns", "exec", netns.BRIDGE_NS, sys.executable, "-m", "faultlib.observer",
                              os.path.join(self.run_dir, "observer.log"), self.now_file, "20"] + targets,
                             cwd=FAULTS_DIR, stdout=log, stderr=log)
        self.helpers.append(p)

    def teardown(self):
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGKILL)
                node.proc.wait()
        for p in self.helpers:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.net.teardown()
        self.events.close()

    # Agents

    def peers_for(self, node):
        parts = []
        for other in self.nodes.values():
            if other is node:
                parts.append(f"{other.name}={other.addr}:{netns.PEER_PORT}")
            else:
                parts.append(f"{other.name}=127.0.0.1:{7100 + other.index}")
        return ",".join(parts)

    def argv(self, node):
        lo, hi = self.node_timeouts.get(node.name, self.settings["election_timeout"])
        args = ["nsenter", "-t", str(node.holder_pid), "-m", "-n"]
        if node.boot_offset_s:
            args.append("-T")
        args += ["--", BATON, "agent", "--id", node.name, "--peers", self.peers_for(node),
                 "--peer-listen", f"{node.addr}:{netns.PEER_PORT}",
                 "--peer-advertise", f"{node.addr}:{netns.PEER_PORT}",
                 "--api-listen", f"{node.addr}:{netns.API_PORT}",
                 "--data-dir", node.data_dir, "--cluster-secret-file", self.secret,
                 "--log-format", "json", "--election-timeout", f"{lo}ms..{hi}ms",
                 "--heartbeat-interval", f"{self.settings['heartbeat']}ms",
                 "--max-drift", str(self.settings["drift"]),
                 "--admin-token-file", self.admin_token]
        if node.bootstrap_next:
            args.append("--bootstrap")
        if self.hooks:
            rec = self.shims["hookrec"]
            cmd = f"{rec} {node.hook_file} {node.incarnation}"
            args += ["--on-promote", cmd, "--on-demote", cmd]
        return args + list(self.extra_args.get(node.name, ()))

    def start(self, node):
        node.incarnation += 1
        log_path = os.path.join(node.dir, f"agent.{node.incarnation}.log")
        log = open(log_path, "ab")
        env = dict(os.environ, LD_PRELOAD=self.shims["fsyncfail.so"], BFZ_FSYNC_FLAG=node.fsync_flag)
        node.proc = subprocess.Popen(self.argv(node), stdout=log, stderr=log, env=env)
        node.paused = False
        node.started_once = True
        bootstrap, node.bootstrap_next = node.bootstrap_next, False
        self.event("start", node=node.name, pid=node.proc.pid, inc=node.incarnation, log=log_path,
                   boot_offset_s=node.boot_offset_s, bootstrap=bootstrap)

    def start_all(self):
        for node in self.nodes.values():
            self.start(node)

    def _after_exit(self, node, how, signal_t=None):
        code = node.proc.returncode
        extra = {} if signal_t is None else {"signal_t": signal_t}
        t = self.event("exit", node=node.name, pid=node.proc.pid, inc=node.incarnation, how=how, code=code, **extra)
        node.proc = None
        node.paused = False
        self.read_state(node)
        return t

    def read_state(self, node):
        try:
            st = statefile.read(node.host_data_dir)
            if st is None:
                self.event("state", node=node.name, inc=node.incarnation, missing=True)
            else:
                self.event("state", node=node.name, inc=node.incarnation, term=st[0], vote=st[1], commit=st[2])
        except (statefile.StateError, OSError) as e:
            self.event("state", node=node.name, inc=node.incarnation, error=str(e))

    def kill(self, node, how="kill"):
        """kill -9. `signal_t` is read as kill(2) returns: the target runs no user code
        after that (a CPU running it is interrupted at once; microseconds, not the
        milliseconds a loaded machine takes to schedule our waitpid). The exit event's
        own time is after the process was reaped."""
        if not node.alive:
            return None
        os.kill(node.proc.pid, signal.SIGKILL)
        signal_t = boottime_ns()
        node.proc.wait()
        return self._after_exit(node, how, signal_t)

    def terminate(self, node, grace=10.0):
        """SIGTERM (the agent hands over and exits); SIGKILL after `grace` seconds."""
        if not node.alive:
            return None
        if node.paused:
            self.resume(node)
        self.event("term", node=node.name, pid=node.proc.pid, inc=node.incarnation)
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(timeout=grace)
            how = "term"
        except subprocess.TimeoutExpired:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
            how = "term-timeout-kill"
        return self._after_exit(node, how)

    def pause(self, node):
        """SIGSTOP; the event's time is taken once /proc shows the process stopped."""
        if not node.alive or node.paused:
            return None
        pid = node.proc.pid
        os.kill(pid, signal.SIGSTOP)
        signal_t = boottime_ns()  # as for kill: the target runs no user code after this
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                    break
            time.sleep(0.0005)
        node.paused = True
        self.event("stop", node=node.name, pid=pid, inc=node.incarnation, signal_t=signal_t)
        return signal_t

    def resume(self, node):
        if not node.alive or not node.paused:
            return None
        t = self.event("cont", node=node.name, pid=node.proc.pid, inc=node.incarnation)
        os.kill(node.proc.pid, signal.SIGCONT)
        node.paused = False
        return t

    def reap_unexpected(self):
        """Notes agents that exited on their own (a crash or a fatal storage error)."""
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is not None:
                code = node.proc.returncode
                self.unexpected_exits.append((node.name, node.incarnation, code))
                self._after_exit(node, "unexpected")

    def wipe(self, node, bootstrap=False):
        """Empties a stopped node's data dir (a replaced disk, a pod back with an empty
        volume). Its next start has a new incarnation, with --bootstrap if asked."""
        assert not node.alive, "wipe a running agent's data dir"
        root = node.host_data_dir
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        node.wipes += 1
        node.bootstrap_next = bootstrap
        self.event("wipe", node=node.name, inc=node.incarnation, wipes=node.wipes, bootstrap=bootstrap)

    # Disk faults

    def fail_fsync(self, node, on=True):
        if on:
            open(node.fsync_flag, "w").close()
        elif os.path.exists(node.fsync_flag):
            os.unlink(node.fsync_flag)

    def fill_disk(self, node, on=True):
        """Fills the node's tmpfs data dir with a filler file (ENOSPC for the agent)."""
        filler = os.path.join(node.host_data_dir, "bfz-filler")
        if on:
            try:
                with open(filler, "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
            except OSError:
                pass
        elif os.path.exists(filler):
            os.unlink(filler)

    # Delays (through the proxies)

    def set_delays(self, table_by_node):
        """table_by_node: {node: {target: [base_ms, jitter_ms]}}; missing nodes get none."""
        for node in self.nodes.values():
            tmp = node.delay_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(table_by_node.get(node.name, {}), f)
            os.replace(tmp, node.delay_file)

    # Observation

    def current_leader(self, max_age_ms=300):
        try:
            with open(self.now_file) as f:
                latest = json.load(f)
        except (OSError, ValueError):
            return None
        now = boottime_ns()
        leaders = [n for n, v in latest.items()
                   if v.get("in_office") and now - v.get("t", 0) < max_age_ms * 1_000_000]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            leader = self.current_leader()
            if leader:
                return leader
            time.sleep(0.02)
        return None
