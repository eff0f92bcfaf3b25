import AgentDriver
import AgentLogging
import Membership
import RaftCore

/// DriverHarness interprets the commands of one driver scenario file over a cluster of
/// `AgentDriver`s that share one scenario clock, with every port recorded: nothing
/// happens unless a command says so. Writes wait on the node's disk until `fsync` or
/// `stabilize`; messages wait in one FIFO mailbox until `stabilize`; hook steps run
/// until `hook N` ends them (or at once, with `hooks auto`).
///
/// Every input a driver handles is printed as `nN: input`, followed by what it did, in
/// the order the driver did it: `persist`, `send`, `hook start`, `answer`, `log` (every
/// event but `role`, which the view line shows), `kill hooks`, `exit`, and a `view`
/// line when the view's generation moved.
///
/// Commands (nodes are numbered from 1, named n1…):
/// - `nodes N [hooks=promote,demote,change,unit] [check=1,2] [promote-delay=D]
///   [promote-failure=ignore] [hook-timeout=D] [backoff=D] [storage-retry=D] [seed=S]` builds N
///   drivers (not started).
/// - `start [N…]`, `wait D`, `tick [N…]`, `timer N` (clock to N's next deadline, then tick N).
/// - `stabilize`: complete the fsyncs of healthy disks and deliver messages until quiet.
/// - `deliver [to=N]`: deliver the messages queued now (to N only), once; no fsyncs.
/// - `fsync N` completes N's pending writes; on a failing disk they fail (and stay pending).
/// - `disk N fail=TEXT` / `disk N ok`: the disk fails every write / works again.
/// - `hook N [exit=C|timeout]` ends N's running step (exit 0 by default);
///   `hooks auto|manual`: whether `stabilize` ends running steps with exit 0.
/// - `check N pass|fail [times=K]`, `resign N [to=M]`, `terminate N`, `conn-lost N from=M`.
/// - `kill N…` (kill -9: gone at once), `pause N [for=D] [reason=TEXT]`, `resume N`.
/// - `handover N to=nM in=D` (a scheduled hand-over asked of N), `handover-cancel N`.
/// - `forward-hooks N from=M`: M's own hook outcomes not yet in the history, sent to N
///   (what the agent's shell does over HTTP).
/// - `status [N…]`: the view of each node.
final class DriverHarness {
    struct Failure: Error, CustomStringConvertible { var description: String }

    final class Node: PersistPort, PeerPort, HookPort, ResponderPort, LogPort, LifecyclePort {
        unowned let harness: DriverHarness
        let index: Int
        var driver: AgentDriver!
        var durable = PersistentState()
        var pending: [(JobID, Ready)] = []
        var nextJob: JobID = 1
        var failing: String? = nil
        var running: HookStepRequest? = nil
        var exited = false
        var generation: UInt64 = 0

        init(harness: DriverHarness, index: Int) {
            self.harness = harness
            self.index = index
        }

        var name: String { "n\(index + 1)" }

        func submit(_ ready: Ready) -> JobID {
            let job = nextJob
            nextJob += 1
            pending.append((job, ready))
            harness.emit("persist #\(job)\(harness.describe(ready))")
            return job
        }

        func setPeers(_ peers: [DriverMember]) {}
        func recordRemoved() {}

        func send(_ messages: [Message]) {
            for m in messages {
                harness.emit("send \(harness.describe(m))")
                harness.mailbox.append(m)
            }
        }

        func start(_ request: HookStepRequest) {
            precondition(running == nil, "\(name): a hook step started while another runs")
            running = request
            let env = request.environment.compactMap { e -> String? in
                guard e.hasPrefix("BATON_"), !e.hasPrefix("BATON_EVENT="), !e.hasPrefix("BATON_NODE_ID=") else { return nil }
                return String(e.dropFirst("BATON_".count))
            }
            harness.emit("hook start #\(request.run) \(request.hook) \(request.job) \(stepText(request.step)) [\(env.joined(separator: " "))]")
        }

        private func stepText(_ step: HookStep) -> String {
            switch step {
            case .command(let argv): return "`\(argv.joined(separator: " "))`"
            case .unit(let start): return start ? "unit-start" : "unit-stop"
            }
        }

        func killRunning() { harness.emit("kill hooks\(running.map { " (#\($0.run) \($0.hook))" } ?? "")") }

        func answer(_ request: RequestID, _ answer: ApiAnswer) {
            harness.emit("answer req=\(request) \(answer.status) \(harness.describe(answer))")
        }

        func event(_ event: @autoclosure () -> LogEvent) {
            let e = event()
            guard e.name != "role" else { return }
            harness.emit("log \(e.name)\(e.fields.map { " \($0.0)=\($0.1.text)" }.joined())")
        }

        func exit(code: Int32) {
            exited = true
            harness.emit("exit \(code)")
        }
    }

    private(set) var nodes: [Node] = []
    private(set) var now = Instant(nanoseconds: 0)
    var mailbox: [Message] = []
    private var out: [String] = []
    private var indent = "  "
    private var autoHooks = false
    private var nextRequest: RequestID = 1
    private var table: MemberTable!
    /// Limit on rounds in one `stabilize` (style rule 11: bound everything).
    private let maxStabilizeRounds = 64

    func emit(_ line: String) { out.append(indent + line) }

    // MARK: Commands

    func run(_ line: String) throws(Failure) -> [String] {
        out = []
        let words = line.split(separator: " ").map(String.init)
        guard let command = words.first else { throw Failure(description: "empty command") }
        var positional: [String] = []
        var options: [String: String] = [:]
        for w in words.dropFirst() {
            if let eq = w.firstIndex(of: "=") { options[String(w[..<eq])] = String(w[w.index(after: eq)...]) } else { positional.append(w) }
        }
        switch command {
        case "nodes": try makeNodes(positional, options)
        case "start":
            for i in try indices(positional, all: true) { input(i, .start, "start") }
        case "wait":
            guard let d = positional.first, let interval = Self.duration(d) else { throw Failure(description: "wait needs a duration") }
            now = now + interval
            out.append("now \(now)")
        case "tick":
            for i in try indices(positional, all: true) { input(i, .tick, "tick") }
        case "timer":
            let i = try node(positional)
            let deadline = nodes[i].driver.nextDeadline
            guard deadline < .distantFuture else { throw Failure(description: "\(nodes[i].name) has no deadline") }
            if deadline > now { now = deadline; out.append("now \(now) (\(nodes[i].name)'s next deadline)") }
            input(i, .tick, "tick")
        case "stabilize": try stabilize()
        case "deliver":
            let to = try options["to"].map { (t: String) throws(Failure) in try node([t]) }
            let batch = mailbox
            mailbox = []
            for m in batch {
                let i = index(of: m.to)
                if let to, to != i { mailbox.append(m); continue }
                if nodes[i].exited { continue }
                input(i, .message(m), describe(m))
            }
        case "fsync": fsync(try node(positional))
        case "disk":
            let i = try node(positional)
            if let text = options["fail"] { nodes[i].failing = text; out.append("\(nodes[i].name) disk fails: \(text)") }
            else { nodes[i].failing = nil; out.append("\(nodes[i].name) disk works") }
        case "hook":
            let i = try node(positional)
            guard let request = nodes[i].running else { throw Failure(description: "\(nodes[i].name) runs no hook step") }
            let outcome: HookStepOutcome
            if positional.contains("timeout") {
                outcome = HookStepOutcome(succeeded: false, timedOut: true, summary: "timeout (signal 15)", duration: request.timeout)
            } else {
                let code = Int32(options["exit"] ?? "0") ?? 0
                outcome = HookStepOutcome(succeeded: code == 0, exitCode: code, summary: "exit \(code)", duration: .milliseconds(5))
            }
            finishHook(i, outcome)
        case "hooks":
            autoHooks = positional.first == "auto"
            out.append("hooks \(autoHooks ? "auto" : "manual")")
        case "check":
            let i = try node(positional)
            let pass = positional.contains("pass")
            let times = Int(options["times"] ?? "1") ?? 1
            for _ in 0..<times {
                input(i, .checkResult(passed: pass, detail: pass ? "exit 0" : "exit 1", duration: .milliseconds(3)),
                      "check \(pass ? "passed" : "failed")")
            }
        case "resign":
            let i = try node(positional)
            let request = nextRequest
            nextRequest += 1
            input(i, .resign(request, to: options["to"], client: "test"), "resign req=\(request)\(options["to"].map { " to=\($0)" } ?? "")")
        case "terminate":
            for i in try indices(positional, all: false) { input(i, .terminate, "terminate") }
        case "kill":
            // kill -9: the node stops at once; what it sent is lost with it.
            for i in try indices(positional, all: false) {
                nodes[i].exited = true
                mailbox.removeAll { index(of: $0.from) == i }
                out.append("\(nodes[i].name) killed")
            }
        case "pause":
            let i = try node(positional)
            let request = nextRequest
            nextRequest += 1
            let d = try options["for"].map { (t: String) throws(Failure) in try Self.mustDuration(t) }
            input(i, .pause(request, duration: d, reason: options["reason"] ?? "", client: "test"),
                  "pause req=\(request)\(options["for"].map { " for=\($0)" } ?? "")")
        case "resume":
            let i = try node(positional)
            let request = nextRequest
            nextRequest += 1
            input(i, .resume(request, client: "test"), "resume req=\(request)")
        case "handover":
            let i = try node(positional)
            let request = nextRequest
            nextRequest += 1
            guard let to = options["to"], let d = options["in"] else { throw Failure(description: "handover needs to=nM in=D") }
            input(i, .scheduleHandover(request, to: to, at: .after(try Self.mustDuration(d)), client: "test"),
                  "handover req=\(request) to=\(to) in=\(d)")
        case "forward-hooks":
            let i = try node(positional)
            guard let from = options["from"], let m = nodes.firstIndex(where: { $0.name == from }) else { throw Failure(description: "forward-hooks needs from=nM") }
            let request = nextRequest
            nextRequest += 1
            let records = nodes[m].driver.view.hookOutcomesToForward
            input(i, .hookOutcomes(request, records, client: "test"), "forward-hooks req=\(request) from=\(from) count=\(records.count)")
        case "handover-cancel":
            let i = try node(positional)
            let request = nextRequest
            nextRequest += 1
            input(i, .cancelHandover(request, client: "test"), "handover-cancel req=\(request)")
        case "conn-lost":
            let i = try node(positional)
            guard let from = options["from"], let id = table.idOf[from] else { throw Failure(description: "conn-lost needs from=nM") }
            input(i, .peerDisconnected(id), "connection to \(from) lost")
        case "status":
            for i in try indices(positional, all: true) { out.append(status(i)) }
        default:
            throw Failure(description: "unknown command \(command)")
        }
        return out
    }

    private func makeNodes(_ positional: [String], _ options: [String: String]) throws(Failure) {
        guard let n = positional.first.flatMap({ Int($0) }), n >= 1, n <= 7 else { throw Failure(description: "nodes needs a count 1…7") }
        let members = (1...n).map { DriverMember(name: "n\($0)", peerAddress: "10.0.0.\($0):7000") }
        do { table = try MemberTable(members) } catch { throw Failure(description: "\(error)") }
        var plan = HookPlan()
        let hooks = (options["hooks"] ?? "promote,demote").split(separator: ",").map(String.init)
        if hooks.contains("promote") { plan.onPromote = ["promote.sh"] }
        if hooks.contains("demote") { plan.onDemote = ["demote.sh"] }
        if hooks.contains("change") { plan.onChange = ["change.sh"] }
        plan.leaderUnit = hooks.contains("unit")
        if let d = options["promote-delay"] { plan.promoteDelay = try Self.mustDuration(d) }
        if let d = options["hook-timeout"] { plan.timeout = try Self.mustDuration(d) }
        if let d = options["backoff"] { plan.promoteFailureBackoff = try Self.mustDuration(d) }
        let storageRetry = try options["storage-retry"].map { (d: String) throws(Failure) in try Self.mustDuration(d) }
        plan.resignOnPromoteFailure = options["promote-failure"] != "ignore"
        let checked = Set((options["check"] ?? "").split(separator: ",").compactMap { Int($0) })
        let seed = UInt64(options["seed"] ?? "1") ?? 1
        nodes = []
        for i in 0..<n {
            var s = DriverSettings(name: "n\(i + 1)", members: members)
            s.hooks = plan
            s.checkConfigured = checked.contains(i + 1)
            if let storageRetry { s.storageRetryInterval = storageRetry }
            let node = Node(harness: self, index: i)
            do {
                node.driver = try AgentDriver(settings: s, restoring: PersistentState(), seed: seed &* 31 &+ UInt64(i),
                                              now: now, ports: DriverPorts(persist: node, peers: node, hooks: node,
                                                                           responder: node, log: node, lifecycle: node))
            } catch {
                throw Failure(description: "\(error)")
            }
            node.generation = node.driver.view.generation
            nodes.append(node)
            out.append(status(i))
        }
    }

    // MARK: Inputs

    /// input hands one input to node i and prints what it did.
    private func input(_ i: Int, _ input: DriverInput, _ text: String) {
        let node = nodes[i]
        guard !node.exited else {
            out.append("\(node.name): \(text) (ignored: exited)")
            return
        }
        out.append("\(node.name): \(text)")
        node.driver.handle(input, now: now)
        let view = node.driver.view
        if view.generation != node.generation {
            node.generation = view.generation
            emit("view \(summary(view))")
        }
    }

    private func finishHook(_ i: Int, _ outcome: HookStepOutcome) {
        guard let request = nodes[i].running else { return }
        nodes[i].running = nil
        input(i, .hookStepFinished(request.run, outcome), "hook #\(request.run) \(request.hook) ended: \(outcome.summary)")
    }

    private func fsync(_ i: Int) {
        let node = nodes[i]
        guard let last = node.pending.last?.0 else {
            out.append("\(node.name): no writes pending")
            return
        }
        if let error = node.failing {
            input(i, .persistFailed(upTo: last, error: error), "fsync #\(last) failed: \(error)")
            return
        }
        for (_, w) in node.pending { apply(w, to: &node.durable) }
        node.pending.removeAll()
        input(i, .persisted(upTo: last), "fsync #\(last) done")
    }

    private func apply(_ w: Ready, to state: inout PersistentState) {
        if let h = w.hardState { state.hardState = h }
        if let snap = w.snapshot {
            state.snapshot = snap
            state.log.removeAll { $0.index <= snap.index }
        }
        if let t = w.truncateFrom { state.log.removeAll { $0.index >= t } }
        state.log += w.entries
    }

    private func stabilize() throws(Failure) {
        for _ in 0..<maxStabilizeRounds {
            var acted = false
            for i in nodes.indices where !nodes[i].pending.isEmpty && nodes[i].failing == nil && !nodes[i].exited {
                fsync(i)
                acted = true
            }
            if autoHooks {
                for i in nodes.indices where nodes[i].running != nil && !nodes[i].exited {
                    finishHook(i, .ok(.milliseconds(5)))
                    acted = true
                }
            }
            let batch = mailbox
            mailbox = []
            for m in batch {
                let to = index(of: m.to)
                guard !nodes[to].exited else { continue }
                input(to, .message(m), "\(describe(m))")
                acted = true
            }
            if !acted { return }
        }
        throw Failure(description: "stabilize did not settle in \(maxStabilizeRounds) rounds")
    }

    // MARK: Rendering

    func name(_ id: NodeID?) -> String { id.flatMap { table.nameOf[$0] } ?? "none" }
    private func index(of id: NodeID) -> Int { nodes.firstIndex { $0.driver.me == id }! }

    func describe(_ m: Message) -> String {
        let head = "\(name(m.from))->\(name(m.to))"
        switch m.body {
        case .preVote(let li, let lt): return "\(head) prevote term=\(m.term) last=\(li)@t\(lt)"
        case .preVoteResponse(let g, let s): return "\(head) prevote-resp term=\(m.term) \(g ? "GRANTED" : "refused")\(s > .zero ? " sticky=\(s)" : "")"
        case .vote(let li, let lt, let tr): return "\(head) vote term=\(m.term) last=\(li)@t\(lt)\(tr ? " transfer" : "")"
        case .voteResponse(let g): return "\(head) vote-resp term=\(m.term) \(g ? "GRANTED" : "refused")"
        case .append(let pi, let pt, let es, let c, let st):
            return "\(head) app term=\(m.term) prev=\(pi)@t\(pt)\(es.isEmpty ? "" : " entries=\(es.count)") commit=\(c) sent=\(st)"
        case .appendResponse(let ok, let mi, let hi, let st, let canLead):
            return "\(head) app-resp term=\(m.term) \(ok ? "ok match=\(mi)" : "reject hint=\(hi)") echo=\(st)\(canLead ? "" : " cannot-lead")"
        case .timeoutNow: return "\(head) timeout-now term=\(m.term)"
        case .installSnapshot(let snap, let st): return "\(head) snapshot term=\(m.term) at=\(snap.index)@t\(snap.term) sent=\(st)"
        }
    }

    func describe(_ w: Ready) -> String {
        var s = ""
        if let h = w.hardState { s += " term=\(h.term) vote=\(name(h.votedFor)) commit=\(h.commitIndex)" }
        if let t = w.truncateFrom { s += " truncate-from=\(t)" }
        if let snap = w.snapshot { s += " snapshot=\(snap.index)@t\(snap.term)" }
        if !w.entries.isEmpty { s += " entries=\(w.entries.map { "\($0.index)@t\($0.term)" }.joined(separator: ","))" }
        return s.isEmpty ? " (retry)" : s
    }

    func describe(_ a: ApiAnswer) -> String {
        let fields = a.fields.map { f -> String in
            let v: String
            switch f.value {
            case .string(let s): v = "\"\(s)\""
            case .int(let n): v = "\(n)"
            case .bool(let b): v = "\(b)"
            case .null: v = "null"
            case .member(let m): v = "member(\(m))"
            }
            return "\(f.key)=\(v)"
        }
        return fields.joined(separator: " ")
    }

    private func summary(_ v: AgentView) -> String {
        var s = "\(v.phase.rawValue) \(v.role.rawValue) term=\(v.term) leader=\(v.leader ?? "none")"
        if let o = v.office { s += " office=t\(o.term) lease-until=\(o.leaseDeadline)" }
        s += v.campaignAllowed ? " campaign=allowed" : " campaign=held(\(v.campaignHeldBy.joined(separator: ",")))"
        s += v.hooksIdle ? " hooks=idle" : " hooks=busy"
        if let e = v.storageError { s += " storage=\"\(e)\"" }
        if let c = v.check { s += " check=\(c.healthy ? "healthy" : "failing")(\(c.consecutiveFailures))" }
        return s
    }

    private func status(_ i: Int) -> String {
        let d = nodes[i].driver!
        let v = d.view
        var s = "\(nodes[i].name) \(summary(v))"
        s += " in-office=\(v.isInOffice(at: now))"
        s += " hooks(runs=\(v.hooks.runs) failures=\(v.hooks.failures) timeouts=\(v.hooks.timeouts) skipped=\(v.hooks.skippedPairs))"
        s += " next=\(d.nextDeadline < .distantFuture ? "\(d.nextDeadline)" : "never")"
        if nodes[i].exited { s += " EXITED" }
        return s
    }

    // MARK: Parsing

    private func node(_ positional: [String]) throws(Failure) -> Int {
        guard let first = positional.first, let n = Int(first), n >= 1, n <= nodes.count else {
            throw Failure(description: "expected a node number 1…\(nodes.count)")
        }
        return n - 1
    }

    private func indices(_ positional: [String], all: Bool) throws(Failure) -> [Int] {
        let numbers = positional.compactMap { Int($0) }
        if numbers.isEmpty && all { return Array(nodes.indices) }
        for n in numbers where n < 1 || n > nodes.count { throw Failure(description: "no node \(n)") }
        return numbers.map { $0 - 1 }
    }

    static func duration(_ text: String) -> Interval? {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)) else { continue }
            return Interval(nanoseconds: Int64((v * scale).rounded()))
        }
        return nil
    }

    static func mustDuration(_ text: String) throws(Failure) -> Interval {
        guard let d = duration(text) else { throw Failure(description: "not a duration: \(text)") }
        return d
    }
}
