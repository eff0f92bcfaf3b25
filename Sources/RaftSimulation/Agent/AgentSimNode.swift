import AgentDriver
import AgentLogging
import Membership
import RaftCore

/// AgentEventKind says what an agent-layer event does; the payload word is per kind.
enum AgentEventKind: UInt8 {
    /// Deliver the message in slab slot `payload`.
    case deliver
    /// The node's timer fires; `payload` is the timer token.
    case tick
    /// The disk's write in progress completes (or fails); with a lying disk, is acknowledged.
    case diskAck
    /// A lying disk's acknowledged write really becomes durable.
    case diskDurable
    /// The running hook step `payload` ends.
    case hookDone
    /// The application check probes once.
    case checkProbe
    /// The transport tells the node its connection to peer index `payload` dropped.
    case connectionLost
    /// kill -9; `payload` is the restart delay (0: stays down).
    case crash
    case restart
    /// SIGCONT; `payload` is the pause token.
    case resume
    case chaos
    /// Ask every node `/is-leader` (the checkers compare the answers).
    case probe
    /// SIGTERM (payload 1: a second one right after).
    case terminate
    /// `POST /resign` to the node; `payload` is the target index + 1 (0: any).
    case resign
    /// `POST /pause` to the node (issue 16); `payload` is the duration in ms.
    case groupPause
    /// `POST /resume` to the node.
    case groupResume
    /// An operator action on priorities (issue 16; AgentPriorityChaos.swift).
    case priorityAct
    /// `baton members set NAME --priority N` to the leader; `payload`: PriorityPlan.payload.
    case priorityChange
    /// An operator schedules or cancels a hand-over (issue 16; AgentHandoverChaos.swift).
    case handoverAct
    /// A failing disk works again.
    case diskRecovers
    /// The application's health comes back.
    case appRecovers
    case heal
    /// `payload` 1: the liveness bound passed.
    case end
}

/// AgentSimNode is one simulated machine: its clock, disk, hook executor, application
/// check and the agent process (`driver`, nil while down). It is also the process's
/// ports: every port call records or schedules, and never calls the driver back.
final class AgentSimNode: PersistPort, PeerPort, HookPort, ResponderPort, LogPort, LifecyclePort {
    unowned let sim: AgentSimulation
    let index: Int
    let id: NodeID
    let name: String
    var settings: DriverSettings
    var clock: SimClock
    var rng: SeededGenerator
    var driver: AgentDriver? = nil
    var life: UInt32 = 0
    var paused = false
    var pauseToken: UInt32 = 0
    var deferred: [EventQueue<AgentEventKind>.ScheduledEvent] = []
    var tickToken: UInt32 = 0
    var scheduledTickNs: Int64 = SimClock.neverRealNs
    /// exitRequested: the driver asked to exit during its last input.
    var exitRequested = false
    /// forcedExit: a second SIGTERM came (exit now, hooks killed).
    var forcedExit = false
    /// terminated: SIGTERM was sent in this life (the shutdown must finish in a bound).
    var terminatedAtNs: Int64? = nil
    /// shutdownDueNs: the real time by which a SIGTERM'd agent must have exited.
    var shutdownDueNs: Int64? = nil
    var pausedAtNs: Int64 = 0

    // MARK: Data dir and flags (issue 14)

    /// incarnation: the random id the data dir was made with (new after a wipe).
    var incarnation: UInt64 = 1
    /// dataDirMade: the data dir exists (so `--bootstrap` is ignored from then on).
    var dataDirMade = false
    /// bootstrapFlag: the agent is started with `--bootstrap`.
    var bootstrapFlag = false
    /// removedMark: the driver recorded in the data dir that the group removed this
    /// member; an agent started on it exits 2 until the data dir is wiped.
    var removedMark = false
    /// flagPeers: a wrong `--peers` for this life only (a one-member list, a phantom member).
    var flagPeers: [DriverMember]? = nil

    // MARK: Disk

    /// durable is what survives a crash.
    var durable = PersistentState()
    var queued: [(JobID, Ready)] = []
    /// kept: the content of failed writes, written with the next one.
    var kept: [(JobID, Ready)] = []
    var writing: [(JobID, Ready)] = []
    /// acked: a lying disk's acknowledged writes and when each really becomes durable.
    var acked: [(atNs: Int64, writes: [(JobID, Ready)])] = []
    var lastDurableAtNs: Int64 = 0
    var nextJob: JobID = 1
    var diskFailing = false
    var fsyncMinNs: Int64 = 50_000
    var fsyncMaxNs: Int64 = 500_000
    var fsyncSpikePpm: UInt64 = 0
    var fsyncSpikeMaxNs: Int64 = 0

    // MARK: Hooks and check

    /// running is the hook step in progress and how it will end.
    var running: (request: HookStepRequest, outcome: HookStepOutcome, executed: Bool)? = nil
    var appHealthy = true

    init(sim: AgentSimulation, index: Int, settings: DriverSettings, clock: SimClock, rng: SeededGenerator) {
        self.sim = sim
        self.index = index
        self.settings = settings
        self.clock = clock
        self.rng = rng
        name = settings.name
        id = nodeID(forName: settings.name)
    }

    var isUp: Bool { driver != nil }

    // MARK: PersistPort

    func submit(_ ready: Ready) -> JobID {
        let job = nextJob
        nextJob += 1
        queued.append((job, ready))
        if writing.isEmpty { startWrite() }
        return job
    }

    /// startWrite takes what a failure kept and everything queued as one write (group
    /// commit, as the storage thread does).
    func startWrite() {
        writing = kept + queued
        kept = []
        queued = []
        guard !writing.isEmpty else { return }
        var latency = rng.uniform(fsyncMinNs, fsyncMaxNs)
        if fsyncSpikePpm > 0 && rng.chance(ppm: fsyncSpikePpm) { latency = rng.uniform(fsyncMaxNs, fsyncSpikeMaxNs) }
        if sim.settings.faults.contains(.sendBeforeFsync) && !diskFailing {
            // A lying disk: acknowledged at once, durable only after the real latency.
            let durableAt = max(lastDurableAtNs, sim.nowNs + latency)
            lastDurableAtNs = durableAt
            acked.append((durableAt, writing))
            sim.schedule(durableAt, .diskDurable, node: index, life: life)
            sim.schedule(sim.nowNs + rng.uniform(5_000, 30_000), .diskAck, node: index, life: life)
        } else {
            sim.schedule(sim.nowNs + latency, .diskAck, node: index, life: life)
        }
    }

    // MARK: PeerPort

    func setPeers(_ peers: [DriverMember]) {}
    func recordRemoved() { removedMark = true }

    func send(_ messages: [Message]) {
        for m in messages { sim.send(from: index, m) }
    }

    // MARK: HookPort

    func start(_ request: HookStepRequest) {
        if running != nil { sim.fail("S4", "\(name) started hook step #\(request.run) \(request.hook) while #\(running!.request.run) \(running!.request.hook) still runs") }
        let skip = sim.settings.faults.contains(.skipDemoteHook) && request.job.event == .demote
        let outcome: HookStepOutcome
        let durationNs: Int64
        if skip {
            // The faulty executor says "done" without running anything.
            durationNs = rng.uniform(10_000, 500_000)
            outcome = .ok(Interval(nanoseconds: durationNs))
        } else {
            sim.checker.hookStarted(node: index, request: request, realNs: sim.nowNs)
            sim.stats.hookSteps += 1
            (outcome, durationNs) = sim.drawHookOutcome(self, request)
            if !outcome.succeeded { sim.stats.hookFailures += 1 }
            if outcome.timedOut { sim.stats.hookTimeouts += 1 }
        }
        running = (request, outcome, !skip)
        sim.note { "\(self.name) HOOK start #\(request.run) \(request.hook) \(request.job)\(skip ? " (not run: faulty executor)" : "") → \(outcome.summary) after \(Interval(nanoseconds: durationNs))" }
        sim.schedule(sim.nowNs + durationNs, .hookDone, node: index, payload: request.run, life: life)
    }

    func killRunning() {
        guard let r = running else { return }
        running = nil
        if r.executed { sim.checker.hookEnded(node: index, realNs: sim.nowNs) }
        sim.note { "\(self.name) HOOK killed #\(r.request.run) \(r.request.hook)" }
    }

    // MARK: ResponderPort

    func answer(_ request: RequestID, _ answer: ApiAnswer) {
        if sim.membershipRequests.remove(request) != nil {
            if answer.status == 200 { sim.membershipStats.configurationsCommitted += 1 } else { sim.membershipStats.refused += 1 }
        } else {
            sim.stats.resignsAnswered += 1
        }
        sim.checker.answered(node: index, request: request, realNs: sim.nowNs)
        sim.note { "\(self.name) ANSWER req \(request): \(answer.status) \(answer.reason ?? "")" }
    }

    // MARK: LogPort

    func event(_ event: @autoclosure () -> LogEvent) {
        guard sim.tracing else { return }
        let e = event()
        guard e.name != "role" else { return }
        sim.note { "\(self.name) log \(e.name) \(e.fields.map { "\($0.0)=\($0.1.text)" }.joined(separator: " "))" }
    }

    // MARK: LifecyclePort

    func exit(code: Int32) { exitRequested = true }
}

extension SeededGenerator {
    /// draw picks a case with the given weights (which need not sum to anything).
    mutating func pick(_ weights: [Int]) -> Int {
        let total = weights.reduce(0, +)
        var r = Int(next() % UInt64(max(1, total)))
        for (i, w) in weights.enumerated() {
            if r < w { return i }
            r -= w
        }
        return weights.count - 1
    }
}
