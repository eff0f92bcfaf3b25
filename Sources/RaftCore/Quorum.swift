/// VoteResult is the outcome of counting a round of (pre-)votes (style rule 5).
public enum VoteResult: Hashable, Sendable { case pending, won, lost }

/// VoteTally counts one round of (pre-)votes over a fixed voter set. A pure value with
/// table tests; the candidate's own vote is recorded like any other.
public struct VoteTally: Hashable, Sendable {
    public let voters: [NodeID]
    /// The first answer of each voter that answered.
    public private(set) var answers: [NodeID: Bool] = [:]
    public let quorum: Int

    public init(voters: [NodeID], quorum: Int) {
        precondition(!voters.isEmpty && quorum > 0 && quorum <= voters.count, "VoteTally: bad voter set")
        self.voters = voters
        self.quorum = quorum
    }

    /// Records the first answer of `voter`; a repeated answer (a duplicated message) is
    /// ignored, so one voter is never counted twice, and a non-voter is not counted at all.
    public mutating func record(_ voter: NodeID, granted: Bool) {
        guard answers[voter] == nil, voters.contains(voter) else { return }
        answers[voter] = granted
    }

    public var granted: Int { answers.values.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public var rejected: Int { answers.values.reduce(0) { $0 + ($1 ? 0 : 1) } }

    public var result: VoteResult {
        if granted >= quorum { return .won }
        if rejected > voters.count - quorum { return .lost }
        return .pending
    }
}

/// quorumLargest returns the `quorum`-th largest of `values`: the greatest value that at
/// least a quorum of voters have reached (commit index, lease send time).
@inlinable
func quorumLargest<T: Comparable>(_ values: [T], quorum: Int) -> T {
    precondition(quorum >= 1 && quorum <= values.count)
    let sorted = values.sorted(by: >)
    return sorted[quorum - 1]
}
