// The agent's replicated state machine: what committed entries of the agent's own kind
// (`Entry.Payload.data`) build up on every member in the same order, and what a
// snapshot carries of it. Membership lives in the core's configuration; this holds the
// rest: the operator controls of issue 16 (ControlRecords.swift). Entries are applied
// only once the write that holds them is durable (Ready.committedEntries).
public import RaftCore

/// ReplicatedState is the state every member derives from the committed log.
struct ReplicatedState: Equatable {
    /// appliedIndex is the last index applied (or covered by the snapshot restored).
    private(set) var appliedIndex: LogIndex = 0
    /// pause is the pause in force by the log (its end by the clock is the driver's
    /// business: see Pause.swift), nil when not paused.
    private(set) var pause: AppliedPause? = nil
    /// formatVersion is the first byte of the encoded state (snapshots carry it).
    /// 1: nothing after it (the membership release); 2: sections follow.
    static let formatVersion: UInt8 = 2
    /// Section kinds of format 2: a kind byte, a 4-byte length, the bytes. A reader
    /// skips a kind it does not know.
    static let pauseSection: UInt8 = 1
    static let historySection: UInt8 = 2
    static let handoverSection: UInt8 = 3
    /// handover: the scheduled hand-over in force by the log, nil when none.
    private(set) var handover: AppliedHandover? = nil
    /// history: office changes, hook outcomes, pauses and resumes, oldest first; the
    /// newest `historyLimit` are kept (compacted with the log into snapshots).
    private(set) var history: [HistoryEntry] = []
    /// historyLimit bounds the history. A constant, not a flag: every member must keep
    /// the same records, or their answers to GET /history would differ.
    static let historyLimit = 1_000
    /// historyBytesMax bounds the history's encoded size as well, so that the state
    /// always fits a snapshot (Limits.maxSnapshotAppStateBytes, 512 KiB): 1,000 records
    /// with reasons of 512 bytes would not. Applied in log order on every member, so
    /// every member drops the same records.
    static let historyBytesMax = 384 * 1024
    /// historyBytes: the history's encoded size (records plus their index, term, length).
    private(set) var historyBytes = 0

    init() {}

    /// init(snapshot:) restores what a snapshot carried; an empty or unknown app state
    /// (a snapshot written by a release that kept none) starts empty at its index.
    init(snapshot: Snapshot?) {
        appliedIndex = snapshot?.index ?? 0
        guard let bytes = snapshot?.appState, bytes.first == 2 else { return }
        var at = 1
        while bytes.count - at >= 5 {
            let kind = bytes[at]
            let n = Int(bytes[at + 1]) | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) << 16 | Int(bytes[at + 4]) << 24
            guard bytes.count - at - 5 >= n else { return }
            let body = Array(bytes[(at + 5)..<(at + 5 + n)])
            at += 5 + n
            if kind == Self.historySection {
                var r = RecordReader(body)
                guard let count = r.u64(), count <= UInt64(Self.historyLimit) else { continue }
                for _ in 0..<count {
                    guard let index = r.u64(), let term = r.u64(), let n = r.u64(), n <= UInt64(r.bytes.count - r.at),
                          let record = ControlRecord.decode(Array(r.bytes[r.at..<(r.at + Int(n))])) else { break }
                    r.at += Int(n)
                    history.append(HistoryEntry(index: index, term: term, record: record))
                    historyBytes += Int(n) + 24
                }
            }
            if kind == Self.handoverSection {
                var r = RecordReader(body)
                if let index = r.u64(), let term = r.u64(),
                   case .handoverScheduled(let s)? = ControlRecord.decode(Array(body[r.at...])) {
                    handover = AppliedHandover(index: index, term: term, record: s)
                }
            }
            if kind == Self.pauseSection {
                var r = RecordReader(body)
                if let index = r.u64(), let term = r.u64(), case .pause(let p)? = ControlRecord.decode(Array(body[r.at...])) {
                    pause = AppliedPause(index: index, term: term, record: p)
                }
            }
        }
    }

    mutating func apply(_ entry: Entry) {
        guard entry.index > appliedIndex else { return }
        appliedIndex = entry.index
        guard case .data(let bytes) = entry.payload, let record = ControlRecord.decode(bytes) else { return }
        switch record {
        case .pause(let p): pause = AppliedPause(index: entry.index, term: entry.term, record: p)
        case .resume: pause = nil
        case .handoverScheduled(let s): handover = AppliedHandover(index: entry.index, term: entry.term, record: s)
        case .handoverEnded(let e): if handover?.index == e.scheduleIndex { handover = nil }
        case .office, .hook: break
        }
        history.append(HistoryEntry(index: entry.index, term: entry.term, record: record))
        historyBytes += record.encoded().count + 24  // as the snapshot stores it
        var drop = 0
        while history.count - drop > Self.historyLimit || historyBytes > Self.historyBytesMax {
            historyBytes -= history[drop].record.encoded().count + 24
            drop += 1
        }
        if drop > 0 { history.removeFirst(drop) }
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.formatVersion]
        func section(_ kind: UInt8, _ body: [UInt8]) {
            out.append(kind)
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: body.count >> (8 * k))) }
            out += body
        }
        if let pause {
            var w = RecordWriter()
            w.u64(pause.index); w.u64(pause.term)
            section(Self.pauseSection, w.bytes + ControlRecord.pause(pause.record).encoded())
        }
        if let handover {
            var w = RecordWriter()
            w.u64(handover.index); w.u64(handover.term)
            section(Self.handoverSection, w.bytes + ControlRecord.handoverScheduled(handover.record).encoded())
        }
        if !history.isEmpty {
            var w = RecordWriter()
            w.u64(UInt64(history.count))
            for h in history {
                let bytes = h.record.encoded()
                w.u64(h.index); w.u64(h.term); w.u64(UInt64(bytes.count))
                w.bytes += bytes
            }
            section(Self.historySection, w.bytes)
        }
        return out
    }
}

/// ReplicatedStateLimits are the replicated state's bounds, for the API to report.
public enum ReplicatedStateLimits {
    public static var historyLimit: Int { ReplicatedState.historyLimit }
}

/// HistoryEntry is one record of the history with the log entry that holds it.
public struct HistoryEntry: Hashable, Sendable {
    public var index: LogIndex
    /// term: the term of the log entry (the office term of the leader that logged it).
    public var term: Term
    public var record: ControlRecord
}

/// AppliedPause is a pause record with where it stands in the log.
struct AppliedPause: Equatable {
    var index: LogIndex
    var term: Term
    var record: PauseRecord
}

/// AppliedHandover is a scheduled hand-over with where it stands in the log.
struct AppliedHandover: Equatable {
    var index: LogIndex
    var term: Term
    var record: ScheduledHandoverRecord
}
