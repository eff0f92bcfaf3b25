/// RaftNode is one member's Raft state machine, with pre-vote, check-quorum, leader
/// leases, leadership transfer and membership changes, as design §2 and S6 specify.
///
/// It does no I/O and reads no clock: every input is an `Event` with `now`, this node's
/// monotonic clock, and every output is a `Ready` that the driver applies in the order
/// that type documents (office changes, then fsync, then send). Randomness comes from a
/// seeded generator, so a simulator seed replays one history exactly.
///
/// Membership is replicated state: the configuration in force is the last one in the
/// log (or the snapshot's), whether committed or not; changes are single-server, one at
/// a time, and only after an entry of the leader's own term committed. Non-voting
/// members (learners, observers) receive the log and never count. Every message names
/// its sender's incarnation; a member bound to another one is not heard.
///
/// References: Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm"
/// (Figure 2, §5.4 log up-to-date check, §8 no-op entry); Ongaro's thesis §3.10
/// (leadership transfer), §4.1–4.2 (single-server membership changes, catching up new
/// servers, removing the leader), §5 (log compaction, InstallSnapshot), §6.4 (leases),
/// §9.6 (pre-vote, check-quorum); Ongaro, "bug in single-server membership changes",
/// raft-dev, 2015 (a leader changes membership only after committing an entry of its term).
public struct RaftNode: Sendable {
    public let id: NodeID
    /// This member's incarnation: the random id its data dir was created with.
    public let incarnation: UInt64
    public let options: Options

    // MARK: Durable state (Raft Figure 2), reported in Ready when it changes.

    /// HardState as this node currently sees it (may be ahead of disk until the Ready
    /// that carries it is applied).
    public private(set) var hardState: HardState
    private var raftLog: RaftLog
    /// What the last Ready told the driver to persist, to report only changes.
    private var reportedHardState: HardState
    /// The highest index handed to the driver in `Ready.committedEntries` (or covered by
    /// a snapshot it was given).
    public private(set) var appliedIndex: LogIndex
    /// What the driver confirmed durable (`.persisted`): the term, and how far the log
    /// matches this node's log. A leader counts itself for commit and lease only so far.
    private var durableTerm: Term
    private var durableIndex: LogIndex
    /// Readies handed out for persistence and not yet confirmed: their number and the
    /// term and last index they make durable (bounded by the driver's storage queue).
    private var unconfirmedPersists: [(id: UInt64, term: Term, lastIndex: LogIndex)] = []
    private var nextPersistID: UInt64 = 1

    // MARK: Volatile state

    public private(set) var role: Role = .follower
    /// The leader of the current term, when known.
    public private(set) var leader: NodeID? = nil
    /// The current term of office, if this node is in office (check `isInOffice(at:)`:
    /// the lease may have lapsed since the last event).
    public private(set) var office: Office? = nil
    /// When this node last heard from a leader (design §2 "Stickiness"): an append of
    /// the current leader, this node's own broadcast while it leads, or process start.
    public private(set) var lastContact: Instant
    /// The term of the leader heard at `lastContact` (the transfer exception is for
    /// exactly one term above it).
    public private(set) var lastContactTerm: Term
    /// The last leader other than this node that this node knew of (for
    /// `OfficeChange.enter`'s `previousLeader`); survives role changes.
    public private(set) var lastOtherLeader: NodeID? = nil
    /// Whether the running campaign was started by TimeoutNow (its office's reason).
    private var campaignIsTransfer = false
    /// The incarnation each peer's latest message carried, and the configuration index in
    /// force when it arrived: binding uses only what was heard since the member's latest
    /// addition, so a removed member's old data dir is never bound to its new membership.
    private var seenIncarnation: [NodeID: (incarnation: UInt64, atConfiguration: LogIndex)] = [:]

    private var electionDeadline: Instant
    /// Set after a dropped leader connection: campaign then, if earlier than the deadline.
    private var earlyCampaignAt: Instant? = nil
    private var tally: VoteTally? = nil
    /// Pre-vote refusals for stickiness: when each voter will be free to grant.
    private var preVoteReadyAt: [NodeID: Instant] = [:]

    // Leader state.
    private var progress: [NodeID: Progress] = [:]
    private var leaderSince: Instant = .distantPast
    /// The index of this leader's no-op: once committed, it may change membership.
    private var termStartIndex: LogIndex = 0
    private var heartbeatDeadline: Instant = .distantFuture
    /// Check-quorum: a leader steps down at this instant unless its lease moves it on.
    private var stepDownDeadline: Instant = .distantFuture
    /// The latest lease this leader holds (its own clock); `.distantPast` when none.
    private var leaseDeadline: Instant = .distantPast
    /// This leader's latest broadcast send time: its own echo in the lease quorum.
    private var lastBroadcast: Instant = .distantPast
    private var transfer: Transfer? = nil
    /// The term whose office this node left: it never re-enters office in it (S3).
    private var leftOfficeTerm: Term? = nil

    private var rng: SeededGenerator
    private var ready = Ready()

    /// Progress is what a leader knows of one member's log and lease echo.
    struct Progress: Sendable {
        var matchIndex: LogIndex = 0
        var nextIndex: LogIndex = 1
        /// The latest of this leader's send times that the member echoed in this term.
        var lastEcho: Instant = .distantPast
        /// Whether the member's latest response said it would take a TimeoutNow (it may
        /// lead and is not held back). Assumed until it says otherwise.
        var canLead = true
        /// When a snapshot was last sent to it (resent only after an election timeout).
        var snapshotSentAt: Instant = .distantPast
    }

    /// Transfer is a leadership hand-over in progress (design §2 "Planned hand-over").
    struct Transfer: Sendable {
        var target: NodeID
        /// The driver named the target: it is never swapped for another.
        var named: Bool
        var reason: LeaveReason
        /// TimeoutNow waits for the demote hook of the office this node left.
        var demoteFinished: Bool
        /// Give up (step down, ordinary election) if not done by then.
        var deadline: Instant
    }

    /// Creates a node from its durable state; process start counts as contact with a
    /// leader, so a (re)started node grants no vote and does not campaign for
    /// `electionTimeoutMin` (it may have acknowledged a leader just before it stopped).
    /// A state without snapshot is a member waiting to be added: it neither votes nor
    /// campaigns until the log tells it it is a member.
    public init(id: NodeID, incarnation: UInt64 = 1, options: Options,
                restoring state: PersistentState, seed: UInt64, now: Instant) throws(OptionsError) {
        try options.validate()
        let base = state.snapshot?.index ?? 0
        for (offset, entry) in state.log.enumerated() where entry.index != base + LogIndex(offset + 1) {
            throw OptionsError(message: "restored log is not contiguous at position \(offset + 1) (index \(entry.index), snapshot at \(base))")
        }
        if state.hardState.term > Limits.maxTerm || state.log.contains(where: { $0.term > Limits.maxTerm || $0.index > Limits.maxLogIndex })
            || (state.snapshot.map { $0.term > Limits.maxTerm || $0.index > Limits.maxLogIndex } ?? false) {
            throw OptionsError(message: "restored term \(max(state.hardState.term, state.log.last?.term ?? 0)) or index is beyond the largest a group can reach (\(Limits.maxTerm)): the data is damaged")
        }
        let log = RaftLog(snapshot: state.snapshot, entries: state.log)
        if state.hardState.commitIndex > log.lastIndex {
            throw OptionsError(message: "restored commit index \(state.hardState.commitIndex) is beyond the log (last index \(log.lastIndex))")
        }
        if let c = log.latestConfiguration {
            do { try c.validate() } catch { throw OptionsError(message: "restored configuration: \(error.message)") }
        }
        self.id = id
        self.incarnation = incarnation
        self.options = options
        self.hardState = state.hardState
        self.reportedHardState = state.hardState
        self.raftLog = log
        // Entries up to the commit index were applied before the restart, or are in the
        // snapshot; the driver rebuilds its state from the snapshot and these.
        self.appliedIndex = max(state.hardState.commitIndex, base)
        self.durableTerm = state.hardState.term
        self.durableIndex = log.lastIndex
        self.lastContact = now
        self.lastContactTerm = state.hardState.term
        self.rng = SeededGenerator(seed: seed)
        self.electionDeadline = now
        self.electionDeadline = now + randomElectionTimeout()
    }

    /// A founding member of `configuration` (tests and the simulator): the state is the
    /// bootstrap snapshot unless `state` already holds one.
    public init(id: NodeID, configuration: Configuration, options: Options,
                restoring state: PersistentState, seed: UInt64, now: Instant) throws(OptionsError) {
        var s = state
        if s.snapshot == nil { s.snapshot = .bootstrap(configuration) }
        guard configuration.contains(id) else {
            throw OptionsError(message: "node \(id) is not a member of \(configuration.voters)")
        }
        do { try configuration.validate() } catch { throw OptionsError(message: error.message) }
        try self.init(id: id, incarnation: configuration.member(id)?.incarnation ?? 1, options: options,
                      restoring: s, seed: seed, now: now)
    }

    // MARK: Queries

    public var term: Term { hardState.term }
    public var commitIndex: LogIndex { hardState.commitIndex }
    public var lastLogIndex: LogIndex { raftLog.lastIndex }
    public var lastLogTerm: Term { raftLog.lastTerm }
    /// The entries after the snapshot.
    public var log: [Entry] { raftLog.entries }
    /// The payload bytes of `log`, kept within `Limits.maxLogDataBytes` by `propose`.
    /// A follower's log is always a copy of some leader's (Log Matching), so the
    /// leader's bound holds for it too.
    public var logDataBytes: Int { raftLog.dataBytes }
    public var snapshot: Snapshot? { raftLog.snapshot }
    /// The configuration in force on this node (the last one appended); nil while it
    /// waits to be added and has received nothing.
    public var configuration: Configuration? {
        #if BATON_FAULT_INJECTION
        if has(.configOnCommit) { return raftLog.configuration(atOrBefore: commitIndex) }
        #endif
        return raftLog.latestConfiguration
    }
    /// The index the configuration in force was appended at.
    public var configurationIndex: LogIndex { raftLog.latestConfigurationIndex }
    /// The configuration committed on this node (what it may rely on: a member it
    /// removes never comes back without a new change).
    public var committedConfiguration: Configuration? { raftLog.configuration(atOrBefore: commitIndex) }
    /// This node's own record in the configuration in force.
    public var selfMember: Member? { configuration?.member(id) }
    public var isWitness: Bool { selfMember?.role == .witness }
    /// False while the driver holds this node back from campaigning (see
    /// `Event.setCampaignAllowed`); it still votes and acknowledges.
    public private(set) var campaignAllowed = true
    /// mayCampaign: a voter that may lead (not a witness, priority above 0) and is not
    /// held back by the driver.
    private var mayCampaign: Bool { campaignAllowed && selfMayLead }
    /// selfMayLead: this node's own record lets it lead (a voter, priority above 0) and
    /// is of this data dir: a record bound to an earlier incarnation is a wiped member's
    /// old self, which must not campaign even where no peer is left to refuse it (a
    /// snapshot whose configuration has that old self as sole voter: sim seed 112003
    /// with `--membership always`, a LeaderCompleteness violation).
    private var selfMayLead: Bool {
        guard let me = selfMember, me.incarnation == 0 || me.incarnation == incarnation else { return false }
        #if BATON_FAULT_INJECTION
        if has(.priorityZeroCampaigns) { return me.role == .voter }
        #endif
        return me.mayLead
    }
    /// electionsPaused: the group is paused (`Event.setElectionsPaused`); only a
    /// TimeoutNow starts a campaign.
    public private(set) var electionsPaused = false
    /// mayStartElection: may campaign on its own timer (not only when asked to).
    private var mayStartElection: Bool {
        #if BATON_FAULT_INJECTION
        if has(.pauseIgnoredByCandidate) { return mayCampaign }
        #endif
        return mayCampaign && !electionsPaused
    }
    /// wouldLead: what an append answer reports as `canLead` — `mayCampaign`, or for a
    /// learner on its way to voter, whether it could lead once promoted (the leader
    /// promotes only such a learner, so a held node never becomes a voter that will not
    /// take over).
    private var wouldLead: Bool {
        guard campaignAllowed, let m = selfMember else { return false }
        return m.mayLead || (m.role == .learner && m.promotesTo == .voter && m.priority > 0)
    }
    /// mayVote: a member that counts or may come to count for quorums (voters,
    /// witnesses, learners on their way in). Observers, removed members and members
    /// still waiting to be added never vote.
    private var mayVote: Bool {
        guard let role = selfMember?.role else { return false }
        return role != .observer
    }

    /// isInOffice answers "is this node the application's leader right now?" from the
    /// lease and the clock at answer time, never from a cached role (design §2).
    public func isInOffice(at now: Instant) -> Bool {
        guard let office else { return false }
        return now < office.leaseDeadline
    }

    /// nextDeadline is when the driver must deliver `.tick` next.
    public var nextDeadline: Instant {
        switch role {
        case .leader:
            var d = min(heartbeatDeadline, stepDownDeadline)
            if let t = transfer, t.demoteFinished { d = min(d, t.deadline) }
            return d
        case .follower, .preCandidate, .candidate:
            if !mayStartElection { return .distantFuture }
            return min(electionDeadline, earlyCampaignAt ?? .distantFuture)
        }
    }

    /// What a leader holds for `peer` (for status): its match index, latest lease
    /// echo, and whether it said it would take over on a TimeoutNow.
    public func progress(of peer: NodeID) -> (matchIndex: LogIndex, lastEcho: Instant, canLead: Bool)? {
        guard role == .leader, let p = progress[peer] else { return nil }
        return (p.matchIndex, p.lastEcho, p.canLead)
    }

    /// isTransferring: this leader has left office and is handing over.
    public var isTransferring: Bool { role == .leader && transfer != nil }

    /// isChangingMembership: a configuration is appended and not yet committed.
    public var isChangingMembership: Bool { raftLog.latestConfigurationIndex > commitIndex }

    /// mayChangeMembership: this leader would append a change now (one in flight at most,
    /// after an entry of its term committed).
    public var mayChangeMembership: Bool {
        role == .leader && transfer == nil && !isChangingMembership && commitIndex >= termStartIndex
    }

    /// seenIncarnation(of:) is the incarnation `peer`'s latest message carried.
    /// Only what was heard since `peer` last became a member counts (see `seenIncarnation`).
    public func seenIncarnation(of peer: NodeID) -> UInt64? {
        guard let seen = seenIncarnation[peer], seen.incarnation != 0,
              let since = raftLog.memberSince(peer), seen.atConfiguration >= since else { return nil }
        return seen.incarnation
    }

    // MARK: Input

    /// handle applies one input and returns what the driver must do about it.
    public mutating func handle(_ event: Event, now: Instant) -> Ready {
        ready = Ready()
        // A process that was stopped must notice that its lease passed before anything
        // else (design §2 "Answers check the clock").
        checkLease(now)
        switch event {
        case .message(let m): step(m, now)
        case .tick: tick(now)
        case .leaderConnectionLost: scheduleEarlyCampaign(now)
        case .transferLeadership(let target, let reason): beginTransfer(to: target, reason: reason, now)
        case .setCampaignAllowed(let allowed): setCampaignAllowed(allowed, now)
        case .setElectionsPaused(let paused): setElectionsPaused(paused, now)
        case .shutdown: beginTransfer(to: nil, reason: .shutdown, now)
        case .demoteFinished(let t): finishDemote(term: t, now)
        case .propose(let bytes): propose(bytes, now)
        case .changeMembership(let c): changeMembership(c, now)
        case .compact(let upTo, let appState): compact(upTo: upTo, appState: appState)
        case .persisted(let persistID): confirmPersisted(persistID, now)
        }
        emitCommitted()
        if hardState != reportedHardState {
            var durable = hardState
            #if BATON_FAULT_INJECTION
            if has(.sendBeforePersist) && hardState.votedFor != reportedHardState.votedFor {
                // The injected bug: the vote goes out before it is durable (breaks S5);
                // it is reported one Ready late.
                durable.votedFor = hardState.term == reportedHardState.term ? reportedHardState.votedFor : nil
            }
            #endif
            if durable != reportedHardState {
                ready.hardState = durable
                reportedHardState = durable
            }
        }
        if ready.needsPersist {
            ready.persistID = nextPersistID
            // Bounded: a driver confirms in order, and its storage queue is bounded far
            // below this; dropping the oldest only delays what counts as durable.
            if unconfirmedPersists.count >= 65_536 { unconfirmedPersists.removeFirst(1024) }
            unconfirmedPersists.append((nextPersistID, reportedHardState.term, lastLogIndex))
            nextPersistID += 1
        }
        let out = ready
        ready = Ready()
        return out
    }

    /// isReplication: what only a leader sends its followers — appends (heartbeats
    /// included) and snapshots.
    static func isReplication(_ body: Message.Body) -> Bool {
        switch body {
        case .append, .installSnapshot: true
        default: false
        }
    }

    // MARK: Term check shared by all roles (style rule 3)

    private mutating func step(_ m: Message, _ now: Instant) {
        guard m.to == id, m.from != id else { return }
        // Absurd terms and indexes are dropped before anything adopts them (Limits.maxTerm).
        guard m.term <= Limits.maxTerm, Limits.admits(m.body) else { return }
        // Identity (design S6): a member whose incarnation is bound is heard only as that
        // incarnation. A wiped data dir comes back with a new one and is refused until it
        // is removed and added again. Replication from a leader is the exception: it won
        // its term from voters that checked its incarnation against their own, newer
        // configurations, and a follower catching up from an old part of the log may hold
        // a configuration that binds that member's earlier incarnation (or omits it);
        // refusing the leader there would leave the follower stuck at that configuration
        // forever (the fault suite's membership soak, seeds 1016 and 1024). Votes, pre-votes
        // and TimeoutNow stay checked: a wiped member still cannot vote or be elected.
        if let bound = configuration?.member(m.from)?.incarnation, bound != 0, bound != m.incarnation,
           !Self.isReplication(m.body) {
            #if BATON_FAULT_INJECTION
            let accept = has(.acceptNewIncarnation)
            #else
            let accept = false
            #endif
            if !accept {
                ready.identityConflicts.append(IdentityConflict(member: m.from, bound: bound, seen: m.incarnation))
                return
            }
        }
        seenIncarnation[m.from] = (m.incarnation, configurationIndex)
        if m.term > term {
            switch m.body {
            case .preVote:
                // Never adopt a term from a pre-vote request: that is its point.
                handlePreVote(m, now)
                return
            case .preVoteResponse(granted: true, _):
                break  // carries the proposed term; handled by stepPreCandidate
            case .vote(_, _, let isTransfer):
                if inStickiness(now) && !transferExempt(isTransfer, m.term) {
                    // In-lease nodes ignore higher-term votes without adopting the term,
                    // so a rejoining node cannot depose a live leader (L3).
                    return
                }
                becomeFollower(term: m.term, leader: nil, now, reason: .higherTerm)
            case .append, .timeoutNow, .installSnapshot:
                becomeFollower(term: m.term, leader: m.from, now, reason: .higherTerm)
            case .preVoteResponse, .voteResponse, .appendResponse:
                becomeFollower(term: m.term, leader: nil, now, reason: .higherTerm)
            }
        } else if m.term < term {
            switch m.body {
            case .append(_, _, _, _, let sendTime), .installSnapshot(_, let sendTime):
                // Tell a stale leader about the newer term so it steps down.
                respondAppend(to: m.from, success: false, match: 0, hint: 0, echo: sendTime)
            case .preVote:
                send(to: m.from, .preVoteResponse(granted: false, stickinessRemaining: .zero))
            default:
                break
            }
            return
        }

        switch m.body {
        case .preVote: handlePreVote(m, now)
        case .vote: handleVote(m, now)
        default:
            switch role {
            case .follower: stepFollower(m, now)
            case .preCandidate: stepPreCandidate(m, now)
            case .candidate: stepCandidate(m, now)
            case .leader: stepLeader(m, now)
            }
        }
    }

    // MARK: Votes

    /// inStickiness: this node heard from a leader less than `electionTimeoutMin` ago,
    /// so it grants no vote, no pre-vote and does not campaign itself (design §2).
    private func inStickiness(_ now: Instant) -> Bool {
        #if BATON_FAULT_INJECTION
        if has(.noStickiness) { return false }
        #endif
        return now < lastContact + options.electionTimeoutMin
    }

    private func stickinessRemaining(_ now: Instant) -> Interval {
        inStickiness(now) ? (lastContact + options.electionTimeoutMin) - now : .zero
    }

    /// transferExempt: a campaign started by TimeoutNow may skip stickiness, but only
    /// for exactly the term after the one in which we last heard from the leader — that
    /// leader left office before sending TimeoutNow and never returns to it (§2).
    private func transferExempt(_ isTransfer: Bool, _ candidateTerm: Term) -> Bool {
        isTransfer && lastContactTerm < Limits.maxTerm && candidateTerm == lastContactTerm + 1
    }

    /// logUpToDate is Raft §5.4.1: never vote for a candidate whose log is behind ours.
    private func logUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        #if BATON_FAULT_INJECTION
        if has(.skipLogCheck) { return true }
        #endif
        return lastTerm > lastLogTerm || (lastTerm == lastLogTerm && lastIndex >= lastLogIndex)
    }

    private mutating func handlePreVote(_ m: Message, _ now: Instant) {
        guard case .preVote(let lastIndex, let lastTerm) = m.body else { return }
        let remaining = stickinessRemaining(now)
        if remaining > .zero {
            send(to: m.from, .preVoteResponse(granted: false, stickinessRemaining: remaining))
            return
        }
        let grant = mayVote && m.term > term && logUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        // A grant carries the proposed term, a refusal our own (so a lagging
        // pre-candidate learns the current term).
        sendMessage(Message(from: id, to: m.from, term: grant ? m.term : term,
                            body: .preVoteResponse(granted: grant, stickinessRemaining: .zero),
                            incarnation: incarnation))
    }

    private mutating func handleVote(_ m: Message, _ now: Instant) {
        guard case .vote(let lastIndex, let lastTerm, let isTransfer) = m.body else { return }
        precondition(m.term == term, "handleVote: term check must have run")
        let free = hardState.votedFor == m.from || (hardState.votedFor == nil && leader == nil)
        let grant = free && mayVote
            && !(inStickiness(now) && !transferExempt(isTransfer, m.term))
            && logUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
            && !(role == .leader)
        if grant {
            hardState.votedFor = m.from
            electionDeadline = now + randomElectionTimeout()
        }
        send(to: m.from, .voteResponse(granted: grant))
    }

    // MARK: Follower

    private mutating func stepFollower(_ m: Message, _ now: Instant) {
        switch m.body {
        case .append:
            noteLeader(m.from)
            handleAppend(m, now)
        case .installSnapshot:
            noteLeader(m.from)
            handleSnapshot(m, now)
        case .timeoutNow:
            // A node held back (start-up hook, failing check) lets the transfer time out;
            // an ordinary election follows among the others.
            if !mayCampaign { return }
            // The leader of our term left office and asks us to campaign now (§2).
            becomeCandidate(transfer: true, now)
        default:
            break
        }
    }

    /// noteContact: the leader of this term was heard (stickiness and timers restart).
    private mutating func noteContact(_ now: Instant) {
        lastContact = now
        lastContactTerm = term
        earlyCampaignAt = nil
        electionDeadline = now + randomElectionTimeout()
    }

    private mutating func handleAppend(_ m: Message, _ now: Instant) {
        guard case .append(let prevIndex, let prevTerm, var entries, let leaderCommit, let sendTime) = m.body else { return }
        noteContact(now)
        var prev = prevIndex
        if prev < raftLog.snapshotIndex {
            // What precedes our snapshot is committed and matches: skip to it.
            entries.removeAll { $0.index <= raftLog.snapshotIndex }
            if let first = entries.first, first.index != raftLog.snapshotIndex + 1 {
                respondAppend(to: m.from, success: false, match: 0, hint: 0, echo: sendTime)
                return
            }
            prev = raftLog.snapshotIndex
            respondAfterMatch(m.from, prev: prev, entries: entries, leaderCommit: leaderCommit, sendTime: sendTime)
            return
        }
        if prev > lastLogIndex || raftLog.term(at: prev) != prevTerm {
            let hint: LogIndex
            if prev > lastLogIndex {
                hint = lastLogIndex + 1
            } else {
                // Skip back over the whole run of the conflicting term (Raft §5.3 note).
                var i = prev
                let conflictTerm = raftLog.term(at: prev)
                while i > max(commitIndex, raftLog.snapshotIndex) + 1 && raftLog.term(at: i - 1) == conflictTerm { i -= 1 }
                hint = max(i, max(commitIndex, raftLog.snapshotIndex) + 1)
            }
            respondAppend(to: m.from, success: false, match: 0, hint: hint, echo: sendTime)
            return
        }
        respondAfterMatch(m.from, prev: prev, entries: entries, leaderCommit: leaderCommit, sendTime: sendTime)
    }

    /// respondAfterMatch appends `entries` after the matching `prev` and answers.
    private mutating func respondAfterMatch(_ from: NodeID, prev: LogIndex, entries: [Entry],
                                            leaderCommit: LogIndex, sendTime: Instant) {
        // Refuse, changing nothing, an append that is malformed or that would rewrite a
        // committed entry: a correct leader never sends one (Leader Completeness).
        var expected = prev + 1
        for entry in entries {
            let rewritesCommitted = entry.index <= commitIndex && raftLog.term(at: entry.index) != entry.term
            if entry.index != expected || entry.term > term || rewritesCommitted {
                respondAppend(to: from, success: false, match: 0, hint: 0, echo: sendTime)
                return
            }
            if case .configuration(let c) = entry.payload, (try? c.validate()) == nil {
                respondAppend(to: from, success: false, match: 0, hint: 0, echo: sendTime)
                return
            }
            expected += 1
        }
        for entry in entries {
            if entry.index <= lastLogIndex {
                if raftLog.term(at: entry.index) == entry.term { continue }
                truncateLog(from: entry.index)
            }
            appendToLog(entry)
        }
        let match = prev + LogIndex(entries.count)
        let newCommit = min(leaderCommit, match)
        if newCommit > commitIndex { hardState.commitIndex = newCommit }
        respondAppend(to: from, success: true, match: match, hint: 0, echo: sendTime)
    }

    /// handleSnapshot installs a leader's snapshot that is ahead of what this node has
    /// committed (thesis §5.1); one that is not is acknowledged without change.
    private mutating func handleSnapshot(_ m: Message, _ now: Instant) {
        guard case .installSnapshot(let s, let sendTime) = m.body else { return }
        noteContact(now)
        if s.index <= commitIndex || s.index <= raftLog.snapshotIndex {
            respondAppend(to: m.from, success: true, match: min(s.index, commitIndex), hint: 0, echo: sendTime)
            return
        }
        if s.term > term || s.appState.count > Limits.maxSnapshotAppStateBytes || (try? s.configuration.validate()) == nil {
            respondAppend(to: m.from, success: false, match: 0, hint: 0, echo: sendTime)
            return
        }
        let keepsSuffix = s.index <= lastLogIndex && raftLog.term(at: s.index) == s.term
        raftLog.compact(to: s)
        // Storage drops what the snapshot covers; what follows it survives only when the
        // log held the snapshot's last entry (thesis §5.1), else it is cut explicitly.
        if !keepsSuffix { ready.truncateFrom = s.index + 1 }
        // What is on disk now may be a log the snapshot replaced: nothing counts as
        // durable until the write holding the snapshot is confirmed.
        durableIndex = 0
        for k in unconfirmedPersists.indices { unconfirmedPersists[k].lastIndex = 0 }
        ready.snapshot = s
        ready.snapshotInstalled = true
        // Entries the Ready already carried up to the snapshot are superseded by it.
        ready.entries.removeAll { $0.index <= s.index }
        ready.committedEntries.removeAll { $0.index <= s.index }
        hardState.commitIndex = s.index
        appliedIndex = s.index
        respondAppend(to: m.from, success: true, match: s.index, hint: 0, echo: sendTime)
    }

    /// respondAppend answers an append; every answer says whether this node would take
    /// over on a TimeoutNow, so a leader handing over does not pick one that will not.
    private mutating func respondAppend(to peer: NodeID, success: Bool, match: LogIndex, hint: LogIndex, echo: Instant) {
        send(to: peer, .appendResponse(success: success, matchIndex: match, hintIndex: hint,
                                       echoedSendTime: echo, canLead: wouldLead))
    }

    /// scheduleEarlyCampaign: the connection to the leader dropped (a hint). Campaign as
    /// soon as stickiness allows, staggered by rank so that followers do not split the
    /// vote (design §2 "Early campaign"). Safety never depends on this.
    private mutating func scheduleEarlyCampaign(_ now: Instant) {
        guard role == .follower, let current = leader, mayStartElection else { return }
        let rank = campaignRank(excluding: current)
        #if BATON_FAULT_INJECTION
        // The injected bug lets the node campaign inside its own stickiness window.
        let free = has(.selfVoteIgnoresStickiness) ? now : max(now, lastContact + options.electionTimeoutMin)
        #else
        let free = max(now, lastContact + options.electionTimeoutMin)
        #endif
        earlyCampaignAt = free + options.earlyCampaignStagger * rank
    }

    /// campaignRank orders the voters that may lead by priority (highest first), then id,
    /// and returns this node's place among them: a higher priority campaigns earlier.
    private func campaignRank(excluding other: NodeID?) -> Int64 {
        guard let c = configuration else { return 0 }
        let eligible = c.members.filter { $0.mayLead && $0.id != other }
            .sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
        return Int64(eligible.firstIndex { $0.id == id } ?? 0)
    }

    // MARK: Campaigns

    private mutating func campaign(_ now: Instant) {
        precondition(selfMayLead, "campaign: only a voter that may lead campaigns")
        if options.preVote { becomePreCandidate(now) } else { becomeCandidate(transfer: false, now) }
    }

    private mutating func newTally() -> VoteTally {
        let c = configuration!
        return VoteTally(voters: c.voters, quorum: c.electionQuorum)
    }

    private mutating func becomePreCandidate(_ now: Instant) {
        role = .preCandidate
        leader = nil
        earlyCampaignAt = nil
        var t = newTally()
        t.record(id, granted: true)
        tally = t
        preVoteReadyAt.removeAll()
        electionDeadline = now + randomElectionTimeout()
        // At the bound there is no next term to ask for (Limits.maxTerm).
        guard term < Limits.maxTerm else { return }
        for peer in configuration!.voters where peer != id {
            sendMessage(Message(from: id, to: peer, term: term + 1,
                                body: .preVote(lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm),
                                incarnation: incarnation))
        }
        if t.result == .won { becomeCandidate(transfer: false, now) }
    }

    private mutating func becomeCandidate(transfer isTransfer: Bool, _ now: Instant) {
        precondition(selfMayLead, "becomeCandidate: only a voter that may lead campaigns")
        guard term < Limits.maxTerm else { return }  // no next term (Limits.maxTerm)
        campaignIsTransfer = isTransfer
        role = .candidate
        hardState.term += 1
        hardState.votedFor = id
        leader = nil
        earlyCampaignAt = nil
        var t = newTally()
        t.record(id, granted: true)
        tally = t
        electionDeadline = now + randomElectionTimeout()
        for peer in configuration!.voters where peer != id {
            send(to: peer, .vote(lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm, transfer: isTransfer))
        }
        if t.result == .won { becomeLeader(now) }
    }

    private mutating func stepPreCandidate(_ m: Message, _ now: Instant) {
        switch m.body {
        case .preVoteResponse(let granted, let remaining):
            guard var t = tally else { return }
            if granted {
                guard term < Limits.maxTerm, m.term == term + 1 else { return }
                t.record(m.from, granted: true)
            } else {
                t.record(m.from, granted: false)
                if remaining > .zero { preVoteReadyAt[m.from] = now + remaining }
            }
            tally = t
            switch t.result {
            case .won: becomeCandidate(transfer: false, now)
            case .lost: lostPreVote(now)
            case .pending:
                // Voters that never answer (a crashed leader) keep the round pending;
                // the stickiness hints still say when a quorum will be free.
                if let retry = preVoteRetryTime(now) { electionDeadline = min(electionDeadline, retry) }
            }
        case .append:
            becomeFollower(term: term, leader: m.from, now, reason: nil)
            handleAppend(m, now)
        case .installSnapshot:
            becomeFollower(term: term, leader: m.from, now, reason: nil)
            handleSnapshot(m, now)
        case .timeoutNow:
            if mayCampaign { becomeCandidate(transfer: true, now) }
        default:
            break
        }
    }

    /// lostPreVote: back to follower; when refusals said how long their stickiness
    /// runs, retry as soon as enough voters will be free to make a quorum.
    private mutating func lostPreVote(_ now: Instant) {
        let retry = preVoteRetryTime(now)
        becomeFollower(term: term, leader: nil, now, reason: nil)
        if let retry { electionDeadline = min(electionDeadline, retry) }
    }

    /// preVoteRetryTime: when enough voters (grants now, sticky refusals when their
    /// stickiness ends) will be free to form a quorum, plus 1 ms and a stagger by rank
    /// so that pre-candidates do not collide; nil when the refusals do not say.
    private func preVoteRetryTime(_ now: Instant) -> Instant? {
        guard let tally else { return nil }
        var readyTimes: [Instant] = []
        for voter in tally.voters {
            if tally.answers[voter] == true { readyTimes.append(now) } else if let t = preVoteReadyAt[voter] { readyTimes.append(t) }
        }
        guard readyTimes.count >= tally.quorum else { return nil }
        readyTimes.sort()
        return readyTimes[tally.quorum - 1] + .milliseconds(1) + options.earlyCampaignStagger * campaignRank(excluding: nil)
    }

    private mutating func stepCandidate(_ m: Message, _ now: Instant) {
        switch m.body {
        case .voteResponse(let granted):
            guard var t = tally else { return }
            t.record(m.from, granted: granted)
            tally = t
            switch t.result {
            case .won: becomeLeader(now)
            case .lost: becomeFollower(term: term, leader: nil, now, reason: nil)
            case .pending: break
            }
        case .append:
            becomeFollower(term: term, leader: m.from, now, reason: nil)
            handleAppend(m, now)
        case .installSnapshot:
            becomeFollower(term: term, leader: m.from, now, reason: nil)
            handleSnapshot(m, now)
        default:
            break
        }
    }

    // MARK: Leader

    private mutating func becomeLeader(_ now: Instant) {
        precondition(role == .candidate, "becomeLeader: only a candidate wins")
        role = .leader
        leader = id
        leaderSince = now
        transfer = nil
        tally = nil
        leaseDeadline = .distantPast
        progress.removeAll()
        syncProgress()
        // A no-op at the start of the term lets the leader commit earlier entries (§8);
        // once it commits, the leader may change membership.
        appendToLog(Entry(index: lastLogIndex + 1, term: term, payload: .noop))
        termStartIndex = lastLogIndex
        maybeCommit(now)  // a one-voter group commits at once
        // Check-quorum: without any acknowledgement within Emin, step down.
        stepDownDeadline = now + options.electionTimeoutMin
        broadcastAppend(now)
    }

    /// syncProgress keeps one progress record per member this leader replicates to: the
    /// members of the configuration in force and, while it is not committed, of the one
    /// before it (a member being removed still learns of its removal).
    private mutating func syncProgress() {
        guard role == .leader else { return }
        var wanted = Set(configuration?.members.map(\.id) ?? [])
        if isChangingMembership, let previous = raftLog.configuration(before: configurationIndex) {
            wanted.formUnion(previous.members.map(\.id))
        }
        wanted.remove(id)
        for peer in progress.keys.sorted() where !wanted.contains(peer) {
            guard let p = progress.removeValue(forKey: peer) else { continue }
            // A farewell: one last heartbeat carrying the commit index, so a member that
            // holds the change removing it learns that the change committed (and that
            // it is out for good) rather than waiting forever for a leader.
            if p.matchIndex > 0, let prevTerm = raftLog.term(at: p.matchIndex) {
                send(to: peer, .append(prevLogIndex: p.matchIndex, prevLogTerm: prevTerm, entries: [],
                                       leaderCommit: commitIndex, sendTime: lastBroadcast))
            }
        }
        for peer in wanted where progress[peer] == nil {
            progress[peer] = Progress(matchIndex: 0, nextIndex: lastLogIndex + 1)
        }
    }

    private mutating func stepLeader(_ m: Message, _ now: Instant) {
        guard case .appendResponse(let success, let matchIndex, let hintIndex, let echo, let canLead) = m.body,
              var p = progress[m.from] else { return }
        p.canLead = canLead
        // Only send times of this term, not later than our latest broadcast, count:
        // anything else is stale or forged and must not extend the lease.
        if echo >= leaderSince && echo <= lastBroadcast {
            #if BATON_FAULT_INJECTION
            let t = has(.leaseFromAckTime) ? now : echo
            #else
            let t = echo
            #endif
            if t > p.lastEcho { p.lastEcho = t }
        }
        // Send again at once only when this reply moved nextIndex: a reply that moves
        // nothing (a duplicate, the answer to a duplicated append) was already answered
        // by the one that did, and answering it again would keep one more append in
        // flight for every duplicate until the follower caught up.
        var resend = false
        if success {
            if matchIndex > lastLogIndex { progress[m.from] = p; return }  // nonsense from a broken peer
            if matchIndex > p.matchIndex { p.matchIndex = matchIndex }
            let before = p.nextIndex
            p.nextIndex = max(p.nextIndex, matchIndex + 1)
            p.snapshotSentAt = .distantPast
            resend = p.nextIndex > before && p.nextIndex <= lastLogIndex
        } else if hintIndex > 0 {
            let next = max(p.matchIndex + 1, min(hintIndex, lastLogIndex + 1))
            // A fresh refusal always hints below nextIndex; anything else is stale.
            if next < p.nextIndex {
                p.nextIndex = next
                resend = true
            }
        }
        progress[m.from] = p
        if success { maybeCommit(now) }
        if resend, role == .leader, progress[m.from] != nil { sendAppend(to: m.from, now) }
        guard role == .leader else { return }
        updateLease(now)
        if transfer != nil { advanceTransfer(kick: false, now) }
    }

    private mutating func broadcastAppend(_ now: Instant) {
        lastBroadcast = now
        lastContact = now
        lastContactTerm = term
        heartbeatDeadline = now + options.heartbeatInterval
        for peer in progress.keys.sorted() { sendAppend(to: peer, now) }
        updateLease(now)
    }

    private mutating func sendAppend(to peer: NodeID, _ now: Instant) {
        guard var p = progress[peer] else { return }
        let prev = p.nextIndex - 1
        if prev < raftLog.snapshotIndex, let snapshot = raftLog.snapshot {
            // The entries it needs are compacted: send the snapshot, at most once per
            // election timeout while unanswered; heartbeats keep its lease echo coming.
            if now >= p.snapshotSentAt + options.electionTimeoutMax {
                p.snapshotSentAt = now
                progress[peer] = p
                send(to: peer, .installSnapshot(snapshot, sendTime: lastBroadcast))
            } else {
                send(to: peer, .append(prevLogIndex: raftLog.snapshotIndex, prevLogTerm: raftLog.snapshotTerm, entries: [],
                                       leaderCommit: commitIndex, sendTime: lastBroadcast))
            }
            return
        }
        // At most maxEntriesPerAppend entries and Limits.maxAppendDataBytes of their data,
        // but always one entry when any is due (a single entry is within the byte budget).
        let countEnd = min(lastLogIndex, prev + LogIndex(options.maxEntriesPerAppend))
        var last = prev, dataBytes = 0
        while last < countEnd {
            let size = raftLog.entry(at: last + 1).dataBytes
            if last > prev && dataBytes + size > Limits.maxAppendDataBytes { break }
            dataBytes += size
            last += 1
        }
        let entries = prev < last ? raftLog.slice(from: prev + 1, through: last) : []
        send(to: peer, .append(prevLogIndex: prev, prevLogTerm: raftLog.term(at: prev) ?? 0, entries: entries,
                               leaderCommit: commitIndex, sendTime: lastBroadcast))
    }

    /// maybeCommit advances the commit index to what a majority of the voters in force
    /// hold; then a committed change that no longer lets this leader lead hands over,
    /// and a configuration with unbound incarnations gets them bound.
    private mutating func maybeCommit(_ now: Instant) {
        guard role == .leader, let c = configuration else { return }
        var matches: [LogIndex] = []
        for voter in c.voters {
            matches.append(voter == id ? (termDurable ? min(lastLogIndex, durableIndex) : 0) : progress[voter]?.matchIndex ?? 0)
        }
        guard !matches.isEmpty else { return }
        let n = quorumLargest(matches, quorum: c.quorum)
        // Only entries of the current term are committed by counting (Raft §5.4.2).
        guard n > commitIndex, raftLog.term(at: n) == term else { return }
        hardState.commitIndex = n
        syncProgress()
        if transfer == nil, let committed = committedConfiguration, !committed.mayLead(id),
           committed == configuration {
            // Thesis §4.2.2: a leader that a committed change removed (or that may no
            // longer lead) steps aside — here by a planned hand-over (demote first).
            beginTransfer(to: nil, reason: .membershipChanged, now)
            return
        }
        bindIncarnations(now)
    }

    /// bindIncarnations records the incarnation of every member whose incarnation is not
    /// bound yet and who has been heard: after that a wiped data dir is refused, and
    /// elections need a majority rather than every voter (`electionQuorum`).
    private mutating func bindIncarnations(_ now: Instant) {
        guard mayChangeMembership, let c = configuration else { return }
        var members = c.members
        var changed = false
        for i in members.indices where members[i].incarnation == 0 {
            let member = members[i].id
            if member == id {
                members[i].incarnation = incarnation
                changed = true
            } else if let seen = seenIncarnation(of: member) {
                members[i].incarnation = seen
                changed = true
            }
        }
        guard changed else { return }
        appendConfiguration(Configuration(members: members), now)
    }

    /// updateLease recomputes the lease and enters office when the first lease is held
    /// (design §2 "The lease"). The lease runs from a send time that a quorum of voters
    /// echoed — of the configuration in force and, while that is not committed, of the
    /// one before it too (a candidate may still count either).
    private mutating func updateLease(_ now: Instant) {
        guard let c = configuration else { return }
        var anchor = leaseAnchor(c)
        if isChangingMembership, let previous = raftLog.configuration(before: configurationIndex) {
            anchor = min(anchor, leaseAnchor(previous))
        }
        guard anchor > .distantPast else { return }
        let deadline = anchor + options.leaseDuration
        if deadline > leaseDeadline { leaseDeadline = deadline }
        guard now < leaseDeadline else { return }
        // Once a lease is held, it alone decides: the moment it lapses the leader leaves
        // office and steps down (the initial grace of Emin applies only before it).
        stepDownDeadline = leaseDeadline
        #if BATON_FAULT_INJECTION
        let shown = has(.noLeaseCheck) ? Instant.distantFuture : leaseDeadline
        #else
        let shown = leaseDeadline
        #endif
        if var current = office {
            current.leaseDeadline = shown
            office = current
        } else if transfer == nil && leftOfficeTerm != term && selfMayLead {
            office = Office(term: term, since: now, leaseDeadline: shown)
            ready.officeChanges.append(.enter(term: term, leaseDeadline: leaseDeadline,
                                              reason: campaignIsTransfer ? .transfer : .election,
                                              previousLeader: lastOtherLeader))
        }
    }

    /// leaseAnchor is the quorum-th largest echoed send time among `c`'s voters (this
    /// leader's own latest broadcast counts for itself when it is one of them).
    private func leaseAnchor(_ c: Configuration) -> Instant {
        var echoes: [Instant] = []
        for voter in c.voters {
            echoes.append(voter == id ? (termDurable ? lastBroadcast : .distantPast) : progress[voter]?.lastEcho ?? .distantPast)
        }
        guard !echoes.isEmpty else { return .distantPast }
        return quorumLargest(echoes, quorum: c.quorum)
    }

    /// checkLease: the moment the lease lapses the leader leaves office and steps down
    /// (check-quorum); it never re-enters office in that term.
    private mutating func checkLease(_ now: Instant) {
        guard role == .leader, options.checkQuorum else { return }
        #if BATON_FAULT_INJECTION
        if has(.noLeaseCheck) {
            stepDownDeadline = .distantFuture  // the injected bug: never step down
            return
        }
        #endif
        if now >= stepDownDeadline {
            becomeFollower(term: term, leader: nil, now, reason: .leaseLost)
        }
    }

    private mutating func leaveOffice(_ reason: LeaveReason) {
        leftOfficeTerm = term
        if let current = office {
            office = nil
            ready.officeChanges.append(.leave(term: current.term, reason: reason))
        }
    }

    // MARK: Membership

    private mutating func changeMembership(_ new: Configuration, _ now: Instant) {
        func refuse(_ why: MembershipRefusal) { ready.membershipOutcome = .refused(why) }
        guard role == .leader, transfer == nil, let current = configuration else { return refuse(.notLeader) }
        #if BATON_FAULT_INJECTION
        let oneAtATime = !has(.twoChangesInFlight)
        let afterTermCommit = !has(.changeBeforeTermCommit)
        #else
        let oneAtATime = true
        let afterTermCommit = true
        #endif
        if oneAtATime && isChangingMembership { return refuse(.changeInProgress) }
        if afterTermCommit && commitIndex < termStartIndex { return refuse(.termNotCommitted) }
        do { try new.validate() } catch { return refuse(.invalid(error.message)) }
        if new == current { return refuse(.unchanged) }
        if !new.votersDifferByAtMostOne(from: current) { return refuse(.notSingleChange) }
        appendConfiguration(new, now)
        ready.membershipOutcome = .appended(index: lastLogIndex)
    }

    /// appendConfiguration appends `new` (in force at once) and replicates it.
    private mutating func appendConfiguration(_ new: Configuration, _ now: Instant) {
        appendToLog(Entry(index: lastLogIndex + 1, term: term, payload: .configuration(new)))
        syncProgress()
        sendNewEntry(now)
        maybeCommit(now)
        updateLease(now)
    }

    // MARK: Durability

    /// confirmPersisted: Readies up to `id` are durable. A leader may now count its own
    /// entries for commit and its own broadcast for the lease.
    private mutating func confirmPersisted(_ id: UInt64, _ now: Instant) {
        var advanced = false
        while let first = unconfirmedPersists.first, first.id <= id {
            unconfirmedPersists.removeFirst()
            durableTerm = max(durableTerm, first.term)
            durableIndex = first.lastIndex
            advanced = true
        }
        guard advanced, role == .leader else { return }
        maybeCommit(now)
        if role == .leader { updateLease(now) }
    }

    /// termDurable: this leader's term is on disk, so its own echo may anchor a lease.
    private var termDurable: Bool { durableTerm >= term }

    // MARK: Compaction

    private mutating func compact(upTo index: LogIndex, appState: [UInt8]) {
        guard index > raftLog.snapshotIndex, index <= commitIndex, index <= appliedIndex,
              appState.count <= Limits.maxSnapshotAppStateBytes,
              let termThere = raftLog.term(at: index),
              let config = raftLog.configuration(atOrBefore: index) else { return }
        let s = Snapshot(index: index, term: termThere, configuration: config, appState: appState)
        raftLog.compact(to: s)
        ready.snapshot = s
        ready.snapshotInstalled = false
    }

    // MARK: Leadership transfer

    private mutating func beginTransfer(to requested: NodeID?, reason: LeaveReason, _ now: Instant) {
        guard role == .leader else { return ready.transferOutcome = .refused(.notLeader) }
        guard transfer == nil else { return ready.transferOutcome = .refused(.inProgress) }
        if let requested, requested == id || configuration?.mayLead(requested) != true {
            return ready.transferOutcome = .refused(.targetNotEligible)
        }
        let target = transferTarget(requested)
        // A hand-over the operator asked for is refused, changing nothing, when nobody
        // would take over (a named target that cannot lead, or no peer that can):
        // leaving office then would only leave the group without a leader. Shutdown,
        // a failed check, a failed promote or a membership change must leave office
        // regardless.
        if target == nil && (requested != nil || reason == .transfer) {
            return ready.transferOutcome = .refused(.noSuccessorReady)
        }
        let wasInOffice = office != nil
        leaveOffice(reason)
        guard let target else {
            // Nobody to hand over to (one node, or only witnesses): just step down.
            becomeFollower(term: term, leader: nil, now, reason: nil)
            ready.transferOutcome = .steppedDown
            return
        }
        transfer = Transfer(target: target, named: requested != nil, reason: reason, demoteFinished: !wasInOffice,
                            deadline: now + options.electionTimeoutMax)
        ready.transferOutcome = .started(target: target)
        advanceTransfer(kick: true, now)
    }

    /// transferTarget: the requested member if it may lead, else the most up-to-date
    /// voter that may lead (ties: the highest priority, the freshest echo, then the
    /// lowest id). A member may lead when the configuration lets it and its latest
    /// response said it would take a TimeoutNow: one still in its start-up hook, or with
    /// a failing check, would ignore it.
    private func transferTarget(_ requested: NodeID?) -> NodeID? {
        guard let c = configuration else { return nil }
        func mayLead(_ peer: NodeID) -> Bool {
            peer != id && c.mayLead(peer) && (progress[peer]?.canLead ?? false)
        }
        if let requested { return mayLead(requested) ? requested : nil }
        var best: NodeID? = nil
        for peer in c.voters where mayLead(peer) {
            guard let b = best else { best = peer; continue }
            let (p, q) = (progress[peer]!, progress[b]!)
            let (pp, qp) = (c.member(peer)!.priority, c.member(b)!.priority)
            if (p.matchIndex, pp, p.lastEcho) > (q.matchIndex, qp, q.lastEcho) { best = peer }
        }
        return best
    }

    private mutating func finishDemote(term demotedTerm: Term, _ now: Instant) {
        guard role == .leader, demotedTerm == term, var t = transfer, !t.demoteFinished else { return }
        t.demoteFinished = true
        t.deadline = now + options.electionTimeoutMax
        transfer = t
        advanceTransfer(kick: true, now)
    }

    /// advanceTransfer sends TimeoutNow once the demote hook finished and the target's
    /// log is caught up, then becomes a follower. Until then ordinary replication
    /// catches the target up, paced as it is for any follower; a `kick` (the hand-over
    /// just became free to go, or changed target) sends the target one append at once
    /// instead of waiting for the next heartbeat, which keeps the hand-over fast.
    /// A reply never sends one here: stepLeader already sent what that reply called
    /// for, and sending on every reply (from any member) ping-ponged without end with
    /// a target that refuses each append while it waits for a paced snapshot.
    private mutating func advanceTransfer(kick: Bool, _ now: Instant) {
        guard var t = transfer else { return }
        var kick = kick
        if !t.named, progress[t.target]?.canLead != true, let other = transferTarget(nil) {
            // The chosen successor began holding back (say, it restarted into its
            // start-up hook while our demote hook ran): hand over to one that can lead.
            t.target = other
            transfer = t
            kick = true
        }
        guard let p = progress[t.target] else { return }
        guard t.demoteFinished else { return }
        if p.matchIndex == lastLogIndex {
            send(to: t.target, .timeoutNow)
            #if BATON_FAULT_INJECTION
            if has(.resumeOfficeAfterTransfer) {
                // Bug: stay leader and let the next acknowledgement re-enter office.
                transfer = nil
                leftOfficeTerm = nil
                return
            }
            #endif
            becomeFollower(term: term, leader: nil, now, reason: nil)
        } else if kick && p.nextIndex <= lastLogIndex {
            sendAppend(to: t.target, now)
        }
    }

    /// setCampaignAllowed holds this node back from campaigning (or lets it go again).
    /// A campaign already under way is abandoned; a node in office is not affected (the
    /// driver hands over with `.transferLeadership` when it must).
    private mutating func setCampaignAllowed(_ allowed: Bool, _ now: Instant) {
        guard allowed != campaignAllowed else { return }
        campaignAllowed = allowed
        if !allowed && (role == .preCandidate || role == .candidate) {
            becomeFollower(term: term, leader: nil, now, reason: nil)
        }
        if allowed && electionDeadline < now {
            // Released after a long hold: campaign after a fresh random timeout, so
            // nodes released together do not split the vote.
            electionDeadline = now + randomJitter()
        }
    }

    /// setElectionsPaused stops (or restarts) the elections this node would start by
    /// itself. A pre-vote or an ordinary campaign under way is abandoned; a campaign a
    /// TimeoutNow started (a planned hand-over) goes on. A leader is not affected.
    private mutating func setElectionsPaused(_ paused: Bool, _ now: Instant) {
        guard paused != electionsPaused else { return }
        electionsPaused = paused
        if paused && (role == .preCandidate || (role == .candidate && !campaignIsTransfer)) {
            becomeFollower(term: term, leader: nil, now, reason: nil)
        }
        if !paused && electionDeadline < now {
            // Resumed after a long pause: a fresh random timeout, so that members
            // resumed together do not split the vote.
            electionDeadline = now + randomJitter()
        }
    }

    // MARK: Timers

    private mutating func tick(_ now: Instant) {
        switch role {
        case .leader:
            if let t = transfer, t.demoteFinished, now >= t.deadline {
                // The transfer did not complete: step down; an ordinary election follows.
                #if BATON_FAULT_INJECTION
                if has(.resumeOfficeAfterTransfer) {
                    transfer = nil
                    leftOfficeTerm = nil
                    if now >= heartbeatDeadline { broadcastAppend(now) }
                    return
                }
                #endif
                becomeFollower(term: term, leader: nil, now, reason: nil)
                return
            }
            if now >= heartbeatDeadline { broadcastAppend(now) }
        case .follower, .preCandidate, .candidate:
            guard mayStartElection else { return }
            let due = min(electionDeadline, earlyCampaignAt ?? .distantFuture)
            guard now >= due else { return }
            #if BATON_FAULT_INJECTION
            let ignoreOwnStickiness = has(.selfVoteIgnoresStickiness)
            #else
            let ignoreOwnStickiness = false
            #endif
            if inStickiness(now) && !ignoreOwnStickiness {
                // Stickiness binds our own campaign too: wait until it ends.
                let free = lastContact + options.electionTimeoutMin
                if let early = earlyCampaignAt { earlyCampaignAt = max(early, free) }
                if electionDeadline <= now { electionDeadline = free + randomJitter() }
                return
            }
            campaign(now)
        }
    }

    // MARK: Role changes

    /// becomeFollower moves to `newTerm` (≥ term) as a follower. Leaving office is done
    /// first, so it is visible before any message of this step goes out.
    private mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?, _ now: Instant,
                                         reason: LeaveReason?) {
        precondition(newTerm >= term, "becomeFollower: terms never go backwards")
        if role == .leader || office != nil { leaveOffice(reason ?? .leaseLost) }
        if newTerm > term {
            hardState.term = newTerm
            hardState.votedFor = nil
        }
        role = .follower
        leader = nil
        if let newLeader { noteLeader(newLeader) }
        transfer = nil
        tally = nil
        progress.removeAll()
        earlyCampaignAt = nil
        heartbeatDeadline = .distantFuture
        stepDownDeadline = .distantFuture
        leaseDeadline = .distantPast
        electionDeadline = now + randomElectionTimeout()
    }

    /// noteLeader records the leader of the current term (never this node: a leader
    /// sets `leader = id` itself).
    private mutating func noteLeader(_ node: NodeID) {
        leader = node
        if node != id { lastOtherLeader = node }
    }

    // MARK: Proposals

    private mutating func propose(_ bytes: [UInt8], _ now: Instant) {
        // Past a limit the proposal is dropped, as one made while not leading is: every
        // entry must fit an append, and the log must fit the file the storage loads.
        guard role == .leader, transfer == nil, raftLog.count < options.maxLogEntries,
              bytes.count <= Limits.maxEntryDataBytes, raftLog.dataBytes + bytes.count <= Limits.maxLogDataBytes else { return }
        appendToLog(Entry(index: lastLogIndex + 1, term: term, payload: .data(bytes)))
        sendNewEntry(now)
        maybeCommit(now)
    }

    /// sendNewEntry sends the entry just appended to every peer that is up to date (the
    /// others get it with their catch-up), stamped with a fresh send time: its
    /// acknowledgements renew the lease as a heartbeat's do. Stamped with the last
    /// heartbeat's time instead, a leader appending often on a loaded machine had its
    /// lease rest on echoes a whole heartbeat old, and lost it.
    private mutating func sendNewEntry(_ now: Instant) {
        lastBroadcast = now
        for peer in progress.keys.sorted() where progress[peer]!.nextIndex == lastLogIndex {
            sendAppend(to: peer, now)
        }
    }

    // MARK: Log and output helpers

    private mutating func appendToLog(_ entry: Entry) {
        raftLog.append(entry)
        ready.entries.append(entry)
    }

    private mutating func truncateLog(from index: LogIndex) {
        // Writes already handed out hold the entries being replaced: they no longer
        // make this log durable beyond the cut.
        durableIndex = min(durableIndex, index - 1)
        for k in unconfirmedPersists.indices { unconfirmedPersists[k].lastIndex = min(unconfirmedPersists[k].lastIndex, index - 1) }
        raftLog.truncate(from: index)
        ready.entries.removeAll { $0.index >= index }
        ready.truncateFrom = min(ready.truncateFrom ?? index, index)
    }

    /// emitCommitted hands newly committed entries to the driver, once each, in order.
    private mutating func emitCommitted() {
        guard commitIndex > appliedIndex else { return }
        let from = max(appliedIndex + 1, raftLog.firstIndex)
        if from <= commitIndex { ready.committedEntries += raftLog.slice(from: from, through: commitIndex) }
        appliedIndex = commitIndex
    }

    private mutating func send(to peer: NodeID, _ body: Message.Body) {
        sendMessage(Message(from: id, to: peer, term: term, body: body, incarnation: incarnation))
    }

    private mutating func sendMessage(_ m: Message) {
        ready.messages.append(m)
    }

    private mutating func randomElectionTimeout() -> Interval {
        options.electionTimeoutMin + randomJitter()
    }

    private mutating func randomJitter() -> Interval {
        let span = UInt64(options.electionTimeoutMax.nanoseconds - options.electionTimeoutMin.nanoseconds)
        return Interval(nanoseconds: Int64(rng.next() % (span + 1)))
    }

    #if BATON_FAULT_INJECTION
    private func has(_ bug: InjectedBug) -> Bool {
        !options.injectedBugs.isEmpty && options.injectedBugs.contains(bug)
    }
    #endif
}
