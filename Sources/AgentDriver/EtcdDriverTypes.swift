// The etcd engine's driver's inputs, ports and settings (issue 18). The shell's hook
// executor and check speak the shared `DriverInput`; the etcd driver takes the cases
// both engines have, plus the answers of its own calls to etcd.
import AgentLogging
public import EtcdAPI
public import EtcdElection
public import RaftCore

/// EtcdDriverInput is one thing that happened to an agent that elects through etcd.
public enum EtcdDriverInput: Sendable {
    /// The process is up (data dir locked, API bound): run the start-up hook, read the
    /// line and watch it, contend once the hook finished.
    case start
    /// The answer to a call the election asked for (for a watch: one message each).
    case etcd(EtcdRequestID, Result<EtcdReply, EtcdFailure>)
    case hookStepFinished(RunID, HookStepOutcome)
    case checkResult(passed: Bool, detail: String, duration: Interval)
    /// Timers: deliver at or after `EtcdAgentDriver.nextDeadline`; extra ticks are harmless.
    case tick
    /// SIGTERM or SIGINT: leave office, run the demote hook, give up the lease (the next
    /// in line takes over at once), exit; a second one means now.
    case terminate
    /// `POST /resign`: leave office and let the next candidate in line take over.
    case resign(RequestID, to: String?, client: String)
    case reload(DriverReload)

    /// init(_:) takes an input both engines share; nil for the Raft group's own
    /// (messages, peers, the disk), which never reach this driver.
    public init?(_ input: DriverInput) {
        switch input {
        case .start: self = .start
        case .hookStepFinished(let run, let outcome): self = .hookStepFinished(run, outcome)
        case .checkResult(let passed, let detail, let duration): self = .checkResult(passed: passed, detail: detail, duration: duration)
        case .tick: self = .tick
        case .terminate: self = .terminate
        case .resign(let request, let to, let client): self = .resign(request, to: to, client: client)
        case .reload(let r): self = .reload(r)
        case .message, .peerConnected, .peerDisconnected, .persisted, .persistFailed, .membership, .pause, .resume,
             .scheduleHandover, .cancelHandover, .hookOutcomes: return nil
        }
    }
}

/// EtcdPort starts the calls the election asks for; each answer comes back later as
/// `EtcdDriverInput.etcd` (never from inside `start`).
public protocol EtcdPort: AnyObject {
    func start(_ request: EtcdRequest)
    /// cancel drops a call whose answer is no longer wanted (a watch).
    func cancel(_ id: EtcdRequestID)
}

/// EtcdDriverPorts bundles the ports of the etcd engine's driver.
public struct EtcdDriverPorts {
    public var etcd: any EtcdPort
    public var hooks: any HookPort
    public var responder: any ResponderPort
    public var log: any LogPort
    public var lifecycle: any LifecyclePort

    public init(etcd: any EtcdPort, hooks: any HookPort, responder: any ResponderPort, log: any LogPort, lifecycle: any LifecyclePort) {
        self.etcd = etcd; self.hooks = hooks; self.responder = responder; self.log = log; self.lifecycle = lifecycle
    }
}

/// EtcdDriverSettings are the whole of the etcd driver's configuration.
public struct EtcdDriverSettings: Hashable, Sendable {
    /// election says who this agent is, where its keys live and the lease's arithmetic.
    public var election: EtcdElectionOptions
    public var hooks = HookPlan()
    public var checkConfigured = false
    public var checkFailuresToFail = 3

    public init(election: EtcdElectionOptions) { self.election = election }

    public var name: String { election.candidate.name }

    /// releaseBound: how long giving up a lease may take (the revoke and one retry).
    public var releaseBound: Interval { election.effectiveCallTimeout * 4 + .milliseconds(100) }

    /// resignWait bounds a held `POST /resign`: the demote hook (its timeout and kill
    /// grace), the revoke, and the successor's watch event.
    public var resignWait: Interval { hooks.stepBound + releaseBound + .seconds(1) }

    /// shutdownHookBound bounds the wait for hooks when stopping: a promote may still
    /// be running ahead of the demote, each with its timeout and kill grace.
    public var shutdownHookBound: Interval { hooks.stepBound * 2 + .seconds(1) }
}
