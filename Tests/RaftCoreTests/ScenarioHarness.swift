import RaftCore

/// ScenarioHarness interprets the commands of one scenario file (etcd-io/raft's
/// interaction tests, style rule 8) over a cluster of `RaftNode`s that share one
/// scenario clock. Nothing happens unless a command says so: the clock moves only on
/// `wait`/`campaign`/`timer`, nodes see `.tick` only on `tick`/`campaign`/`timer`, and
/// messages wait in one FIFO mailbox until `deliver`/`stabilize` hands them over.
///
/// Every command returns its transcript: for each input a node handles, the office
/// changes, role and leader changes, what is persisted (in the order the `Ready`
/// contract imposes: office, then fsync, then send) and the messages sent; an input
/// that changes nothing prints `no output` with the node's term, vote, leader and
/// stickiness left, so an ignored request is visibly ignored. Checkers sit outside the
/// nodes (style rule 10) and report violations of S1, S2 and S3 as `!! VIOLATION`
/// lines, which also fail the test whatever the expected transcript says.
///
/// Commands (nodes are numbered from 1):
/// - `nodes N [witnesses=3,4] [prevote=off] [check-quorum=off] [seed=S] [rates=r1,r2,…]`
///   starts N empty nodes now; `rates` are clock rates against the scenario clock.
/// - `wait D` (`160ms`, `1.5ms`, `2s`) moves the scenario clock only.
/// - `tick [N…]` delivers `.tick` now to those nodes, or to every node (quietly).
/// - `campaign N` / `timer N`: move the clock to N's next deadline if later, tick N.
/// - `deliver [from=N] [to=N] [type=T]` delivers once the matching queued messages;
///   `stabilize` delivers until the mailbox is empty; `drop …` loses them.
///   T is one of prevote, prevote-resp, vote, vote-resp, app, app-resp, timeout-now.
/// - `partition 1 / 2 3` drops deliveries between groups (unlisted nodes are alone);
///   `heal` ends it.
/// - `conn-lost N…`, `transfer N [to=M]`, `shutdown N…`, `demote-done N [term=T]`
///   (default: the term of N's last office), `propose N [text]`.
/// - `crash N…` keeps only what N persisted; `restart N…` rebuilds N from it now.
/// - `status [N…]`: role, term, vote, leader, log, commit, office and lease left,
///   last contact (`heard=tTERM@TIME`), stickiness left, next deadline.
struct ScenarioHarness {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Member is one slot of the cluster: the running node (nil while crashed) and what
    /// it has made durable, from which `restart` rebuilds it.
    struct Member {
        var id: NodeID
        var node: RaftNode?
        var disk = PersistentState()
        var restarts = 0
        /// Terms of the offices this node has left: it must never re-enter one (S3).
        var leftOfficeTerms: Set<Term> = []
        var lastLeftTerm: Term? = nil
        /// The term of an office seen with its lease lapsed but not yet left.
        var lapsedOfficeTerm: Term? = nil
        /// How fast this node's clock runs against the scenario clock (design §2 allows
        /// rates within [1−d, 1+d]); its clock reads `rate·now`, across restarts too
        /// (CLOCK_BOOTTIME).
        var rate: Double = 1
    }

    private(set) var members: [Member] = []
    /// The scenario clock ("real" time). A node's own clock is `local(i)`.
    private(set) var now = Instant.zero
    private(set) var violations: [String] = []
    private var configuration = Configuration(voters: [NodeID(1)])
    private var options = Options()
    private var seed: UInt64 = 1
    private var mailbox: [Message] = []
    /// Partition groups: node index → group; messages between groups are dropped.
    private var group: [Int]? = nil
    /// S1: the one leader each term has had.
    private var leaderOfTerm: [Term: NodeID] = [:]
    /// S3: the term of the latest office entered anywhere.
    private var latestOfficeTerm: Term = 0
    private var out: [String] = []

    /// Limit on delivery rounds in one `stabilize` (style rule 11: bound everything).
    private let maxStabilizeRounds = 64

    // MARK: Commands

    /// run executes one command line and returns its transcript lines.
    mutating func run(_ line: String) throws(Failure) -> [String] {
        out = []
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first else { throw Failure(description: "empty command") }
        let args = Arguments(Array(words.dropFirst()))
        if verb != "nodes" && members.isEmpty { throw Failure(description: "`nodes` must come first") }
        switch verb {
        case "nodes": try cmdNodes(args)
        case "wait": try cmdWait(args)
        case "tick": try cmdTick(args)
        case "campaign", "timer": try cmdTimer(args)
        case "deliver": try cmdDeliver(args)
        case "stabilize": try cmdStabilize(args)
        case "drop": try cmdDrop(args)
        case "partition": try cmdPartition(args)
        case "heal": group = nil; say("healed: every link delivers")
        case "conn-lost": for i in try someNodes(args) { handle(i, .leaderConnectionLost, label: "connection to leader lost") }
        case "transfer":
            let i = try args.node(0, of: members.count)
            let to = try args.optionalNode("to", of: members.count).map { members[$0].id }
            handle(i, .transferLeadership(to: to), label: "transfer" + (to.map { " to \($0)" } ?? " to the most up-to-date voter"))
        case "shutdown": for i in try someNodes(args) { handle(i, .shutdown, label: "shutdown") }
        case "demote-done":
            let i = try args.node(0, of: members.count)
            guard let node = members[i].node else { throw Failure(description: "n\(i + 1) is crashed") }
            let term = try args.optionalInt("term").map { Term($0) } ?? members[i].lastLeftTerm ?? node.term
            handle(i, .demoteFinished(term: term), label: "demote hook finished (term \(term))")
        case "propose":
            let i = try args.node(0, of: members.count)
            let data = args.positional.count > 1 ? args.positional[1] : "x"
            handle(i, .propose(Array(data.utf8)), label: "propose \"\(data)\"")
        case "crash": for i in try someNodes(args) { crash(i) }
        case "restart": for i in try someNodes(args) { try restart(i) }
        case "status": try cmdStatus(args)
        default: throw Failure(description: "unknown command \(verb)")
        }
        return out.isEmpty ? ["ok"] : out
    }

    /// `nodes N [witnesses=3,4] [prevote=off] [check-quorum=off] [seed=S]`: a fresh
    /// cluster of empty nodes at the current time (start counts as contact).
    private mutating func cmdNodes(_ args: Arguments) throws(Failure) {
        guard members.isEmpty else { throw Failure(description: "`nodes` may appear once") }
        guard let count = Int(args.positional.first ?? ""), (1...9).contains(count) else {
            throw Failure(description: "nodes needs a count in 1...9")
        }
        let ids = (1...count).map { NodeID(UInt32($0)) }
        var witnesses: Set<NodeID> = []
        if let list = args.named["witnesses"] {
            for w in list.split(separator: ",") {
                guard let n = UInt32(w), (1...UInt32(count)).contains(n) else { throw Failure(description: "bad witness \(w)") }
                witnesses.insert(NodeID(n))
            }
        }
        options = Options()
        options.preVote = try args.flag("prevote", default: true)
        options.checkQuorum = try args.flag("check-quorum", default: true)
        seed = UInt64(try args.optionalInt("seed") ?? 1)
        configuration = Configuration(voters: ids, witnesses: witnesses)
        members = ids.map { Member(id: $0) }
        if let list = args.named["rates"] {
            let rates = list.split(separator: ",").compactMap { Double($0) }
            guard rates.count == count, rates.allSatisfy({ $0 > 0.5 && $0 < 1.5 }) else {
                throw Failure(description: "rates= needs \(count) clock rates in (0.5, 1.5)")
            }
            for i in members.indices { members[i].rate = rates[i] }
            say("clock rates: " + members.map { "\($0.id)×\($0.rate)" }.joined(separator: " "))
        }
        say("options: Emin=\(options.electionTimeoutMin) Emax=\(options.electionTimeoutMax) hb=\(options.heartbeatInterval) drift=\(options.maxDrift) margin=\(options.leaseMargin) lease=\(options.leaseDuration) prevote=\(options.preVote ? "on" : "off") check-quorum=\(options.checkQuorum ? "on" : "off")")
        for i in members.indices { try start(i) }
        for i in members.indices { say(statusLine(i)) }
    }

    /// `wait D`: the clock moves; nothing else happens.
    private mutating func cmdWait(_ args: Arguments) throws(Failure) {
        guard let text = args.positional.first, let d = parseInterval(text) else { throw Failure(description: "wait needs a duration like 160ms") }
        let notes = advanceClock(to: now + d)
        say("now \(now)")
        for n in notes { say(n) }
        noteLapses()
    }

    /// `tick [ids]`: deliver `.tick` at the current time to those nodes, or to all.
    private mutating func cmdTick(_ args: Arguments) throws(Failure) {
        let named = !args.positional.isEmpty
        let targets = named ? try args.nodes(of: members.count) : Array(members.indices)
        for i in targets where members[i].node != nil {
            handle(i, .tick, label: "tick", quietIfNothing: !named)
        }
    }

    /// `campaign N` / `timer N`: advance the clock to node N's next deadline if it is
    /// later, then tick N (an election timeout, a heartbeat, a lease check…).
    private mutating func cmdTimer(_ args: Arguments) throws(Failure) {
        let i = try args.node(0, of: members.count)
        guard let node = members[i].node else { throw Failure(description: "n\(i + 1) is crashed") }
        let deadline = node.nextDeadline
        let drifting = members[i].rate != 1
        if deadline >= .distantFuture {
            say("\(node.id) has no timer (\(node.isWitness ? "a witness never campaigns" : "nothing scheduled"))")
            return
        }
        if deadline > local(i) {
            let notes = advanceClock(to: sceneTime(i, deadline), for: i)
            say("now \(now) (\(node.id)'s next deadline\(drifting ? ", \(deadline) on its clock" : ""))")
            for n in notes { say(n) }
            noteLapses()
        }
        handle(i, .tick, label: "tick")
    }

    /// `deliver [from=N] [to=N] [type=T]`: deliver once every matching message queued
    /// when the command starts; what they cause queues behind.
    private mutating func cmdDeliver(_ args: Arguments) throws(Failure) {
        let filter = try MessageFilter(args, nodes: members.count)
        let batch = takeMatching(filter)
        if batch.isEmpty { say("no messages"); return }
        for m in batch { deliver(m) }
    }

    /// `stabilize`: deliver until the mailbox is empty (bounded).
    private mutating func cmdStabilize(_ args: Arguments) throws(Failure) {
        var rounds = 0
        while !mailbox.isEmpty {
            rounds += 1
            if rounds > maxStabilizeRounds {
                violation("no quiescence after \(maxStabilizeRounds) delivery rounds")
                return
            }
            let batch = mailbox
            mailbox = []
            for m in batch { deliver(m) }
        }
    }

    /// `drop [from=N] [to=N] [type=T]`: lose matching queued messages.
    private mutating func cmdDrop(_ args: Arguments) throws(Failure) {
        let filter = try MessageFilter(args, nodes: members.count)
        let batch = takeMatching(filter)
        if batch.isEmpty { say("no messages"); return }
        for m in batch { say("dropped \(describe(m))") }
    }

    /// `partition 1 / 2 3`: groups separated by `/`; an unlisted node is alone.
    private mutating func cmdPartition(_ args: Arguments) throws(Failure) {
        var g = Array(repeating: -1, count: members.count)
        var current = 0
        for word in args.positional {
            if word == "/" { current += 1; continue }
            guard let n = Int(word), (1...members.count).contains(n) else { throw Failure(description: "bad node \(word)") }
            g[n - 1] = current
        }
        var next = current + 1
        for i in g.indices where g[i] < 0 { g[i] = next; next += 1 }
        group = g
        var groups: [Int: [String]] = [:]
        for (i, k) in g.enumerated() { groups[k, default: []].append("n\(i + 1)") }
        say("partition " + groups.keys.sorted().map { "{" + groups[$0]!.joined(separator: " ") + "}" }.joined(separator: " "))
    }

    private mutating func cmdStatus(_ args: Arguments) throws(Failure) {
        let targets = args.positional.isEmpty ? Array(members.indices) : try args.nodes(of: members.count)
        for i in targets { say(statusLine(i)) }
        if !mailbox.isEmpty { say("mailbox: \(mailbox.count) message\(mailbox.count == 1 ? "" : "s")") }
    }

    private func someNodes(_ args: Arguments) throws(Failure) -> [Int] {
        let targets = try args.nodes(of: members.count)
        if targets.isEmpty { throw Failure(description: "name at least one node") }
        return targets
    }

    // MARK: Nodes

    private mutating func start(_ i: Int) throws(Failure) {
        let m = members[i]
        let nodeSeed = seed &* 100 &+ UInt64(m.id.rawValue) &+ UInt64(m.restarts) &* 10_000
        do {
            members[i].node = try RaftNode(id: m.id, configuration: configuration, options: options,
                                           restoring: m.disk, seed: nodeSeed, now: local(i))
        } catch {
            throw Failure(description: "n\(i + 1) does not start: \(error)")
        }
    }

    private mutating func crash(_ i: Int) {
        guard let node = members[i].node else { say("n\(i + 1) is already down"); return }
        var line = "\(node.id) crashed"
        if node.isInOffice(at: local(i)) { line += " in office (term \(node.term))" }
        let d = members[i].disk
        line += "; on disk: term=\(d.hardState.term) vote=\(d.hardState.votedFor.map { "\($0)" } ?? "none") log=\(d.log.count) commit=\(d.hardState.commitIndex)"
        members[i].node = nil
        say(line)
    }

    private mutating func restart(_ i: Int) throws(Failure) {
        guard members[i].node == nil else { throw Failure(description: "n\(i + 1) is running; crash it first") }
        members[i].restarts += 1
        try start(i)
        say("\(members[i].id) restarted from disk")
        say(statusLine(i))
    }

    /// handle gives one input to node `i`, prints what it did and queues what it sent.
    private mutating func handle(_ i: Int, _ event: Event, label: String, quietIfNothing: Bool = false) {
        guard var node = members[i].node else { say("n\(i + 1) is down: \(label) ignored"); return }
        let before = Snapshot(node)
        let ready = node.handle(event, now: local(i))
        members[i].node = node
        let lines = reaction(i, before: before, ready: ready)
        if quietIfNothing && lines.isEmpty { return }
        say("\(node.id): \(label)")
        if lines.isEmpty {
            let next = node.nextDeadline >= .distantFuture ? "never" : "\(node.nextDeadline)"
            say("  \(node.id) no output: \(Snapshot(node).brief)\(stickyNote(node, at: local(i))) next=\(next)")
        } else {
            for l in lines { say("  " + l) }
        }
        check(i)
    }

    /// deliver hands one message to its receiver unless the network or a crash eats it.
    private mutating func deliver(_ m: Message) {
        let to = Int(m.to.rawValue) - 1
        let from = Int(m.from.rawValue) - 1
        if let g = group, g[to] != g[from] { say("\(describe(m))  DROPPED (partition)"); return }
        guard var node = members[to].node else { say("\(describe(m))  DROPPED (\(m.to) is down)"); return }
        say(describe(m))
        let before = Snapshot(node)
        let ready = node.handle(.message(m), now: local(to))
        members[to].node = node
        let lines = reaction(to, before: before, ready: ready)
        if lines.isEmpty {
            say("  \(node.id) no output: \(Snapshot(node).brief)\(stickyNote(node, at: local(to)))")
        } else {
            for l in lines { say("  " + l) }
        }
        check(to)
    }

    /// reaction applies a Ready in its contractual order (office changes, then the
    /// durable state, then the sends) and describes each part.
    private mutating func reaction(_ i: Int, before: Snapshot, ready: Ready) -> [String] {
        guard let node = members[i].node else { return [] }
        let id = node.id
        var lines: [String] = []
        for change in ready.officeChanges {
            switch change {
            case .enter(let term, let deadline, _, _):
                lines.append("\(id) OFFICE ENTER term=\(term) lease-until=\(deadline)")
                if members[i].leftOfficeTerms.contains(term) { violation(into: &lines, "S3: \(id) re-entered office in term \(term), which it left") }
                if term <= latestOfficeTerm { violation(into: &lines, "S3: \(id) entered office in term \(term), not above the latest office term \(latestOfficeTerm)") }
                latestOfficeTerm = max(latestOfficeTerm, term)
            case .leave(let term, let reason):
                lines.append("\(id) OFFICE LEAVE term=\(term) reason=\(reason.rawValue)")
                members[i].leftOfficeTerms.insert(term)
                members[i].lastLeftTerm = term
            }
        }
        let after = Snapshot(node)
        if after.role != before.role {
            lines.append("\(id) \(before.role.rawValue) -> \(after.role.rawValue) (term \(after.term), leader \(after.leaderText))")
        } else if after.leader != before.leader {
            lines.append("\(id) leader \(before.leaderText) -> \(after.leaderText)")
        }
        if let lease = after.officeLease, before.officeLease != nil, lease != before.officeLease {
            lines.append("\(id) lease extended to \(lease)")
        }
        if let hs = ready.hardState {
            let old = members[i].disk.hardState
            if hs.term < old.term { violation(into: &lines, "\(id) persisted term \(hs.term) below \(old.term)") }
            if hs.term == old.term, let v = old.votedFor, hs.votedFor != v {
                violation(into: &lines, "\(id) changed its durable vote in term \(hs.term) from \(v) to \(hs.votedFor.map { "\($0)" } ?? "none")")
            }
            members[i].disk.hardState = hs
            lines.append("\(id) persist term=\(hs.term) vote=\(hs.votedFor.map { "\($0)" } ?? "none") commit=\(hs.commitIndex)")
        }
        if let from = ready.truncateFrom {
            members[i].disk.log.removeSubrange(Int(from - 1)...)
            lines.append("\(id) persist truncate from \(from)")
        }
        if !ready.entries.isEmpty {
            members[i].disk.log.append(contentsOf: ready.entries)
            lines.append("\(id) persist entries " + ready.entries.map(describe).joined(separator: " "))
        }
        for m in ready.messages {
            mailbox.append(m)
            lines.append("send " + describe(m))
        }
        // The harness's disk is synchronous: the write is durable now, and the core hears
        // so before anything else happens (what it does in return is shown after it).
        if let id = ready.persistID, var n = members[i].node {
            let beforeDurable = Snapshot(n)
            let more = n.handle(.persisted(persistID: id), now: local(i))
            members[i].node = n
            if !more.isEmpty { lines += reaction(i, before: beforeDurable, ready: more).map { "(durable) " + $0 } }
        }
        return lines
    }

    // MARK: Checkers (outside the nodes, style rule 10)

    /// advanceClock moves the scenario clock and names every other node whose timer
    /// fell due on the way: nobody ticks it unless a command says so, and the transcript
    /// must not hide that.
    private mutating func advanceClock(to t: Instant, for target: Int? = nil) -> [String] {
        precondition(t >= now, "the scenario clock never goes back")
        let before = members.indices.map { local($0) }
        now = t
        var notes: [String] = []
        for j in members.indices where j != target {
            guard let node = members[j].node else { continue }
            let due = node.nextDeadline
            if due < .distantFuture && due > before[j] && due <= local(j) {
                notes.append("\(node.id)'s timer fell due at \(due) and was not ticked")
            }
        }
        return notes
    }

    /// noteLapses reports offices whose lease has passed on the clock while the node has
    /// not (yet) left office: design §2 wants the leave at that very moment.
    private mutating func noteLapses() {
        for i in members.indices {
            guard let node = members[i].node, let office = node.office, !node.isInOffice(at: local(i)),
                  office.leaseDeadline < local(i), members[i].lapsedOfficeTerm != office.term else { continue }
            members[i].lapsedOfficeTerm = office.term
            say("\(node.id) lease of its office (term \(office.term)) lapsed at \(office.leaseDeadline), not left yet (\(node.role.rawValue))")
        }
    }

    private mutating func check(_ i: Int) {
        guard let node = members[i].node else { return }
        if node.role == .leader {
            if let other = leaderOfTerm[node.term], other != node.id {
                violation("S1: two leaders in term \(node.term): \(other) and \(node.id)")
            }
            leaderOfTerm[node.term] = node.id
        }
        for k in members.indices {
            guard let n = members[k].node, let office = n.office else { continue }
            if !n.isInOffice(at: local(k)) {
                members[k].lapsedOfficeTerm = office.term
            } else if members[k].lapsedOfficeTerm == office.term {
                members[k].lapsedOfficeTerm = nil
                violation("S3: \(n.id)'s office of term \(office.term) lapsed and is live again without leaving (lease now until \(office.leaseDeadline))")
            }
        }
        // §1: a node is in office until its agent decides it no longer is (the leave,
        // just before the demote hook). A driver that ticks at `nextDeadline` learns of
        // the leave only then, so a node in office must ask to be woken no later than
        // its lease ends (a paused process wakes late, and leaves at its first input).
        if let office = node.office, node.isInOffice(at: local(i)), node.nextDeadline > office.leaseDeadline {
            violation("S2: \(node.id) is in office until \(office.leaseDeadline) but asks to be woken only at \(node.nextDeadline): its agent would stay in office past the lease")
        }
        let inOffice = members.indices.filter { members[$0].node?.isInOffice(at: local($0)) == true }.map { members[$0].id }
        if inOffice.count > 1 { violation("S2: in office at once: " + inOffice.map { "\($0)" }.joined(separator: " ")) }
    }

    /// violation(into:) records a violation found while describing a Ready, so that it
    /// prints after the line that shows it.
    private mutating func violation(into lines: inout [String], _ text: String) {
        violations.append(text)
        lines.append("!! VIOLATION " + text)
    }

    private mutating func violation(_ text: String) {
        violations.append(text)
        say("!! VIOLATION " + text)
    }

    // MARK: Formatting

    private mutating func say(_ line: String) { out.append(line) }

    private mutating func takeMatching(_ f: MessageFilter) -> [Message] {
        var taken: [Message] = []
        var kept: [Message] = []
        for m in mailbox { if f.matches(m) { taken.append(m) } else { kept.append(m) } }
        mailbox = kept
        return taken
    }

    private func statusLine(_ i: Int) -> String {
        guard let node = members[i].node else {
            let d = members[i].disk.hardState
            return "\(members[i].id) DOWN (on disk: term=\(d.term) vote=\(d.votedFor.map { "\($0)" } ?? "none") log=\(members[i].disk.log.count))"
        }
        var s = "\(node.id) \(node.role.rawValue)\(node.isWitness ? " (witness)" : "") \(Snapshot(node).brief)"
        s += " log=\(node.lastLogIndex)@t\(node.lastLogTerm) commit=\(node.commitIndex)"
        if let office = node.office {
            let t = local(i)
            s += node.isInOffice(at: t)
                ? " OFFICE term=\(office.term) lease-left=\(office.leaseDeadline - t)"
                : " office term=\(office.term) LAPSED \(t - office.leaseDeadline) ago"
        }
        if node.role != .leader { s += " heard=t\(node.lastContactTerm)\(node.lastContact)" }
        s += stickyNote(node, at: local(i))
        if members[i].rate != 1 { s += " clock=\(local(i))" }
        let next = node.nextDeadline
        s += next >= .distantFuture ? " next=never" : " next=\(next)"
        return s
    }

    private func stickyNote(_ node: RaftNode, at t: Instant) -> String {
        guard node.role != .leader else { return "" }
        let end = node.lastContact + node.options.electionTimeoutMin
        return end > t ? " sticky-left=\(end - t)" : ""
    }

    /// local is node `i`'s own clock at the current scenario time.
    private func local(_ i: Int) -> Instant {
        let rate = members[i].rate
        if rate == 1 { return now }
        return Instant(nanoseconds: Int64((Double(now.nanoseconds) * rate).rounded(.down)))
    }

    /// sceneTime is the first scenario instant at which node `i`'s clock reads `t`.
    private func sceneTime(_ i: Int, _ t: Instant) -> Instant {
        let rate = members[i].rate
        if rate == 1 { return t }
        var n = Int64((Double(t.nanoseconds) / rate).rounded(.up))
        while Double(n) * rate < Double(t.nanoseconds) { n += 1 }
        return Instant(nanoseconds: n)
    }

    func describe(_ m: Message) -> String {
        let head = "\(m.from)->\(m.to)"
        switch m.body {
        case .preVote(let li, let lt):
            return "\(head) prevote term=\(m.term) last=\(li)@t\(lt)"
        case .preVoteResponse(let granted, let remaining):
            return "\(head) prevote-resp term=\(m.term) " + (granted ? "GRANTED" : "REFUSED") + (remaining > .zero ? " sticky-left=\(remaining)" : "")
        case .vote(let li, let lt, let transfer):
            return "\(head) vote term=\(m.term) last=\(li)@t\(lt)" + (transfer ? " transfer" : "")
        case .voteResponse(let granted):
            return "\(head) vote-resp term=\(m.term) " + (granted ? "GRANTED" : "REFUSED")
        case .append(let pi, let pt, let entries, let commit, let sent):
            let e = entries.isEmpty ? "" : " entries=[" + entries.map(describe).joined(separator: " ") + "]"
            return "\(head) app term=\(m.term) prev=\(pi)@t\(pt)\(e) commit=\(commit) sent=\(sent)"
        case .appendResponse(let success, let match, let hint, let echo, let canLead):
            return "\(head) app-resp term=\(m.term) " + (success ? "ok match=\(match)" : "REJECT hint=\(hint)") + " echo=\(echo)"
                + (canLead ? "" : " cannot-lead")
        case .timeoutNow:
            return "\(head) timeout-now term=\(m.term)"
        case .installSnapshot(let snap, let sent):
            return "\(head) snapshot term=\(m.term) index=\(snap.index)@t\(snap.term) voters=\(snap.configuration.voters) sent=\(sent)"
        }
    }

    func describe(_ e: Entry) -> String {
        switch e.payload {
        case .noop: return "\(e.index)@t\(e.term):noop"
        case .data(let bytes): return "\(e.index)@t\(e.term):\"\(String(decoding: bytes, as: UTF8.self))\""
        case .configuration(let c): return "\(e.index)@t\(e.term):config\(c.members.map { "\($0.id)/\($0.role)" })"
        }
    }
}

/// Snapshot is the volatile view of a node compared before and after each input.
struct Snapshot: Equatable {
    var role: Role
    var term: Term
    var vote: NodeID?
    var leader: NodeID?
    /// The lease of the office the node holds, if any.
    var officeLease: Instant?
    init(_ n: RaftNode) {
        role = n.role; term = n.term; vote = n.hardState.votedFor; leader = n.leader
        officeLease = n.office?.leaseDeadline
    }
    var leaderText: String { leader.map { "\($0)" } ?? "none" }
    var brief: String { "term=\(term) vote=\(vote.map { "\($0)" } ?? "none") leader=\(leaderText)" }
}

/// Arguments are a command's words: positional ones and `key=value` ones.
struct Arguments {
    var positional: [String] = []
    var named: [String: String] = [:]

    init(_ words: [String]) {
        for w in words {
            if let eq = w.firstIndex(of: "=") {
                named[String(w[..<eq])] = String(w[w.index(after: eq)...])
            } else {
                positional.append(w)
            }
        }
    }

    func node(_ position: Int, of count: Int) throws(ScenarioHarness.Failure) -> Int {
        guard position < positional.count, let n = Int(positional[position]), (1...count).contains(n) else {
            throw ScenarioHarness.Failure(description: "expected a node number in 1...\(count)")
        }
        return n - 1
    }

    func nodes(of count: Int) throws(ScenarioHarness.Failure) -> [Int] {
        var result: [Int] = []
        for i in positional.indices { result.append(try node(i, of: count)) }
        return result
    }

    func optionalNode(_ key: String, of count: Int) throws(ScenarioHarness.Failure) -> Int? {
        guard let v = named[key] else { return nil }
        guard let n = Int(v), (1...count).contains(n) else { throw ScenarioHarness.Failure(description: "\(key)= needs a node number") }
        return n - 1
    }

    func optionalInt(_ key: String) throws(ScenarioHarness.Failure) -> Int? {
        guard let v = named[key] else { return nil }
        guard let n = Int(v) else { throw ScenarioHarness.Failure(description: "\(key)= needs a number") }
        return n
    }

    func flag(_ key: String, default value: Bool) throws(ScenarioHarness.Failure) -> Bool {
        switch named[key] {
        case nil: return value
        case "on": return true
        case "off": return false
        default: throw ScenarioHarness.Failure(description: "\(key)= takes on or off")
        }
    }
}

/// MessageFilter selects queued messages by sender, receiver and kind.
struct MessageFilter {
    var from: NodeID?
    var to: NodeID?
    var type: String?
    static let types = ["prevote", "prevote-resp", "vote", "vote-resp", "app", "app-resp", "timeout-now"]

    init(_ args: Arguments, nodes: Int) throws(ScenarioHarness.Failure) {
        from = try args.optionalNode("from", of: nodes).map { NodeID(UInt32($0 + 1)) }
        to = try args.optionalNode("to", of: nodes).map { NodeID(UInt32($0 + 1)) }
        type = args.named["type"]
        if let t = type, !Self.types.contains(t) { throw ScenarioHarness.Failure(description: "type= is one of \(Self.types)") }
    }

    func matches(_ m: Message) -> Bool {
        if let from, m.from != from { return false }
        if let to, m.to != to { return false }
        if let type, type != Self.kind(m) { return false }
        return true
    }

    static func kind(_ m: Message) -> String {
        switch m.body {
        case .preVote: "prevote"
        case .preVoteResponse: "prevote-resp"
        case .vote: "vote"
        case .voteResponse: "vote-resp"
        case .append: "app"
        case .appendResponse: "app-resp"
        case .timeoutNow: "timeout-now"
        case .installSnapshot: "snapshot"
        }
    }
}

/// parseInterval reads `160ms`, `1.5ms`, `2s` or `500us`.
func parseInterval(_ text: String) -> Interval? {
    let units: [(String, Double)] = [("ms", 1_000_000), ("us", 1_000), ("s", 1_000_000_000)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        guard let v = Double(text.dropLast(suffix.count)), v >= 0 else { return nil }
        return Interval(nanoseconds: Int64((v * scale).rounded()))
    }
    return nil
}
