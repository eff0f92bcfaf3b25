public import RaftCore

/// AgentFault names a deliberate defect of the agent's *environment* that the agent-layer
/// checkers must catch (issue 13 part 4: faults live in the environment, never as
/// branches in the driver, as etcd-io/raft's and TigerBeetle's simulators keep them).
public enum AgentFault: String, CaseIterable, Hashable, Sendable {
    /// The simulated disk acknowledges an fsync before the data is durable (a lying
    /// disk): the driver then sends what rests on state a crash would lose.
    case sendBeforeFsync = "agent-send-before-fsync"
    /// The simulated hook executor reports a demote step done without running it: a
    /// promote is left without its demote.
    case skipDemoteHook = "agent-skip-demote-hook"
    /// The simulated HTTP consumer answers `/is-leader` from the view's office without
    /// the clock check: "leader" after the lease lapsed, until the next step.
    case staleIsLeader = "agent-stale-is-leader"
    /// The simulated shell loads a restarted agent's state as the first release did: the
    /// membership made from the `--peers` flag replaces the stored configuration (issue
    /// 14's reproduction: a one-member list elects itself beside the group's leader).
    case peersFlagOverridesMembership = "peers-flag-overrides-membership"
}

/// AgentSimulationSettings are what the caller of an agent-layer run chooses; the rest
/// (timing, hooks, checks, fault rates, clocks, disks) is drawn from the seed.
public struct AgentSimulationSettings: Sendable {
    public var shape: ClusterShape = .three
    /// safetyPhase is how long faults run before a majority is healed.
    public var safetyPhase: Interval = .seconds(10)
    public var faults: Set<AgentFault> = []
    #if BATON_FAULT_INJECTION
    /// injectedBugs: deliberate defects compiled into the cores and drivers of the
    /// fault-injection build (scripts/sim-faults), e.g. the operator controls' bugs of
    /// issue 16; unlike `faults`, they are not in the environment.
    public var injectedBugs: Set<InjectedBug> = []
    #endif
    /// traceLimit caps the recorded trace lines (0: no trace).
    public var traceLimit = 0
    /// eventLimit stops a runaway run with a simulator error (style rule 11).
    public var eventLimit = 20_000_000
    public var queueCapacity = 1 << 18
    public var messagesInFlightLimit = 1 << 16

    public init() {}
}
