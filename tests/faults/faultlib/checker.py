"""The independent checker: reads a run's recorded history and reports every violation.
It shares no code with the agent: it reads the agents' JSON logs, the harness's own
record of what it did to each process (events.jsonl), the observer's answers, the hook
recorder's lines and the state files' readings.

All times are put on the host's CLOCK_BOOTTIME: a node in a time namespace logs its own
boottime, which is the host's plus the namespace's constant offset (recorded at start).

Office intervals. An office runs from the agent's `office-enter` to its `office-leave`.
The agent logs a lease deadline only when it enters office (renewals are not logged), so
for an office whose holder was killed, or paused for longer than its lease, the checker
ends the office at the latest lease the holder could have had when it stopped acting:
    stop_time + Emin·(1−d)/(1+d) − margin
(the lease runs from an echoed send time, and no send happens after the process stopped;
stop_time is read as kill(2) with SIGKILL or SIGSTOP returns). That
is never earlier than the true deadline, so an overlap found this way may be a false
alarm only when the successor's voters last heard the old leader well before it stopped
(lost heartbeats); the report prints the margin of every such case.

Usage: python3 -m faultlib.checker RUN_DIR   (exit 1 when there are violations)
"""
import json
import os
import sys

CRASH_SIGNALS = {-4: "SIGILL", -5: "SIGTRAP", -6: "SIGABRT", -7: "SIGBUS", -8: "SIGFPE", -11: "SIGSEGV"}
ELECTION_ROLES = {"candidate", "preCandidate"}


def ms(ns):
    return ns / 1e6


class Office:
    def __init__(self, node, inc, token, start, end, end_kind, deadline, last_deadline=None):
        self.node, self.inc, self.token = node, inc, token
        self.start, self.end, self.end_kind, self.deadline = start, end, end_kind, deadline
        # last_deadline: the latest lease deadline the agent logged for this office (its
        # enter or a `lease-renewed` line), when the run logs every renewal.
        self.last_deadline = last_deadline

    def __repr__(self):
        return f"{self.node}#{self.inc} token {self.token} [{self.start}, {self.end}] ({self.end_kind})"


class History:
    """What one run recorded, loaded from its directory."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.events = []
        with open(os.path.join(run_dir, "events.jsonl")) as f:
            for line in f:
                if line.strip():
                    self.events.append(json.loads(line))
        cfg = next(e for e in self.events if e["ev"] == "config")
        self.cfg = cfg
        self.nodes = cfg["nodes"]
        self.emin_ns = cfg["election_timeout_ms"][0] * 1_000_000
        self.emax_ns = cfg["election_timeout_ms"][1] * 1_000_000
        self.hb_ns = cfg["heartbeat_ms"] * 1_000_000
        d = cfg["drift"]
        self.lease_ns = int(self.emin_ns * (1 - d) / (1 + d)) - cfg["margin_ms"] * 1_000_000
        self.offset_ns = {n: int(cfg["boot_offsets_s"].get(n, 0)) * 1_000_000_000 for n in self.nodes}
        self.hooks = cfg.get("hooks", False)
        # renewals_logged: the agents log every move of an office's lease deadline
        # (`lease-renewed`, before any answer can announce it): a killed holder's office
        # then ends at the last deadline it logged. The etcd engine's successors do not
        # wait from the kill but from the holder's last renewal, so the kill-time bound
        # alone would report overlaps that cannot happen (tests/etcd/agentworld.py).
        self.renewals_logged = cfg.get("renewals_logged", False)
        # Incarnations: (node, inc) -> dict(start, log, exit, how, code, pauses)
        self.incs = {}
        for e in self.events:
            key = (e.get("node"), e.get("inc"))
            if e["ev"] == "start":
                self.incs[key] = {"start": e["t"], "log": e["log"], "exit": None, "how": None,
                                  "code": None, "pauses": [], "pid": e["pid"]}
            elif e["ev"] == "exit" and key in self.incs:
                # The process acted last when kill(2) returned (signal_t), for SIGKILL;
                # otherwise (a graceful exit, a crash) when it was reaped.
                self.incs[key].update(exit=e.get("signal_t", e["t"]), how=e["how"], code=e["code"])
            elif e["ev"] == "stop" and key in self.incs:
                self.incs[key]["pauses"].append([e.get("signal_t", e["t"]), None])
            elif e["ev"] == "cont" and key in self.incs and self.incs[key]["pauses"]:
                self.incs[key]["pauses"][-1][1] = e["t"]
        self.logs = {key: self._read_log(key, inc["log"]) for key, inc in self.incs.items()}

    def _read_log(self, key, path):
        lines = []
        off = self.offset_ns.get(key[0], 0)
        try:
            with open(path, errors="replace") as f:
                for raw in f:
                    raw = raw.strip()
                    if not raw.startswith("{"):
                        continue
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue
                    obj["host_ns"] = int(obj["boottime_ns"]) - off
                    lines.append(obj)
        except FileNotFoundError:
            pass
        return lines

    def event_time(self, kind):
        for e in self.events:
            if e["ev"] == kind:
                return e["t"]
        return None


class Checker:
    def __init__(self, history):
        self.h = history
        self.violations = []
        self.notes = []
        self.stats = {}
        self.offices = []

    def fail(self, what):
        self.violations.append(what)

    # Offices from the logs

    def build_offices(self):
        h = self.h
        for key, inc in h.incs.items():
            node, num = key
            open_office = None
            raw = []
            for line in h.logs[key]:
                ev = line.get("event")
                if ev == "office-enter":
                    token = int(line.get("token", line["term"]))
                    if open_office is not None:
                        self.fail(f"{node}#{num} entered office (token {token}) while still in office (token {open_office[0]})")
                    deadline = int(line["lease_deadline_boottime_ns"]) - h.offset_ns[node] if "lease_deadline_boottime_ns" in line else None
                    open_office = (token, line["host_ns"], deadline, deadline)
                    if deadline is not None and deadline - line["host_ns"] > h.lease_ns + 1_000_000:
                        self.fail(f"{node}#{num} token {token}: logged lease deadline {ms(deadline - line['host_ns']):.1f} ms after entering office, longer than the lease {ms(h.lease_ns):.1f} ms")
                elif ev == "lease-renewed" and h.renewals_logged and open_office is not None and int(line["token"]) == open_office[0]:
                    renewed = int(line["lease_deadline_boottime_ns"]) - h.offset_ns[node]
                    if renewed - line["host_ns"] > h.lease_ns + 1_000_000:
                        self.fail(f"{node}#{num} token {open_office[0]}: renewed lease deadline {ms(renewed - line['host_ns']):.1f} ms ahead, longer than the lease {ms(h.lease_ns):.1f} ms")
                    open_office = open_office[:3] + (max(open_office[3] or 0, renewed),)
                elif ev == "office-leave":
                    token = int(line.get("token", line["term"]))
                    if open_office is None or open_office[0] != token:
                        self.fail(f"{node}#{num} left office token {token} it was not in")
                        continue
                    raw.append((open_office[0], open_office[1], line["host_ns"], "leave", open_office[2], open_office[3]))
                    open_office = None
            if open_office is not None:
                raw.append((open_office[0], open_office[1], None, None, open_office[2], open_office[3]))
            for token, start, end, kind, deadline, last_deadline in raw:
                end, kind = self._cut(node, num, inc, token, start, end, kind, last_deadline)
                self.offices.append(Office(node, num, token, start, end, kind, deadline, last_deadline))
        self.offices.sort(key=lambda o: o.start)
        self.stats["offices"] = len(self.offices)

    def _cut(self, node, num, inc, token, start, end, kind, last_deadline=None):
        """Ends an office at the lease bound when its holder was paused past its lease or died."""
        h = self.h
        for stop, cont in inc["pauses"]:
            if stop < start or (end is not None and end <= stop):
                continue
            if cont is not None and stop + h.lease_ns >= cont:
                continue  # a pause shorter than the lease: the office may go on
            bound = stop + h.lease_ns
            # Woken after its lease lapsed, the agent must notice at once and leave.
            if cont is not None:
                late = (end if end is not None else (inc["exit"] or cont)) - cont
                if end is None and inc["exit"] is None:
                    late = None
                if late is None or late > h.emin_ns:
                    self.fail(f"{node}#{num} token {token}: still in office {ms(late) if late is not None else 'forever'} ms after waking from a {ms(cont - stop):.0f} ms pause (lease {ms(h.lease_ns):.0f} ms)")
            return (bound if end is None else min(end, bound)), "pause-lease-bound"
        if end is None:
            if inc["exit"] is None:
                return None, "running"
            if h.renewals_logged and last_deadline is not None:
                return min(inc["exit"] + h.lease_ns, last_deadline), f"{inc['how']}-logged-lease-bound"
            return inc["exit"] + h.lease_ns, f"{inc['how']}-lease-bound"
        return end, kind

    def check_overlaps(self):
        offices = self.offices
        far = max([o.end for o in offices if o.end is not None] + [0]) + 1
        overlaps = 0
        for i, a in enumerate(offices):
            a_end = a.end if a.end is not None else far
            for b in offices[i + 1:]:
                if b.start >= a_end:
                    break
                overlaps += 1
                self.fail(f"overlapping offices: {a.node}#{a.inc} token {a.token} (ends {a.end_kind}) and "
                          f"{b.node}#{b.inc} token {b.token} overlap by {ms(a_end - b.start):.1f} ms")
        self.stats["overlaps"] = overlaps

    def check_tokens(self):
        last = None
        for o in self.offices:
            if last is not None and o.token <= last.token:
                self.fail(f"token not increasing: {o.node}#{o.inc} entered office with token {o.token} after "
                          f"{last.node}#{last.inc} held token {last.token}")
            last = o

    def check_handovers(self):
        """Margin between the lease bound of a stopped holder and its successor (a figure)."""
        margins = []
        for a, b in zip(self.offices, self.offices[1:]):
            if a.end is not None and a.end_kind.endswith("lease-bound"):
                margins.append(b.start - a.end)
        if margins:
            self.stats["min_successor_margin_ms"] = round(ms(min(margins)), 1)

    # Observer: every "I am in office" answer must fall inside a logged office

    def check_observer(self):
        path = os.path.join(self.h.run_dir, "observer.log")
        claims = bad = 0
        by_node = {}
        for o in self.offices:
            by_node.setdefault(o.node, []).append(o)
        far = 1 << 62
        try:
            f = open(path)
        except FileNotFoundError:
            self.notes.append("no observer history")
            return
        with f:
            for line in f:
                parts = line.split()
                if len(parts) != 7 or parts[6] != "1":
                    continue
                ep, node, s, r, status, term = parts[0], parts[1], int(parts[2]), int(parts[3]), parts[4], parts[5]
                claims += 1
                token = int(term) if term.isdigit() else None
                ok = any(o.start <= r and s <= (o.end if o.end is not None else far)
                         and (token is None or o.token == token) for o in by_node.get(node, []))
                if not ok:
                    bad += 1
                    if bad <= 5:
                        self.fail(f"observer: {node} answered {'/is-leader' if ep == 'I' else '/leader'} in office "
                                  f"(term {term}) between {s} and {r}, outside every office its log records")
        if bad > 5:
            self.fail(f"observer: {bad - 5} more answers in office outside the logged offices")
        self.stats["observer_claims"] = claims

    # Hooks

    def check_hooks(self):
        if not self.h.hooks:
            self.notes.append("hooks not checked (the agent has no --on-promote)")
            return
        h = self.h
        lines = {}
        for node in h.nodes:
            path = os.path.join(h.run_dir, node, "hooks.log")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for raw in f:
                    p = raw.split()
                    if len(p) < 6:
                        continue
                    ev, inc, term = p[0], int(p[2]), int(p[3]) if p[3].isdigit() else None
                    off = h.offset_ns[node]
                    lines.setdefault((node, inc), []).append((int(p[4]) - off, int(p[5]) - off, ev, term))
        pairs = dup = missing = 0
        for key, inc in h.incs.items():
            node, num = key
            seq = sorted(lines.get(key, []))
            died = inc["how"] in ("kill", "unexpected", "term-timeout-kill", "end")
            # The start-up hook runs once, first, and finishes before the agent campaigns
            # (an agent killed before it got that far owes nothing).
            startups = [x for x in seq if x[2] == "startup"]
            if len(startups) > 1:
                dup += 1
                self.fail(f"hooks: {node}#{num} ran the startup hook {len(startups)} times")
            campaign = next((l["host_ns"] for l in h.logs[key]
                             if l.get("event") == "office-enter"
                             or (l.get("event") == "role" and l.get("role") in ELECTION_ROLES)), None)
            if campaign is not None:
                if not startups or startups[0][1] > campaign:
                    missing += 1
                    self.fail(f"hooks: {node}#{num} campaigned before its startup hook finished")
            if seq and startups and seq[0][2] != "startup":
                self.fail(f"hooks: {node}#{num} ran {seq[0][2]} before its startup hook")
            for (s1, e1, _, _), (s2, _, _, _) in zip(seq, seq[1:]):
                if s2 < e1:
                    self.fail(f"hooks: {node}#{num} ran two hooks at once")
            promoted = None
            for s, e, ev, term in seq:
                if ev == "promote":
                    if promoted is not None:
                        dup += 1
                        self.fail(f"hooks: {node}#{num} promote (term {term}) while the promote of term {promoted} had no demote")
                    promoted = term
                elif ev == "demote":
                    if promoted is None:
                        dup += 1
                        self.fail(f"hooks: {node}#{num} demote (term {term}) without a promote before it")
                    else:
                        pairs += 1
                        if term is not None and term != promoted:
                            self.notes.append(f"hooks: {node}#{num} demote term {term} after promote term {promoted}")
                    promoted = None
            if promoted is not None and not died:
                missing += 1
                self.fail(f"hooks: {node}#{num} promote (term {promoted}) never followed by a demote, and the agent lived on ({inc['how']})")
            # Every office that ended while the agent lived has its promote, unless logged as skipped.
            promoted_terms = {t for _, _, ev, t in seq if ev == "promote"}
            skipped = {int(l.get("token", l.get("term", -1))) for l in h.logs[key] if "skip" in str(l.get("event", ""))}
            for o in self.offices:
                if (o.node, o.inc) == key and o.end_kind == "leave" and o.token not in promoted_terms and o.token not in skipped:
                    missing += 1
                    self.fail(f"hooks: {node}#{num} office token {o.token} ended with no promote hook and no logged skip")
        self.stats["hook_pairs"] = pairs
        self.stats["hook_duplicates"] = dup
        self.stats["hook_missing"] = missing

    # State files

    def check_state(self):
        last = {}
        readings = 0
        for e in self.h.events:
            if e["ev"] == "wipe":
                # A wiped data dir starts over: a new incarnation of the member, with its
                # own term and vote (its peers refuse it until it is removed and re-added).
                last.pop(e["node"], None)
                continue
            if e["ev"] != "state":
                continue
            readings += 1
            node = e["node"]
            if "error" in e:
                self.fail(f"state: {node} after incarnation {e['inc']}: {e['error']}")
                continue
            if e.get("missing"):
                if node in last:
                    self.fail(f"state: {node}'s state file vanished after incarnation {e['inc']}")
                continue
            cur = (e["term"], e["vote"])
            prev = last.get(node)
            if prev is not None:
                if cur[0] < prev[0]:
                    self.fail(f"state: {node}'s term went back from {prev[0]} to {cur[0]} (incarnation {e['inc']})")
                elif cur[0] == prev[0] and prev[1] is not None and cur[1] != prev[1]:
                    self.fail(f"state: {node}'s vote in term {cur[0]} changed from {prev[1]} to {cur[1]}")
            last[node] = cur
        self.stats["state_readings"] = readings

    # Wiped members (membership faults)

    def check_wipes(self):
        """A member started on a wiped data dir and not yet removed is refused by its
        peers: it must never enter office, and the group keeps its leader meanwhile
        (after the election that replaces it, when it was the leader it stopped). Its
        own campaigns and its peers' refusals are expected, not violations. A leader
        change in that time is reported as liveness, not safety: on a starved machine a
        leader can lose its lease with every member up (README, "What the runs found")."""
        h = self.h
        ev = h.events
        refusals = 0
        for i, e in enumerate(ev):
            if e["ev"] != "wiped-start":
                continue
            node, inc, t0 = e["node"], e["inc"], e["t"]
            end = next((x["t"] for x in ev[i + 1:] if x.get("node") == node
                        and x["ev"] in ("wiped-removed", "exit", "wipe")), h.event_time("end"))
            if end is None:
                continue
            for line in h.logs.get((node, inc), []):
                if line.get("event") == "office-enter" and t0 <= line["host_ns"] <= end:
                    self.fail(f"wipe: {node}#{inc}, started on a wiped data dir and not yet removed, "
                              f"entered office in term {line.get('term')} ({ms(line['host_ns'] - t0):.0f} ms after its start)")
            for key, lines in h.logs.items():
                if key[0] == node:
                    continue
                refusals += sum(1 for l in lines if l.get("event") == "peer-refused" and t0 <= l["host_ns"] <= end
                                and l.get("peer") == node)
            # The group keeps its leader: no office begins while it is refused, but one
            # when no other member was in office at its start (the member stopped for
            # the wipe may have been the leader, or an election was on).
            held = any(o.node != node and o.start <= t0 and (o.end is None or o.end > t0) for o in self.offices)
            entered = sorted((o for o in self.offices if o.node != node and t0 < o.start < end), key=lambda o: o.start)
            for o in entered[0 if held else 1:]:
                self.fail(f"wipe: the group changed leader while {node} was refused: {o.node}#{o.inc} entered office "
                          f"in term {o.token}, {ms(o.start - t0):.0f} ms after {node} started on its wiped data dir")
        self.stats["wiped_refusals"] = refusals

    # Exits, liveness after the final heal, quiet period

    def check_exits(self):
        for (node, num), inc in self.h.incs.items():
            if inc["how"] == "unexpected":
                code = inc["code"]
                if code in CRASH_SIGNALS:
                    self.fail(f"{node}#{num} crashed ({CRASH_SIGNALS[code]})")
                else:
                    self.notes.append(f"{node}#{num} exited on its own with status {code}")

    def check_liveness_and_quiet(self):
        h = self.h
        heal = h.event_time("heal-final")
        end = h.event_time("end")
        if heal is None or end is None:
            self.notes.append("run did not reach its final heal")
            return
        bound = 2 * h.emax_ns + h.hb_ns
        covering = [o for o in self.offices if (o.end is None or o.end > heal)]
        first = min((max(o.start, heal) for o in covering), default=None)
        if first is None or first - heal > bound:
            took = "none by the end of the run" if first is None else f"{ms(first - heal):.0f} ms"
            self.fail(f"liveness: no leader in office within 2·Emax + heartbeat = {ms(bound):.0f} ms after the final heal ({took})")
        else:
            self.stats["leader_after_heal_ms"] = round(ms(first - heal), 1)
        quiet_start = heal + bound if first is None else max(heal + bound, first)
        elections = 0
        for key, lines in h.logs.items():
            for line in lines:
                t = line["host_ns"]
                if quiet_start < t <= end and (line.get("event") in ("office-enter", "office-leave")
                                                or (line.get("event") == "role" and line.get("role") in ELECTION_ROLES)):
                    elections += 1
                    if elections <= 5:
                        self.fail(f"quiet period: {key[0]}#{key[1]} {line.get('event')} {line.get('role', '')} "
                                  f"term {line.get('term')} {ms(t - quiet_start):.0f} ms into the quiet period")
        self.stats["quiet_elections"] = elections
        self.stats["quiet_s"] = round((end - quiet_start) / 1e9, 1)

    def run(self):
        self.build_offices()
        self.check_overlaps()
        self.check_tokens()
        self.check_handovers()
        self.check_observer()
        self.check_hooks()
        self.check_state()
        self.check_wipes()
        self.check_exits()
        self.check_liveness_and_quiet()
        return self


def check(run_dir):
    return Checker(History(run_dir)).run()


def main(argv):
    c = check(argv[0])
    for v in c.violations:
        print("VIOLATION", v)
    for n in c.notes:
        print("note", n)
    print("stats", json.dumps(c.stats))
    return 1 if c.violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
