/// NodeID names one member of the group. The agent maps its configured names
/// (`n1`, `n2`, …) to these; the core only needs identity and a stable order
/// (used for the early-campaign rank).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "n\(rawValue)" }
}

/// Term is Raft's logical clock and Baton's fencing token (design S3).
public typealias Term = UInt64
/// LogIndex is a 1-based position in the replicated log; 0 means "before the first entry".
public typealias LogIndex = UInt64


/// Entry is one record of the replicated log.
public struct Entry: Hashable, Sendable {
    public enum Payload: Hashable, Sendable {
        /// The empty entry every leader appends at the start of its term (Raft §8),
        /// so that it can commit entries of earlier terms.
        case noop
        /// Opaque bytes of the agent's replicated state machine (history, pause, …; the
        /// simulator uses them to exercise replication).
        case data([UInt8])
        /// A new membership, in force from the moment it is appended (Raft thesis §4.1).
        case configuration(Configuration)
    }
    public var index: LogIndex
    public var term: Term
    public var payload: Payload
    @inlinable public init(index: LogIndex, term: Term, payload: Payload) {
        self.index = index; self.term = term; self.payload = payload
    }
}

/// HardState is what must be durable before any message that depends on it is sent
/// (Raft Figure 2 "persistent state", design S5). Distinct from volatile state (style 4).
public struct HardState: Hashable, Sendable {
    public var term: Term
    public var votedFor: NodeID?
    public var commitIndex: LogIndex
    public init(term: Term = 0, votedFor: NodeID? = nil, commitIndex: LogIndex = 0) {
        self.term = term; self.votedFor = votedFor; self.commitIndex = commitIndex
    }
}

/// Role of a node in Raft's state machine; `preCandidate` is the pre-vote phase
/// (Raft thesis §9.6), which does not change the term.
public enum Role: String, Hashable, Sendable {
    case follower, preCandidate, candidate, leader
}

/// Why a node left office; carried to hooks as BATON_REASON.
public enum LeaveReason: String, Hashable, Sendable {
    /// The lease lapsed without renewal (check-quorum): the node also stepped down.
    case leaseLost = "lease-lost"
    /// A message of a higher term arrived.
    case higherTerm = "higher-term"
    /// A leadership transfer was requested (`baton resign`, `POST /resign`).
    case transfer
    /// The agent is shutting down and hands leadership over.
    case shutdown
    /// The application's health check failed while this node led; it handed over.
    case checkFailed = "check-failed"
    /// The promote hook failed (`--promote-failure resign`); it handed over.
    case promoteFailed = "promote-failed"
    /// A committed membership change removed this node, made it a witness or an
    /// observer, or set its priority to 0: it handed over.
    case membershipChanged = "membership-changed"
}

/// EnterReason is why a node took office; carried to hooks as BATON_REASON.
public enum EnterReason: String, Hashable, Sendable {
    /// An ordinary election (a timeout, or a campaign after the leader's connection dropped).
    case election
    /// The previous leader handed over with TimeoutNow (design §2 "Planned hand-over").
    case transfer
}

/// OfficeChange is the core's decision that this node starts or stops being the
/// application's leader (design §1 "in office").
public enum OfficeChange: Hashable, Sendable {
    /// Entered office in `term` (the fencing token); the lease runs until `leaseDeadline`
    /// on this node's clock unless renewed. `previousLeader` is the last other leader this
    /// node knew of before its campaign (nil when it knew none).
    case enter(term: Term, leaseDeadline: Instant, reason: EnterReason, previousLeader: NodeID?)
    /// Left office of `term`; the node never re-enters office in that term.
    case leave(term: Term, reason: LeaveReason)
}

/// TransferOutcome is what became of a `.transferLeadership` or `.shutdown` input, so
/// the driver never infers it from state after the step (style rule 23).
public enum TransferOutcome: Hashable, Sendable {
    /// This node left office (if it held it) and hands over to `target`; TimeoutNow goes
    /// out once the demote hook finished and the target is caught up.
    case started(target: NodeID)
    /// No successor: the node left office and stepped down (a single voter, only
    /// witnesses, or nobody able to lead for a reason that must leave office regardless).
    case steppedDown
    /// Nothing changed, for `reason`.
    case refused(TransferRefusal)
}

/// TransferRefusal says why a hand-over changed nothing.
public enum TransferRefusal: String, Hashable, Sendable {
    /// This node is not the leader.
    case notLeader = "not-leader"
    /// A hand-over is already under way.
    case inProgress = "in-progress"
    /// The named target is not a voter that may lead (unknown, a witness, this node).
    case targetNotEligible = "target-not-eligible"
    /// The named target, or every peer, said it would not take over now (start-up hook,
    /// failing check) — see `canLead`.
    case noSuccessorReady = "no-successor-ready"
}

/// Office describes the current term of office, if any.
public struct Office: Hashable, Sendable {
    public var term: Term
    /// When this node entered office, on its own clock.
    public var since: Instant
    /// The office ends at this instant unless the lease is renewed; every
    /// "I am the leader" answer must compare it with the clock at answer time.
    public var leaseDeadline: Instant
}
