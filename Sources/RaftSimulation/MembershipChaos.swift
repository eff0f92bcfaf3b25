import RaftCore

/// MembershipStats count what a run did to the membership, so a summary shows the
/// checkers had configurations to check.
public struct MembershipStats: Sendable {
    public var proposed = 0
    public var appended = 0
    public var refused = 0
    public var configurationsCommitted = 0
    public var wipes = 0
    public var compactions = 0
    public var snapshotsInstalled = 0
    public var identityConflicts = 0
    /// wrongPeersRestarts: agents restarted with a wrong `--peers` (agent layer).
    public var wrongPeersRestarts = 0

    public init() {}

    mutating func note(_ ready: Ready) {
        switch ready.membershipOutcome {
        case .appended?: appended += 1
        case .refused?: refused += 1
        case nil: break
        }
        if ready.snapshot != nil { if ready.snapshotInstalled { snapshotsInstalled += 1 } else { compactions += 1 } }
        identityConflicts += ready.identityConflicts.count
    }

    public mutating func add(_ o: MembershipStats) {
        proposed += o.proposed; appended += o.appended; refused += o.refused
        configurationsCommitted += o.configurationsCommitted; wipes += o.wipes
        compactions += o.compactions; snapshotsInstalled += o.snapshotsInstalled
        identityConflicts += o.identityConflicts
        wrongPeersRestarts += o.wrongPeersRestarts
    }
}

extension Simulation {
    /// leaderIndex is a node that believes it leads (not paused), if any.
    func leaderIndex() -> Int? {
        (0..<nodeCount).first { nodes[$0].raft?.role == .leader && !nodes[$0].paused }
    }

    /// unboundFounding is what `--bootstrap` writes on an empty data dir: the founding
    /// members from the command line, no incarnation known.
    var unboundFounding: Configuration {
        Configuration(members: founding.members.map { var m = $0; m.incarnation = 0; return m })
    }

    /// propose asks leader `l` to put `c` in force (the operator's `baton members …`).
    mutating func proposeMembership(_ l: Int, _ c: Configuration, _ what: String) {
        membershipStats.proposed += 1
        note { "n\(l + 1) MEMBERSHIP \(what): voters \(c.voters.map { "\($0)" }) members \(c.members.count)" }
        step(l, .changeMembership(c))
    }

    /// membershipAct is one random membership operation of the safety phase: add a
    /// machine (as a learner on its way to voter or witness, or as an observer), promote
    /// a caught-up learner, remove a member or the leader itself, or wipe a data dir
    /// (the machine comes back with `--bootstrap` or waiting to be added).
    mutating func membershipAct() {
        let roll = rng.below(100)
        if roll >= 80 {
            let i = rng.below(nodeCount)
            guard mayWipe(i) else { return }
            wipe(i, bootstrap: rng.chance(ppm: 500_000), restartAfterNs: rng.uniform(10_000_000, 1_500_000_000))
            return
        }
        guard let l = leaderIndex(), let current = nodes[l].raft?.configuration else { return }
        var members = current.members
        switch roll {
        case 0..<25:
            let outside = (0..<nodeCount).filter { !current.contains(nodes[$0].id) }
            guard !outside.isEmpty else { return }
            let j = outside[rng.below(outside.count)]
            let kind = rng.below(10)
            let role: MemberRole = kind < 2 ? .observer : .learner
            members.append(Member(id: nodes[j].id, name: "n\(j + 1)", role: role,
                                  promotesTo: role == .learner ? (kind < 4 ? .witness : .voter) : nil))
            if !nodes[j].isUp && !nodes[j].paused {
                startProcess(j)
            }
            proposeMembership(l, Configuration(members: members), "add n\(j + 1) as \(role == .learner ? "learner" : "observer")")
        case 25..<45:
            promoteCaughtUpLearner(l)
        case 45..<70:
            let others = members.indices.filter { members[$0].id != nodes[l].id }
            guard !others.isEmpty else { return }
            let k = others[rng.below(others.count)]
            let gone = members.remove(at: k)
            proposeMembership(l, Configuration(members: members), "remove \(gone.name)")
        default:
            members.removeAll { $0.id == nodes[l].id }
            proposeMembership(l, Configuration(members: members), "remove the leader n\(l + 1)")
        }
    }

    /// promoteCaughtUpLearner promotes a learner that holds what the leader committed,
    /// binding the incarnation it was heard with (the agent does this on its own).
    mutating func promoteCaughtUpLearner(_ l: Int) {
        guard let raft = nodes[l].raft, raft.mayChangeMembership, let current = raft.configuration else { return }
        var members = current.members
        for k in members.indices where members[k].role == .learner {
            guard let p = raft.progress(of: members[k].id), p.matchIndex >= raft.commitIndex,
                  let seen = raft.seenIncarnation(of: members[k].id) else { continue }
            members[k].role = members[k].promotesTo
            if members[k].incarnation == 0 { members[k].incarnation = seen }
            proposeMembership(l, Configuration(members: members), "promote \(members[k].name) to \(members[k].role)")
            return
        }
    }

    /// maintain runs on each probe of node j: a leader promotes caught-up learners and
    /// repairs wiped members as an operator would (`baton members remove` then `add`),
    /// in the safety phase; any node compacts a long log.
    mutating func maintain(_ j: Int) {
        guard let raft = nodes[j].raft, !nodes[j].paused else { return }
        if phase == .safety && raft.role == .leader && membershipPpm > 0 && rng.chance(ppm: 300_000) {
            if !repairWipedMember(j) { promoteCaughtUpLearner(j) }
        }
        if membershipPpm > 0, raft.log.count > compactAfterEntries, raft.appliedIndex > (raft.snapshot?.index ?? 0) {
            let upTo = raft.appliedIndex
            note { "n\(j + 1) COMPACT to \(upTo)" }
            var state: [UInt8] = []
            var v = upTo
            for _ in 0..<8 { state.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
            step(j, .compact(upTo: upTo, appState: state))
        }
    }

    /// repairWipedMember: a member whose data dir was wiped is removed, then added back
    /// (the fix the agent logs for it); true when it proposed something.
    mutating func repairWipedMember(_ l: Int) -> Bool {
        guard let raft = nodes[l].raft, raft.mayChangeMembership, let current = raft.configuration else { return false }
        for k in repairs {
            if let m = current.member(nodes[k].id) {
                guard m.incarnation != 0, m.incarnation != nodes[k].incarnation else { continue }
                proposeMembership(l, Configuration(members: current.members.filter { $0.id != m.id }), "repair: remove wiped \(m.name)")
                return true
            } else if nodes[k].isUp {
                repairs.removeAll { $0 == k }
                let role: MemberRole = rng.chance(ppm: 200_000) ? .observer : .learner
                proposeMembership(l, Configuration(members: current.members + [Member(id: nodes[k].id, name: "n\(k + 1)", role: role)]),
                                  "repair: add n\(k + 1) again as \(role)")
                return true
            }
        }
        return false
    }

    /// mayWipe: the failure model Raft is built for keeps a majority of the voters'
    /// state. If a majority of the voters of the committed configuration lose their data
    /// dirs, the group's history is gone and a `--bootstrap` starts a new group, with
    /// new fencing tokens (as in etcd): no protocol can prevent that, so the simulator
    /// wipes a machine only when a majority keeps its state.
    func mayWipe(_ i: Int) -> Bool {
        var best: RaftNode? = nil
        for k in 0..<nodeCount { if let r = nodes[k].raft, r.commitIndex >= best?.commitIndex ?? 0 { best = r } }
        guard let c = best?.committedConfiguration else { return false }
        let intact = c.voters.filter { v in
            let k = Int(v.rawValue) - 1
            return k != i && !stateLost.contains(k)
        }
        return intact.count >= c.quorum
    }

    /// wipe deletes node i's data dir: the process dies, its disk is emptied, and it
    /// comes back later with a new incarnation — with `--bootstrap` (the founding
    /// members, unbound, as the README's command does) or waiting to be added.
    mutating func wipe(_ i: Int, bootstrap: Bool, restartAfterNs: Int64) {
        if nodes[i].isUp { crash(i, restartAfterNs: 0) }
        nodes[i].disk.wipe()
        nodes[i].incarnation = rng.next() | 1
        nodes[i].life &+= 1
        nodes[i].bootstrapOnRestart = bootstrap && i < foundingCount
        checker.wiped(node: i)
        stateLost.insert(i)
        membershipStats.wipes += 1
        if rng.chance(ppm: 700_000) && !repairs.contains(i) { repairs.append(i) }
        note { "n\(i + 1) WIPE data dir; back in \(Interval(nanoseconds: restartAfterNs)) \(nodes[i].bootstrapOnRestart ? "with --bootstrap" : "waiting to be added"), incarnation \(nodes[i].incarnation)" }
        schedule(nowNs + restartAfterNs, .restart, node: i, life: nodes[i].life)
    }

    /// prepareDisk gives a wiped data dir what `--bootstrap` writes at the first start
    /// after the wipe, when asked to; on any later start the data dir exists and the
    /// flag is ignored (as the agent ignores `--bootstrap` on an existing data dir).
    mutating func prepareDisk(_ i: Int) {
        defer { nodes[i].bootstrapOnRestart = false }
        guard nodes[i].bootstrapOnRestart, nodes[i].disk.snapshot == nil, nodes[i].disk.log.isEmpty,
              nodes[i].disk.hardState == HardState() else { return }
        nodes[i].disk.snapshot = .bootstrap(unboundFounding)
    }

    // MARK: - Liveness

    /// ProspectiveState is what node k would start from at the heal.
    struct ProspectiveState {
        var configuration: Configuration?
        var lastTerm: Term
        var lastIndex: LogIndex
    }

    func prospective(_ k: Int) -> ProspectiveState {
        if let raft = nodes[k].raft {
            return ProspectiveState(configuration: raft.configuration, lastTerm: raft.lastLogTerm, lastIndex: raft.lastLogIndex)
        }
        let d = nodes[k].disk
        var config = d.snapshot?.configuration
        for e in d.log { if case .configuration(let c) = e.payload { config = c } }
        if d.snapshot == nil && d.log.isEmpty && nodes[k].bootstrapOnRestart { config = unboundFounding }
        return ProspectiveState(configuration: config, lastTerm: d.log.last?.term ?? d.snapshot?.term ?? 0, lastIndex: d.lastIndex)
    }

    /// electableSet picks who to heal: the member with the most up-to-date log among
    /// those that may lead, and enough voters of its configuration that would vote for
    /// it — members in their own configuration, shown with an incarnation it binds (or
    /// unbound), and logs not ahead of its own. Nil when no such set exists (too many
    /// voters wiped and not yet replaced): the run then checks safety only.
    mutating func electableSet() -> [Int]? {
        let states = (0..<nodeCount).map { prospective($0) }
        func key(_ k: Int) -> (Term, LogIndex) { (states[k].lastTerm, states[k].lastIndex) }
        let leaders = (0..<nodeCount).filter { states[$0].configuration?.mayLead(nodes[$0].id) == true }
        guard let best = leaders.max(by: { key($0) < key($1) }), let c = states[best].configuration,
              let me = c.member(nodes[best].id), me.incarnation == 0 || me.incarnation == nodes[best].incarnation else { return nil }
        func votesFor(_ k: Int) -> Bool {
            guard k != best, let own = states[k].configuration, let ownRecord = own.member(nodes[k].id),
                  ownRecord.role != .observer,
                  let there = c.member(nodes[k].id), there.role.countsForQuorum,
                  there.incarnation == 0 || there.incarnation == nodes[k].incarnation else { return false }
            // It must hear the candidate too: its own configuration may bind another
            // incarnation of it.
            if let seenThere = own.member(nodes[best].id)?.incarnation, seenThere != 0, seenThere != nodes[best].incarnation {
                return false
            }
            return key(k) <= key(best)
        }
        var voters = (0..<nodeCount).filter(votesFor)
        let need = c.electionQuorum - 1
        guard voters.count >= need else { return nil }
        for k in stride(from: voters.count - 1, to: 0, by: -1) { voters.swapAt(k, rng.below(k + 1)) }
        let extra = rng.below(voters.count - need + 1)
        return [best] + Array(voters.prefix(need + extra))
    }
}
