// Refused peer connections, counted by kind and reported per source at a bounded rate.
// One log line per refused connection was ~21,000 lines per node in 35 s of flood, none
// saying where it came from (issue 15); now the first refusal from a source is reported
// at once, later ones are summed and reported once per interval, naming the source.

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
    /// A peer message out of bounds (term or index beyond RaftBounds) or out of turn.
    case badMessage = "bad-message"
    /// accept() failed for lack of descriptors or memory: accepting paused briefly.
    case acceptPaused = "accept-paused"
}

/// RejectionLog sums refusals per source and says what to log when.
struct RejectionLog {
    struct Summary { var count: UInt64 = 0; var lastReason = "" }
    /// Sources tracked individually per interval; the rest are summed as one.
    static let sourcesMax = 32
    static let otherSources = "other sources"
    private(set) var totals: [RejectionKind: UInt64] = [:]
    private var window: [String: Summary] = [:]
    private var reportedThisWindow: Set<String> = []

    var hasPending: Bool { !window.isEmpty }

    /// record counts one refusal; returns true when it should be logged now (the first
    /// from this source in the current interval).
    mutating func record(_ kind: RejectionKind, reason: String, source: String) -> Bool {
        totals[kind, default: 0] += 1
        var key = source
        if window[key] == nil && reportedThisWindow.contains(key) == false
            && reportedThisWindow.count >= Self.sourcesMax {
            key = Self.otherSources
        }
        if !reportedThisWindow.contains(key) {
            reportedThisWindow.insert(key)
            return true
        }
        window[key, default: Summary()].count += 1
        window[key]?.lastReason = reason
        return false
    }

    /// flush ends the interval: the sources with refusals not yet logged, and how many.
    mutating func flush() -> [(source: String, summary: Summary)] {
        let out = window.sorted { $0.key < $1.key }.map { (source: $0.key, summary: $0.value) }
        window.removeAll(keepingCapacity: true)
        reportedThisWindow.removeAll(keepingCapacity: true)
        return out
    }
}
