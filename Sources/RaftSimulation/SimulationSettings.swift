public import RaftCore

/// ClusterShape says how many voters a run simulates; `mixed` draws 3, 5 or 7 per seed.
public enum ClusterShape: String, CaseIterable, Sendable {
    case three = "3", five = "5", seven = "7", mixed

    /// drawCount is the number of nodes of one run.
    func drawCount(_ g: inout SeededGenerator) -> Int {
        switch self {
        case .three: 3
        case .five: 5
        case .seven: 7
        case .mixed: [3, 5, 7][g.below(3)]
        }
    }
}

/// Scenario names a fault schedule. `random` is the general chaos schedule; the others
/// are targeted schedules, still seeded, that put a cluster in exactly the situation one
/// injected bug needs to show (random faults rarely line up a drifted clock with an
/// isolated leader, or a crash with the few milliseconds of an fsync).
public enum Scenario: String, CaseIterable, Sendable {
    /// Faults everywhere: loss, duplication, delay, partitions, crashes, pauses, drift,
    /// transfers, false hints.
    case random
    /// Cut the leader off from one follower only; later give the still-connected
    /// follower a false "connection lost" hint (stickiness of others, and of oneself).
    case cutOneFollower = "cut-one-follower"
    /// Slow the leader's clock to 1−d and speed the followers' to 1+d, then isolate
    /// the leader (the lease must account for drift).
    case driftedLeader = "drifted-leader"
    /// Make acknowledgements to the leader slow, then cut the leader's outgoing links
    /// (the lease must run from the echoed send time, not the ack's arrival).
    case slowAcks = "slow-acks"
    /// Random faults plus slow disks, and nodes that crash right after sending a vote,
    /// inside the fsync window of what follows.
    case crashAfterVote = "crash-after-vote"
    /// Repeated leadership transfers whose TimeoutNow is always lost.
    case lostTimeoutNow = "lost-timeout-now"
    /// Isolate the leader completely, then heal (the leader must leave office when its
    /// lease lapses).
    case isolateLeader = "isolate-leader"
    /// Membership changes in quick succession — add, promote, remove, remove the leader
    /// — with leaders changing between them.
    case membershipChurn = "membership-churn"
    /// Voters that grant a vote have their data dir wiped at once and come back with
    /// `--bootstrap`, while candidates compete.
    case wipeAfterVote = "wipe-after-vote"

    #if BATON_FAULT_INJECTION
    /// targeted is the scenario made for catching `bug` quickly.
    public static func targeted(for bug: InjectedBug) -> Scenario {
        switch bug {
        case .skipLogCheck: return .random
        case .noStickiness, .selfVoteIgnoresStickiness: return .cutOneFollower
        case .sendBeforePersist: return .crashAfterVote
        case .noLeaseCheck: return .isolateLeader
        case .leaseIgnoresDrift: return .driftedLeader
        case .leaseFromAckTime: return .slowAcks
        case .resumeOfficeAfterTransfer: return .lostTimeoutNow
        case .configOnCommit, .twoChangesInFlight, .changeBeforeTermCommit: return .membershipChurn
        case .acceptNewIncarnation: return .wipeAfterVote
        // Agent-layer bugs (the core layer has no pause, priorities or hooks to show them).
        case .pauseIgnoredByCandidate, .priorityZeroCampaigns, .preemptWithoutDemote: return .random
        }
    }
    #endif
}

/// SimulationSettings are what the caller chooses; everything else about a run (timing
/// options, fault rates, clocks, disks) is drawn from the seed.
/// MembershipMode says whether runs change membership (add, promote, remove, remove the
/// leader, wipe data dirs, compact logs) among their faults.
public enum MembershipMode: String, CaseIterable, Sendable {
    /// Never: the founding members only.
    case off
    /// In most seeds (a share keep a fixed membership), drawn from the seed.
    case sometimes
    /// In every seed, starting from a group just bootstrapped (no incarnation bound).
    case always
}

public struct SimulationSettings: Sendable {
    public var shape: ClusterShape = .three
    public var membership: MembershipMode = .sometimes
    /// witnesses makes some voters witnesses (vote-only), e.g. 2 voters + 1 witness.
    public var witnesses: Bool = false
    /// safetyPhase is how long faults run before a majority is healed.
    public var safetyPhase: Interval = .seconds(10)
    #if BATON_FAULT_INJECTION
    public var injectedBugs: Set<InjectedBug> = []
    #endif
    public var scenario: Scenario = .random
    /// tolerated properties are counted but do not fail a run: only for a known core bug
    /// that is being fixed, so the rest of the checkers can still be exercised.
    public var tolerated: Set<String> = []
    /// checkDurableBeforeSend: compare every send with the durable state (see
    /// `InvariantChecker.checkDurableBeforeSend`); off only to test the crash model.
    public var checkDurableBeforeSend = true
    /// traceLimit caps the recorded trace lines (0: no trace, the fast path).
    public var traceLimit: Int = 0
    /// eventLimit stops a runaway run with a simulator error (style rule 11).
    public var eventLimit: Int = 50_000_000
    /// queueCapacity bounds pending events; messagesInFlightLimit bounds the slab.
    public var queueCapacity: Int = 1 << 20
    public var messagesInFlightLimit: Int = 1 << 18

    public init() {}
}

/// Violation is a broken property: its id from the design (S1, S2, ...), what was seen,
/// and when (simulated real time).
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    public var property: String
    public var detail: String
    public var timeNs: Int64
    public var description: String {
        "\(property) at \(Interval(nanoseconds: timeNs)): \(detail)"
    }
}

/// RunResult is everything one seed produced.
public struct RunResult: Sendable {
    public var seed: UInt64
    public var nodeCount: Int
    public var witnessCount: Int
    public var violation: Violation?
    /// simulatedNs is how much simulated real time the run covered.
    public var simulatedNs: Int64
    public var events: Int
    /// healToOfficeNs is the time from the heal to a healed node in office (nil when the
    /// run stopped before, e.g. on a violation).
    public var healToOfficeNs: Int64?
    /// officeAtHeal: a healed node was already in office at the heal (time 0).
    public var officeAtHeal: Bool
    /// livenessBoundNs is `Emin·(1+d) + 5·(Emax + 2δ)` for this run's options and δ.
    public var livenessBoundNs: Int64
    /// digest hashes every processed event, so equal digests mean equal histories.
    public var digest: UInt64
    /// toleratedCount counts sightings of tolerated properties.
    public var toleratedCount: Int
    public var trace: [String]
    public var stats: RunStats
    public var membership: MembershipStats
    /// livenessApplies is false when the heal found no set of nodes able to elect (too
    /// many voters wiped and not replaced); the run then checked safety only.
    public var livenessApplies: Bool
}

/// RunStats count what a run exercised, so a summary can show the checkers had work.
public struct RunStats: Sendable {
    public var messagesSent = 0
    public var messagesDropped = 0
    public var crashes = 0
    public var pauses = 0
    public var offices = 0
    public var elections = 0
    public var commits: UInt64 = 0
    public var transfers = 0
    // The agent layer's (zero in core runs): SIGTERMs, resign requests and their
    // answers, hook steps run (failed, timed out), disk failures, check flips, SIGHUPs,
    // and `/is-leader` answers the checkers compared.
    public var terminations = 0
    public var resigns = 0
    public var resignsAnswered = 0
    public var hookSteps = 0
    public var hookFailures = 0
    public var hookTimeouts = 0
    public var diskFailures = 0
    public var checkFlips = 0
    public var reloads = 0
    public var probes = 0
    /// groupPauses: operators' POST /pause (issue 16).
    public var groupPauses = 0
    /// priorityChanges: operators' `baton members set --priority` (issue 16).
    public var priorityChanges = 0
    /// preemptionWindows: stable windows in which a higher priority than the leader's
    /// was able to lead (the PR checker's work).
    public var preemptionWindows = 0
    /// scheduledHandovers: operators' POST and DELETE /handover (issue 16).
    public var scheduledHandovers = 0

    public init() {}

    public mutating func add(_ o: RunStats) {
        messagesSent += o.messagesSent; messagesDropped += o.messagesDropped
        crashes += o.crashes; pauses += o.pauses; offices += o.offices
        elections += o.elections; commits += o.commits; transfers += o.transfers
        terminations += o.terminations; resigns += o.resigns; resignsAnswered += o.resignsAnswered
        hookSteps += o.hookSteps; hookFailures += o.hookFailures; hookTimeouts += o.hookTimeouts
        diskFailures += o.diskFailures; checkFlips += o.checkFlips; reloads += o.reloads; probes += o.probes
        groupPauses += o.groupPauses; priorityChanges += o.priorityChanges; preemptionWindows += o.preemptionWindows
        scheduledHandovers += o.scheduledHandovers
    }
}
