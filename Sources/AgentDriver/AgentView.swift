// The one snapshot of the agent that every consumer reads: HTTP answers, long-poll
// wake-ups, metrics, sd_notify and the logs (style rule 22). The driver updates it in
// place after each input; a consumer keeps a copy and compares `generation`.
public import RaftCore

/// AgentView is what the agent shows of itself.
public struct AgentView: Sendable {
    /// Phase is where the process is in its life.
    public enum Phase: String, Hashable, Sendable {
        /// The start-up hook has not finished: the node does not campaign.
        case starting
        case running
        /// SIGTERM: handing over, then exiting.
        case stopping
        /// Shutdown completed; the process exits.
        case finished
    }

    /// OfficeView is the term of office this node holds, if any.
    public struct OfficeView: Hashable, Sendable {
        public var term: Term
        public var since: Instant
        /// The lease's end on this node's clock; renewed with every quorum of echoes.
        public var leaseDeadline: Instant
    }

    /// PeerView is what this node knows of another member.
    public struct PeerView: Hashable, Sendable {
        public var name: String
        public var peerAddress: String
        /// apiAddress is the peer's API, learned from its handshake (nil until then).
        public var apiAddress: String?
        /// matchIndex and canLead: the leader's progress for the peer (nil on a non-leader).
        public var matchIndex: LogIndex?
        public var canLead: Bool?
    }

    /// MembershipStatus is what this node is to the group (design S6).
    public enum MembershipStatus: Hashable, Sendable {
        /// A member of the configuration in force, with its role.
        case member(MemberRole)
        /// Not in any configuration yet: started without --bootstrap, it waits to be
        /// added (`baton members add`).
        case waitingToBeAdded
        /// A committed change removed it: it never votes or campaigns again.
        case removed
    }

    /// MemberView is one member as the configuration in force records it.
    public struct MemberView: Hashable, Sendable {
        public var name: String
        public var role: MemberRole
        /// For a learner, what it becomes once caught up.
        public var promotesTo: MemberRole?
        public var priority: UInt16
        /// 0 while not bound yet.
        public var incarnation: UInt64
        public var peerAddress: String
        public var apiAddress: String
    }

    /// CheckView is the application check's state (nil without `--check`/`--check-url`).
    public struct CheckView: Hashable, Sendable {
        public var healthy: Bool
        public var consecutiveFailures: Int
        public var passes: UInt64
        public var failures: UInt64
        public var lastDetail: String
        public var lastDuration: Interval
    }

    /// Counters are monotonic tallies of transitions (for metrics).
    public struct Counters: Hashable, Sendable {
        /// Elections this node started (it became candidate).
        public var elections: UInt64 = 0
        /// Times this node entered or left office.
        public var officeChanges: UInt64 = 0
    }

    /// generation changes whenever anything an answer says changes; the lease deadline
    /// and last contact move without it (every heartbeat) because answers compare them
    /// with the clock at answer time.
    public internal(set) var generation: UInt64 = 1
    public let name: String
    public internal(set) var phase = Phase.starting
    public internal(set) var role = Role.follower
    public internal(set) var term: Term = 0
    /// leader is the leader of the current term as this node knows it (maybe itself).
    public internal(set) var leader: String? = nil
    /// leaderSince is when this node learned of the current leader or term (its clock).
    public internal(set) var leaderSince: Instant
    public internal(set) var office: OfficeView? = nil
    /// lastContact is when this node last heard from a leader (its clock).
    public internal(set) var lastContact: Instant
    public internal(set) var storageError: String? = nil
    public internal(set) var campaignAllowed = true
    /// campaignHeldBy names what holds campaigns back: startup-hook, check,
    /// promote-failure-backoff, stopping.
    public internal(set) var campaignHeldBy: [String] = []
    public internal(set) var startupFinished = false
    public internal(set) var hooks = HookStatus()
    /// hooksIdle: no hook step runs, waits or is queued.
    public internal(set) var hooksIdle = true
    public internal(set) var check: CheckView? = nil
    public internal(set) var peers: [PeerView]
    public internal(set) var membership = MembershipStatus.waitingToBeAdded
    public var membershipIsRemoved: Bool { membership == .removed }
    /// members: the configuration in force, every member (this node too).
    public internal(set) var members: [MemberView] = []
    /// configurationIndex: where the configuration in force was appended;
    /// changeInProgress: it is not committed yet (a second change waits: 409).
    public internal(set) var configurationIndex: LogIndex = 0
    public internal(set) var changeInProgress = false
    public internal(set) var commitIndex: LogIndex = 0
    public internal(set) var lastLogIndex: LogIndex = 0
    public internal(set) var counters = Counters()
    /// lastPromoteFailure: when this node last handed over for a failed promote hook
    /// (its clock; nil: never), for the leaderless warning of /health.
    public internal(set) var lastPromoteFailure: Instant? = nil
    /// pause: the maintenance pause in force, nil when not paused (issue 16).
    public internal(set) var pause: PauseView? = nil
    /// scheduledHandover: the hand-over scheduled by the log, nil when none (issue 16).
    public internal(set) var scheduledHandover: ScheduledHandoverView? = nil
    /// hookOutcomesToForward: this node's own hook outcomes (its demote runs) the
    /// replicated history does not hold yet; the shell sends them to the leader. Not
    /// counted in `generation`.
    public internal(set) var hookOutcomesToForward: [HookRecord] = []
    /// history: the replicated leadership history, oldest first (GET /history). Not
    /// counted in `generation`: answers read it per request.
    public internal(set) var history: [HistoryEntry] = []
    /// The settings answers need: the lease margin (the time from reading the clock to
    /// writing the answer) and Emin (how long a follower trusts a silent leader).
    public let leaseMargin: Interval
    public let electionTimeoutMin: Interval

    init(name: String, peers: [PeerView], options: Options, now: Instant) {
        self.name = name
        self.peers = peers
        leaseMargin = options.leaseMargin
        electionTimeoutMin = options.electionTimeoutMin
        leaderSince = now
        lastContact = now
    }

    /// leaseRemaining is the one "this node is in office" test every answer uses
    /// (design §2 "Answers check the clock"): non-nil, the lease time left, only while
    /// the lease still holds `leaseMargin` past `now` (the caller's clock reading at
    /// answer time) and the disk works (a node that cannot persist does not lead).
    @inlinable public func leaseRemaining(at now: Instant) -> Interval? {
        guard storageError == nil, let office else { return nil }
        let left = office.leaseDeadline - (now + leaseMargin)
        return left > .zero ? left : nil
    }

    @inlinable public func isInOffice(at now: Instant) -> Bool { leaseRemaining(at: now) != nil }

    /// followerKnowsLeader: a follower names the leader only while it heard from it
    /// within Emin (a leader in office renews well within that).
    public func followerKnowsLeader(at now: Instant) -> Bool {
        storageError == nil && role == .follower && leader != nil && leader != name
            && now < lastContact + electionTimeoutMin
    }

    /// peer returns what this node knows of the member `name`.
    public func peer(_ name: String) -> PeerView? { peers.first { $0.name == name } }
}
