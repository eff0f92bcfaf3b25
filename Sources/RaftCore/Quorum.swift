/// VoteResult is the outcome of counting a round of (pre-)votes (style rule 5).
public enum VoteResult: Hashable, Sendable { case pending, won, lost }

/// VoteTally counts one round of (pre-)votes over a fixed voter set. A pure value with
/// table tests; the candidate's own vote is recorded like any other.
public struct VoteTally: Hashable, Sendable {
    /// One slot per voter: nil = no answer yet.
    public private(set) var answers: [Bool?]
    public let quorum: Int

    public init(voterCount: Int, quorum: Int) {
        precondition(voterCount > 0 && quorum > 0 && quorum <= voterCount, "VoteTally: bad voter set")
        answers = Array(repeating: nil, count: voterCount)
        self.quorum = quorum
    }

    /// Records the first answer of voter `index`; a repeated answer (a duplicated
    /// message) is ignored, so one voter is never counted twice.
    public mutating func record(_ index: Int, granted: Bool) {
        if answers[index] == nil { answers[index] = granted }
    }

    public var granted: Int { answers.reduce(0) { $0 + ($1 == true ? 1 : 0) } }
    public var rejected: Int { answers.reduce(0) { $0 + ($1 == false ? 1 : 0) } }

    public var result: VoteResult {
        if granted >= quorum { return .won }
        if rejected > answers.count - quorum { return .lost }
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
