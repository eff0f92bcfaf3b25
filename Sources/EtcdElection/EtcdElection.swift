// The election through etcd as a pure state machine (like RaftCore's RaftNode): no
// sockets, no clock reads; every input carries `now`, every output is a value. The
// driver starts the requests it asks for with the etcd client and hands back replies.
//
// The recipe (etcd's own concurrency.Election, with Baton's lease arithmetic on top):
// - Each candidate holds a lease and its own key `PREFIX/election/<lease id in hex>`,
//   created by a transaction only if absent (create_revision == 0) and bound to that
//   lease; its value names the candidate. The key with the lowest create revision leads.
//   One key per candidate (rather than one shared key) is what makes the line fair and
//   a hand-over fast: the successor is the oldest waiting candidate, already known to
//   everyone, and it learns of its turn from the watch in one event — no race of
//   retried puts when the leader's key goes.
// - Everyone watches the prefix from the revision of its last read, so it knows the
//   whole line and who leads, and learns the moment a key is deleted or expires.
// - Safety (design §2): the agent is in office only while it is sure etcd still holds
//   its lease. A keep-alive sent at `s` that succeeds with TTL `T` proves etcd keeps the
//   lease until at least `s + T` on etcd's clock, so the office lasts until
//   `s + T·(1−d)/(1+d) − margin` on ours, and ends at that instant if no later
//   keep-alive has succeeded. etcd deletes the key no earlier than that, and nobody else
//   can lead before the key is gone.
// - The fencing token is the key's create revision. An agent that leaves office for any
//   reason abandons that key and lease (revoked once its demote hook finished) and
//   contends afresh with a new lease and key, so every office has a larger token than
//   every earlier one — also when etcd comes back with the old lease still alive.
public import EtcdAPI
public import Time

public struct EtcdElection: Sendable {
    /// Candidate is one key in line.
    public struct Candidate: Hashable, Sendable {
        public var key: [UInt8]
        public var createRevision: Revision
        public var lease: LeaseID
        public var info: CandidateInfo?
    }

    /// Lease is this agent's current lease.
    public struct Lease: Hashable, Sendable {
        public var id: LeaseID
        public var ttl: Interval
        /// confirmedUntil: etcd surely holds the lease until then (our clock), i.e. the
        /// latest `send time + TTL·(1−d)/(1+d) − margin` of a successful renewal.
        public var confirmedUntil: Instant
        var nextKeepAliveAt: Instant
        var keepAliveInFlight: EtcdRequestID?
    }

    enum Purpose: Hashable, Sendable {
        case grant
        case keepAlive(LeaseID)
        case campaign(LeaseID)
        case snapshot
        case watch
        case revoke(LeaseID)
        /// A cheap read while no lease is held, so that `lastReplyAt` (what says a
        /// leader named from the watch is still current) keeps moving.
        case probe
    }

    struct InFlight: Hashable, Sendable {
        var purpose: Purpose
        var sentAt: Instant
        /// expiresAt: a request unanswered by then counts as failed (the client has its
        /// own timeout; this keeps the machine live even if an answer is lost).
        var expiresAt: Instant
    }

    struct Abandoned: Hashable, Sendable {
        var lease: LeaseID
        /// waitingForDemote: revoke only after the demote of this office finished.
        var waitingForDemote: FencingToken?
        var revokeInFlight: EtcdRequestID?
        var nextAttemptAt: Instant
        var failures: Int
    }

    /// Retry is a back-off schedule for one kind of call.
    struct Retry: Hashable, Sendable {
        var dueAt: Instant? = nil
        var failures = 0
    }

    enum Phase: Hashable, Sendable { case notStarted, running, stopping, stopped }

    public let options: EtcdElectionOptions
    let electionPrefix: [UInt8]
    let electionRangeEnd: [UInt8]
    let valueBytes: [UInt8]

    private(set) var phase: Phase = .notStarted
    public private(set) var campaignAllowed: Bool
    public private(set) var lease: Lease? = nil
    /// myKey is this agent's current key and its create revision, once created.
    public private(set) var myKey: Candidate? = nil
    public private(set) var office: EtcdOffice? = nil
    /// candidates is the line as far as known, lowest create revision first.
    public private(set) var candidates: [Candidate] = []
    /// viewRevision: `candidates` reflects etcd at this revision (0: not read yet).
    public private(set) var viewRevision: Revision = 0
    /// truncatedAbove: the last read stopped at `candidateCountMax` keys and this was
    /// the last create revision it held; keys above it may be unknown.
    private var truncatedAbove: Revision? = nil
    private var watchID: EtcdRequestID? = nil
    private var watchCreated = false
    private var inFlight: [EtcdRequestID: InFlight] = [:]
    private var abandoned: [Abandoned] = []
    private var grantRetry = Retry()
    private var campaignRetry = Retry()
    private var snapshotRetry = Retry()
    private var watchRetry = Retry()
    private var nextRequestID: UInt64 = 1
    private var keepAliveFailuresInRow = 0
    /// nextProbeAt: when to read once more while no lease is held (nil: a probe is in flight).
    private var nextProbeAt: Instant? = nil
    private var lastLeader: EtcdLeader? = nil
    /// lastReplyAt / lastFailureAt: when etcd last answered / a call last failed (for /status).
    public private(set) var lastReplyAt: Instant? = nil
    public private(set) var lastFailure: String? = nil
    private var ready = EtcdElectionReady()

    /// init makes an election; `campaignAllowed` false starts it as an observer.
    public init(options: EtcdElectionOptions, campaignAllowed: Bool = true) throws(EtcdElectionOptions.OptionError) {
        try options.validate()
        self.options = options
        self.campaignAllowed = campaignAllowed
        electionPrefix = Array((options.prefix + "/election/").utf8)
        electionRangeEnd = prefixEnd(electionPrefix)
        valueBytes = CandidateInfo.encode(options.candidate)
    }

    // MARK: what the driver reads

    /// isInOffice(at:) is the answer to "am I the leader?" at `now` (design §2 "answers
    /// check the clock"): never a cached role.
    public func isInOffice(at now: Instant) -> Bool {
        guard let office else { return false }
        return now < office.leaseDeadline
    }

    /// leader is who leads as far as this agent knows: the first key in line.
    public var leader: EtcdLeader? {
        guard let first = candidates.first, leaderKnown else { return nil }
        return EtcdLeader(info: first.info, token: FencingToken(first.createRevision), key: first.key, isSelf: first.key == myKey?.key)
    }

    /// isStopped: after `.shutdown`, everything is given up.
    public var isStopped: Bool { phase == .stopped }

    /// nextDeadline is when the driver must deliver `.tick` at the latest.
    public var nextDeadline: Instant {
        var t = Instant.distantFuture
        if let office { t = min(t, office.leaseDeadline) }
        if let lease, lease.keepAliveInFlight == nil { t = min(t, lease.nextKeepAliveAt) }
        if lease == nil, phase == .running, let p = nextProbeAt { t = min(t, p) }
        for r in [grantRetry, campaignRetry, snapshotRetry, watchRetry] { if let d = r.dueAt { t = min(t, d) } }
        for f in inFlight.values { t = min(t, f.expiresAt) }
        for a in abandoned where a.waitingForDemote == nil && a.revokeInFlight == nil { t = min(t, a.nextAttemptAt) }
        return t
    }

    /// abandonedLeaseCount is how many given-up leases still wait to be revoked.
    public var abandonedLeaseCount: Int { abandoned.count }

    // MARK: stepping

    /// start begins: read the line, and contend when allowed.
    public mutating func start(now: Instant) -> EtcdElectionReady {
        precondition(phase == .notStarted, "start called twice")
        phase = .running
        ready = EtcdElectionReady()
        nextProbeAt = now + options.effectiveKeepAliveInterval
        sendSnapshot(now)
        if campaignAllowed { sendGrant(now) }
        return finishStep(now)
    }

    /// handle(_:now:) applies one input and returns what to do.
    public mutating func handle(_ event: EtcdElectionEvent, now: Instant) -> EtcdElectionReady {
        precondition(phase != .notStarted, "handle before start")
        ready = EtcdElectionReady()
        // An office whose lease ran out ends before anything else is looked at, so a
        // late answer can never extend an office that already lapsed.
        expireOffice(now)
        switch event {
        case .tick:
            break
        case .reply(let id, let result):
            handleReply(id, result, now)
        case .setCampaignAllowed(let allowed):
            campaignAllowed = allowed
            if !allowed && office == nil && lease != nil {
                abandonCandidacy(afterDemoteOf: nil, now)
            } else if allowed {
                sendGrant(now)
            }
        case .resign(let reason):
            if let office {
                leave(office.token, reason, now)
            }
        case .shutdown:
            if phase == .running {
                phase = .stopping
                if let office { leave(office.token, .shutdown, now) } else if lease != nil { abandonCandidacy(afterDemoteOf: nil, now) }
                if let w = watchID {
                    ready.cancels.append(w)
                    inFlight[w] = nil
                    watchID = nil
                }
            }
        case .demoteFinished(let token):
            for i in abandoned.indices where abandoned[i].waitingForDemote == token {
                abandoned[i].waitingForDemote = nil
                abandoned[i].nextAttemptAt = now
            }
        }
        runTimers(now)
        return finishStep(now)
    }

    private var inFlightGrant: Bool { inFlight.values.contains { $0.purpose == .grant } }

    // MARK: timers

    private mutating func runTimers(_ now: Instant) {
        for (id, f) in inFlight where f.expiresAt <= now && f.purpose != .watch {
            handleReply(id, .failure(.timedOut), now)
        }
        guard phase == .running || phase == .stopping else { return }
        if phase == .running {
            if var l = lease, l.keepAliveInFlight == nil, l.nextKeepAliveAt <= now {
                let id = send(.leaseKeepAlive(l.id), .keepAlive(l.id), now)
                l.keepAliveInFlight = id
                lease = l
            }
            if lease == nil, let due = nextProbeAt, due <= now {
                nextProbeAt = nil
                send(.range(RangeRequest(key: electionPrefix, rangeEnd: electionRangeEnd, countOnly: true)), .probe, now)
            }
            if let due = grantRetry.dueAt, due <= now { grantRetry.dueAt = nil; sendGrant(now) }
            if let due = campaignRetry.dueAt, due <= now { campaignRetry.dueAt = nil; sendCampaign(now) }
            if let due = snapshotRetry.dueAt, due <= now { snapshotRetry.dueAt = nil; sendSnapshot(now) }
            if let due = watchRetry.dueAt, due <= now { watchRetry.dueAt = nil; sendWatch(now) }
        }
        for i in abandoned.indices where abandoned[i].waitingForDemote == nil && abandoned[i].revokeInFlight == nil
            && abandoned[i].nextAttemptAt <= now {
            abandoned[i].revokeInFlight = send(.leaseRevoke(abandoned[i].lease), .revoke(abandoned[i].lease), now)
        }
    }

    private func scheduled(_ retry: Retry, _ now: Instant) -> Retry {
        Retry(dueAt: now + backoff(retry.failures + 1), failures: retry.failures + 1)
    }

    private func backoff(_ failures: Int) -> Interval {
        var delay = options.retryInitial
        for _ in 1..<max(1, min(failures, 30)) where delay < options.retryMax { delay = delay * 2 }
        return min(delay, options.retryMax)
    }

    // MARK: requests

    @discardableResult
    private mutating func send(_ call: EtcdCall, _ purpose: Purpose, _ now: Instant) -> EtcdRequestID {
        let id = EtcdRequestID(raw: nextRequestID)
        nextRequestID += 1
        let timeout = options.effectiveCallTimeout
        // A watch lives as long as it can; only its set-up is bounded (by the client).
        let expires = purpose == .watch ? Instant.distantFuture : now + timeout + timeout
        inFlight[id] = InFlight(purpose: purpose, sentAt: now, expiresAt: expires)
        ready.requests.append(EtcdRequest(id: id, call: call, timeout: timeout))
        return id
    }

    private func lineRange() -> RangeRequest {
        RangeRequest(key: electionPrefix, rangeEnd: electionRangeEnd, limit: Int64(options.candidateCountMax),
                     sortOrder: .ascend, sortTarget: .create)
    }

    private mutating func sendGrant(_ now: Instant) {
        guard phase == .running, campaignAllowed, lease == nil, !inFlightGrant else { return }
        send(.leaseGrant(ttlSeconds: options.leaseTTL.nanoseconds / 1_000_000_000), .grant, now)
    }

    private func key(for lease: LeaseID) -> [UInt8] {
        let hex = String(UInt64(bitPattern: lease), radix: 16)
        return electionPrefix + Array((String(repeating: "0", count: 16 - hex.count) + hex).utf8)
    }

    private mutating func sendCampaign(_ now: Instant) {
        guard phase == .running, let l = lease, myKey == nil,
              !inFlight.values.contains(where: { $0.purpose == .campaign(l.id) }) else { return }
        let k = key(for: l.id)
        // Create our key only if absent; either way read it and the line in the same
        // revision, so one round trip says where we stand. A retried campaign whose
        // first try did succeed finds the key with our lease on it.
        let txn = TxnRequest(
            compare: [Compare(key: k, .equal, .createRevision(0))],
            success: [.put(PutRequest(key: k, value: valueBytes, lease: l.id)), .range(lineRange())],
            failure: [.range(RangeRequest(key: k)), .range(lineRange())])
        send(.txn(txn), .campaign(l.id), now)
    }

    private mutating func sendSnapshot(_ now: Instant) {
        guard phase == .running, !inFlight.values.contains(where: { $0.purpose == .snapshot }) else { return }
        send(.range(lineRange()), .snapshot, now)
    }

    private mutating func sendWatch(_ now: Instant) {
        guard phase == .running, watchID == nil, viewRevision > 0 else { return }
        watchCreated = false
        watchID = send(.watch(WatchCreateRequest(key: electionPrefix, rangeEnd: electionRangeEnd,
                                                 startRevision: viewRevision + 1, prevKV: true)), .watch, now)
    }

    // MARK: replies

    private mutating func handleReply(_ id: EtcdRequestID, _ result: Result<EtcdReply, EtcdFailure>, _ now: Instant) {
        guard let f = inFlight[id] else { return }  // late, cancelled or already failed
        switch result {
        case .success: lastReplyAt = now
        case .failure(let e): lastFailure = "\(e)"
        }
        if f.purpose != .watch { inFlight[id] = nil }
        switch f.purpose {
        case .grant: grantAnswered(result, sentAt: f.sentAt, now)
        case .keepAlive(let lid): keepAliveAnswered(lid, id, result, sentAt: f.sentAt, now)
        case .campaign(let lid): campaignAnswered(lid, result, now)
        case .snapshot: snapshotAnswered(result, now)
        case .watch: watchAnswered(id, result, now)
        case .revoke(let lid): revokeAnswered(lid, result, now)
        case .probe: nextProbeAt = f.sentAt + options.effectiveKeepAliveInterval
        }
    }

    private mutating func grantAnswered(_ result: Result<EtcdReply, EtcdFailure>, sentAt: Instant, _ now: Instant) {
        guard case .success(.leaseGrant(let g)) = result, g.id != 0, g.ttlSeconds > 0 else {
            grantRetry = scheduled(grantRetry, now)
            return
        }
        grantRetry = Retry()
        guard phase == .running, campaignAllowed, lease == nil else {
            // Not wanted any more (held back, stopping, or a duplicate): give it back.
            addAbandoned(g.id, afterDemoteOf: nil, now)
            return
        }
        let ttl = Interval.seconds(g.ttlSeconds)
        lease = Lease(id: g.id, ttl: ttl, confirmedUntil: confirmedUntil(sentAt: sentAt, ttl: ttl),
                      nextKeepAliveAt: sentAt + options.effectiveKeepAliveInterval, keepAliveInFlight: nil)
        sendCampaign(now)
    }

    /// confirmedUntil(sentAt:ttl:) is design §2's bound: what etcd granted at or after
    /// `sentAt` (its clock) lasts until `sentAt + TTL·(1−d)/(1+d) − margin` (ours).
    private func confirmedUntil(sentAt: Instant, ttl: Interval) -> Instant {
        sentAt + ttl.scaled(by: options.officeFraction) - options.margin
    }

    private mutating func keepAliveAnswered(_ lid: LeaseID, _ id: EtcdRequestID, _ result: Result<EtcdReply, EtcdFailure>,
                                            sentAt: Instant, _ now: Instant) {
        guard var l = lease, l.id == lid, l.keepAliveInFlight == id else { return }
        l.keepAliveInFlight = nil
        switch result {
        case .success(.leaseKeepAlive(let k)) where k.ttlSeconds > 0:
            let ttl = Interval.seconds(k.ttlSeconds)
            l.ttl = ttl
            l.confirmedUntil = max(l.confirmedUntil, confirmedUntil(sentAt: sentAt, ttl: ttl))
            l.nextKeepAliveAt = sentAt + options.effectiveKeepAliveInterval
            lease = l
            if var o = office {
                o.leaseDeadline = l.confirmedUntil
                office = o
            }
            if keepAliveFailuresInRow > 0 {
                // etcd answers again after failures: the watch may sit on a member that
                // lost its cluster meanwhile and stays silent, so set it up afresh
                // (from the last revision seen, so no event is missed).
                keepAliveFailuresInRow = 0
                restartWatch(now)
            }
        case .success(.leaseKeepAlive):
            // TTL 0: etcd no longer has the lease (expired, revoked): the key is gone too.
            lease = l
            if let office { leave(office.token, .leaseLost, now) } else { abandonCandidacy(afterDemoteOf: nil, now, revoke: false) }
        default:
            // Failed or timed out: try again soon; the office ends by itself if this goes on.
            keepAliveFailuresInRow += 1
            l.nextKeepAliveAt = now + min(options.retryInitial, options.effectiveKeepAliveInterval)
            lease = l
        }
    }

    private mutating func campaignAnswered(_ lid: LeaseID, _ result: Result<EtcdReply, EtcdFailure>, _ now: Instant) {
        guard let l = lease, l.id == lid, myKey == nil else { return }
        guard case .success(.txn(let t)) = result, t.responses.count == 2,
              case .range(let line) = t.responses[1] else {
            campaignRetry = scheduled(campaignRetry, now)
            return
        }
        campaignRetry = Retry()
        let k = key(for: lid)
        if t.succeeded {
            myKey = Candidate(key: k, createRevision: t.header.revision, lease: lid, info: options.candidate)
        } else if case .range(let mine) = t.responses[0], let kv = mine.kvs.first, kv.lease == lid {
            myKey = Candidate(key: k, createRevision: kv.createRevision, lease: lid, info: options.candidate)
        } else {
            // Our key exists under another lease (never made by us): start over.
            abandonCandidacy(afterDemoteOf: nil, now)
            return
        }
        adoptSnapshot(line, now)
    }

    private mutating func snapshotAnswered(_ result: Result<EtcdReply, EtcdFailure>, _ now: Instant) {
        guard case .success(.range(let r)) = result else {
            snapshotRetry = scheduled(snapshotRetry, now)
            return
        }
        snapshotRetry = Retry()
        adoptSnapshot(r, now)
    }

    /// adoptSnapshot(_:_:) replaces the line with a read at a revision not older than
    /// the current view, then makes sure the watch covers everything after it.
    private mutating func adoptSnapshot(_ r: RangeResponse, _ now: Instant) {
        guard r.header.revision >= viewRevision else { return }
        candidates = r.kvs.map { Candidate(key: $0.key, createRevision: $0.createRevision, lease: $0.lease, info: CandidateInfo.decode($0.value)) }
        candidates.sort { $0.createRevision < $1.createRevision }
        truncatedAbove = r.more ? candidates.last?.createRevision : nil
        viewRevision = r.header.revision
        if watchID == nil && watchRetry.dueAt == nil { sendWatch(now) }
    }

    private mutating func restartWatch(_ now: Instant) {
        guard let w = watchID else { return }
        ready.cancels.append(w)
        inFlight[w] = nil
        watchID = nil
        watchRetry = Retry()
        sendWatch(now)
    }

    private mutating func watchAnswered(_ id: EtcdRequestID, _ result: Result<EtcdReply, EtcdFailure>, _ now: Instant) {
        guard id == watchID else { inFlight[id] = nil; return }
        switch result {
        case .success(.watch(let w)):
            if w.created { watchCreated = true; watchRetry = Retry() }
            // One revision can hold several events (a delete of a range, a transaction):
            // compare with the view as it was before this message, not after each event.
            let before = viewRevision
            for e in w.events where e.kv.modRevision > before {
                apply(e)
                viewRevision = max(viewRevision, e.kv.modRevision)
            }
        case .success:
            break
        case .failure(let failure):
            inFlight[id] = nil
            watchID = nil
            if case .server(let code, _) = failure, code == EtcdFailure.grpcOutOfRange {
                // The revision we would resume from was compacted: read the line afresh.
                viewRevision = 0
                sendSnapshot(now)
            } else {
                watchRetry = scheduled(watchRetry, now)
            }
        }
    }

    private mutating func apply(_ e: WatchEvent) {
        switch e.kind {
        case .put:
            let c = Candidate(key: e.kv.key, createRevision: e.kv.createRevision, lease: e.kv.lease, info: CandidateInfo.decode(e.kv.value))
            if let i = candidates.firstIndex(where: { $0.key == e.kv.key }) {
                candidates[i] = c
            } else if candidates.count >= options.candidateCountMax {
                // The line is longer than we keep: remember that keys above the last one
                // we hold may be unknown (read again when the known ones run out).
                if let last = candidates.last, c.createRevision > last.createRevision {
                    truncatedAbove = min(truncatedAbove ?? last.createRevision, last.createRevision)
                }
            } else if truncatedAbove == nil || c.createRevision <= truncatedAbove! {
                let at = candidates.firstIndex { $0.createRevision > c.createRevision } ?? candidates.count
                candidates.insert(c, at: at)
            }
        case .delete:
            candidates.removeAll { $0.key == e.kv.key }
        }
    }

    private mutating func revokeAnswered(_ lid: LeaseID, _ result: Result<EtcdReply, EtcdFailure>, _ now: Instant) {
        guard let i = abandoned.firstIndex(where: { $0.lease == lid }) else { return }
        switch result {
        case .success, .failure(.server(code: EtcdFailure.grpcNotFound, _)):
            abandoned.remove(at: i)
        case .failure:
            abandoned[i].revokeInFlight = nil
            abandoned[i].failures += 1
            if phase == .stopping {
                // Stopping: one try is enough; the lease expires within its TTL anyway.
                abandoned.remove(at: i)
            } else {
                abandoned[i].nextAttemptAt = now + backoff(abandoned[i].failures)
            }
        }
    }

    // MARK: office

    /// leaderKnown: the first known key is surely the first in line (a truncated read
    /// may have left out keys above its last one).
    private var leaderKnown: Bool {
        guard viewRevision > 0, let first = candidates.first else { return false }
        if let bound = truncatedAbove { return first.createRevision <= bound }
        return true
    }

    private mutating func expireOffice(_ now: Instant) {
        if let office, now >= office.leaseDeadline {
            leave(office.token, .leaseLost, now)
        }
    }

    /// leave(_:_:_:) ends the office, abandons its key and lease (revoked after the
    /// demote finished), and contends afresh when allowed.
    private mutating func leave(_ token: FencingToken, _ reason: EtcdLeaveReason, _ now: Instant) {
        guard office?.token == token else { return }
        office = nil
        ready.officeChanges.append(.leave(token: token, reason: reason))
        // Revoked even after a lost lease: etcd may still hold it (it was only unconfirmed).
        abandonCandidacy(afterDemoteOf: token, now)
    }

    /// abandonCandidacy gives up the current lease and key for good.
    private mutating func abandonCandidacy(afterDemoteOf token: FencingToken?, _ now: Instant, revoke: Bool = true) {
        // A grant still in flight is given back when it arrives (grantAnswered).
        if let l = lease {
            if let k = l.keepAliveInFlight { inFlight[k] = nil }
            for (id, f) in inFlight where f.purpose == .campaign(l.id) { inFlight[id] = nil }
            if revoke { addAbandoned(l.id, afterDemoteOf: token, now) }
        }
        lease = nil
        myKey = nil
        campaignRetry = Retry()
        if phase == .running && campaignAllowed { sendGrant(now) }
    }

    private mutating func addAbandoned(_ lid: LeaseID, afterDemoteOf token: FencingToken?, _ now: Instant) {
        guard !abandoned.contains(where: { $0.lease == lid }) else { return }
        if abandoned.count >= options.abandonedLeaseCountMax { abandoned.removeFirst() }
        abandoned.append(Abandoned(lease: lid, waitingForDemote: token, revokeInFlight: nil, nextAttemptAt: now, failures: 0))
    }

    /// evaluate leaves or enters office from the state after this step's changes.
    private mutating func evaluate(_ now: Instant) {
        if let office {
            // Our key left the line (deleted by someone else, or gone in a compaction).
            if let mine = myKey, viewRevision >= mine.createRevision, !candidates.contains(where: { $0.key == mine.key }) {
                leave(office.token, .keyDeleted, now)
            }
            return
        }
        if let mine = myKey, viewRevision >= mine.createRevision, truncatedAbove.map({ mine.createRevision <= $0 }) ?? true,
           !candidates.contains(where: { $0.key == mine.key }) {
            // Our key left the line while we waited (deleted by someone else): get back
            // in line, at its end, with the same lease.
            myKey = nil
            sendCampaign(now)
        }
        guard phase == .running, campaignAllowed, let l = lease, now < l.confirmedUntil,
              let mine = myKey, leaderKnown, let first = candidates.first, first.key == mine.key else { return }
        let reason: EtcdEnterReason = mine.createRevision == viewRevision ? .firstInLine : .successor
        office = EtcdOffice(token: FencingToken(mine.createRevision), since: now, leaseDeadline: l.confirmedUntil)
        ready.officeChanges.append(.enter(token: FencingToken(mine.createRevision), leaseDeadline: l.confirmedUntil, reason: reason))
    }

    private mutating func finishStep(_ now: Instant) -> EtcdElectionReady {
        evaluate(now)
        if phase == .running, leaderKnown == false, truncatedAbove != nil, viewRevision > 0,
           snapshotRetry.dueAt == nil, !inFlight.values.contains(where: { $0.purpose == .snapshot }) {
            // The keys we know ran out below a truncated read: read the line again.
            sendSnapshot(now)
        }
        if phase == .stopping && abandoned.isEmpty && office == nil && !inFlightGrant {
            phase = .stopped
            ready.stopped = true
            for (id, _) in inFlight { ready.cancels.append(id) }
            inFlight.removeAll()
        }
        let current = leader
        if current != lastLeader {
            lastLeader = current
            ready.leaderChanged = true
        }
        return ready
    }
}
