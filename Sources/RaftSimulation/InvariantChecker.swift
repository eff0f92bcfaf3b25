import RaftCore

/// InvariantChecker watches the cluster from outside the nodes (style rule 10, as
/// hashicorp/raft fuzzy/verifier.go and TigerBeetle's state_checker do): it sees each
/// node's outputs, its durable writes and its sends, and keeps its own record of offices,
/// leaders, votes and committed entries. It never asks a node whether it is correct.
///
/// Properties (ids from design §1):
/// - S1: at most one leader per term.
/// - S2: at most one node in office at any simulated real instant. A node's office is
///   the interval [enter, min(leave, crash, the real time its clock reaches its latest
///   lease deadline)); a lapsed lease is never revived. Probes of `isInOffice(at:)`
///   (what `/is-leader` answers) must fall inside that interval.
/// - S3: office terms (fencing tokens) strictly increase cluster-wide, and a node never
///   enters or resumes office in a term it was already in office for.
/// - S5: a message leaves only after the state it depends on is durable (its term, a
///   granted vote, acknowledged entries); durable term and vote never go back, and a node
///   never grants two candidates in one term.
/// - Log Matching, State Machine Safety (one entry per committed index), Leader
///   Completeness (entries committed in a term below T are in the log of T's leader).
/// - Witnesses never campaign, lead nor hold office; neither do learners, observers,
///   removed members, members with priority 0, nor members waiting to be added.
/// - Membership: every configuration a log holds differs from the one before it by at
///   most one voter (single-server changes), across snapshots and truncations.
/// - S3-lapse: a lease that lapsed is never renewed (the office would resume).
/// - leave-on-lapse: a tick delivered at or after the lease deadline finds the office
///   left (design §2 "Leaving office"; the demote hook must not wait for check-quorum).
struct InvariantChecker {
    struct OfficeTrack {
        var open = false
        var term: Term = 0
        var startNs: Int64 = 0
        var deadline = Instant.zero
        var deadlineRealNs: Int64 = 0
    }

    let nodeCount: Int
    var offices: [OfficeTrack]
    /// maxOfficeTerm[i]: the highest term node i ever entered office in (S3).
    var maxOfficeTerm: [Term]
    var clusterMaxOfficeTerm: Term = 0
    var leaderOfTerm: [Term: Int] = [:]
    /// lastGrant[i]: the last (term, candidate) node i sent a granted vote for.
    var lastGrantTerm: [Term]
    var lastGrantCandidate: [NodeID?]
    /// lastTerm[i]: the term node i last showed, for "term never goes back".
    var lastTerm: [Term]
    /// maxSentTerm[i]: the highest term of any non-pre-vote message node i sent.
    var maxSentTerm: [Term]
    var wasLeader: [Bool]
    var commitSeen: [LogIndex]
    /// committedTerm[i-1] is the term of the committed entry at index i; commitTermOf is
    /// the lowest term of a node that saw it committed (an upper bound on the term in
    /// which it was committed, so Leader Completeness checks only what is certain).
    var committedTerm: [Term] = []
    var committedPayloadHash: [UInt64] = []
    /// committedPrefixHash[k] hashes the committed log prefix through index k + 1.
    var committedPrefixHash: [UInt64] = []
    var commitTermOf: [Term] = []
    /// logMatching maps (index, term) of any durable entry to the hash of its prefix.
    var logMatching: [UInt64: UInt64] = [:]
    /// logMatchingLimit bounds that map; past it new keys are not recorded (checked
    /// as far as recorded).
    let logMatchingLimit = 200_000
    var officesEntered = 0
    /// tolerated names properties that are counted but do not stop the run (a known
    /// core bug being fixed); toleratedCount says how often they were seen.
    var tolerated: Set<String> = []
    var toleratedCount = 0
    /// checkDurableBeforeSend compares each send with the durable state (S5 directly).
    /// Off, a send-before-persist defect must show through its consequences after a
    /// crash (a vote forgotten, then given twice), which proves the crash model.
    var checkDurableBeforeSend = true
    var elections = 0

    init(nodeCount: Int) {
        self.nodeCount = nodeCount
        offices = Array(repeating: OfficeTrack(), count: nodeCount)
        maxOfficeTerm = Array(repeating: 0, count: nodeCount)
        lastGrantTerm = Array(repeating: 0, count: nodeCount)
        lastGrantCandidate = Array(repeating: nil, count: nodeCount)
        lastTerm = Array(repeating: 0, count: nodeCount)
        maxSentTerm = Array(repeating: 0, count: nodeCount)
        wasLeader = Array(repeating: false, count: nodeCount)
        commitSeen = Array(repeating: 0, count: nodeCount)
        crashedLeaseUntilRealNs = Array(repeating: .min, count: nodeCount)
    }

    /// isInOffice is the checker's own view: node i's office is open and its lease has
    /// not run out by the real time `realNs`.
    func isInOffice(_ i: Int, atReal realNs: Int64) -> Bool {
        offices[i].open && realNs < offices[i].deadlineRealNs
    }

    /// flag returns `v` unless its property is tolerated (then it only counts it).
    mutating func flag(_ v: Violation) -> Violation? {
        if tolerated.contains(v.property) { toleratedCount += 1; return nil }
        return v
    }

    // MARK: - After each step

    /// afterStep checks node i right after it handled an event at real time `realNs`
    /// (its clock read `now`) and produced `ready`.
    mutating func afterStep(node i: Int, isWitness: Bool, realNs: Int64, now: Instant,
                            clock: SimClock, raft: RaftNode, ready: Ready, wasTick: Bool) -> Violation? {
        // Office changes, in the order the agent applies them.
        for change in ready.officeChanges {
            switch change {
            case .enter(let term, let deadline, _, _):
                if let v = enterOffice(i, term: term, deadline: deadline, realNs: realNs, clock: clock, isWitness: isWitness,
                                       mayLead: raft.selfMember?.mayLead ?? false) { return v }
            case .leave(let term, _):
                guard offices[i].open, offices[i].term == term else {
                    return Violation(property: "S4", detail: "n\(i + 1) left office of term \(term) it was not in (open: \(offices[i].open), term \(offices[i].term))", timeNs: realNs)
                }
                offices[i].open = false
            }
        }
        if let v = trackLease(i, realNs: realNs, clock: clock, raft: raft, changes: ready.officeChanges) { return v }
        if wasTick, let office = raft.office, now >= office.leaseDeadline {
            // Design §2 "Leaving office": the moment the lease lapses the leader leaves
            // office (the demote hook starts) and steps down; a kept office could resume.
            if let v = flag(Violation(property: "leave-on-lapse", detail: "n\(i + 1) handled a tick at \(now) past its lease deadline \(office.leaseDeadline) and kept office of term \(office.term) (no leave)", timeNs: realNs)) { return v }
        }
        if let v = probe(i, realNs: realNs, now: now, raft: raft) { return v }

        // Terms never go back within a life (across lives: checked on durable state).
        if raft.term < lastTerm[i] {
            return Violation(property: "S5", detail: "n\(i + 1) term went back from \(lastTerm[i]) to \(raft.term)", timeNs: realNs)
        }
        lastTerm[i] = raft.term

        if raft.role != .follower && raft.role != .leader, raft.selfMember?.mayLead != true {
            return Violation(property: "witness", detail: "n\(i + 1) (\(raft.selfMember.map { "\($0.role), priority \($0.priority)" } ?? "not a member")) became \(raft.role) in term \(raft.term): only voters that may lead campaign", timeNs: realNs)
        }
        if isWitness && raft.role != .follower {
            return Violation(property: "witness", detail: "witness n\(i + 1) became \(raft.role) in term \(raft.term)", timeNs: realNs)
        }
        if raft.role == .leader {
            if let other = leaderOfTerm[raft.term], other != i {
                return Violation(property: "S1", detail: "n\(other + 1) and n\(i + 1) are both leaders of term \(raft.term)", timeNs: realNs)
            }
            if !wasLeader[i] || leaderOfTerm[raft.term] == nil {
                leaderOfTerm[raft.term] = i
                elections += 1
                if let v = leaderCompleteness(i, raft: raft, realNs: realNs) { return v }
            }
        }
        wasLeader[i] = raft.role == .leader
        return nil
    }

    /// crashedLeaseUntilRealNs[i]: when the lease of node i's last office would have
    /// ended had it not crashed. A crashed agent answers nothing, but the promise is
    /// stronger (and what the real-process checker of issue 7 holds agents to): no
    /// successor enters office before a dead leader's last lease deadline passes.
    var crashedLeaseUntilRealNs: [Int64] = []

    mutating func enterOffice(_ i: Int, term: Term, deadline: Instant, realNs: Int64,
                              clock: SimClock, isWitness: Bool, mayLead: Bool = true) -> Violation? {
        if isWitness {
            return Violation(property: "witness", detail: "witness n\(i + 1) entered office in term \(term)", timeNs: realNs)
        }
        if !mayLead {
            return Violation(property: "witness", detail: "n\(i + 1), which may not lead in its configuration, entered office in term \(term)", timeNs: realNs)
        }
        if offices[i].open && realNs < offices[i].deadlineRealNs {
            return Violation(property: "S3", detail: "n\(i + 1) entered office of term \(term) while still in office of term \(offices[i].term)", timeNs: realNs)
        }
        if term <= maxOfficeTerm[i] {
            return Violation(property: "S3", detail: "n\(i + 1) entered office of term \(term) after having been in office of term \(maxOfficeTerm[i]) (an office resumed in a term it left, or the token went back)", timeNs: realNs)
        }
        if term <= clusterMaxOfficeTerm {
            return Violation(property: "S3", detail: "n\(i + 1) entered office with fencing token \(term), not above the latest office's \(clusterMaxOfficeTerm)", timeNs: realNs)
        }
        for j in 0..<nodeCount where j != i && crashedLeaseUntilRealNs[j] > realNs {
            return Violation(property: "S2", detail: "n\(i + 1) entered office of term \(term) before crashed n\(j + 1)'s last lease ran out at \(Interval(nanoseconds: crashedLeaseUntilRealNs[j])) (real time)", timeNs: realNs)
        }
        for j in 0..<nodeCount where j != i && isInOffice(j, atReal: realNs) {
            return Violation(property: "S2", detail: "n\(i + 1) entered office of term \(term) while n\(j + 1) is in office of term \(offices[j].term) until \(Interval(nanoseconds: offices[j].deadlineRealNs)) (real time)", timeNs: realNs)
        }
        offices[i] = OfficeTrack(open: true, term: term, startNs: realNs, deadline: deadline,
                                 deadlineRealNs: clock.realTime(reaching: deadline))
        maxOfficeTerm[i] = term
        clusterMaxOfficeTerm = term
        officesEntered += 1
        return nil
    }

    /// trackLease follows lease renewals: a renewal extends the interval only while it
    /// has not lapsed; renewing a lapsed lease would be an office resuming (S3).
    private mutating func trackLease(_ i: Int, realNs: Int64, clock: SimClock, raft: RaftNode,
                                     changes: [OfficeChange]) -> Violation? {
        // An office held without an enter shows up in the probe below.
        guard offices[i].open else { return nil }
        guard let office = raft.office else {
            return Violation(property: "S4", detail: "n\(i + 1) dropped its office of term \(offices[i].term) without a leave change (the demote hook would never run)", timeNs: realNs)
        }
        if office.term != offices[i].term {
            return Violation(property: "S3", detail: "n\(i + 1) office term changed from \(offices[i].term) to \(office.term) without leave/enter", timeNs: realNs)
        }
        if office.leaseDeadline != offices[i].deadline {
            if realNs >= offices[i].deadlineRealNs && office.leaseDeadline > offices[i].deadline {
                if let v = flag(Violation(property: "S3-lapse", detail: "n\(i + 1) renewed its lease of term \(office.term) after it had lapsed at \(offices[i].deadline) (clock now \(clock.reading(atReal: realNs))): an office resumed", timeNs: realNs)) { return v }
            }
            offices[i].deadline = office.leaseDeadline
            offices[i].deadlineRealNs = clock.realTime(reaching: office.leaseDeadline)
            for j in 0..<nodeCount where j != i && isInOffice(j, atReal: realNs) {
                return Violation(property: "S2", detail: "n\(i + 1) renewed its office of term \(office.term) while n\(j + 1) is in office of term \(offices[j].term)", timeNs: realNs)
            }
        }
        return nil
    }

    /// probe is what `/is-leader` would answer now: it must agree with the interval.
    mutating func probe(_ i: Int, realNs: Int64, now: Instant, raft: RaftNode) -> Violation? {
        if raft.isInOffice(at: now) && !isInOffice(i, atReal: realNs) {
            return Violation(property: "S2", detail: "n\(i + 1) answers in office (term \(raft.office?.term ?? 0), lease to \(raft.office?.leaseDeadline ?? .zero), clock \(now)) outside its office interval", timeNs: realNs)
        }
        return nil
    }

    private func leaderCompleteness(_ i: Int, raft: RaftNode, realNs: Int64) -> Violation? {
        let base = raft.snapshot?.index ?? 0
        let log = raft.log
        for k in 0..<committedTerm.count where commitTermOf[k] < raft.term {
            let index = LogIndex(k + 1)
            if index <= base { continue }  // in its snapshot: committed by construction
            let p = Int(index - base) - 1
            if p >= log.count || log[p].term != committedTerm[k] || payloadHash(log[p]) != committedPayloadHash[k] {
                return Violation(property: "LeaderCompleteness", detail: "n\(i + 1) leads term \(raft.term) without the entry at index \(index) (term \(committedTerm[k])) committed by term \(commitTermOf[k]); its log ends at \(raft.lastLogIndex)", timeNs: realNs)
            }
        }
        return nil
    }

    /// commitAdvance records what node i's durable state says is committed. Commitment
    /// is taken from the disk, not from memory: a lone voter counts its own entries at
    /// once, but nothing of that commit leaves the node (messages, applied entries)
    /// before the write holding the entries and the commit index is durable, and a
    /// crash before it loses the commit with the entries.
    private mutating func commitAdvance(_ i: Int, disk: SimDisk, term: Term, realNs: Int64) -> Violation? {
        let commit = disk.hardState.commitIndex
        guard commit > commitSeen[i] else { return nil }
        if commit > disk.lastIndex {
            return Violation(property: "LogMatching", detail: "n\(i + 1) durable commit index \(commit) beyond its durable log ending at \(disk.lastIndex)", timeNs: realNs)
        }
        let base = disk.snapshotIndex
        if let s = disk.snapshot, s.index > commitSeen[i], s.index > 0, Int(s.index) <= committedTerm.count,
           committedTerm[Int(s.index) - 1] != s.term {
            return Violation(property: "StateMachineSafety", detail: "n\(i + 1) holds a snapshot at index \(s.index) of term \(s.term), but term \(committedTerm[Int(s.index) - 1]) was committed there", timeNs: realNs)
        }
        var index = max(commitSeen[i], base) + 1
        while index <= commit {
            let k = Int(index) - 1
            let entry = disk.log[Int(index - base) - 1]
            let h = payloadHash(entry)
            if k < committedTerm.count {
                if committedTerm[k] != entry.term || committedPayloadHash[k] != h {
                    return Violation(property: "StateMachineSafety", detail: "n\(i + 1) committed index \(index) with term \(entry.term), but term \(committedTerm[k]) was committed there", timeNs: realNs)
                }
                if term < commitTermOf[k] { commitTermOf[k] = term }
            } else if k == committedTerm.count {
                let prev = committedPrefixHash.last ?? 0x5151
                committedTerm.append(entry.term)
                committedPayloadHash.append(h)
                committedPrefixHash.append(mix(prev, mix(entry.index, mix(entry.term, h))))
                commitTermOf.append(term)
            }
            index += 1
        }
        commitSeen[i] = commit
        return nil
    }

    // MARK: - Disk and wire

    /// durableWrite checks a write as it becomes durable on node i's disk.
    mutating func durableWrite(node i: Int, disk: inout SimDisk, write: PendingWrite, realNs: Int64) -> Violation? {
        // What was durably committed before this write must survive it unchanged.
        let oldCommit = min(disk.hardState.commitIndex, disk.lastIndex)
        let oldCommitHash = disk.prefixHash(at: oldCommit)
        if let hs = write.hardState {
            let old = disk.hardState
            if hs.term < old.term {
                return Violation(property: "S5", detail: "n\(i + 1) persisted term \(hs.term) below its durable term \(old.term)", timeNs: realNs)
            }
            if hs.term == old.term, let voted = old.votedFor, hs.votedFor != voted {
                return Violation(property: "S5", detail: "n\(i + 1) persisted vote \(hs.votedFor.map { "\($0)" } ?? "none") in term \(hs.term) after voting \(voted)", timeNs: realNs)
            }
        }
        if let s = write.snapshot {
            guard s.index > 0, Int(s.index) <= committedPrefixHash.count else {
                return Violation(property: "StateMachineSafety", detail: "n\(i + 1) persisted a snapshot at index \(s.index), beyond what was ever committed (\(committedPrefixHash.count))", timeNs: realNs)
            }
            if committedTerm[Int(s.index) - 1] != s.term {
                return Violation(property: "StateMachineSafety", detail: "n\(i + 1) persisted a snapshot at index \(s.index) of term \(s.term); term \(committedTerm[Int(s.index) - 1]) was committed there", timeNs: realNs)
            }
            // Entries the snapshot covers go; what follows stays (a truncation in the same
            // write cuts it when it does not continue the snapshot).
            let drop = Int(min(s.index, disk.lastIndex) - min(disk.snapshotIndex, s.index))
            if s.index <= disk.lastIndex && disk.term(at: s.index) != s.term && !(write.truncateFrom.map { $0 <= s.index + 1 } ?? false) {
                return Violation(property: "LogMatching", detail: "n\(i + 1) kept entries after a snapshot at index \(s.index) whose term \(s.term) its log does not hold there", timeNs: realNs)
            }
            if s.index > disk.lastIndex {
                disk.log.removeAll()
                disk.prefixHashes.removeAll()
            } else {
                disk.log.removeSubrange(0..<drop)
                disk.prefixHashes.removeSubrange(0..<drop)
            }
            disk.snapshot = s
            disk.baseHash = committedPrefixHash[Int(s.index) - 1]
        }
        if let hs = write.hardState { disk.hardState = hs }
        if let from = write.truncateFrom, from <= disk.lastIndex {
            guard from > disk.snapshotIndex else {
                return Violation(property: "StateMachineSafety", detail: "n\(i + 1) truncated its log from \(from), inside its snapshot at \(disk.snapshotIndex)", timeNs: realNs)
            }
            let keep = Int(from - disk.snapshotIndex) - 1
            disk.log.removeSubrange(keep...)
            disk.prefixHashes.removeSubrange(keep...)
        }
        for entry in write.entries {
            if entry.index != disk.lastIndex + 1 {
                return Violation(property: "LogMatching", detail: "n\(i + 1) appended index \(entry.index) to a log ending at \(disk.lastIndex)", timeNs: realNs)
            }
            if case .configuration(let c) = entry.payload, let previous = configurationBefore(disk, entry.index),
               !c.votersDifferByAtMostOne(from: previous) {
                return Violation(property: "membership", detail: "n\(i + 1) appended at index \(entry.index) a configuration with voters \(c.voters) after \(previous.voters): more than one voter changed at once", timeNs: realNs)
            }
            let prev = disk.prefixHash(at: disk.lastIndex) ?? 0x5151
            let h = mix(prev, mix(entry.index, mix(entry.term, payloadHash(entry))))
            disk.log.append(entry)
            disk.prefixHashes.append(h)
            let key = (entry.index << 32) | (entry.term & 0xFFFF_FFFF)
            if let seen = logMatching[key] {
                if seen != h {
                    return Violation(property: "LogMatching", detail: "n\(i + 1) holds index \(entry.index) term \(entry.term) with a different prefix than another log", timeNs: realNs)
                }
            } else if logMatching.count < logMatchingLimit {
                logMatching[key] = h
            }
        }
        if oldCommit > 0, let oldCommitHash, oldCommit >= disk.snapshotIndex,
           disk.lastIndex < oldCommit || disk.prefixHash(at: oldCommit) != oldCommitHash {
            return Violation(property: "StateMachineSafety", detail: "n\(i + 1) rewrote its durably committed log prefix (commit index \(oldCommit), truncate from \(write.truncateFrom.map { "\($0)" } ?? "-"))", timeNs: realNs)
        }
        return commitAdvance(i, disk: disk, term: disk.hardState.term, realNs: realNs)
    }

    /// configurationBefore is the configuration a durable log holds before `index`.
    func configurationBefore(_ disk: SimDisk, _ index: LogIndex) -> Configuration? {
        for e in disk.log.reversed() where e.index < index {
            if case .configuration(let c) = e.payload { return c }
        }
        return disk.snapshot?.configuration
    }

    /// send checks one message as it leaves node i: everything it depends on must
    /// already be durable (S5), and a node grants one candidate per term.
    mutating func send(node i: Int, message m: Message, disk: SimDisk, realNs: Int64) -> Violation? {
        switch m.body {
        case .preVote, .preVoteResponse:
            return nil  // carry a proposed term, not an adopted one
        case .voteResponse(let granted):
            if granted {
                let hs = disk.hardState
                if checkDurableBeforeSend && !(hs.term > m.term || (hs.term == m.term && hs.votedFor == m.to)) {
                    return Violation(property: "S5", detail: "n\(i + 1) sent a vote for \(m.to) in term \(m.term) before persisting it (durable term \(hs.term), vote \(hs.votedFor.map { "\($0)" } ?? "none"))", timeNs: realNs)
                }
                if m.term < lastGrantTerm[i] || (m.term == lastGrantTerm[i] && lastGrantCandidate[i] != nil && lastGrantCandidate[i] != m.to) {
                    return Violation(property: "S5", detail: "n\(i + 1) granted \(m.to) in term \(m.term) after granting \(lastGrantCandidate[i].map { "\($0)" } ?? "-") in term \(lastGrantTerm[i])", timeNs: realNs)
                }
                lastGrantTerm[i] = m.term
                lastGrantCandidate[i] = m.to
            }
        case .appendResponse(let success, let matchIndex, _, _, _):
            if checkDurableBeforeSend && success && matchIndex > disk.lastIndex {
                return Violation(property: "S5", detail: "n\(i + 1) acknowledged index \(matchIndex) with its durable log ending at \(disk.lastIndex)", timeNs: realNs)
            }
        case .vote, .append, .timeoutNow, .installSnapshot:
            break
        }
        if m.term > maxSentTerm[i] { maxSentTerm[i] = m.term }
        if checkDurableBeforeSend && m.term > disk.hardState.term {
            return Violation(property: "S5", detail: "n\(i + 1) sent a term-\(m.term) message (\(kindName(m.body))) before persisting that term (durable term \(disk.hardState.term))", timeNs: realNs)
        }
        return nil
    }

    /// crashed closes node i's office at the crash (a dead agent answers nothing) but
    /// keeps its lease deadline: no successor may enter office before it passes.
    mutating func crashed(node i: Int, realNs: Int64) {
        if offices[i].open {
            offices[i].open = false
            if realNs < offices[i].deadlineRealNs {
                crashedLeaseUntilRealNs[i] = offices[i].deadlineRealNs
                offices[i].deadlineRealNs = realNs
            }
        }
        wasLeader[i] = false
    }

    /// wiped forgets what node i's old incarnation did (its data dir is gone): what it
    /// says now binds only the new one. Cluster-wide records (offices, leaders of each
    /// term, committed entries) stay: a new incarnation must not break them either.
    mutating func wiped(node i: Int) {
        lastTerm[i] = 0
        maxSentTerm[i] = 0
        lastGrantTerm[i] = 0
        lastGrantCandidate[i] = nil
        commitSeen[i] = 0
        wasLeader[i] = false
        maxOfficeTerm[i] = 0
    }

    /// restarted checks that a new process starts from no less than was durable.
    mutating func restarted(node i: Int, raft: RaftNode, disk: SimDisk, realNs: Int64) -> Violation? {
        commitSeen[i] = min(commitSeen[i], raft.commitIndex)
        if raft.term < disk.hardState.term || raft.lastLogIndex != disk.lastIndex {
            return Violation(property: "S5", detail: "n\(i + 1) restarted with term \(raft.term), log to \(raft.lastLogIndex); durable: term \(disk.hardState.term), log to \(disk.lastIndex)", timeNs: realNs)
        }
        // What the node said before it died binds what it restarts with: the term of
        // any message it sent, and the vote it granted in its durable term.
        let hs = disk.hardState
        if hs.term < maxSentTerm[i] {
            return Violation(property: "S5", detail: "n\(i + 1) restarted in term \(hs.term) after sending messages of term \(maxSentTerm[i]): its term went back", timeNs: realNs)
        }
        if lastGrantTerm[i] == hs.term, let granted = lastGrantCandidate[i], hs.votedFor != granted {
            return Violation(property: "S5", detail: "n\(i + 1) restarted in term \(hs.term) with vote \(hs.votedFor.map { "\($0)" } ?? "none") after granting \(granted) in that term: its vote went back", timeNs: realNs)
        }
        lastTerm[i] = raft.term
        return nil
    }
}

@inline(__always)
func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a &+ 0x9E37_79B9_7F4A_7C15 &+ (b &* 0xBF58_476D_1CE4_E5B9)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

func payloadHash(_ e: Entry) -> UInt64 {
    switch e.payload {
    case .noop: return 1
    case .data(let bytes):
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    case .configuration(let c):
        var h: UInt64 = 0x0c0f_1a2b
        for m in c.members {
            h = mix(h, mix(UInt64(m.id.rawValue), mix(UInt64(m.role.rawValue) << 16 | UInt64(m.priority), m.incarnation)))
        }
        return h
    }
}

func kindName(_ b: Message.Body) -> String {
    switch b {
    case .preVote: return "preVote"
    case .preVoteResponse: return "preVoteResponse"
    case .vote: return "vote"
    case .voteResponse: return "voteResponse"
    case .append: return "append"
    case .appendResponse: return "appendResponse"
    case .timeoutNow: return "timeoutNow"
    case .installSnapshot: return "installSnapshot"
    }
}
