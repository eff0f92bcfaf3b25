// The operator controls of issue 16 as log records: what the leader proposes
// (`Event.propose`) and every member applies, in log order, to its ReplicatedState.
// One record per entry, a kind byte first; strings are length-prefixed and bounded, so
// a record from a newer release that this one cannot read is skipped, never trusted.
public import RaftCore

/// ControlRecord is one operator-control entry of the replicated log.
public enum ControlRecord: Hashable, Sendable {
    /// The group is paused (no campaigns, no unplanned hand-over) for `duration`, until
    /// `untilWallMs` by the proposing leader's wall clock (0: unknown).
    case pause(PauseRecord)
    /// The pause ends: an operator's resume, or its time ran out (`by` says which).
    case resume(ResumeRecord)
    /// An office change, logged by the leader (History.swift).
    case office(OfficeRecord)
    /// A hook's outcome for a term, logged by the leader once known.
    case hook(HookRecord)
    /// A hand-over to `target` is scheduled (`baton resign --to NAME --at/--in`).
    case handoverScheduled(ScheduledHandoverRecord)
    /// A scheduled hand-over ended: cancelled, carried out or dropped (and why).
    case handoverEnded(HandoverEndRecord)

    /// Kind bytes. 0 is never used: an empty or zeroed entry is not a record.
    static let pauseKind: UInt8 = 1
    static let resumeKind: UInt8 = 2
    static let officeKind: UInt8 = 3
    static let hookKind: UInt8 = 4
    static let handoverScheduledKind: UInt8 = 5
    static let handoverEndedKind: UInt8 = 6
    /// textBytesMax bounds every string a record carries (a reason, who asked).
    static let textBytesMax = 512

    func encoded() -> [UInt8] {
        var w = RecordWriter()
        switch self {
        case .pause(let p):
            w.byte(Self.pauseKind)
            w.u64(UInt64(p.duration.nanoseconds / 1_000_000))
            w.i64(p.untilWallMs); w.i64(p.requestedWallMs)
            w.text(p.by); w.text(p.reason)
        case .resume(let r):
            w.byte(Self.resumeKind)
            w.i64(r.wallMs); w.text(r.by); w.text(r.reason)
        case .office(let o):
            w.byte(Self.officeKind)
            w.byte(o.event.rawValue); w.u64(o.term); w.text(o.member); w.text(o.previous)
            w.text(o.reason); w.text(o.by); w.i64(o.wallMs); w.i64(o.bootNs)
        case .hook(let h):
            w.byte(Self.hookKind)
            w.u64(h.term); w.text(h.member); w.text(h.hook); w.i64(h.exitCode ?? -1 - Int64(UInt32.max))
            w.i64(h.durationMs); w.byte(h.timedOut ? 1 : 0); w.text(h.summary)
        case .handoverScheduled(let s):
            w.byte(Self.handoverScheduledKind)
            w.text(s.target); w.u64(UInt64(s.delay.nanoseconds / 1_000_000)); w.i64(s.atWallMs); w.i64(s.requestedWallMs); w.text(s.by)
        case .handoverEnded(let e):
            w.byte(Self.handoverEndedKind)
            w.u64(e.scheduleIndex); w.byte(e.outcome.rawValue); w.text(e.target); w.text(e.reason); w.text(e.by); w.i64(e.wallMs)
        }
        return w.bytes
    }

    /// decode reads a record; nil for bytes that are not one this release knows.
    public static func decode(_ bytes: [UInt8]) -> ControlRecord? {
        var r = RecordReader(bytes)
        guard let kind = r.byte() else { return nil }
        switch kind {
        case pauseKind:
            guard let ms = r.u64(), ms <= UInt64(Int64.max / 1_000_000), let until = r.i64(), let at = r.i64(),
                  let by = r.text(), let reason = r.text(), r.atEnd else { return nil }
            return .pause(PauseRecord(duration: .milliseconds(Int64(ms)), untilWallMs: until, requestedWallMs: at, by: by, reason: reason))
        case resumeKind:
            guard let at = r.i64(), let by = r.text(), let reason = r.text(), r.atEnd else { return nil }
            return .resume(ResumeRecord(wallMs: at, by: by, reason: reason))
        case officeKind:
            guard let e = r.byte().flatMap(OfficeEvent.init(rawValue:)), let term = r.u64(), let member = r.text(),
                  let previous = r.text(), let reason = r.text(), let by = r.text(), let wall = r.i64(), let boot = r.i64(),
                  r.atEnd else { return nil }
            return .office(OfficeRecord(event: e, term: term, member: member, previous: previous, reason: reason, by: by,
                                        wallMs: wall, bootNs: boot))
        case hookKind:
            guard let term = r.u64(), let member = r.text(), let hook = r.text(), let code = r.i64(), let ms = r.i64(),
                  let timedOut = r.byte(), timedOut <= 1, let summary = r.text(), r.atEnd else { return nil }
            return .hook(HookRecord(term: term, member: member, hook: hook, exitCode: code == -1 - Int64(UInt32.max) ? nil : code,
                                    durationMs: ms, timedOut: timedOut == 1, summary: summary))
        case handoverScheduledKind:
            guard let target = r.text(), let ms = r.u64(), ms <= UInt64(Int64.max / 1_000_000), let at = r.i64(),
                  let asked = r.i64(), let by = r.text(), r.atEnd else { return nil }
            return .handoverScheduled(ScheduledHandoverRecord(target: target, delay: .milliseconds(Int64(ms)), atWallMs: at,
                                                              requestedWallMs: asked, by: by))
        case handoverEndedKind:
            guard let index = r.u64(), let outcome = r.byte().flatMap(HandoverOutcome.init(rawValue:)), let target = r.text(),
                  let reason = r.text(), let by = r.text(), let wall = r.i64(), r.atEnd else { return nil }
            return .handoverEnded(HandoverEndRecord(scheduleIndex: index, outcome: outcome, target: target, reason: reason,
                                                    by: by, wallMs: wall))
        default:
            return nil
        }
    }
}

/// OfficeEvent says what an office record records.
public enum OfficeEvent: UInt8, Hashable, Sendable {
    /// A member took office (by election or by transfer).
    case enter = 1
    /// The leader starts handing over by plan (resign, SIGTERM, a failing check, a
    /// failed promote): logged before the transfer, so the successor holds it.
    case handOver = 2
    /// A requested hand-over was refused (nobody could take over): the leader stays.
    case handOverRefused = 3

    public var name: String {
        switch self {
        case .enter: "enter"
        case .handOver: "hand-over"
        case .handOverRefused: "hand-over-refused"
        }
    }
}

/// OfficeRecord is one office change in the history.
public struct OfficeRecord: Hashable, Sendable {
    public var event: OfficeEvent
    /// term: the office's term (for a hand-over: the term being left).
    public var term: Term
    public var member: String
    /// previous: the leader before (for `enter`), "" when none is known.
    public var previous: String
    /// reason: election or transfer (enter); resign, shutdown, check-failed,
    /// promote-failed (hand-over); the refusal (hand-over-refused).
    public var reason: String
    /// by: who asked (an operator's address, SIGTERM), "" for the agent itself.
    public var by: String
    /// The leader's wall clock (Unix ms, 0 unknown) and CLOCK_BOOTTIME (ns).
    public var wallMs: Int64
    public var bootNs: Int64
}

/// HookRecord is a hook's outcome for a term.
public struct HookRecord: Hashable, Sendable {
    public var term: Term
    public var member: String
    /// hook: on-promote, on-demote, on-change or leader-unit.
    public var hook: String
    public var exitCode: Int64?
    public var durationMs: Int64
    public var timedOut: Bool
    public var summary: String

    public init(term: Term, member: String, hook: String, exitCode: Int64?, durationMs: Int64, timedOut: Bool, summary: String) {
        self.term = term; self.member = member; self.hook = hook; self.exitCode = exitCode
        self.durationMs = durationMs; self.timedOut = timedOut; self.summary = summary
    }
}

/// PauseRecord is what `baton pause` put in the log.
public struct PauseRecord: Hashable, Sendable {
    public var duration: Interval
    public var untilWallMs: Int64
    public var requestedWallMs: Int64
    public var by: String
    public var reason: String
}

/// ResumeRecord is what `baton resume` (or the end of a pause) put in the log.
public struct ResumeRecord: Hashable, Sendable {
    public var wallMs: Int64
    public var by: String
    public var reason: String
}

/// ScheduledHandoverRecord is what `baton resign --to NAME --at TIME` put in the log:
/// hand over to `target` `delay` after the proposing leader logged it, which was
/// `atWallMs` by its wall clock (a member works out its own moment from both, so a
/// restart or a new leader does not move it: ScheduledHandover.swift).
public struct ScheduledHandoverRecord: Hashable, Sendable {
    public var target: String
    public var delay: Interval
    public var atWallMs: Int64
    public var requestedWallMs: Int64
    public var by: String
}

/// HandoverOutcome is how a scheduled hand-over ended.
public enum HandoverOutcome: UInt8, Hashable, Sendable {
    case cancelled = 1
    /// The leader started the transfer to the target (the next `enter` shows who took office).
    case carriedOut = 2
    /// The target could not lead at the moment (or the moment was missed): nothing moved.
    case dropped = 3

    public var name: String {
        switch self {
        case .cancelled: "cancelled"
        case .carriedOut: "carried-out"
        case .dropped: "dropped"
        }
    }
}

/// HandoverEndRecord ends the scheduled hand-over logged at `scheduleIndex`.
public struct HandoverEndRecord: Hashable, Sendable {
    public var scheduleIndex: LogIndex
    public var outcome: HandoverOutcome
    public var target: String
    /// reason: why it was dropped, or what was done.
    public var reason: String
    /// by: who cancelled (an operator's address); "" for the agent itself.
    public var by: String
    public var wallMs: Int64
}

/// RecordWriter builds a record: little-endian integers, strings as a 2-byte length
/// and UTF-8 cut to `ControlRecord.textBytesMax`.
struct RecordWriter {
    var bytes: [UInt8] = []
    mutating func byte(_ b: UInt8) { bytes.append(b) }
    mutating func u64(_ v: UInt64) { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func text(_ s: String) {
        // Cut at a character's boundary, never inside one.
        var utf8: [UInt8] = []
        for c in s.unicodeScalars {
            let b = Array(String(c).utf8)
            if utf8.count + b.count > ControlRecord.textBytesMax { break }
            utf8 += b
        }
        bytes.append(UInt8(utf8.count & 0xff)); bytes.append(UInt8(utf8.count >> 8))
        bytes += utf8
    }
}

/// RecordReader reads what RecordWriter wrote; every read checks the bounds.
struct RecordReader {
    let bytes: [UInt8]
    var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { at == bytes.count }
    mutating func byte() -> UInt8? {
        guard at < bytes.count else { return nil }
        defer { at += 1 }
        return bytes[at]
    }
    mutating func u64() -> UInt64? {
        guard bytes.count - at >= 8 else { return nil }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
        at += 8
        return v
    }
    mutating func i64() -> Int64? { u64().map { Int64(bitPattern: $0) } }
    mutating func text() -> String? {
        guard bytes.count - at >= 2 else { return nil }
        let n = Int(bytes[at]) | Int(bytes[at + 1]) << 8
        guard n <= ControlRecord.textBytesMax, bytes.count - at - 2 >= n else { return nil }
        defer { at += 2 + n }
        return String(decoding: bytes[(at + 2)..<(at + 2 + n)], as: UTF8.self)
    }
}
