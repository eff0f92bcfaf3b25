// Persist before send (design S5): a `Ready`'s messages wait for the write that made
// their state durable, and for every earlier one; a failed write drops what waited
// on it, and the node neither votes nor acknowledges until its disk recovers.
import AgentLogging
import RaftCore

/// PersistPipeline is the bookkeeping of writes in flight and messages waiting for them.
struct PersistPipeline {
    /// lastSubmitted is the newest job handed to the disk; durable the newest made durable.
    var lastSubmitted: JobID = 0
    var durable: JobID = 0
    /// waiting holds messages with the job they wait for, in job order.
    var waiting: [(job: JobID, messages: [Message])] = []
    /// persistIDs: the core's number for each submitted job's Ready, told back to the
    /// core (`.persisted`) once the job is durable.
    var persistIDs: [(job: JobID, persistID: UInt64)] = []
    /// applying: committed entries (and an installed snapshot) to apply to the replicated
    /// state once the write they rest on is durable, in job order.
    var applying: [(job: JobID, snapshot: Snapshot?, entries: [Entry])] = []
    var error: String? = nil
    /// retryAt is when to ask a failing disk again.
    var retryAt: Instant? = nil

    /// messagesWaiting counts messages held for the disk (shutdown waits for none).
    var isFlushed: Bool { waiting.isEmpty }
}

extension AgentDriver {
    /// stepCore hands one event to the core and applies its `Ready` in the order the
    /// type prescribes. Returns the Ready (its `transferOutcome` for resign/shutdown).
    @discardableResult
    func stepCore(_ event: Event, now: Instant) -> Ready {
        let ready = raft.handle(event, now: now)
        apply(ready, now: now)
        return ready
    }

    private func apply(_ ready: Ready, now: Instant) {
        // 1. Office changes first: the view must not say "in office" a moment after the
        //    core decided otherwise (design §2), before anything of this step goes out.
        for change in ready.officeChanges { noteOffice(change, now: now) }
        if !ready.officeChanges.isEmpty { refreshOffice() }
        noteStateChanges(now: now)
        // 2. Durable state goes to the disk; 3. messages wait for it.
        if ready.needsPersist {
            pipeline.lastSubmitted = ports.persist.submit(ready)
            if let id = ready.persistID { pipeline.persistIDs.append((pipeline.lastSubmitted, id)) }
            if !ready.messages.isEmpty { pipeline.waiting.append((pipeline.lastSubmitted, ready.messages)) }
        } else if !ready.messages.isEmpty {
            if pipeline.error != nil {
                // A node whose disk fails neither votes nor acknowledges: what it would
                // say may rest on state it could not make durable.
            } else if pipeline.lastSubmitted <= pipeline.durable {
                ports.peers.send(ready.messages)
            } else {
                // An earlier write is still in flight: these may rest on it (a term
                // adopted without a message of its own), so they wait for it too.
                pipeline.waiting.append((pipeline.lastSubmitted, ready.messages))
            }
        }
        // Committed entries and an installed snapshot reach the replicated state with the
        // messages: a lone voter counts its own entries as soon as it appends them, and
        // only the disk makes that commit real (Ready.committedEntries).
        if !ready.committedEntries.isEmpty || ready.snapshotInstalled {
            let installed = ready.snapshotInstalled ? ready.snapshot : nil
            if !ready.needsPersist && pipeline.lastSubmitted <= pipeline.durable {
                applyCommitted(snapshot: installed, ready.committedEntries, now: now)
            } else {
                pipeline.applying.append((pipeline.lastSubmitted, installed, ready.committedEntries))
            }
        }
        // 4. Once the Ready is applied, the office changes reach the hook sequence;
        //    what it asks of the core in return goes through the inbox.
        for change in ready.officeChanges { officeChanged(change, now: now) }
        announceLeaderChange(now: now)
    }

    /// noteStateChanges logs a change of role, term or leader and counts elections.
    private func noteStateChanges(now: Instant) {
        let role = raft.role, term = raft.term, leader = raft.leader
        guard role != lastRole || term != lastTerm || leader != lastLeader else { return }
        if role == .candidate && lastRole != .candidate { counters.elections += 1 }
        if leader != lastLeader || term != lastTerm { view.leaderSince = now }
        let from = lastRole
        lastRole = role; lastTerm = term; lastLeader = leader
        let leaderName = name(leader)
        log("role", role == .follower && leaderName == nil ? .info : .notice,
            Self.roleMessage(role, term: term, leader: leaderName, me: settings.name),
            [("from_role", .string(from.rawValue))] + (leaderName.map { [("leader", .string($0))] } ?? []), .essential, term: term)
    }

    /// roleMessage says a role change in words, as the demo prints it.
    static func roleMessage(_ role: Role, term: Term, leader: String?, me: String) -> String {
        switch role {
        case .leader: "\(me) won the election of term \(term)"
        case .candidate: "\(me) campaigns in term \(term)"
        case .preCandidate: "\(me) asks for pre-votes for term \(term + 1)"
        case .follower: leader.map { "\(me) follows \($0), term \(term)" } ?? "\(me) knows no leader in term \(term)"
        }
    }

    private func noteOffice(_ change: OfficeChange, now: Instant) {
        counters.officeChanges += 1
        switch change {
        case .enter(let term, let leaseDeadline, let reason, let previous):
            view.leaderSince = now
            noteEnteredOffice(term: term, reason: reason, previous: previous, now: now)
            log("office-enter", .notice, "\(settings.name) enters office, term \(term) (its fencing token)",
                [("token", .number(term)), ("lease_deadline_boottime_ns", .number(leaseDeadline.nanoseconds)), ("reason", .string(reason.rawValue))]
                    + (name(previous).map { [("previous_leader", .string($0))] } ?? []), .essential, term: term)
        case .leave(let term, let reason):
            log("office-leave", .notice, "\(settings.name) leaves office, term \(term) (\(reason.rawValue))",
                [("token", .number(term)), ("reason", .string(reason.rawValue))], .essential, term: term)
        }
    }

    // MARK: The disk's answers

    func persisted(upTo job: JobID, now: Instant) {
        pipeline.durable = max(pipeline.durable, job)
        if pipeline.error != nil {
            log("storage-recovered", .notice, "the data dir accepts writes again; voting and acknowledging resume", [], .always)
            pipeline.error = nil
            pipeline.retryAt = nil
        }
        // The core hears that its state is durable before the messages that waited go
        // (a leader counts its own log and term only once they are on disk).
        var confirmed: UInt64? = nil
        var n = 0
        while n < pipeline.persistIDs.count, pipeline.persistIDs[n].job <= pipeline.durable {
            confirmed = pipeline.persistIDs[n].persistID
            n += 1
        }
        if n > 0 { pipeline.persistIDs.removeFirst(n) }
        if let confirmed { stepCore(.persisted(persistID: confirmed), now: now) }
        var sent = 0
        while sent < pipeline.waiting.count, pipeline.waiting[sent].job <= pipeline.durable {
            ports.peers.send(pipeline.waiting[sent].messages)
            sent += 1
        }
        if sent > 0 { pipeline.waiting.removeFirst(sent) }
        var applied = 0
        while applied < pipeline.applying.count, pipeline.applying[applied].job <= pipeline.durable {
            let a = pipeline.applying[applied]
            applyCommitted(snapshot: a.snapshot, a.entries, now: now)
            applied += 1
        }
        if applied > 0 { pipeline.applying.removeFirst(applied) }
        compactIfLong(now: now)
    }

    /// applyCommitted brings the replicated state forward: a snapshot the leader sent
    /// replaces it, then entries apply in order.
    func applyCommitted(snapshot: Snapshot?, _ entries: [Entry], now: Instant) {
        if let snapshot { replicated = ReplicatedState(snapshot: snapshot) }
        for e in entries { replicated.apply(e) }
    }

    func persistFailed(upTo job: JobID, error: String, now: Instant) {
        let first = pipeline.error == nil
        pipeline.error = error
        // Never send what rests on state that is not on disk. Committed entries keep
        // waiting: the retry writes what failed, and they apply then.
        pipeline.waiting.removeAll { $0.job <= job }
        if first {
            log("storage-failed", .error, "cannot make state durable: \(error); not voting or acknowledging until the disk recovers",
                [("error", .string(error))], .always)
        }
        if pipeline.retryAt == nil { pipeline.retryAt = now + settings.storageRetryInterval }
    }

    /// storageRetry asks a failing disk again once its retry time came.
    func storageRetry(now: Instant) {
        guard let at = pipeline.retryAt, now >= at else { return }
        pipeline.retryAt = nil
        if pipeline.error != nil { pipeline.lastSubmitted = ports.persist.submit(Ready()) }
    }

    // MARK: The transport's hints

    func peerDisconnected(_ id: NodeID, now: Instant) {
        guard raft.leader == id, raft.role == .follower else { return }
        let peer = name(id) ?? "\(id)"
        log("leader-connection-lost", .warning, "lost the connection to the leader \(peer)", [("leader", .string(peer))],
            .limited(key: "leader-connection-lost " + peer))
        stepCore(.leaderConnectionLost, now: now)
    }
}
