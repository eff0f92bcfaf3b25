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
    /// The group is paused (issue 16): this node starts no election of its own accord
    /// (no timeout, no early campaign), but a TimeoutNow from a leader handing over by
    /// plan is still obeyed, and it still votes and acknowledges. False lifts it.
    case setElectionsPaused(Bool)
    /// Like a transfer with reason `shutdown`: the agent is stopping.
    case shutdown
    /// The demote hook run for leaving office in `term` finished (or timed out).
    /// A transfer sends TimeoutNow only after this, so the successor's promote starts
    /// after the old demote ended (design S4, §2 "Planned hand-over").
    case demoteFinished(term: Term)
    /// Leader only: append bytes of the agent's replicated state machine to the log.
    /// Refused silently (nothing appended) on a non-leader or during a hand-over; the
    /// agent sees its entry come back in `committedEntries` or not at all.
    case propose([UInt8])
    /// Leader only: replace the membership by `configuration` (one voter at a time, one
    /// change in flight, after an entry of this term committed). `Ready.membershipOutcome`
    /// says whether it was appended and at which index.
    case changeMembership(Configuration)
    /// Replace the committed log up to `upTo` (at most the commit index) by a snapshot
    /// holding `appState`, the agent's replicated state after applying entries up to it.
    case compact(upTo: LogIndex, appState: [UInt8])
    /// The durable part of the Ready numbered `persistID` — and of every earlier one — is
    /// on disk. Deliver it before the messages that waited for that write. A leader
    /// counts its own log and term towards commit and lease only once they are durable:
    /// a lone voter would otherwise commit, or take office in, a term a crash can still
    /// take back.
    case persisted(persistID: UInt64)
}

/// Ready is the output of one step. The driver must apply it in this order, and the
/// type has no other way to be used:
/// 1. apply `officeChanges` to the state that answers HTTP (a leave must be visible
///    before anything else of this step happens);
/// 2. make `snapshot`, `hardState`, the log truncation and `entries` durable (fsync);
/// 3. only then send `messages` — each may depend on what step 2 wrote (design S5).
public struct Ready: Sendable {
    public var officeChanges: [OfficeChange] = []
    /// The new hard state, when it changed.
    public var hardState: HardState? = nil
    /// When set, make this snapshot durable first and delete every stored entry with an
    /// index ≤ its index (compaction, or a snapshot installed from the leader); entries
    /// after it stay unless `truncateFrom` cuts them.
    public var snapshot: Snapshot? = nil
    /// True when `snapshot` came from the leader: the agent replaces its replicated state
    /// by `snapshot.appState` (false for a compaction this node asked for).
    public var snapshotInstalled = false
    /// When set, delete every stored entry with index ≥ this before appending `entries`.
    public var truncateFrom: LogIndex? = nil
    /// Entries to append to the stored log.
    public var entries: [Entry] = []
    /// Messages to send after the above is durable.
    public var messages: [Message] = []
    /// Set when `needsPersist`: the number to report with `.persisted(persistID:)` once
    /// this Ready's durable part is written. Increases by one per such Ready.
    public var persistID: UInt64? = nil
    /// What became of a transfer or shutdown input handled in this step, if any.
    public var transferOutcome: TransferOutcome? = nil
    /// What became of a `.changeMembership` input handled in this step, if any.
    public var membershipOutcome: MembershipOutcome? = nil
    /// Entries that became committed in this step, in order, for the agent's replicated
    /// state machine (after `snapshot` when one was installed). Apply them with the
    /// messages, once this Ready's durable part is written: a lone voter counts its own
    /// entries as soon as it appends them, and only its disk makes that commit real.
    public var committedEntries: [Entry] = []
    /// Messages dropped because their sender showed another incarnation than bound.
    public var identityConflicts: [IdentityConflict] = []

    public init() {}

    /// True when nothing needs to be persisted (messages may go out at once).
    @inlinable public var needsPersist: Bool { hardState != nil || snapshot != nil || truncateFrom != nil || !entries.isEmpty }
    @inlinable public var isEmpty: Bool {
        officeChanges.isEmpty && !needsPersist && messages.isEmpty && transferOutcome == nil
            && membershipOutcome == nil && committedEntries.isEmpty && identityConflicts.isEmpty
    }
}

/// PersistentState is what a node reads back from its disk at start-up: the hard state,
/// the latest snapshot (nil for a member that has not received any state yet: one that
/// is waiting to be added), and the log entries after it.
public struct PersistentState: Hashable, Sendable {
    public var hardState: HardState
    public var snapshot: Snapshot?
    public var log: [Entry]
    public init(hardState: HardState = HardState(), snapshot: Snapshot? = nil, log: [Entry] = []) {
        self.hardState = hardState; self.snapshot = snapshot; self.log = log
    }

    /// bootstrap is a founding member's first state: the initial configuration as a
    /// snapshot at index 0.
    public static func bootstrap(_ configuration: Configuration) -> PersistentState {
        PersistentState(snapshot: .bootstrap(configuration))
    }
}
