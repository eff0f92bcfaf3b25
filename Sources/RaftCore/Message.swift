/// Message is everything one node says to another: sender, receiver, term and a body
/// (style rule 2). The term of a pre-vote request is the *proposed* term (current + 1),
/// and a pre-vote response carries that proposed term when granted (Raft thesis §9.6,
/// as etcd-io/raft does), so that neither makes anyone adopt a term.
public struct Message: Hashable, Sendable {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var body: Body
    /// The sender's incarnation: the random id its data dir was created with. A member
    /// bound to another incarnation is not heard (design S6: a wiped data dir cannot vote
    /// as the member it replaces).
    public var incarnation: UInt64

    @inlinable public init(from: NodeID, to: NodeID, term: Term, body: Body, incarnation: UInt64 = 1) {
        self.from = from; self.to = to; self.term = term; self.body = body; self.incarnation = incarnation
    }

    public enum Body: Hashable, Sendable {
        /// Would you vote for me in `term` (not yet adopted by the sender)?
        case preVote(lastLogIndex: LogIndex, lastLogTerm: Term)
        /// `stickinessRemaining` is non-zero when refused because the voter heard from a
        /// live leader less than `electionTimeoutMin` ago: the candidate retries then.
        case preVoteResponse(granted: Bool, stickinessRemaining: Interval)
        /// RequestVote (Raft Figure 2). `transfer` is set only by the target of a
        /// TimeoutNow: voters skip stickiness for it when `term` is exactly one above
        /// the term in which they last heard from a leader (design §2).
        case vote(lastLogIndex: LogIndex, lastLogTerm: Term, transfer: Bool)
        case voteResponse(granted: Bool)
        /// AppendEntries, also the heartbeat. `sendTime` is the leader's clock when it
        /// sent this message; every response in the same term echoes it (the lease).
        case append(prevLogIndex: LogIndex, prevLogTerm: Term, entries: [Entry],
                    leaderCommit: LogIndex, sendTime: Instant)
        /// `matchIndex` is the last index known to match when `success`; when not,
        /// `hintIndex` is where the leader should probe next. `echoedSendTime` is the
        /// `sendTime` of the append this answers (rejections echo too). `canLead` says
        /// the sender would campaign on a TimeoutNow now: it is not a witness and its
        /// driver is not holding it back (start-up hook, failing check), so a leader
        /// handing over picks a successor that will actually take over.
        case appendResponse(success: Bool, matchIndex: LogIndex, hintIndex: LogIndex,
                            echoedSendTime: Instant, canLead: Bool)
        /// The leader of `term` has left office and asks the receiver to campaign now.
        case timeoutNow
        /// InstallSnapshot (Raft thesis §5): the leader no longer holds the entries this
        /// follower needs; it is answered like an append (`matchIndex` = the snapshot's
        /// index, echoing `sendTime`).
        case installSnapshot(Snapshot, sendTime: Instant)
    }
}
