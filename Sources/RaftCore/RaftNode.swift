/// RaftNode is one member's Raft state machine, with pre-vote, check-quorum, leader
/// leases and leadership transfer, as design §2 specifies.
///
/// It does no I/O and reads no clock: every input is an `Event` with `now`, this node's
/// monotonic clock, and every output is a `Ready` that the driver applies in the order
/// that type documents (office changes, then fsync, then send). Randomness comes from a
/// seeded generator, so a simulator seed replays one history exactly.
///
/// References: Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm"
/// (Figure 2, §5.4 log up-to-date check, §8 no-op entry); Ongaro's thesis §3.10
/// (leadership transfer), §6.4 (leases), §9.6 (pre-vote, check-quorum).
public struct RaftNode: Sendable {
    public let id: NodeID
    public let configuration: Configuration
    public let options: Options

    // MARK: Durable state (Raft Figure 2), reported in Ready when it changes.

    /// HardState as this node currently sees it (may be ahead of disk until the Ready
    /// that carries it is applied).
    public private(set) var hardState: HardState
    /// The log; `log[i - 1]` holds the entry with index `i`.
    public private(set) var log: [Entry]
    /// The payload bytes of `log`, kept within `Limits.maxLogDataBytes` by `propose`.
    /// A follower's log is always a copy of some leader's (Log Matching), so the
    /// leader's bound holds for it too.
    public private(set) var logDataBytes = 0
    /// What the last Ready told the driver to persist, to report only changes.
    private var reportedHardState: HardState

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

    private var myIndex: Int
    private var electionDeadline: Instant
    /// Set after a dropped leader connection: campaign then, if earlier than the deadline.
    private var earlyCampaignAt: Instant? = nil
    private var tally: VoteTally
    /// Pre-vote refusals for stickiness: when each voter will be free to grant.
    private var preVoteReadyAt: [Instant?]

    // Leader state.
    private var progress: [Progress]
    private var leaderSince: Instant = .distantPast
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

    /// Progress is what a leader knows of one voter's log and lease echo.
    struct Progress: Sendable {
        var matchIndex: LogIndex = 0
        var nextIndex: LogIndex = 1
        /// The latest of this leader's send times that the voter echoed in this term.
        var lastEcho: Instant = .distantPast
        /// Whether the voter's latest response said it would take a TimeoutNow (it is
        /// not a witness and not held back). Assumed until it says otherwise.
        var canLead = true
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
    public init(id: NodeID, configuration: Configuration, options: Options,
                restoring state: PersistentState, seed: UInt64, now: Instant) throws(OptionsError) {
        try options.validate()
        guard let index = configuration.voters.firstIndex(of: id) else {
            throw OptionsError(message: "node \(id) is not among the voters \(configuration.voters)")
        }
        if Set(configuration.voters).count != configuration.voters.count {
            throw OptionsError(message: "the voter list \(configuration.voters) names a node twice")
        }
        if configuration.voters.allSatisfy({ configuration.witnesses.contains($0) }) {
            throw OptionsError(message: "every voter is a witness: at least one must be able to lead")
        }
        for (offset, entry) in state.log.enumerated() where entry.index != LogIndex(offset + 1) {
            throw OptionsError(message: "restored log is not contiguous at position \(offset + 1) (index \(entry.index))")
        }
        if state.hardState.term > Limits.maxTerm || state.log.contains(where: { $0.term > Limits.maxTerm }) {
            throw OptionsError(message: "restored term \(max(state.hardState.term, state.log.last?.term ?? 0)) is beyond the largest a group can reach (\(Limits.maxTerm)): the data is damaged")
        }
        if state.hardState.commitIndex > LogIndex(state.log.count) {
            throw OptionsError(message: "restored commit index \(state.hardState.commitIndex) is beyond the log (\(state.log.count) entries)")
        }
        self.id = id
        self.configuration = configuration
        self.options = options
        self.hardState = state.hardState
        self.reportedHardState = state.hardState
        self.log = state.log
        self.logDataBytes = state.log.reduce(0) { $0 + $1.dataBytes }
        self.lastContact = now
        self.lastContactTerm = state.hardState.term
        self.myIndex = index
        self.rng = SeededGenerator(seed: seed)
        let n = configuration.voters.count
        self.tally = VoteTally(voterCount: n, quorum: configuration.quorum)
        self.preVoteReadyAt = Array(repeating: nil, count: n)
        self.progress = Array(repeating: Progress(), count: n)
        self.electionDeadline = now
        self.electionDeadline = now + randomElectionTimeout()
    }

    // MARK: Queries

    public var term: Term { hardState.term }
    public var commitIndex: LogIndex { hardState.commitIndex }
    public var lastLogIndex: LogIndex { LogIndex(log.count) }
    public var lastLogTerm: Term { log.last?.term ?? 0 }
    public var isWitness: Bool { configuration.witnesses.contains(id) }
    /// False while the driver holds this node back from campaigning (see
    /// `Event.setCampaignAllowed`); it still votes and acknowledges.
    public private(set) var campaignAllowed = true
    /// mayCampaign: neither a witness nor held back by the driver.
    private var mayCampaign: Bool { campaignAllowed && !isWitness }

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
            if !mayCampaign { return .distantFuture }
            return min(electionDeadline, earlyCampaignAt ?? .distantFuture)
        }
    }

    /// What a leader holds for `peer` (for status): its match index, latest lease
    /// echo, and whether it said it would take over on a TimeoutNow.
    public func progress(of peer: NodeID) -> (matchIndex: LogIndex, lastEcho: Instant, canLead: Bool)? {
        guard role == .leader, let i = configuration.voters.firstIndex(of: peer) else { return nil }
        return (progress[i].matchIndex, progress[i].lastEcho, progress[i].canLead)
    }

    /// isTransferring: this leader has left office and is handing over.
    public var isTransferring: Bool { role == .leader && transfer != nil }

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
        case .shutdown: beginTransfer(to: nil, reason: .shutdown, now)
        case .demoteFinished(let t): finishDemote(term: t, now)
        case .propose(let bytes): propose(bytes, now)
        }
        if hardState != reportedHardState {
            var durable = hardState
            if has(.sendBeforePersist) && hardState.votedFor != reportedHardState.votedFor {
                // The injected bug: the vote goes out before it is durable (breaks S5);
                // it is reported one Ready late.
                durable.votedFor = hardState.term == reportedHardState.term ? reportedHardState.votedFor : nil
            }
            if durable != reportedHardState {
                ready.hardState = durable
                reportedHardState = durable
            }
        }
        let out = ready
        ready = Ready()
        return out
    }

    // MARK: Term check shared by all roles (style rule 3)

    private mutating func step(_ m: Message, _ now: Instant) {
        guard m.to == id, m.from != id, let fromIndex = configuration.voters.firstIndex(of: m.from) else { return }
        // Absurd terms and indexes are dropped before anything adopts them (Limits.maxTerm).
        guard m.term <= Limits.maxTerm, Limits.admits(m.body) else { return }
        if m.term > term {
            switch m.body {
            case .preVote:
                // Never adopt a term from a pre-vote request: that is its point.
                handlePreVote(m, fromIndex, now)
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
            case .append, .timeoutNow:
                becomeFollower(term: m.term, leader: m.from, now, reason: .higherTerm)
            case .preVoteResponse, .voteResponse, .appendResponse:
                becomeFollower(term: m.term, leader: nil, now, reason: .higherTerm)
            }
        } else if m.term < term {
            switch m.body {
            case .append(_, _, _, _, let sendTime):
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
        case .preVote: handlePreVote(m, fromIndex, now)
        case .vote: handleVote(m, now)
        default:
            switch role {
            case .follower: stepFollower(m, fromIndex, now)
            case .preCandidate: stepPreCandidate(m, fromIndex, now)
            case .candidate: stepCandidate(m, fromIndex, now)
            case .leader: stepLeader(m, fromIndex, now)
            }
        }
    }

    // MARK: Votes

    /// inStickiness: this node heard from a leader less than `electionTimeoutMin` ago,
    /// so it grants no vote, no pre-vote and does not campaign itself (design §2).
    private func inStickiness(_ now: Instant) -> Bool {
        if has(.noStickiness) { return false }
        return now < lastContact + options.electionTimeoutMin
    }

    private func stickinessRemaining(_ now: Instant) -> Interval {
        inStickiness(now) ? (lastContact + options.electionTimeoutMin) - now : .zero
    }

    /// transferExempt: a campaign started by TimeoutNow may skip stickiness, but only
    /// for exactly the term after the one in which we last heard from the leader — that
    /// leader left office before sending TimeoutNow and never returns to it (§2).
    private func transferExempt(_ isTransfer: Bool, _ candidateTerm: Term) -> Bool {
        isTransfer && candidateTerm == lastContactTerm + 1
    }

    /// logUpToDate is Raft §5.4.1: never vote for a candidate whose log is behind ours.
    private func logUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        if has(.skipLogCheck) { return true }
        return lastTerm > lastLogTerm || (lastTerm == lastLogTerm && lastIndex >= lastLogIndex)
    }

    private mutating func handlePreVote(_ m: Message, _ fromIndex: Int, _ now: Instant) {
        guard case .preVote(let lastIndex, let lastTerm) = m.body else { return }
        let remaining = stickinessRemaining(now)
        if remaining > .zero {
            send(to: m.from, .preVoteResponse(granted: false, stickinessRemaining: remaining))
            return
        }
        let grant = m.term > term && logUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        // A grant carries the proposed term, a refusal our own (so a lagging
        // pre-candidate learns the current term).
        sendMessage(Message(from: id, to: m.from, term: grant ? m.term : term,
                            body: .preVoteResponse(granted: grant, stickinessRemaining: .zero)))
    }

    private mutating func handleVote(_ m: Message, _ now: Instant) {
        guard case .vote(let lastIndex, let lastTerm, let isTransfer) = m.body else { return }
        precondition(m.term == term, "handleVote: term check must have run")
        let free = hardState.votedFor == m.from || (hardState.votedFor == nil && leader == nil)
        let grant = free
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

    private mutating func stepFollower(_ m: Message, _ fromIndex: Int, _ now: Instant) {
        switch m.body {
        case .append:
            noteLeader(m.from)
            handleAppend(m, now)
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

    private mutating func handleAppend(_ m: Message, _ now: Instant) {
        guard case .append(let prevIndex, let prevTerm, let entries, let leaderCommit, let sendTime) = m.body else { return }
        lastContact = now
        lastContactTerm = term
        earlyCampaignAt = nil
        electionDeadline = now + randomElectionTimeout()

        if prevIndex > lastLogIndex || termAt(prevIndex) != prevTerm {
            let hint: LogIndex
            if prevIndex > lastLogIndex {
                hint = lastLogIndex + 1
            } else {
                // Skip back over the whole run of the conflicting term (Raft §5.3 note).
                var i = prevIndex
                let conflictTerm = termAt(prevIndex)
                while i > commitIndex + 1 && termAt(i - 1) == conflictTerm { i -= 1 }
                hint = max(i, commitIndex + 1)
            }
            respondAppend(to: m.from, success: false, match: 0, hint: hint, echo: sendTime)
            return
        }
        // Refuse, changing nothing, an append that is malformed or that would rewrite a
        // committed entry: a correct leader never sends one (Leader Completeness).
        var expected = prevIndex + 1
        for entry in entries {
            let rewritesCommitted = entry.index <= commitIndex && termAt(entry.index) != entry.term
            if entry.index != expected || entry.term > term || rewritesCommitted {
                respondAppend(to: m.from, success: false, match: 0, hint: 0, echo: sendTime)
                return
            }
            expected += 1
        }
        for entry in entries {
            if entry.index <= lastLogIndex {
                if termAt(entry.index) == entry.term { continue }
                truncateLog(from: entry.index)
            }
            appendToLog(entry)
        }
        let match = prevIndex + LogIndex(entries.count)
        let newCommit = min(leaderCommit, match)
        if newCommit > commitIndex { hardState.commitIndex = newCommit }
        respondAppend(to: m.from, success: true, match: match, hint: 0, echo: sendTime)
    }

    /// respondAppend answers an append; every answer says whether this node would take
    /// over on a TimeoutNow, so a leader handing over does not pick one that will not.
    private mutating func respondAppend(to peer: NodeID, success: Bool, match: LogIndex, hint: LogIndex, echo: Instant) {
        send(to: peer, .appendResponse(success: success, matchIndex: match, hintIndex: hint,
                                       echoedSendTime: echo, canLead: mayCampaign))
    }

    /// scheduleEarlyCampaign: the connection to the leader dropped (a hint). Campaign as
    /// soon as stickiness allows, staggered by rank so that followers do not split the
    /// vote (design §2 "Early campaign"). Safety never depends on this.
    private mutating func scheduleEarlyCampaign(_ now: Instant) {
        guard role == .follower, let current = leader, mayCampaign else { return }
        let eligible = configuration.voters.filter { $0 != current && !configuration.witnesses.contains($0) }
        let rank = Int64(eligible.firstIndex(of: id) ?? 0)
        // The injected bug lets the node campaign inside its own stickiness window.
        let free = has(.selfVoteIgnoresStickiness) ? now : max(now, lastContact + options.electionTimeoutMin)
        earlyCampaignAt = free + options.earlyCampaignStagger * rank
    }

    // MARK: Campaigns

    private mutating func campaign(_ now: Instant) {
        precondition(!isWitness, "campaign: a witness never campaigns")
        if options.preVote { becomePreCandidate(now) } else { becomeCandidate(transfer: false, now) }
    }

    private mutating func becomePreCandidate(_ now: Instant) {
        // At the bound there is no next term to ask for (Limits.maxTerm).
        guard term < Limits.maxTerm else { return }
        role = .preCandidate
        leader = nil
        earlyCampaignAt = nil
        tally = VoteTally(voterCount: configuration.voters.count, quorum: configuration.quorum)
        for i in preVoteReadyAt.indices { preVoteReadyAt[i] = nil }
        tally.record(myIndex, granted: true)
        electionDeadline = now + randomElectionTimeout()
        for peer in configuration.voters where peer != id {
            sendMessage(Message(from: id, to: peer, term: term + 1,
                                body: .preVote(lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm)))
        }
        if tally.result == .won { becomeCandidate(transfer: false, now) }
    }

    private mutating func becomeCandidate(transfer isTransfer: Bool, _ now: Instant) {
        precondition(!isWitness, "becomeCandidate: a witness never campaigns")
        guard term < Limits.maxTerm else { return }  // no next term (Limits.maxTerm)
        campaignIsTransfer = isTransfer
        role = .candidate
        hardState.term += 1
        hardState.votedFor = id
        leader = nil
        earlyCampaignAt = nil
        tally = VoteTally(voterCount: configuration.voters.count, quorum: configuration.quorum)
        tally.record(myIndex, granted: true)
        electionDeadline = now + randomElectionTimeout()
        for peer in configuration.voters where peer != id {
            send(to: peer, .vote(lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm, transfer: isTransfer))
        }
        if tally.result == .won { becomeLeader(now) }
    }

    private mutating func stepPreCandidate(_ m: Message, _ fromIndex: Int, _ now: Instant) {
        switch m.body {
        case .preVoteResponse(let granted, let remaining):
            if granted {
                guard m.term == term + 1 else { return }
                tally.record(fromIndex, granted: true)
            } else {
                tally.record(fromIndex, granted: false)
                if remaining > .zero { preVoteReadyAt[fromIndex] = now + remaining }
            }
            switch tally.result {
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
        var readyTimes: [Instant] = []
        for (i, answer) in tally.answers.enumerated() {
            if answer == true { readyTimes.append(now) } else if let t = preVoteReadyAt[i] { readyTimes.append(t) }
        }
        guard readyTimes.count >= configuration.quorum else { return nil }
        readyTimes.sort()
        let eligible = configuration.voters.filter { !configuration.witnesses.contains($0) }
        let rank = Int64(eligible.firstIndex(of: id) ?? 0)
        return readyTimes[configuration.quorum - 1] + .milliseconds(1) + options.earlyCampaignStagger * rank
    }

    private mutating func stepCandidate(_ m: Message, _ fromIndex: Int, _ now: Instant) {
        switch m.body {
        case .voteResponse(let granted):
            tally.record(fromIndex, granted: granted)
            switch tally.result {
            case .won: becomeLeader(now)
            case .lost: becomeFollower(term: term, leader: nil, now, reason: nil)
            case .pending: break
            }
        case .append:
            becomeFollower(term: term, leader: m.from, now, reason: nil)
            handleAppend(m, now)
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
        leaseDeadline = .distantPast
        for i in progress.indices { progress[i] = Progress(matchIndex: 0, nextIndex: lastLogIndex + 1) }
        // A no-op at the start of the term lets the leader commit earlier entries (§8).
        appendToLog(Entry(index: lastLogIndex + 1, term: term, payload: .noop))
        maybeCommit()  // a one-voter group commits at once
        // Check-quorum: without any acknowledgement within Emin, step down.
        stepDownDeadline = now + options.electionTimeoutMin
        broadcastAppend(now)
    }

    private mutating func stepLeader(_ m: Message, _ fromIndex: Int, _ now: Instant) {
        guard case .appendResponse(let success, let matchIndex, let hintIndex, let echo, let canLead) = m.body else { return }
        progress[fromIndex].canLead = canLead
        // Only send times of this term, not later than our latest broadcast, count:
        // anything else is stale or forged and must not extend the lease.
        if echo >= leaderSince && echo <= lastBroadcast {
            let t = has(.leaseFromAckTime) ? now : echo
            if t > progress[fromIndex].lastEcho { progress[fromIndex].lastEcho = t }
        }
        if success {
            if matchIndex > lastLogIndex { return }  // nonsense from a broken peer
            if matchIndex > progress[fromIndex].matchIndex { progress[fromIndex].matchIndex = matchIndex }
            progress[fromIndex].nextIndex = max(progress[fromIndex].nextIndex, matchIndex + 1)
            maybeCommit()
            if progress[fromIndex].nextIndex <= lastLogIndex { sendAppend(to: fromIndex, now) }
        } else if hintIndex > 0 {
            let p = progress[fromIndex]
            let next = max(p.matchIndex + 1, min(hintIndex, lastLogIndex + 1))
            // A fresh refusal always hints below nextIndex; anything else is stale.
            if next < p.nextIndex {
                progress[fromIndex].nextIndex = next
                sendAppend(to: fromIndex, now)
            }
        }
        updateLease(now)
        if transfer != nil { advanceTransfer(now) }
    }

    private mutating func broadcastAppend(_ now: Instant) {
        lastBroadcast = now
        lastContact = now
        lastContactTerm = term
        heartbeatDeadline = now + options.heartbeatInterval
        for i in configuration.voters.indices where i != myIndex { sendAppend(to: i, now) }
        updateLease(now)
    }

    private mutating func sendAppend(to index: Int, _ now: Instant) {
        let p = progress[index]
        let prev = p.nextIndex - 1
        // At most maxEntriesPerAppend entries and Limits.maxAppendDataBytes of their data,
        // but always one entry when any is due (a single entry is within the byte budget).
        let countEnd = min(lastLogIndex, prev + LogIndex(options.maxEntriesPerAppend))
        var last = prev, dataBytes = 0
        while last < countEnd {
            let size = log[Int(last)].dataBytes
            if last > prev && dataBytes + size > Limits.maxAppendDataBytes { break }
            dataBytes += size
            last += 1
        }
        let entries = prev < last ? Array(log[Int(prev)..<Int(last)]) : []
        send(to: configuration.voters[index],
             .append(prevLogIndex: prev, prevLogTerm: termAt(prev), entries: entries,
                     leaderCommit: commitIndex, sendTime: lastBroadcast))
    }

    private mutating func maybeCommit() {
        var matches = progress.map(\.matchIndex)
        matches[myIndex] = lastLogIndex
        let n = quorumLargest(matches, quorum: configuration.quorum)
        // Only entries of the current term are committed by counting (Raft §5.4.2).
        if n > commitIndex && termAt(n) == term { hardState.commitIndex = n }
    }

    /// updateLease recomputes the lease from the quorum-th largest echoed send time and
    /// enters office when the first lease is held (design §2 "The lease").
    private mutating func updateLease(_ now: Instant) {
        var echoes = progress.map(\.lastEcho)
        echoes[myIndex] = lastBroadcast
        let anchor = quorumLargest(echoes, quorum: configuration.quorum)
        guard anchor > .distantPast else { return }
        let deadline = anchor + options.leaseDuration
        if deadline > leaseDeadline { leaseDeadline = deadline }
        guard now < leaseDeadline else { return }
        // Once a lease is held, it alone decides: the moment it lapses the leader leaves
        // office and steps down (the initial grace of Emin applies only before it).
        stepDownDeadline = leaseDeadline
        if var current = office {
            current.leaseDeadline = has(.noLeaseCheck) ? .distantFuture : leaseDeadline
            office = current
        } else if transfer == nil && leftOfficeTerm != term && !isWitness {
            let shown = has(.noLeaseCheck) ? Instant.distantFuture : leaseDeadline
            office = Office(term: term, since: now, leaseDeadline: shown)
            ready.officeChanges.append(.enter(term: term, leaseDeadline: leaseDeadline,
                                              reason: campaignIsTransfer ? .transfer : .election,
                                              previousLeader: lastOtherLeader))
        }
    }

    /// checkLease: the moment the lease lapses the leader leaves office and steps down
    /// (check-quorum); it never re-enters office in that term.
    private mutating func checkLease(_ now: Instant) {
        guard role == .leader, options.checkQuorum else { return }
        if has(.noLeaseCheck) {
            stepDownDeadline = .distantFuture  // the injected bug: never step down
            return
        }
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

    // MARK: Leadership transfer

    private mutating func beginTransfer(to requested: NodeID?, reason: LeaveReason, _ now: Instant) {
        guard role == .leader else { return ready.transferOutcome = .refused(.notLeader) }
        guard transfer == nil else { return ready.transferOutcome = .refused(.inProgress) }
        if let requested, requested == id || !configuration.voters.contains(requested)
            || configuration.witnesses.contains(requested) {
            return ready.transferOutcome = .refused(.targetNotEligible)
        }
        let target = transferTarget(requested)
        // A hand-over the operator asked for is refused, changing nothing, when nobody
        // would take over (a named target that cannot lead, or no peer that can):
        // leaving office then would only leave the group without a leader. Shutdown,
        // a failed check or a failed promote must leave office regardless.
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
        advanceTransfer(now)
    }

    /// transferTarget: the requested voter if it may lead, else the most up-to-date
    /// peer that may lead (ties: the freshest echo, then the lowest id). A peer may lead
    /// when it is no witness and its latest response said it would take a TimeoutNow:
    /// one still in its start-up hook, or with a failing check, would ignore it.
    private func transferTarget(_ requested: NodeID?) -> NodeID? {
        func mayLead(_ i: Int) -> Bool {
            i != myIndex && !configuration.witnesses.contains(configuration.voters[i]) && progress[i].canLead
        }
        if let requested {
            guard let i = configuration.voters.firstIndex(of: requested), mayLead(i) else { return nil }
            return requested
        }
        var best: Int? = nil
        for i in configuration.voters.indices where mayLead(i) {
            guard let b = best else { best = i; continue }
            let (p, q) = (progress[i], progress[b])
            if p.matchIndex > q.matchIndex || (p.matchIndex == q.matchIndex && p.lastEcho > q.lastEcho) { best = i }
        }
        return best.map { configuration.voters[$0] }
    }

    private mutating func finishDemote(term demotedTerm: Term, _ now: Instant) {
        guard role == .leader, demotedTerm == term, var t = transfer, !t.demoteFinished else { return }
        t.demoteFinished = true
        t.deadline = now + options.electionTimeoutMax
        transfer = t
        advanceTransfer(now)
    }

    /// advanceTransfer sends TimeoutNow once the demote hook finished and the target's
    /// log is caught up, then becomes a follower; until then it helps the target catch up.
    private mutating func advanceTransfer(_ now: Instant) {
        guard var t = transfer else { return }
        if !t.named, let ti = configuration.voters.firstIndex(of: t.target), !progress[ti].canLead,
           let other = transferTarget(nil) {
            // The chosen successor began holding back (say, it restarted into its
            // start-up hook while our demote hook ran): hand over to one that can lead.
            t.target = other
            transfer = t
        }
        guard let ti = configuration.voters.firstIndex(of: t.target) else { return }
        guard t.demoteFinished else { return }
        if progress[ti].matchIndex == lastLogIndex {
            send(to: t.target, .timeoutNow)
            if has(.resumeOfficeAfterTransfer) {
                // Bug: stay leader and let the next acknowledgement re-enter office.
                transfer = nil
                leftOfficeTerm = nil
                return
            }
            becomeFollower(term: term, leader: nil, now, reason: nil)
        } else if progress[ti].nextIndex <= lastLogIndex {
            sendAppend(to: ti, now)
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

    // MARK: Timers

    private mutating func tick(_ now: Instant) {
        switch role {
        case .leader:
            if let t = transfer, t.demoteFinished, now >= t.deadline {
                // The transfer did not complete: step down; an ordinary election follows.
                if has(.resumeOfficeAfterTransfer) {
                    transfer = nil
                    leftOfficeTerm = nil
                } else {
                    becomeFollower(term: term, leader: nil, now, reason: nil)
                    return
                }
            }
            if now >= heartbeatDeadline { broadcastAppend(now) }
        case .follower, .preCandidate, .candidate:
            guard mayCampaign else { return }
            let due = min(electionDeadline, earlyCampaignAt ?? .distantFuture)
            guard now >= due else { return }
            if inStickiness(now) && !has(.selfVoteIgnoresStickiness) {
                // Stickiness binds our own campaign too: wait until it ends.
                let free = lastContact + options.electionTimeoutMin
                if earlyCampaignAt != nil { earlyCampaignAt = max(earlyCampaignAt!, free) }
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
        guard role == .leader, transfer == nil, log.count < options.maxLogEntries,
              bytes.count <= Limits.maxEntryDataBytes, logDataBytes + bytes.count <= Limits.maxLogDataBytes else { return }
        appendToLog(Entry(index: lastLogIndex + 1, term: term, payload: .data(bytes)))
        for i in configuration.voters.indices where i != myIndex && progress[i].nextIndex == lastLogIndex {
            sendAppend(to: i, now)
        }
        maybeCommit()
    }

    // MARK: Log and output helpers

    private func termAt(_ index: LogIndex) -> Term {
        index == 0 || index > lastLogIndex ? 0 : log[Int(index) - 1].term
    }

    private mutating func appendToLog(_ entry: Entry) {
        log.append(entry)
        logDataBytes += entry.dataBytes
        ready.entries.append(entry)
    }

    private mutating func truncateLog(from index: LogIndex) {
        logDataBytes -= log[Int(index - 1)...].reduce(0) { $0 + $1.dataBytes }
        log.removeSubrange(Int(index - 1)...)
        ready.entries.removeAll { $0.index >= index }
        ready.truncateFrom = min(ready.truncateFrom ?? index, index)
    }

    private mutating func send(to peer: NodeID, _ body: Message.Body) {
        sendMessage(Message(from: id, to: peer, term: term, body: body))
    }

    private mutating func sendMessage(_ m: Message) {
        ready.messages.append(m)
    }

    private mutating func randomElectionTimeout() -> Interval {
        let span = UInt64(options.electionTimeoutMax.nanoseconds - options.electionTimeoutMin.nanoseconds)
        return options.electionTimeoutMin + Interval(nanoseconds: Int64(rng.next() % (span + 1)))
    }

    private mutating func randomJitter() -> Interval {
        let span = UInt64(options.electionTimeoutMax.nanoseconds - options.electionTimeoutMin.nanoseconds)
        return Interval(nanoseconds: Int64(rng.next() % (span + 1)))
    }

    private func has(_ bug: InjectedBug) -> Bool {
        !options.injectedBugs.isEmpty && options.injectedBugs.contains(bug)
    }
}
