// The agent's logic as a deterministic, single-threaded state machine (design §3
// "Agent driver"): the Raft core inside, the persist-before-send pipeline, the hook
// sequence, the check, start-up, shutdown and resign. Inputs come through `handle`;
// I/O goes out through ports; one `AgentView` is kept up to date for every reader.
//
// The driver never re-enters itself or the core (style rule 21): what an effect causes
// in return (a demote finished → the core may send TimeoutNow; the start-up hook
// finished → campaigns allowed; a promote failed or the check failed → hand over) is
// queued in an inbox and handled after the current `Ready` is fully applied.
import AgentLogging
public import Membership
public import RaftCore

/// AgentDriver is one agent's logic. Not thread-safe: one thread calls `handle`.
public final class AgentDriver {
    /// settings: what the driver runs with; a reload changes the hooks and the check.
    public internal(set) var settings: DriverSettings
    /// members: the configuration's members (and the contacts' names), rebuilt whenever
    /// the configuration in force changes (`syncMembers`).
    public internal(set) var members: MemberTable
    public let me: NodeID
    let ports: DriverPorts
    /// raft is the election engine (design §3 "Engines"): the only part that is Raft's.
    /// The hook sequence, the view, API actions, the check gate, start-up and shutdown
    /// talk to it only through office changes, transfer outcomes and role/term/leader.
    public internal(set) var raft: RaftNode
    /// view is the snapshot every consumer reads.
    public internal(set) var view: AgentView
    /// nextDeadline is when `.tick` must arrive next.
    public private(set) var nextDeadline: Instant = .distantFuture

    // MARK: Parts (each in its own file)

    var pipeline = PersistPipeline()
    var hookSequence: HookSequence
    var checkTracker: CheckTracker?
    var checkView: AgentView.CheckView?
    var gate = CampaignGate()
    var shutdown: ShutdownSequence?
    var resigns: [ResignWaiter] = []
    /// peerAPI: each peer's API address from its handshake.
    var peerAPI: [NodeID: String] = [:]
    /// What the last core step showed, to log changes of role, term or leader.
    var lastRole: Role = .follower
    var lastTerm: Term = 0
    var lastLeader: NodeID? = nil
    var counters = AgentView.Counters()
    /// pendingPlan: hook commands from a reload, taken once no hook job runs.
    var pendingPlan: HookPlan? = nil
    /// The leader the view names (its name is looked up only when it changes).
    var lastViewLeader: NodeID? = nil
    /// peerIDs[i] is the id of `view.peers[i]`.
    var peerIDs: [NodeID] = []
    /// What the member tables were last built from.
    var membershipKey: MembershipKey? = nil
    /// learnedPeers: peers that dialled this node while it waits to be added, by name
    /// (the leader that adds it is one of them).
    var learnedPeers: [String: DriverMember] = [:]
    /// wasMember: this node was in a configuration in force; removed: a committed change
    /// then left it out (for good).
    var wasMember = false
    var removed = false
    /// removedAt: when this node learnt that a committed change removed it.
    var removedAt: Instant? = nil
    var membershipWaiters: [MembershipWaiter] = []
    var queuedMembership: [QueuedMembershipRequest] = []
    /// replicated: the state built from committed entries (applied once durable).
    var replicated = ReplicatedState()
    /// pauseControl: the maintenance pause's local part (Pause.swift).
    var pauseControl = PauseControl()
    /// handoverControl: the scheduled hand-over's local part (ScheduledHandover.swift).
    var handoverControl = HandoverControl()
    /// ownHookOutcomes: this node's hook outcomes its leader is to log.
    var ownHookOutcomes = OwnHookOutcomes()
    /// pendingHistory: history records this leader logs after the current step.
    var pendingHistory: [ControlRecord] = []
    /// preemptWatch: the higher-priority member this leader waits to hand over to.
    var preemptWatch: PreemptWatch? = nil
    /// priorityWarnedAt: the configuration index the --priority warning was given for.
    var priorityWarnedAt: LogIndex? = nil
    /// wallClockMs reads the wall clock (Unix ms) for what the log records of operator
    /// controls (a pause's end, history times); nil where there is none (the
    /// simulator): a pause then ends by its duration from when each member applied it.
    public var wallClockMs: (() -> Int64)? = nil

    // MARK: The inbox

    /// FollowUp is an effect's consequence that steps the driver again.
    enum FollowUp: Hashable {
        /// The core learns the demote hook of `term` finished.
        case demoteFinished(Term)
        case startupFinished
        /// The promote of `term` failed and the policy is resign.
        case promoteFailed(Term)
        /// Hand over (a check failing while in office).
        case handOver(LeaveReason)
        /// Recompute whether this node may campaign.
        case updateCampaign
    }

    var inbox: [FollowUp] = []
    var inboxHead = 0
    /// inboxStepsMax bounds one input's follow-ups (style rule 11): each is caused by a
    /// hook or office change, of which one input makes a handful.
    static let inboxStepsMax = 10_000
    var handling = false
    var started = false

    /// init restores the core from `state` (what the disk holds). Nothing happens until
    /// the first input (`.start`).
    /// init restores the core from `state` (what the disk holds: a snapshot with the
    /// membership, the log after it). A state without a snapshot has the founding members
    /// of `settings.members` as its base when `foundIfEmpty` (tests and the simulator keep
    /// no snapshot of the bootstrap); the agent writes its bootstrap snapshot itself and
    /// passes a state without one only for a member waiting to be added.
    public init(settings: DriverSettings, restoring state: PersistentState, seed: UInt64, now: Instant,
                ports: DriverPorts, foundIfEmpty: Bool = true) throws(DriverSetupError) {
        let table: MemberTable
        do { table = try MemberTable(settings.members) } catch { throw DriverSetupError(error.description) }
        let id = nodeID(forName: settings.name)
        self.settings = settings
        members = table
        me = id
        self.ports = ports
        var restored = state
        if foundIfEmpty && restored.snapshot == nil {
            guard table.idOf[settings.name] != nil else {
                throw DriverSetupError("'\(settings.name)' is not among the members (\(settings.members.map(\.name).joined(separator: ", ")))")
            }
            restored.snapshot = .bootstrap(Configuration(members: settings.members.map {
                Member(id: $0.id, name: $0.name, role: settings.witness && $0.name == settings.name ? .witness : .voter,
                       incarnation: settings.incarnation, peerAddress: $0.peerAddress)
            }))
        }
        do {
            raft = try RaftNode(id: id, incarnation: settings.incarnation, options: settings.raft,
                                restoring: restored, seed: seed, now: now)
        } catch {
            throw DriverSetupError(error.message)
        }
        // The replicated state: the snapshot's, then every committed entry after it.
        replicated = ReplicatedState(snapshot: restored.snapshot)
        for e in restored.log where e.index <= restored.hardState.commitIndex { replicated.apply(e) }
        hookSequence = HookSequence(plan: settings.hooks)
        if settings.checkConfigured {
            checkTracker = CheckTracker(failuresToFail: settings.checkFailuresToFail)
            checkView = AgentView.CheckView(healthy: false, consecutiveFailures: 0, passes: 0, failures: 0,
                                            lastDetail: "", lastDuration: .zero)
        }
        view = AgentView(name: settings.name, peers: [], options: settings.raft, now: now)
        lastTerm = raft.term
        // Campaigns wait for the start-up hook (design S4), from the first moment: a
        // tick that came before `.start` must not start an election.
        gate.allowed = false
        let held = raft.handle(.setCampaignAllowed(false), now: now)
        precondition(held.isEmpty, "a new follower held back from campaigns has nothing to do")
        wasMember = boundToThisNode(raft.configuration)
        syncMembers(now: now)
        updateMembershipStatus(now: now)
        refreshView(now: now)
        nextDeadline = raft.nextDeadline
    }

    // MARK: The one door

    /// handle takes one input and does everything it causes, follow-ups included, then
    /// brings the view and `nextDeadline` up to date.
    public func handle(_ input: DriverInput, now: Instant) {
        precondition(!handling, "AgentDriver.handle re-entered: a port called back synchronously")
        guard view.phase != .finished else { return }
        handling = true
        defer { handling = false }
        process(input, now: now)
        drainInbox(now: now)
        syncMembers(now: now)
        updateMembershipStatus(now: now)
        promoteCaughtUpLearner(now: now)
        drainInbox(now: now)
        syncMembers(now: now)
        answerMembershipWaiters(now: now)
        proposeQueuedMembership(now: now)
        drainInbox(now: now)
        syncMembers(now: now)
        answerResignWaiters(now: now)
        updatePause(now: now)
        updateScheduledHandover(now: now)
        flushHistory(now: now)
        updatePriority(now: now)
        advanceShutdown(now: now)
        drainInbox(now: now)
        takePendingPlanIfIdle()
        refreshHistory()
        refreshOutcomesToForward()
        refreshView(now: now)
        nextDeadline = computeNextDeadline()
    }

    func process(_ input: DriverInput, now: Instant) {
        switch input {
        case .start:
            guard !started else { return }
            started = true
            membershipKey = nil  // the peers go to the transport now
            updateCampaign(now: now)
            // The start-up run tells the application of the leader known now; a change
            // run follows when it becomes another node (announceLeaderChange).
            hookSequence.announcedLeader = raft.leader
            startHooks(now: now)
        case .message(let m):
            stepCore(.message(m), now: now)
        case .peerConnected(let id, let api, let peerName, let peerAddress):
            peerAPI[id] = api
            // While waiting to be added, a peer that dialled in (the leader adding this
            // node) is dialled back at the address it gave.
            if raft.configuration?.contains(me) != true, members.idOf[peerName] == nil, learnedPeers[peerName] == nil,
               learnedPeers.count < 64, !peerAddress.isEmpty {
                learnedPeers[peerName] = DriverMember(name: peerName, peerAddress: peerAddress)
            }
        case .peerDisconnected(let id):
            peerDisconnected(id, now: now)
        case .persisted(let upTo):
            persisted(upTo: upTo, now: now)
        case .persistFailed(let upTo, let error):
            persistFailed(upTo: upTo, error: error, now: now)
        case .hookStepFinished(let run, let outcome):
            hookStepFinished(run, outcome, now: now)
        case .checkResult(let passed, let detail, let duration):
            checkResult(passed: passed, detail: detail, duration: duration, now: now)
        case .tick:
            tick(now: now)
        case .terminate:
            terminate(now: now)
        case .resign(let request, let to, let client):
            resign(request, to: to, client: client, now: now)
        case .membership(let request, let change, let client):
            membership(request, change, client: client, now: now)
        case .reload(let r):
            reload(r, now: now)
        case .pause(let request, let duration, let reason, let client):
            pauseRequested(request, duration: duration, reason: reason, client: client, now: now)
        case .resume(let request, let client):
            resumeRequested(request, client: client, now: now)
        case .scheduleHandover(let request, let to, let at, let client):
            scheduleHandoverRequested(request, to: to, at: at, client: client, now: now)
        case .cancelHandover(let request, let client):
            cancelHandoverRequested(request, client: client, now: now)
        case .hookOutcomes(let request, let records, let client):
            hookOutcomesForwarded(request, records, client: client, now: now)
        }
    }

    /// tick runs every timer that is due; the core's only when its deadline passed.
    func tick(now: Instant) {
        hookTimers(now: now)
        if gate.backoffUntil != nil { follow(.updateCampaign) }
        updatePause(now: now)
        storageRetry(now: now)
        if now >= raft.nextDeadline { stepCore(.tick, now: now) }
    }

    func follow(_ f: FollowUp) {
        if inbox.count - inboxHead > Self.inboxStepsMax {
            preconditionFailure("AgentDriver: more than \(Self.inboxStepsMax) follow-ups queued by one input")
        }
        inbox.append(f)
    }

    func drainInbox(now: Instant) {
        var steps = 0
        while inboxHead < inbox.count {
            let f = inbox[inboxHead]
            inboxHead += 1
            steps += 1
            precondition(steps <= Self.inboxStepsMax, "AgentDriver: follow-ups did not settle")
            switch f {
            case .demoteFinished(let term):
                stepCore(.demoteFinished(term: term), now: now)
            case .startupFinished:
                startupFinished(now: now)
            case .promoteFailed(let term):
                promoteFailed(term: term, now: now)
            case .handOver(let reason):
                if raft.role == .leader && !pauseControl.coreHeld {
                    logHandOver(reason: reason.rawValue, by: "", now: now)
                    stepCore(.transferLeadership(to: nil, reason: reason), now: now) }
            case .updateCampaign:
                updateCampaign(now: now)
            }
        }
        inbox.removeAll(keepingCapacity: true)
        inboxHead = 0
    }

    func computeNextDeadline() -> Instant {
        guard view.phase != .finished else { return .distantFuture }
        var d = raft.nextDeadline
        if let t = hookSequence.delayUntil { d = min(d, t) }
        if let t = gate.backoffUntil { d = min(d, t) }
        if let t = pipeline.retryAt { d = min(d, t) }
        for w in resigns { d = min(d, w.deadline) }
        for w in membershipWaiters { d = min(d, w.deadline) }
        for q in queuedMembership { d = min(d, q.deadline) }
        d = min(d, pauseDeadline)
        d = min(d, handoverDeadline)
        d = min(d, preemptDeadline)
        if let t = removedAt, membershipKey?.isolated == false { d = min(d, t + settings.removedLinger) }
        if let s = shutdown, let t = s.nextDeadline { d = min(d, t) }
        return d
    }

    // MARK: Logging

    /// log writes one event; nothing is built unless the port wants it.
    func log(_ name: String, _ level: LogLevel, _ message: @autoclosure () -> String,
             _ fields: @autoclosure () -> LogFields = [], _ policy: AgentLog.Policy = .ordinary, term: Term? = nil) {
        ports.log.event(LogEvent(name, level, message(), fields(), policy, term: term))
    }

    func name(_ id: NodeID?) -> String? { members.name(id) }
}

/// DriverSetupError says why a driver could not be built from its settings and state.
public struct DriverSetupError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
