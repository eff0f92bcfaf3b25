import AgentDriver
import Membership
import RaftCore

// Membership in the agent layer (issue 14, "Safety first"): operators change the
// members through the leader's API (`POST /members`, `DELETE /members/NAME`), the
// driver promotes caught-up learners itself, data dirs are wiped and come back with or
// without `--bootstrap`, and agents are restarted with a wrong `--peers` (a one-member
// list, a phantom member). The core layer's MembershipChaos drives the same operations
// on bare cores; here they go through the whole agent and its start-up, as a user's do.

extension AgentSimulation {
    /// unboundFounding is what `--bootstrap` writes on an empty data dir: the founding
    /// members from `--peers`, no incarnation known yet (DataDirStartup.makeDataDir).
    var unboundFounding: Configuration {
        Configuration(members: founders.map { Member(id: $0.id, name: $0.name, role: .voter, peerAddress: $0.peerAddress) })
    }

    /// membershipAct is one random membership operation of the safety phase.
    func membershipAct() {
        let roll = rng.below(100)
        switch roll {
        case 0..<15:
            let i = rng.below(nodeCount)
            guard mayWipe(i) else { return }
            let bootstrap = rng.chance(ppm: 500_000) && mayBootstrapAfterWipe(i)
            wipe(i, bootstrap: bootstrap, restartAfterNs: rng.uniform(10_000_000, 1_500_000_000))
        case 15..<30:
            restartWithWrongPeers(rng.below(nodeCount))
        default:
            guard let l = leaderIndex, let current = nodes[l].driver?.raft.configuration else { return }
            // Now and then the operator asks a member that is not the leader (refused).
            let asked = rng.chance(ppm: 150_000) ? rng.below(nodeCount) : l
            switch roll {
            case 30..<55:
                let outside = (0..<nodeCount).filter { !current.contains(nodes[$0].id) }
                guard !outside.isEmpty else { return }
                let j = outside[rng.below(outside.count)]
                // A member the group removed must be wiped before it comes back (its
                // agent refuses the marked data dir): the replace flow.
                if nodes[j].removedMark { wipe(j, bootstrap: false, restartAfterNs: 0) }
                if !nodes[j].isUp { startProcess(j) }
                let role: MemberRole = rng.chance(ppm: 200_000) ? .observer : .voter
                operatorRequest(asked, .add(name: nodes[j].name, peerAddress: peerAddress(j), apiAddress: apiAddress(j),
                                            role: role, priority: Member.defaultPriority))
            case 55..<62:
                repairWipedMember(asked, current)
            case 62..<88:
                let others = current.members.filter { $0.id != nodes[l].id }
                guard !others.isEmpty else { return }
                operatorRequest(asked, .remove(name: others[rng.below(others.count)].name))
            default:
                operatorRequest(asked, .remove(name: nodes[l].name))
            }
        }
    }

    func peerAddress(_ i: Int) -> String { "10.0.0.\(i + 1):7000" }
    func apiAddress(_ i: Int) -> String { "10.0.0.\(i + 1):8000" }

    /// operatorRequest sends `baton members add/remove` to node k (answered once the
    /// change commits, or refused), owed within the driver's wait plus slack.
    func operatorRequest(_ k: Int, _ change: MembershipRequest) {
        let node = nodes[k]
        guard node.isUp, !node.paused else { return }
        let request = nextRequest
        nextRequest += 1
        membershipStats.proposed += 1
        membershipRequests.insert(request)
        let wait = node.settings.membershipChangeWait.nanoseconds
        checker.asked(node: k, request: request, dueNs: nowNs + wait + wait / 4 + 100_000_000)
        note { "\(node.name) MEMBERSHIP req \(request): \(change)" }
        step(k, .membership(request, change, client: "simulated operator"))
    }

    /// repairWipedMember: a wiped member the configuration still binds to its old
    /// incarnation is removed, then added again once it runs (the fix the agent logs).
    func repairWipedMember(_ k: Int, _ current: Configuration) {
        for w in repairs {
            if let m = current.member(nodes[w].id) {
                guard m.incarnation != 0, m.incarnation != nodes[w].incarnation else { continue }
                return operatorRequest(k, .remove(name: m.name))
            } else if nodes[w].isUp {
                repairs.removeAll { $0 == w }
                return operatorRequest(k, .add(name: nodes[w].name, peerAddress: peerAddress(w), apiAddress: apiAddress(w),
                                               role: .voter, priority: Member.defaultPriority))
            }
        }
    }

    /// restartWithWrongPeers restarts node i with a wrong `--peers`: only itself (a typo,
    /// a stale config file), or the founders and a phantom member nobody runs. The stored
    /// membership must win; the flag is only a contact list.
    func restartWithWrongPeers(_ i: Int) {
        let node = nodes[i]
        guard !node.removedMark else { return }
        let wrong = rng.chance(ppm: 500_000)
            ? [DriverMember(name: node.name, peerAddress: peerAddress(i))]
            : founders + [DriverMember(name: "n99", peerAddress: "10.0.0.99:7000")]
        if node.isUp { crash(i, restartAfterNs: rng.uniform(10_000_000, 500_000_000)) }
        node.flagPeers = wrong
        membershipStats.wrongPeersRestarts += 1
        note { "\(node.name) next start with --peers \(wrong.map(\.name).joined(separator: ","))" }
        if !node.isUp && rng.chance(ppm: 300_000) { startProcess(i) }
    }

    /// mayWipe: Raft keeps a group's history while a majority of the committed
    /// configuration's voters keep their state; past that a `--bootstrap` starts a new
    /// group, which no protocol can prevent (as in the core layer's `mayWipe`).
    func mayWipe(_ i: Int) -> Bool {
        refreshStateLost()
        guard let c = bestCommittedConfiguration else { return false }
        let intact = c.voters.filter { v in
            guard let k = indexOf[v] else { return false }
            return k != i && !stateLost.contains(k)
        }
        return intact.count >= c.quorum
    }

    /// mayBootstrapAfterWipe: `--bootstrap` on an empty data dir writes the founders,
    /// unbound, and such a configuration elects only with every founder's vote (design
    /// S6). A founder that holds the group's state (or whose data dir says it was
    /// removed, or that waits to be added) refuses that vote, so re-bootstrapping joins
    /// the group rather than forming a second one — unless every other founder's state
    /// is gone too. When the group has moved on from its founding configuration (grown,
    /// shrunk, founders replaced) and no other founder holds its state, all founders
    /// re-bootstrapped form a new group under the same name: the operator's command
    /// line founds it, and no protocol among those machines can tell (they never hear
    /// the group). The simulator, like the core layer's `mayWipe`, keeps out of that.
    func mayBootstrapAfterWipe(_ i: Int) -> Bool {
        guard i < foundingCount else { return true }
        let founding = unboundFounding
        let movedOn = (0..<nodeCount).contains { k in prospect(k).configuration.map { $0 != founding } ?? false }
        guard movedOn else { return true }
        return (0..<foundingCount).contains { j in
            j != i && (nodes[j].removedMark || prospect(j).configuration != founding)
        }
    }

    /// bestCommittedConfiguration: the committed configuration of the running member
    /// furthest ahead.
    var bestCommittedConfiguration: Configuration? {
        var best: RaftNode? = nil
        for k in 0..<nodeCount { if let r = nodes[k].driver?.raft, r.commitIndex >= best?.commitIndex ?? 0 { best = r } }
        return best?.committedConfiguration
    }

    /// refreshStateLost forgets a wiped member once the committed configuration binds
    /// its new incarnation or no longer holds it.
    func refreshStateLost() {
        guard !stateLost.isEmpty, let c = bestCommittedConfiguration else { return }
        for k in stateLost {
            if let m = c.member(nodes[k].id) { if m.incarnation == nodes[k].incarnation { stateLost.remove(k) } }
            else { stateLost.remove(k) }
        }
    }

    /// wipe deletes node i's data dir: the process dies, the disk is emptied, and the
    /// agent comes back later on a new one — with `--bootstrap` (the README's command:
    /// founders only) or waiting to be added.
    func wipe(_ i: Int, bootstrap: Bool, restartAfterNs: Int64) {
        let node = nodes[i]
        if node.isUp { crash(i, restartAfterNs: 0) }
        node.durable = PersistentState()
        node.dataDirMade = false
        node.removedMark = false
        node.incarnation = rng.next() | 1
        node.life &+= 1
        node.bootstrapFlag = bootstrap && i < foundingCount
        stateLost.insert(i)
        membershipStats.wipes += 1
        if rng.chance(ppm: 700_000) && !repairs.contains(i) { repairs.append(i) }
        note { "\(node.name) WIPE data dir; back \(node.bootstrapFlag ? "with --bootstrap" : "waiting to be added"), incarnation \(node.incarnation)" }
        if restartAfterNs > 0 { schedule(nowNs + restartAfterNs, .restart, node: i, life: node.life) }
    }

    /// loadDataDir is the shell's start-up (DataDirStartup.openDataDir): a new data dir
    /// with `--bootstrap` gets the founding membership, one without waits to be added,
    /// an existing one is used as it is. With the peers-flag fault, a restart loads it
    /// as the first release did: the membership made from `--peers` replaces the stored one.
    func loadDataDir(_ i: Int, peers: [DriverMember]) -> PersistentState {
        let node = nodes[i]
        let restart = node.dataDirMade
        if !node.dataDirMade {
            node.dataDirMade = true
            if node.bootstrapFlag && i < foundingCount { node.durable.snapshot = .bootstrap(unboundFounding) }
        }
        guard restart, settings.faults.contains(.peersFlagOverridesMembership) else { return node.durable }
        let flags = Configuration(members: peers.map { Member(id: $0.id, name: $0.name, role: .voter, peerAddress: $0.peerAddress) })
        var state = node.durable
        if let s = state.snapshot {
            state.snapshot = Snapshot(index: s.index, term: s.term, configuration: flags, appState: s.appState)
        } else {
            state.snapshot = .bootstrap(flags)
        }
        state.log = state.log.map { e in
            guard case .configuration = e.payload else { return e }
            return Entry(index: e.index, term: e.term, payload: .configuration(flags))
        }
        return state
    }
}

extension AgentSimulation {
    /// Prospect is what node k would start from at the heal (the core layer's
    /// ProspectiveState, read from the agent's driver or its disk).
    struct Prospect {
        var configuration: Configuration?
        var lastTerm: Term
        var lastIndex: LogIndex
    }

    func prospect(_ k: Int) -> Prospect {
        let node = nodes[k]
        if let raft = node.driver?.raft {
            return Prospect(configuration: raft.configuration, lastTerm: raft.lastLogTerm, lastIndex: raft.lastLogIndex)
        }
        let d = node.durable
        var config = d.snapshot?.configuration
        for e in d.log { if case .configuration(let c) = e.payload { config = c } }
        if !node.dataDirMade && node.bootstrapFlag && k < foundingCount { config = unboundFounding }
        let lastIndex = max(d.log.last?.index ?? 0, d.snapshot?.index ?? 0)
        return Prospect(configuration: node.removedMark ? nil : config, lastTerm: d.log.last?.term ?? d.snapshot?.term ?? 0,
                        lastIndex: lastIndex)
    }

    /// electable says whether, with every machine healed and running, some member may
    /// win an election: the most up-to-date member that may lead, and enough voters of
    /// its configuration that would vote for it (members in their own configuration,
    /// with an incarnation it binds or unbound, logs not ahead of its own) for its
    /// election quorum — which is every voter while one is unbound (design S6). As the
    /// core layer's `electableSet`.
    func electable() -> Bool {
        let states = (0..<nodeCount).map(prospect)
        func key(_ k: Int) -> (Term, LogIndex) { (states[k].lastTerm, states[k].lastIndex) }
        let leaders = (0..<nodeCount).filter { states[$0].configuration?.mayLead(nodes[$0].id) == true }
        guard let best = leaders.max(by: { key($0) < key($1) }), let c = states[best].configuration,
              let me = c.member(nodes[best].id), me.incarnation == 0 || me.incarnation == nodes[best].incarnation else { return false }
        let voters = (0..<nodeCount).filter { k in
            guard k != best, let own = states[k].configuration, let ownRecord = own.member(nodes[k].id),
                  ownRecord.role != .observer,
                  let there = c.member(nodes[k].id), there.role.countsForQuorum,
                  there.incarnation == 0 || there.incarnation == nodes[k].incarnation else { return false }
            if let seen = own.member(nodes[best].id)?.incarnation, seen != 0, seen != nodes[best].incarnation { return false }
            return key(k) <= key(best)
        }
        return voters.count >= c.electionQuorum - 1
    }
}
