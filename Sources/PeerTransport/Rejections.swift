// Refused peer connections, counted by kind and reported naming their source. One log
// line per refused connection was ~21,000 lines per node in 35 s of flood, none saying
// where it came from (issue 15): the transport now names the source address, counts by
// kind (for /metrics and /status), and the agent's log rate-limits per source.

/// RejectionKind classifies why a peer connection was refused (a metrics label).
public enum RejectionKind: String, CaseIterable, Sendable {
    /// The handshake did not finish within the pre-authentication budget.
    case handshakeTimeout = "handshake-timeout"
    /// Evicted unauthenticated: the pre-authentication slots were full (a flood).
    case slotsFull = "slots-full"
    /// Not the peer protocol, or a malformed or oversized frame.
    case badFrame = "bad-frame"
    /// Wrong secret, or a frame whose MAC does not verify.
    case authentication
    /// Claims a name that is not a configured member, or another cluster.
    case notMember = "not-member"
    /// A peer message out of bounds (term or index beyond Limits.maxTerm) or out of turn.
    case badMessage = "bad-message"
    /// accept() failed for lack of descriptors or memory: accepting paused briefly.
    case acceptPaused = "accept-paused"
    /// Authenticated, but refused by the membership: a stale incarnation (a wiped data
    /// dir), another group's member list, or a removed member.
    case identity
}

/// RejectionCounts sums refusals by kind (the agent's log rate-limits the lines per
/// source: AgentLogging's `.limited(key:)`, so one flood is a few lines and a summary).
struct RejectionCounts {
    private(set) var totals: [RejectionKind: UInt64] = [:]
    mutating func record(_ kind: RejectionKind) { totals[kind, default: 0] += 1 }
}
