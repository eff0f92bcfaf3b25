/// Event is every input to the core (style rule 2: local events enter through the same
/// door as messages). Each comes with `now`, this node's clock at delivery.
public enum Event: Hashable, Sendable {
    /// A message from a peer.
    case message(Message)
    /// Timers: the driver delivers this at or after `RaftNode.nextDeadline`.
    /// Delivering it earlier or more often is harmless.
    case tick
    /// The transport lost its connection to the current leader (a crashed leader's
    /// socket closes within milliseconds). A hint only: a false one costs at most a
    /// pre-vote round, and safety never depends on it (design §2 "Early campaign").
    case leaderConnectionLost
    /// Planned hand-over to `to`, or to the most up-to-date voter that can lead when nil
    /// (`baton resign`, `POST /resign`; a failing check or promote hook with its reason).
    /// With reason `.transfer`, it is refused and changes nothing when no peer can take
    /// over (the node stays in office); other reasons step down regardless.
    case transferLeadership(to: NodeID?, reason: LeaveReason = .transfer)
    /// The driver holds this node back from campaigning (false) or lets it campaign
    /// again (true): until the start-up hook finished, while the application's check
    /// fails, after a failed promote. It still votes and acknowledges; TimeoutNow is
    /// ignored while held back.
    case setCampaignAllowed(Bool)
    /// Like a transfer with reason `shutdown`: the agent is stopping.
    case shutdown
    /// The demote hook run for leaving office in `term` finished (or timed out).
    /// A transfer sends TimeoutNow only after this, so the successor's promote starts
    /// after the old demote ended (design S4, §2 "Planned hand-over").
    case demoteFinished(term: Term)
    /// Leader only: append application bytes to the log (used by the simulator).
    case propose([UInt8])
}

/// Ready is the output of one step. The driver must apply it in this order, and the
/// type has no other way to be used:
/// 1. apply `officeChanges` to the state that answers HTTP (a leave must be visible
///    before anything else of this step happens);
/// 2. make `hardState`, the log truncation and `entries` durable (fsync);
/// 3. only then send `messages` — each may depend on what step 2 wrote (design S5).
public struct Ready: Sendable {
    public var officeChanges: [OfficeChange] = []
    /// The new hard state, when it changed.
    public var hardState: HardState? = nil
    /// When set, delete every stored entry with index ≥ this before appending `entries`.
    public var truncateFrom: LogIndex? = nil
    /// Entries to append to the stored log.
    public var entries: [Entry] = []
    /// Messages to send after the above is durable.
    public var messages: [Message] = []
    /// What became of a transfer or shutdown input handled in this step, if any.
    public var transferOutcome: TransferOutcome? = nil

    public init() {}

    /// True when nothing needs to be persisted (messages may go out at once).
    @inlinable public var needsPersist: Bool { hardState != nil || truncateFrom != nil || !entries.isEmpty }
    @inlinable public var isEmpty: Bool {
        officeChanges.isEmpty && !needsPersist && messages.isEmpty && transferOutcome == nil
    }
}

/// PersistentState is what a node reads back from its disk at start-up.
public struct PersistentState: Hashable, Sendable {
    public var hardState: HardState
    public var log: [Entry]
    public init(hardState: HardState = HardState(), log: [Entry] = []) {
        self.hardState = hardState; self.log = log
    }
}
