// Membership in the driver (issue 14, design S6): the members come from the replicated
// configuration, never from flags. After every core step the driver follows the
// configuration in force: the transport dials its members, the view lists them, a
// member the group removed stops for good, a caught-up learner is promoted, and the
// operator's changes (`POST /members`, `DELETE /members/NAME`) are proposed and
// answered once committed.
import AgentLogging
import Membership
import RaftCore

/// MembershipWaiter is a held membership request waiting for its change to commit.
struct MembershipWaiter {
    var request: RequestID
    var index: LogIndex
    var term: Term
    var description: String
    var start: Instant
    var deadline: Instant
}

/// QueuedMembershipRequest is an operator's change that arrived while the leader's own
/// bookkeeping (binding an incarnation, promoting a caught-up learner) was in flight: it
/// is proposed once that commits, so the operator never sees a 409 for a change they
/// did not make. At most `Limits.queuedMembershipRequests` wait.
struct QueuedMembershipRequest {
    var request: RequestID
    var change: MembershipRequest
    var description: String
    var start: Instant
    var deadline: Instant
}

extension AgentDriver {
    // MARK: Following the configuration

    /// syncMembers rebuilds what depends on the membership when the configuration in
    /// force changed (appended, truncated, or replaced by a snapshot), or who is retiring.
    func syncMembers(now: Instant) {
        let isolated = removedAt.map { now >= $0 + settings.removedLinger } ?? false
        let retiring = isolated ? [] : retiringMembers()
        let key = MembershipKey(index: raft.configurationIndex, snapshot: raft.snapshot?.index ?? 0,
                                configuration: raft.configuration, learned: learnedPeers.count,
                                retiring: retiring, isolated: isolated)
        guard key != membershipKey else { return }
        let first = membershipKey == nil
        membershipKey = key
        members = MemberTable(configuration: raft.configuration, contacts: settings.members + learnedPeers.values.sorted { $0.name < $1.name },
                              retiring: retiring)
        // Peers: the members of the configuration and those retiring from it, or — while
        // this node waits to be added and knows none — the contacts and whoever dialled
        // it (the leader that adds it reaches it first). A removed member, once it has
        // lingered long enough to hand over, talks to nobody.
        var peers = members.members.filter { $0.name != settings.name }
        // A member that can never lead (an observer, a witness, a learner, priority 0)
        // talks only to those that can, and to whoever is retiring: it has nothing to
        // say to another non-leader. 32 observers in a full mesh were 1,000 connections,
        // and each addition a burst of 68 handshakes that starved the voters' lease.
        if let c = raft.configuration, let mine = c.member(me), !mine.mayLead {
            let retiringNames = Set(retiring.map(\.name))
            peers = peers.filter { p in
                retiringNames.contains(p.name) || c.members.contains { $0.name == p.name && $0.mayLead }
            }
        }
        if raft.configuration?.contains(me) != true && removedAt == nil {
            for c in settings.members + learnedPeers.values.sorted(by: { $0.name < $1.name })
            where c.name != settings.name && !peers.contains(where: { $0.name == c.name }) {
                peers.append(c)
            }
        }
        if isolated { peers = [] }
        // No port call before the first input (the shell wires its ports after init).
        if started { ports.peers.setPeers(peers) }
        let views = peers.map { p in
            view.peer(p.name) ?? AgentView.PeerView(name: p.name, peerAddress: p.peerAddress)
        }.map { v -> AgentView.PeerView in
            var v = v
            v.peerAddress = peers.first { $0.name == v.name }?.peerAddress ?? v.peerAddress
            return v
        }
        view.peers = views
        peerIDs = views.map { nodeID(forName: $0.name) }
        view.members = (raft.configuration?.members ?? []).map {
            AgentView.MemberView(name: $0.name, role: $0.role, promotesTo: $0.role == .learner ? $0.promotesTo : nil,
                                 priority: $0.priority, incarnation: $0.incarnation, peerAddress: $0.peerAddress,
                                 apiAddress: $0.apiAddress)
        }
        view.generation &+= 1
        if !first, let c = raft.configuration {
            log("membership", .notice, "membership now: \(Self.describe(c))",
                [("voters", .number(c.voters.count)), ("members", .number(c.members.count)),
                 ("configuration_index", .number(raft.configurationIndex))], .always)
        }
    }

    /// retiringMembers: who is out of the configuration in force but must still be
    /// reached. A removal is final only once committed: until then the members it drops
    /// still get the change (the leader replicates it to them, and a farewell with the
    /// commit after it). A leader that removed itself hands over to its successor, so
    /// its followers keep talking to it while it leads their term.
    func retiringMembers() -> [DriverMember] {
        guard let inForce = raft.configuration else { return [] }
        var out: [DriverMember] = []
        func keep(_ name: String, _ address: String) {
            guard name != settings.name, !inForce.members.contains(where: { $0.name == name }),
                  !out.contains(where: { $0.name == name }) else { return }
            let route = settings.members.first { $0.name == name }?.peerAddress ?? address
            out.append(DriverMember(name: name, peerAddress: route))
        }
        if let committed = raft.committedConfiguration, committed != inForce {
            for m in committed.members { keep(m.name, m.peerAddress) }
        }
        // The leader of this term is reached even when the configuration in force does
        // not name it: a follower catching up from an old part of the log may hold a
        // configuration from before the leader joined (soak seed 1016).
        if let leader = raft.leader, leader != me, let name = members.name(leader) {
            if let m = members.member(named: name) {
                keep(m.name, m.peerAddress)
            } else if let c = settings.members.first(where: { $0.name == name }) ?? learnedPeers[name] {
                keep(c.name, c.peerAddress)
            }
        }
        return out.sorted { $0.name < $1.name }
    }

    static func describe(_ c: Configuration) -> String {
        c.members.map { m in
            m.role == .voter ? m.name : "\(m.name) (\(m.role == .learner ? "learner, to be \(m.promotesTo)" : "\(m.role)"))"
        }.joined(separator: ", ")
    }

    /// boundToThisNode: `configuration` names this node bound to this data dir's
    /// incarnation.
    func boundToThisNode(_ configuration: Configuration?) -> Bool {
        configuration?.member(me).map { $0.incarnation == settings.incarnation } ?? false
    }

    /// updateMembershipStatus says what this node is to the group. A member the group
    /// removed by a committed change is removed for good: it never votes or campaigns
    /// again (the core sees to that), says so, and its data dir is marked so an agent
    /// started on it refuses to run.
    func updateMembershipStatus(now: Instant) {
        let status: AgentView.MembershipStatus
        if removed {
            status = .removed
        } else if let own = raft.configuration?.member(me) {
            // Only a configuration that binds *this* data dir's incarnation proves the
            // group knew it as a member: a wiped member catching up on the leader's log
            // passes configurations that name an earlier incarnation of it, and the later
            // removal of that one is not its own (soak seed 1011).
            if boundToThisNode(raft.configuration) { wasMember = true }
            status = .member(own.role)
        } else if wasMember, let committed = raft.committedConfiguration, !committed.contains(me),
                  raft.commitIndex >= raft.configurationIndex {
            removed = true
            removedAt = now
            status = .removed
            ports.persist.recordRemoved()
            log("member-removed", .error,
                "\(settings.name) was removed from the group: it no longer votes or campaigns; stop this agent, and to bring the member back wipe its data dir and run 'baton members add \(settings.name) …' on a member",
                [], .always)
            follow(.updateCampaign)
        } else {
            status = .waitingToBeAdded
        }
        if view.membership != status {
            view.membership = status
            view.generation &+= 1
        }
    }

    // MARK: The leader's own changes

    /// promoteCaughtUpLearner: a learner that holds what is committed and would take
    /// office becomes what it was added as — a logged change, one at a time.
    func promoteCaughtUpLearner(now: Instant) {
        guard raft.role == .leader, raft.mayChangeMembership, shutdown == nil, let c = raft.configuration,
              c.members.contains(where: { $0.role == .learner }) else { return }
        let node = raft
        guard let p = promotion(in: c, commitIndex: raft.commitIndex,
                                progress: { node.progress(of: $0).map { ($0.matchIndex, $0.canLead) } },
                                seenIncarnation: { node.seenIncarnation(of: $0) }) else { return }
        let ready = stepCore(.changeMembership(p.configuration), now: now)
        if case .appended(let index)? = ready.membershipOutcome {
            let role = p.configuration.member(named: p.member)?.role ?? .voter
            log("member-promoted", .notice, "\(p.member) caught up: promoted to \(role)",
                [("member", .string(p.member)), ("role", .string(role.description)), ("index", .number(index))], .always)
        }
    }

    /// compactIfLong replaces the applied prefix of a long log by a snapshot holding the
    /// replicated state, so the data dir stays bounded (issue 14).
    func compactIfLong(now: Instant) {
        guard raft.log.count > settings.compactAfterEntries, replicated.appliedIndex > (raft.snapshot?.index ?? 0),
              replicated.appliedIndex <= raft.appliedIndex else { return }
        stepCore(.compact(upTo: replicated.appliedIndex, appState: replicated.encoded()), now: now)
    }

    // MARK: Operator requests

    /// membership handles `POST /members` and `DELETE /members/NAME` on this node: only
    /// the leader changes membership; the answer waits for the change to commit.
    func membership(_ request: RequestID, _ change: MembershipRequest, client: String, now: Instant) {
        func refuse(_ status: Int, _ reason: String) {
            ports.responder.answer(request, ApiAnswer(status: status, [
                .init("reason", .string(reason)), .init("term", .int(Int64(raft.term)))]))
        }
        guard raft.role == .leader, let current = raft.configuration else {
            let leader = raft.leader.flatMap { $0 == me ? nil : name($0) }
            return ports.responder.answer(request, ApiAnswer(status: 409, [
                .init("reason", .string(leader == nil ? "no leader is known to this node; retry in a moment" : "only the leader changes membership; ask it")),
                .init("leader", leader.map { .member($0) } ?? .null), .init("term", .int(Int64(raft.term)))]))
        }
        guard shutdown == nil else { return refuse(503, "this node is stopping") }
        let what = Self.describe(change)
        log("membership-requested", .notice, "\(what) requested by \(client)",
            [("change", .string(what)), ("client", .string(client))], .always)
        // The change in flight is the leader's own (a binding or a promotion), or the new
        // leader's first entry has not committed yet: wait rather than refuse — after
        // checking the request against what holds now.
        let ownChangeInFlight = raft.isChangingMembership && membershipWaiters.isEmpty
        let termStarting = !raft.isChangingMembership && !raft.mayChangeMembership && !raft.isTransferring
        if ownChangeInFlight || termStarting {
            do { _ = try change.apply(to: current) } catch {
                log("membership-refused", .warning, "\(what) refused: \(error.message)",
                    [("change", .string(what)), ("why", .string(error.message))], .always)
                return refuse(error.status, error.message)
            }
            guard queuedMembership.count < DriverSettings.queuedMembershipRequests else {
                return refuse(503, "\(queuedMembership.count) membership requests are already waiting; retry in a moment")
            }
            queuedMembership.append(QueuedMembershipRequest(request: request, change: change, description: what,
                                                            start: now, deadline: now + settings.membershipChangeWait))
            return
        }
        propose(request, change, current: current, what: what, now: now)
    }

    /// propose appends an operator's change and holds the request until it commits.
    private func propose(_ request: RequestID, _ change: MembershipRequest, current: Configuration, what: String, now: Instant) {
        func refuse(_ status: Int, _ reason: String) {
            log("membership-refused", .warning, "\(what) refused: \(reason)", [("change", .string(what)), ("why", .string(reason))], .always)
            ports.responder.answer(request, ApiAnswer(status: status, [
                .init("reason", .string(reason)), .init("term", .int(Int64(raft.term)))]))
        }
        let new: Configuration
        do { new = try change.apply(to: current) } catch { return refuse(error.status, error.message) }
        let ready = stepCore(.changeMembership(new), now: now)
        switch ready.membershipOutcome {
        case .appended(let index)?:
            membershipWaiters.append(MembershipWaiter(request: request, index: index, term: raft.term, description: what,
                                                      start: now, deadline: now + settings.membershipChangeWait))
        case .refused(let why)?:
            refuse(why == .notLeader ? 409 : why == .termNotCommitted ? 503 : 409, why.description)
        case nil:
            refuse(500, "the core did not say what became of the change")
        }
    }

    /// proposeQueuedMembership proposes the oldest queued request once the change in
    /// flight committed; a leader that stepped down sends the queue to the new leader.
    func proposeQueuedMembership(now: Instant) {
        while let q = queuedMembership.first {
            if raft.role != .leader || shutdown != nil {
                queuedMembership.removeFirst()
                let leader = raft.leader.flatMap { $0 == me ? nil : name($0) }
                ports.responder.answer(q.request, ApiAnswer(status: 409, [
                    .init("reason", .string("the leadership moved while the change waited; ask the new leader")),
                    .init("leader", leader.map { .member($0) } ?? .null), .init("term", .int(Int64(raft.term)))]))
                continue
            }
            if now >= q.deadline {
                queuedMembership.removeFirst()
                ports.responder.answer(q.request, ApiAnswer(status: 503, [
                    .init("reason", .string("the change in flight did not commit within \(settings.membershipChangeWait.formatted); retry")),
                    .init("term", .int(Int64(raft.term)))]))
                continue
            }
            guard raft.mayChangeMembership, let current = raft.configuration else { return }
            queuedMembership.removeFirst()
            propose(q.request, q.change, current: current, what: q.description, now: now)
        }
    }

    static func describe(_ change: MembershipRequest) -> String {
        switch change {
        case .add(let name, let peer, _, let role, _): "add \(name) (\(peer)) as \(role)"
        case .remove(let name): "remove \(name)"
        case .setPriority(let name, let priority): "set the priority of \(name) to \(priority)"
        }
    }

    /// answerMembershipWaiters answers held requests whose change committed, or can no
    /// longer (the leadership moved), or whose wait ran out.
    func answerMembershipWaiters(now: Instant) {
        guard !membershipWaiters.isEmpty else { return }
        var i = 0
        while i < membershipWaiters.count {
            let w = membershipWaiters[i]
            let answer: ApiAnswer?
            if raft.commitIndex >= w.index && raft.term == w.term {
                answer = ApiAnswer(status: 200, [.init("changed", .bool(true)), .init("change", .string(w.description)),
                                                  .init("index", .int(Int64(w.index))), .init("term", .int(Int64(raft.term)))])
            } else if raft.term != w.term || raft.role != .leader {
                answer = ApiAnswer(status: 503, [.init("changed", .null), .init("change", .string(w.description)),
                                                  .init("reason", .string("the leadership moved before the change committed; see 'baton members' for whether it took effect")),
                                                  .init("term", .int(Int64(raft.term)))])
            } else if now >= w.deadline {
                answer = ApiAnswer(status: 503, [.init("changed", .null), .init("change", .string(w.description)),
                                                  .init("reason", .string("the change did not commit within \(settings.membershipChangeWait.formatted): a majority of the voters is not reachable")),
                                                  .init("term", .int(Int64(raft.term)))])
            } else {
                answer = nil
            }
            guard let answer else { i += 1; continue }
            membershipWaiters.remove(at: i)
            log("membership-answered", .info, "\(w.description): \(answer.status) after \((now - w.start).nanoseconds / 1_000_000) ms",
                [("status", .number(answer.status))], .always)
            ports.responder.answer(w.request, answer)
        }
    }
}

/// MembershipKey is what, when it changes, makes the driver rebuild its member tables.
struct MembershipKey: Equatable {
    var index: LogIndex
    var snapshot: LogIndex
    var configuration: Configuration?
    var learned: Int
    var retiring: [DriverMember]
    var isolated: Bool
}
