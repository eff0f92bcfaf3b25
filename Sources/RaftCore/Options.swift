/// Options are the timing and behaviour settings of one node. `validate()` enforces
/// the lease inequality of design §2 so a configuration that could let two nodes be in
/// office at once is rejected at construction, naming the value to change.
public struct Options: Hashable, Sendable {
    /// Emin: the lower bound of the randomized election timeout, and the stickiness
    /// window during which a node that heard from a leader grants no vote.
    public var electionTimeoutMin: Interval = .milliseconds(150)
    /// Emax: the upper bound of the randomized election timeout.
    public var electionTimeoutMax: Interval = .milliseconds(300)
    /// hb: how often a leader sends appends (heartbeats) to each follower.
    public var heartbeatInterval: Interval = .milliseconds(50)
    /// d: the largest clock-rate drift between any two nodes' clocks, as a fraction.
    public var maxDrift: Double = 0.05
    /// Covers timer slack and the time between reading the clock and writing an answer.
    public var leaseMargin: Interval = .milliseconds(10)
    /// Pre-vote (Raft thesis §9.6): a node campaigns only if a majority would vote for it.
    public var preVote: Bool = true
    /// Check-quorum: a leader whose lease lapses steps down.
    public var checkQuorum: Bool = true
    /// The gap between early campaigns of followers of successive rank after the
    /// connection to the leader drops (≈ one round trip + one fsync + a few ms).
    public var earlyCampaignStagger: Interval = .milliseconds(10)
    /// The most entries one append carries (bounds message size); at most
    /// `Limits.maxEntriesPerAppend`, which the peer codec accepts.
    public var maxEntriesPerAppend: Int = Limits.maxEntriesPerAppend
    /// A limit on the log: the core refuses proposals beyond it; at most
    /// `Limits.maxLogEntries`, which the log file is sized for.
    public var maxLogEntries: Int = Limits.maxLogEntries
    #if BATON_FAULT_INJECTION
    /// Deliberate defects, for proving that the simulator's checkers can fail. They
    /// exist only in a build with `-DBATON_FAULT_INJECTION` (the simulator's bug-hunting
    /// build, `scripts/sim-faults`); the agent is never built with it.
    public var injectedBugs: Set<InjectedBug> = []
    #endif

    public init() {}

    /// The lease a leader holds past the quorum-th largest echoed send time:
    /// `Emin·(1−d)/(1+d) − margin`. A voter's own `Emin` lasts at least `Emin/(1+d)`
    /// of real time, while `Emin·(1−d)/(1+d)` of the leader's clock lasts at most that,
    /// so no successor can be elected while the lease holds (design §2).
    public var leaseDuration: Interval {
        #if BATON_FAULT_INJECTION
        if injectedBugs.contains(.leaseIgnoresDrift) { return electionTimeoutMin - leaseMargin }
        #endif
        return electionTimeoutMin.scaled(by: (1 - maxDrift) / (1 + maxDrift)) - leaseMargin
    }

    /// Checks every bound; the error names the setting and how to fix it.
    public func validate() throws(OptionsError) {
        func fail(_ s: String) throws(OptionsError) { throw OptionsError(message: s) }
        if heartbeatInterval <= .zero { try fail("heartbeat interval must be positive (got \(heartbeatInterval))") }
        if electionTimeoutMin <= .zero { try fail("election timeout minimum must be positive (got \(electionTimeoutMin))") }
        if electionTimeoutMax < electionTimeoutMin {
            try fail("election timeout maximum \(electionTimeoutMax) is below the minimum \(electionTimeoutMin); write it as MIN..MAX with MIN ≤ MAX")
        }
        if electionTimeoutMax == electionTimeoutMin {
            try fail("election timeout range \(electionTimeoutMin)..\(electionTimeoutMax) is empty; widen it (e.g. \(electionTimeoutMin)..\(electionTimeoutMin * 2)) so that elections do not split forever")
        }
        if !(maxDrift >= 0 && maxDrift < 0.5) { try fail("max drift must be in [0, 0.5) (got \(maxDrift)); the default 0.05 suits ordinary clocks") }
        if leaseMargin < .zero { try fail("lease margin must not be negative (got \(leaseMargin))") }
        if earlyCampaignStagger < .zero { try fail("early campaign stagger must not be negative") }
        if !(1...Limits.maxEntriesPerAppend).contains(maxEntriesPerAppend) {
            try fail("max entries per append must be in 1...\(Limits.maxEntriesPerAppend), what a peer accepts in one message (got \(maxEntriesPerAppend))")
        }
        if !(1...Limits.maxLogEntries).contains(maxLogEntries) {
            try fail("max log entries must be in 1...\(Limits.maxLogEntries), what the log file is sized for (got \(maxLogEntries))")
        }
        let usable = electionTimeoutMin.scaled(by: (1 - maxDrift) / (1 + maxDrift))
        if heartbeatInterval * 2 + leaseMargin >= usable {
            let hbMax = Interval(nanoseconds: (usable - leaseMargin).nanoseconds / 2)
            try fail("heartbeat interval \(heartbeatInterval) is too long for election timeout minimum \(electionTimeoutMin) and max drift \(maxDrift): the lease needs 2·heartbeat + margin (\(leaseMargin)) < Emin·(1−d)/(1+d) = \(usable); lower the heartbeat interval below \(hbMax) or raise the election timeout minimum")
        }
    }
}

/// OptionsError explains which setting is wrong and what to change.
public struct OptionsError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

#if BATON_FAULT_INJECTION
/// InjectedBug names a deliberate defect the simulator switches on to show that its
/// checkers catch it (`baton-sim --inject-bug NAME`). The production agent has no flag
/// that sets these.
public enum InjectedBug: String, CaseIterable, Hashable, Sendable {
    /// Grant votes without the log up-to-date check (breaks Leader Completeness).
    case skipLogCheck = "skip-log-check"
    /// Grant (pre-)votes while a leader is live (breaks S2).
    case noStickiness = "no-stickiness"
    /// Campaign while still inside one's own stickiness window (breaks S2).
    case selfVoteIgnoresStickiness = "self-vote-ignores-stickiness"
    /// Put messages in the send list ahead of the state they depend on (breaks S1/S5).
    case sendBeforePersist = "send-before-persist"
    /// Stay in office after the lease lapses (breaks S2).
    case noLeaseCheck = "no-lease-check"
    /// Compute the lease as Emin − margin, ignoring clock drift (breaks S2 under drift).
    case leaseIgnoresDrift = "lease-ignores-drift"
    /// Time the lease from the arrival of acknowledgements rather than the echoed send
    /// time (breaks S2 under message delay).
    case leaseFromAckTime = "lease-from-ack-time"
    /// After a transfer that did not complete, re-enter office in the same term (breaks S3).
    case resumeOfficeAfterTransfer = "resume-office-after-transfer"
    /// Put a configuration in force only once it is committed, not when appended
    /// (breaks the overlap of consecutive majorities: thesis §4.1).
    case configOnCommit = "config-on-commit"
    /// Accept a second membership change while one is uncommitted (breaks S1).
    case twoChangesInFlight = "two-changes-in-flight"
    /// Change membership before an entry of the leader's term committed (the known
    /// single-server change bug; breaks S1).
    case changeBeforeTermCommit = "change-before-term-commit"
    /// Hear a member that shows another incarnation than the bound one (a wiped data
    /// dir votes again as the member it replaces; breaks S1).
    case acceptNewIncarnation = "accept-new-incarnation"
    // The operator controls' bugs (issue 16), for the agent-layer simulator
    // (`baton-sim --layer agent`, caught by its controls checkers).
    /// Campaign on the node's own timer while the group is paused: the election timer
    /// ignores `setElectionsPaused` (breaks P1/P2: no office change while paused).
    case pauseIgnoredByCandidate = "pause-ignored-by-candidate"
    /// A priority-0 member campaigns like any voter: the core ignores the priority and
    /// the driver does not hold it back (breaks PZ: priority 0 never takes office).
    case priorityZeroCampaigns = "priority-zero-campaigns"
    /// A preempting leader sends TimeoutNow without waiting for its demote hook (the
    /// driver reports the demote done at once; breaks H1: demote before promote).
    case preemptWithoutDemote = "preempt-without-demote"
}
#endif
