"""Membership changes for the nemesis, through the real client: `baton members add`,
`baton members remove` and `baton members --json`, run in the bridge namespace against
an agent's API with the run's admin token (the agents' APIs are not on loopback).

Every attempt is recorded in events.jsonl (`member-op`: op, node, exit status, the
client's message, seconds), and an operation that never reached its goal within its
bound is recorded as `member-op-failed` and kept in `failures`, so the run reports it
(a failed change is never silently dropped). One change at a time: the nemesis waits for
each to commit (or to fail) before it does anything else, and a `409` (a change in
flight, the leader's own promotion of a learner) or a moved leadership is retried until
the bound; after a failed attempt the stored membership is read back, because a change
whose answer was lost may have committed anyway.
"""
import json
import subprocess
import time

from . import netns
from .cluster import BATON

ATTEMPT_TIMEOUT_S = 25.0   # one client call (it waits for the commit; 20 s per request)
OP_BOUND_S = 40.0          # one operation, all attempts
VOTER_BOUND_S = 20.0       # an added member caught up and promoted to voter


class MemberOps:
    def __init__(self, cluster):
        self.c = cluster
        self.failures = []   # (op, node, reason)
        self.counts = {}     # op -> committed operations
        self.op_bound_s = OP_BOUND_S

    # The client

    def _api_of(self, node):
        return f"{node.addr}:{netns.API_PORT}"

    def _contacts(self, avoid=()):
        """Running, unpaused agents to send a request through, the leader first."""
        c = self.c
        leader = c.current_leader()
        names = ([leader] if leader else []) + [n for n in c.names if n != leader]
        return [c.nodes[n] for n in names if n not in avoid and c.nodes[n].alive and not c.nodes[n].paused]

    def client(self, args, via):
        """Runs `baton ARGS --api VIA` in the bridge namespace: (status, message, seconds);
        status None means the call did not finish within ATTEMPT_TIMEOUT_S."""
        argv = (["ip", "netns", "exec", netns.BRIDGE_NS, BATON] + args
                + ["--api", self._api_of(via), "--token-file", self.c.admin_token])
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=ATTEMPT_TIMEOUT_S)
            return r.returncode, (r.stdout + r.stderr).strip(), time.monotonic() - t0
        except subprocess.TimeoutExpired:
            return None, f"no answer within {ATTEMPT_TIMEOUT_S:.0f} s", time.monotonic() - t0

    def read(self, via):
        """The stored membership as `via` sees it (GET /members), or None."""
        argv = ["ip", "netns", "exec", netns.BRIDGE_NS, BATON, "members", "--json", "--api", self._api_of(via)]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return json.loads(r.stdout) if r.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError):
            return None

    def roles(self, avoid=()):
        """{name: role} of the configuration in force, read from the leader if one is
        known (else from any running member that answers), or None."""
        for via in self._contacts(avoid):
            m = self.read(via)
            if m is not None and m.get("membership") not in ("removed", "waiting-to-be-added"):
                return {x["name"]: x["role"] for x in m.get("members", [])}
        return None

    # Operations

    def _change(self, op, node, args, settled, avoid=()):
        """Sends one change until it committed or `settled()` shows it took effect,
        within OP_BOUND_S. Returns True when done; records a failure otherwise."""
        c = self.c
        end = time.monotonic() + self.op_bound_s
        attempts = 0
        last = "no running member to send it to"
        while time.monotonic() < end:
            contacts = self._contacts(avoid)
            if not contacts:
                time.sleep(0.3)
                continue
            attempts += 1
            status, msg, secs = self.client(args, contacts[0])
            c.event("member-op", op=op, node=node.name, via=contacts[0].name, attempt=attempts,
                    code=status, message=msg[-300:], secs=round(secs, 2))
            if status == 0:
                self.counts[op] = self.counts.get(op, 0) + 1
                return True
            last = f"exit {status}: {msg[-200:]}" if status is not None else msg
            # A lost answer may hide a committed change; a 409 or an election passes.
            if settled():
                self.counts[op] = self.counts.get(op, 0) + 1
                c.event("member-op", op=op, node=node.name, settled=True)
                return True
            time.sleep(0.5)
        reason = f"{op} {node.name} not done after {attempts} attempts in {self.op_bound_s:g} s (last: {last})"
        self.failures.append((op, node.name, reason))
        c.event("member-op-failed", op=op, node=node.name, reason=reason)
        return False

    def remove(self, node):
        def settled():
            roles = self.roles(avoid=(node.name,))
            return roles is not None and node.name not in roles
        return self._change("remove", node, ["members", "remove", node.name], settled, avoid=(node.name,))

    def add(self, node):
        args = ["members", "add", node.name, f"{node.addr}:{netns.PEER_PORT}",
                "--api-address", self._api_of(node)]

        def settled():
            roles = self.roles(avoid=(node.name,))
            return roles is not None and node.name in roles
        return self._change("add", node, args, settled, avoid=(node.name,))

    def wait_voter(self, node, bound=VOTER_BOUND_S):
        """Waits until the group lists `node` as a voter (promoted once caught up)."""
        end = time.monotonic() + bound
        while time.monotonic() < end:
            roles = self.roles(avoid=(node.name,))
            if roles is not None and roles.get(node.name) == "voter":
                self.c.event("member-voter", node=node.name)
                return True
            time.sleep(0.25)
        reason = f"{node.name} not a voter {bound:.0f} s after it was added (roles {self.roles()})"
        self.failures.append(("promote", node.name, reason))
        self.c.event("member-op-failed", op="promote", node=node.name, reason=reason)
        return False
