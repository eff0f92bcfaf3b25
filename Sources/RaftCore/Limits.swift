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
}

extension Entry {
    /// dataBytes is the size of the entry's payload as the limits count it (0 for a no-op).
    public var dataBytes: Int {
        switch payload {
        case .noop: 0
        case .data(let bytes): bytes.count
        }
    }
}
