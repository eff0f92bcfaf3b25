// The agent's logic with etcd as its election engine (issue 18; design §3 "Engines"), as
// a deterministic single-threaded state machine like `AgentDriver`: the pure
// `EtcdElection` inside, and the same hook sequence, check, campaign gate and view
// (DriverParts.swift). Inputs come through `handle`; calls to etcd, hook steps, answers
// and the exit go out through ports; consequences of effects go through an inbox and
// are handled after the current step (style rule 21).
//
// What the application sees is what the Raft engine gives it: an office from the
// election's `enter` to its `leave`, decided from the lease at answer time; the
// fencing token (the election key's create revision) in place of the Raft term; hooks
// in the same order with the same pairing (a successor's promote waits for the
// predecessor's demote: the predecessor's lease is revoked only once its demote hook
// finished, and etcd deletes its key with it).
import AgentLogging
import EtcdAPI
public import EtcdElection
public import RaftCore

/// EtcdAgentDriver is one agent's logic with etcd as its engine. Not thread-safe.
public final class EtcdAgentDriver {
    public internal(set) var settings: EtcdDriverSettings
    let ports: EtcdDriverPorts
    /// election is the engine: who leads, this agent's office, its lease.
    public private(set) var election: EtcdElection
    /// view is the snapshot every consumer reads.
    public internal(set) var view: AgentView
    /// nextDeadline is when `.tick` must arrive next.
    public private(set) var nextDeadline: Instant = .distantFuture
    /// leaderInfo is what the leader's key says of it (its API address for answers).
    public internal(set) var leaderInfo: CandidateInfo? = nil

    // MARK: Parts shared with the Raft engine's driver (DriverParts.swift)

    var hookSequence: HookSequence
    var checkTracker: CheckTracker?
    var checkView: AgentView.CheckView?
    var gate = CampaignGate()
    var pendingPlan: HookPlan? = nil
    var shutdown: ShutdownSequence?
    var resigns: [ResignWaiter] = []
    var counters = AgentView.Counters()

    // MARK: The engine's own bookkeeping

    /// released: after `.shutdown` the election gave up its lease (or gave up trying).
    var released = false
    /// previousLeader: the last other agent seen leading, and per office the one before
    /// it (`BATON_PREVIOUS_LEADER_ID`).
    var previousLeader: String? = nil
    var previousLeaderOf: [FencingToken: String] = [:]
    /// etcdReachable: etcd answered within a lease TTL (logged when it changes).
    var etcdReachable = true
    /// startedAt counts as etcd's first answer (so the first TTL is not "unreachable").
    var startedAt: Instant = .distantFuture
    var started = false
    var handling = false

    /// FollowUp is an effect's consequence that steps the driver again.
    enum FollowUp: Hashable {
        case demoteFinished(FencingToken)
        case startupFinished
        case promoteFailed(FencingToken)
        /// Leave office and let the next candidate in line take over.
        case resign(EtcdLeaveReason)
        case updateCampaign
    }

    var inbox = FollowUpInbox<FollowUp>()

    /// init builds the election held back from contending (the start-up hook runs
    /// first, design S4). Nothing happens until `.start`.
    public init(settings: EtcdDriverSettings, now: Instant, ports: EtcdDriverPorts) throws(DriverSetupError) {
        self.settings = settings
        self.ports = ports
        do { election = try EtcdElection(options: settings.election, campaignAllowed: false) } catch {
            throw DriverSetupError(error.description)
        }
        hookSequence = HookSequence(plan: settings.hooks)
        if settings.checkConfigured {
            checkTracker = CheckTracker(failuresToFail: settings.checkFailuresToFail)
            checkView = AgentView.CheckView(healthy: false, consecutiveFailures: 0, passes: 0, failures: 0,
                                            lastDetail: "", lastDuration: .zero)
        }
        // The view's two timings: the margin answers keep from the lease's end, and how
        // long a leader learned from etcd is named without a newer answer from etcd.
        var timing = Options()
        timing.leaseMargin = settings.election.margin
        timing.electionTimeoutMin = settings.election.leaseTTL
        view = AgentView(name: settings.name, peers: [], options: timing, now: now)
        // Every agent is a candidate with this engine: there is no configuration to wait
        // for or be removed from (the answers' membership word says "candidate").
        view.membership = .member(.voter)
        gate.allowed = false
        refreshView(now: now)
    }

    // MARK: The one door

    /// handle takes one input and does everything it causes, then brings the view and
    /// `nextDeadline` up to date.
    public func handle(_ input: EtcdDriverInput, now: Instant) {
        precondition(!handling, "EtcdAgentDriver.handle re-entered: a port called back synchronously")
        guard view.phase != .finished else { return }
        handling = true
        defer { handling = false }
        process(input, now: now)
        drainInbox(now: now)
        answerResignWaiters(now: now)
        advanceShutdown(now: now)
        drainInbox(now: now)
        takePendingPlanIfIdle()
        noteReachability(now: now)
        refreshView(now: now)
        nextDeadline = computeNextDeadline()
    }

    func process(_ input: EtcdDriverInput, now: Instant) {
        switch input {
        case .start:
            guard !started else { return }
            started = true
            startedAt = now
            apply(election.start(now: now), now: now)
            follow(.updateCampaign)
            startHooks(now: now)
        case .etcd(let id, let result):
            stepElection(.reply(id, result), now: now)
        case .hookStepFinished(let run, let outcome):
            hookStepFinished(run, outcome, now: now)
        case .checkResult(let passed, let detail, let duration):
            checkResult(passed: passed, detail: detail, duration: duration, now: now)
        case .tick:
            hookTimers(now: now)
            if gate.backoffUntil != nil { follow(.updateCampaign) }
            if started && now >= election.nextDeadline { stepElection(.tick, now: now) }
        case .terminate:
            terminate(now: now)
        case .resign(let request, let to, let client):
            resign(request, to: to, client: client, now: now)
        case .reload(let r):
            reloadParts(r)
        }
    }

    func follow(_ f: FollowUp) { inbox.push(f) }

    /// drainInbox handles the follow-ups of the current input, and theirs.
    func drainInbox(now: Instant) {
        while let f = inbox.pop() {
            switch f {
            case .demoteFinished(let token):
                stepElection(.demoteFinished(token: token), now: now)
            case .startupFinished:
                noteStartupFinished()
                updateCampaign(now: now)
            case .promoteFailed(let token):
                guard election.office?.token == token else { break }
                startPromoteFailureBackoff(token: token, now: now)
                updateCampaign(now: now)
                stepElection(.resign(.promoteFailed), now: now)
            case .resign(let reason):
                if election.office != nil { stepElection(.resign(reason), now: now) }
            case .updateCampaign:
                updateCampaign(now: now)
            }
        }
    }

    /// updateCampaign tells the election when the decision changed (DriverParts.swift).
    /// Holding back withdraws a waiting candidacy; it never ends an office by itself.
    func updateCampaign(now: Instant) {
        guard let allowed = campaignDecision(now: now) else { return }
        stepElection(.setCampaignAllowed(allowed), now: now)
    }

    func computeNextDeadline() -> Instant {
        guard view.phase != .finished else { return .distantFuture }
        var d = started ? election.nextDeadline : .distantFuture
        if let t = hookSequence.delayUntil { d = min(d, t) }
        if let t = gate.backoffUntil { d = min(d, t) }
        for w in resigns { d = min(d, w.deadline) }
        if let s = shutdown, let t = s.nextDeadline { d = min(d, t) }
        // Reachability is logged when etcd's last answer grows older than a TTL.
        if started && etcdReachable { d = min(d, (election.lastReplyAt ?? startedAt) + settings.election.leaseTTL) }
        return d
    }

    // MARK: The election's steps

    /// stepElection hands one event to the election and applies what it decided.
    func stepElection(_ event: EtcdElectionEvent, now: Instant) {
        apply(election.handle(event, now: now), now: now)
    }

    /// apply carries out one step of the election in the order its type prescribes:
    /// office changes first (the view must not say "in office" a moment after the
    /// election decided otherwise), then the calls; the hook sequence last, so what it
    /// asks of the election in return goes through the inbox.
    private func apply(_ ready: EtcdElectionReady, now: Instant) {
        for change in ready.officeChanges { noteOffice(change, now: now) }
        if !ready.officeChanges.isEmpty { refreshOffice() }
        if ready.leaderChanged { noteLeader(now: now) }
        for id in ready.cancels { ports.etcd.cancel(id) }
        for request in ready.requests { ports.etcd.start(request) }
        if ready.stopped { released = true }
        for change in ready.officeChanges { officeChanged(change, now: now) }
    }

    private func noteOffice(_ change: EtcdOfficeChange, now: Instant) {
        counters.officeChanges += 1
        switch change {
        case .enter(let token, let leaseDeadline, let reason):
            view.leaderSince = now
            log("office-enter", .notice, "\(settings.name) enters office, token \(token) (its key's create revision)",
                [("token", .number(token)), ("lease_deadline_boottime_ns", .number(leaseDeadline.nanoseconds)),
                 ("reason", .string(reason.rawValue))] + (previousLeader.map { [("previous_leader", .string($0))] } ?? []),
                .essential, term: token)
        case .leave(let token, let reason):
            log("office-leave", .notice, "\(settings.name) leaves office, token \(token) (\(reason.rawValue))",
                [("token", .number(token)), ("reason", .string(reason.rawValue))], .essential, term: token)
        }
    }

    /// noteLeader logs who leads now, as the line in etcd shows it.
    private func noteLeader(now: Instant) {
        let leader = election.leader
        let name = leader.map { $0.info?.name ?? Self.unnamedLeader }
        view.leaderSince = now
        if let leader, let name {
            // The first key in line: this agent's own while it waits for its campaign's
            // answer, or after it left office until its lease is revoked.
            log("leader", .notice, "the first in line is \(name), token \(leader.token)\(leader.isSelf ? " (this agent's key)" : "")",
                [("leader", .string(name)), ("token", .number(leader.token))], .essential, term: leader.token)
            if name != settings.name { previousLeader = name }
        } else {
            log("leader", .info, "\(settings.name) knows no leader", [], .essential)
        }
    }

    /// unnamedLeader names a leader whose key's value is not a candidate's (written by
    /// something other than Baton under the prefix).
    static let unnamedLeader = "(unnamed)"

    /// officeChanged hands one office change to the hook sequence (after its step was applied).
    private func officeChanged(_ change: EtcdOfficeChange, now: Instant) {
        switch change {
        case .enter(let token, _, _):
            // Kept for the promote of the few latest offices (an older one has run or was skipped).
            if previousLeaderOf.count >= 4, let oldest = previousLeaderOf.keys.min() { previousLeaderOf[oldest] = nil }
            previousLeaderOf[token] = previousLeader
            // BATON_REASON of a promote is `election` as with Raft: a successor cannot
            // tell a predecessor that resigned from one whose lease ran out.
            perform(hookSequence.queue.officeEntered(term: token, reason: "election"), now: now)
            if checkTracker?.healthy == false { follow(.resign(.checkFailed)) }
        case .leave(let token, let reason):
            perform(hookSequence.queue.officeLeft(term: token, reason: reason.rawValue), now: now)
        }
    }

    /// noteReachability logs when etcd stops or starts answering (a TTL without an
    /// answer: an office cannot have outlived that).
    private func noteReachability(now: Instant) {
        guard started else { return }
        let reachable = now < (election.lastReplyAt ?? startedAt) + settings.election.leaseTTL
        guard reachable != etcdReachable else { return }
        etcdReachable = reachable
        if reachable {
            log("etcd-reachable", .notice, "etcd answers again", [], .always)
        } else {
            let why = election.lastFailure ?? "no answer yet"
            log("etcd-unreachable", .warning, "etcd has not answered for a lease TTL or more: \(why)", [("error", .string(why))], .always)
        }
    }

    // MARK: Logging

    func log(_ name: String, _ level: LogLevel, _ message: @autoclosure () -> String,
             _ fields: @autoclosure () -> LogFields = [], _ policy: AgentLog.Policy = .ordinary, term: UInt64? = nil) {
        ports.log.event(LogEvent(name, level, message(), fields(), policy, term: term))
    }
}

extension EtcdAgentDriver: DriverParts {
    var isStopping: Bool { shutdown != nil }
    var holdsOffice: Bool { election.office != nil }
    var hookPort: any HookPort { ports.hooks }
    /// pausedInOffice: there is no pause with this engine yet (issue 16's pause lives in
    /// the Raft group's replicated log).
    var pausedInOffice: Bool { false }
    /// noteHookOutcome: no leadership history is kept with this engine yet.
    func noteHookOutcome(event: HookEvent, term: UInt64, hook: String, _ outcome: HookStepOutcome) {}

    func emit(_ event: @autoclosure () -> LogEvent) { ports.log.event(event()) }

    func follow(part: PartsFollowUp) {
        switch part {
        case .demoteFinished(let token): follow(.demoteFinished(token))
        case .startupFinished: follow(.startupFinished)
        case .promoteFailed(let token): follow(.promoteFailed(token))
        case .handOverForFailedCheck: follow(.resign(.checkFailed))
        case .updateCampaign: follow(.updateCampaign)
        }
    }

    /// hookEnvironment is the transition's `BATON_*` variables, read when each step
    /// starts: the token, the leaders and the lease's end as this agent knows them.
    func hookEnvironment(_ job: HookJob) -> [String] {
        let me = settings.name
        let leader: String, previous: String
        var leaseMs: Int64 = 0
        switch job.event {
        case .promote:
            leader = me
            previous = previousLeaderOf[job.term] ?? ""
            if let office = election.office, office.token == job.term { leaseMs = office.leaseDeadline.nanoseconds / 1_000_000 }
        case .demote:
            leader = view.leader == me ? "" : (view.leader ?? "")
            previous = me
        case .startup:
            leader = view.leader ?? ""
            previous = ""
        case .change:
            // Not queued by this engine (issue 14's observers are the Raft group's).
            leader = view.leader ?? ""
            previous = ""
        }
        return HookTransition.environment(event: job.event.rawValue, node: me, term: job.event == .startup ? view.term : job.term,
                                          leader: leader, previousLeader: previous, reason: job.reason, leaseDeadlineMs: leaseMs)
    }
}
