/// Limits are the sizes every layer agrees on, declared once: the core, the peer codec,
/// the frame decoder and the log file all read them from here, so no layer can produce
/// what another refuses (or traps on). They are constants, not settings: a receiver must
/// accept whatever any member sends, so every member needs the same values.
///
/// How they fit together (each relation has a test next to the layer that relies on it):
/// - an append carries at most `maxEntriesPerAppend` entries and `maxAppendDataBytes` of
///   entry data, and one entry of `maxEntryDataBytes` always fits; the encoded append
///   (PeerWire's `RaftMessageCodec.maxAppendPayloadBytes`) fits in `maxFramePayloadBytes`;
/// - the log holds at most `maxLogEntries` entries and `maxLogDataBytes` of entry data,
///   so its file (Storage's `LogFormat`) stays within `maxLogFileBytes`, which is what
///   the storage agrees to load at start-up.
///
/// The core enforces the append and log bounds (`Options.validate` refuses settings past
/// them, a proposal past them is refused); the codec and the storage refuse anything
/// beyond them with an error, never a trap.
public enum Limits {
    /// One entry's payload. Baton's entries are no-ops and small configuration records.
    public static let maxEntryDataBytes = 64 * 1024
    /// Entries in one append message (`Options.maxEntriesPerAppend` may be lower).
    public static let maxEntriesPerAppend = 64
    /// Entry payload bytes in one append: the leader stops adding entries before this
    /// is exceeded, always sending at least one (which `maxEntryDataBytes` lets fit).
    public static let maxAppendDataBytes = 512 * 1024
    /// Entries in the log (`Options.maxLogEntries` may be lower); without compaction the
    /// log grows by one no-op per leader term, so this is decades of churn.
    public static let maxLogEntries = 1_000_000
    /// Entry payload bytes in the whole log.
    public static let maxLogDataBytes = 512 * 1024 * 1024
    /// The payload of one peer frame, checked before a byte of it is buffered.
    public static let maxFramePayloadBytes = 1 << 20
    /// The log file the storage loads into memory at start-up.
    public static let maxLogFileBytes = 1 << 30
    /// The largest term and log index accepted from the network or from disk. A message
    /// beyond them is refused by the codec and dropped by the core, a restored state
    /// beyond them refused, and a node at `maxTerm` no longer campaigns, so `term + 1`
    /// and `index + 1` can never overflow (a vote response carrying term 2⁶⁴−1 once made
    /// the next pre-vote trap, and every restart after it: issue 15). 2⁴⁸ is out of reach
    /// for a real group: a million elections a second would need nine years to get there.
    public static let maxTerm: Term = 1 << 48
    public static let maxLogIndex: LogIndex = 1 << 48

    /// admits: every term and index `body` carries is within `maxTerm`/`maxLogIndex`.
    public static func admits(_ body: Message.Body) -> Bool {
        switch body {
        case .preVote(let index, let term), .vote(let index, let term, _):
            return index <= maxLogIndex && term <= maxTerm
        case .append(let prevIndex, let prevTerm, let entries, let commit, _):
            return prevIndex <= maxLogIndex && prevTerm <= maxTerm && commit <= maxLogIndex
                && entries.allSatisfy { $0.index <= maxLogIndex && $0.term <= maxTerm }
        case .appendResponse(_, let match, let hint, _, _):
            return match <= maxLogIndex && hint <= maxLogIndex
        case .installSnapshot(let snapshot, _):
            return snapshot.index <= maxLogIndex && snapshot.term <= maxTerm
        case .preVoteResponse, .voteResponse, .timeoutNow:
            return true
        }
    }
    /// A member's name (also a DNS label's limit, so a name can double as a host name).
    public static let maxMemberNameBytes = 63
    /// A member's peer or API address as text (`host:port`; a DNS name is at most 253).
    public static let maxAddressBytes = 253 + 1 + 5
    /// The agent's replicated state in a snapshot (history, pause, …); with a
    /// configuration of `Configuration.membersMax` members the snapshot fits one frame
    /// (`maxSnapshotBytes`), which a test checks against the codec.
    public static let maxSnapshotAppStateBytes = 512 * 1024
    /// An encoded snapshot message, within a frame.
    public static let maxSnapshotBytes = maxFramePayloadBytes - 1024
}

extension Entry {
    /// dataBytes is the size of the entry's payload as the limits count it (0 for a no-op).
    public var dataBytes: Int {
        switch payload {
        case .noop: 0
        case .data(let bytes): bytes.count
        case .configuration(let c): c.encodedBytes
        }
    }
}
