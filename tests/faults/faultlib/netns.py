"""Network namespaces for the fault harness: one namespace per node, joined by a bridge
that lives in a namespace of its own, so partitions, loss and duplication are nft rules
inside a node's namespace and never touch the host's network.

Layout (N nodes, K = 1..N):
    bfz-br   bridge br0 with 10.213.0.254/24 (the observer's address)
    bfz-nK   eth0 = 10.213.0.K/24, the other end (vK) enslaved to br0 in bfz-br

Everything this module creates carries the prefix `bfz-`, so a crashed earlier run can
be cleaned up by name (`cleanup_leftovers`). Nothing is added to the host namespace.
"""
import os
import signal
import subprocess
import time

PREFIX = os.environ.get("BFZ_PREFIX", "bfz-")  # a second harness at once needs its own
BRIDGE_NS = PREFIX + "br"
SUBNET = "10.213.0"
OBSERVER_ADDR = SUBNET + ".254"
PEER_PORT = 7000
API_PORT = 8000


def node_ns(name):
    return PREFIX + name


def node_addr(index):
    """Address of node number `index` (1-based)."""
    return f"{SUBNET}.{index}"


def run(args, check=True, input=None):
    r = subprocess.run(args, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def list_namespaces():
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def kill_namespace_processes(ns):
    """SIGKILL every process inside `ns` (SIGKILL also ends stopped processes)."""
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    return len(pids)


def cleanup_leftovers(verbose=True):
    """Removes every bfz- namespace and the processes inside it (from a crashed run)."""
    found = [ns for ns in list_namespaces() if ns.startswith(PREFIX)]
    for ns in found:
        kill_namespace_processes(ns)
    if found:
        time.sleep(0.2)  # let the killed processes release the namespaces
    for ns in found:
        run(["ip", "netns", "del", ns], check=False)
    if found and verbose:
        print(f"faults: removed {len(found)} namespaces left by an earlier run: {' '.join(found)}", flush=True)
    return found


class Network:
    """The bridge namespace and one namespace per node."""

    def __init__(self, names):
        self.names = list(names)
        self.addr = {n: node_addr(i + 1) for i, n in enumerate(self.names)}
        # Desired nft state per node, re-rendered whole on every change.
        self.blocked_from = {n: set() for n in self.names}  # drop input from these nodes
        self.loss = {n: 0 for n in self.names}  # % of peer packets dropped on input
        self.dup = {n: 0 for n in self.names}   # % of peer packets duplicated on output

    def setup(self):
        run(["ip", "netns", "add", BRIDGE_NS])
        self.exec_in(BRIDGE_NS, ["ip", "link", "set", "lo", "up"])
        self.exec_in(BRIDGE_NS, ["ip", "link", "add", "br0", "type", "bridge"])
        self.exec_in(BRIDGE_NS, ["ip", "addr", "add", OBSERVER_ADDR + "/24", "dev", "br0"])
        self.exec_in(BRIDGE_NS, ["ip", "link", "set", "br0", "up"])
        for i, n in enumerate(self.names):
            ns = node_ns(n)
            run(["ip", "netns", "add", ns])
            self.exec_in(ns, ["ip", "link", "set", "lo", "up"])
            # Create the pair inside the bridge namespace, then move one end to the node.
            self.exec_in(BRIDGE_NS, ["ip", "link", "add", f"v{i + 1}", "type", "veth", "peer", "name", "eth0", "netns", ns])
            self.exec_in(BRIDGE_NS, ["ip", "link", "set", f"v{i + 1}", "master", "br0", "up"])
            self.exec_in(ns, ["ip", "addr", "add", self.addr[n] + "/24", "dev", "eth0"])
            self.exec_in(ns, ["ip", "link", "set", "eth0", "up"])
            self.render(n)

    def teardown(self):
        for ns in [BRIDGE_NS] + [node_ns(n) for n in self.names]:
            kill_namespace_processes(ns)
        time.sleep(0.1)
        for ns in [BRIDGE_NS] + [node_ns(n) for n in self.names]:
            run(["ip", "netns", "del", ns], check=False)

    @staticmethod
    def exec_in(ns, args, check=True, input=None):
        return run(["ip", "netns", "exec", ns] + args, check=check, input=input)

    def peer_addrs(self, n):
        return [self.addr[m] for m in self.names if m != n]

    def render(self, n):
        """Replaces node n's nft table with the current desired state."""
        inp, out = [], []
        if self.blocked_from[n]:
            addrs = ", ".join(sorted(self.addr[m] for m in self.blocked_from[n]))
            inp.append(f"ip saddr {{ {addrs} }} drop")
        peers = ", ".join(self.peer_addrs(n))
        if self.loss[n] and peers:
            inp.append(f"ip saddr {{ {peers} }} numgen random mod 100 < {self.loss[n]} drop")
        if self.dup[n]:
            for a in self.peer_addrs(n):
                out.append(f"ip daddr {a} numgen random mod 100 < {self.dup[n]} dup to {a}")
        text = ("table ip bfz\ndelete table ip bfz\ntable ip bfz {\n"
                " chain input { type filter hook input priority 0; policy accept;\n"
                + "".join(f"  {r}\n" for r in inp) + " }\n"
                " chain output { type filter hook output priority 0; policy accept;\n"
                + "".join(f"  {r}\n" for r in out) + " }\n}\n")
        self.exec_in(node_ns(n), ["nft", "-f", "-"], input=text)

    # Faults. Each changes the desired state and re-renders only the nodes it touches.

    def partition(self, side_a, side_b):
        for a in side_a:
            self.blocked_from[a] |= set(side_b)
            self.render(a)
        for b in side_b:
            self.blocked_from[b] |= set(side_a)
            self.render(b)

    def one_way(self, src, dst):
        """Packets from src to dst are dropped; dst to src still arrive."""
        self.blocked_from[dst].add(src)
        self.render(dst)

    def set_loss(self, nodes, pct):
        for n in nodes:
            self.loss[n] = pct
            self.render(n)

    def set_dup(self, nodes, pct):
        for n in nodes:
            self.dup[n] = pct
            self.render(n)

    def heal(self):
        for n in self.names:
            if self.blocked_from[n] or self.loss[n] or self.dup[n]:
                self.blocked_from[n] = set()
                self.loss[n] = 0
                self.dup[n] = 0
                self.render(n)
