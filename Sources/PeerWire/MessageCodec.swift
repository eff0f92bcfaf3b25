public import RaftCore

/// RaftMessageCodec turns a Raft message into a frame payload and back. Sender and
/// receiver are not on the wire: an authenticated connection already says who is at
/// either end, so a peer cannot speak for another node.
///
/// Tags are append-only: a new message kind gets a new number, never a reused one.
public enum RaftMessageCodec {
    /// Bytes of an append before its entries: term, tag, prev index, prev term, commit,
    /// send time, entry count.
    public static let appendHeaderBytes = 8 + 1 + 8 + 8 + 8 + 8 + 4
    /// Bytes of one entry besides its data: index, term, kind, data length.
    public static let entryOverheadBytes = 8 + 8 + 1 + 4
    /// The largest append the `Limits` allow, encoded; it must fit a frame
    /// (`Limits.maxFramePayloadBytes`), which a test checks.
    public static let maxAppendPayloadBytes = appendHeaderBytes
        + Limits.maxEntriesPerAppend * entryOverheadBytes + Limits.maxAppendDataBytes

    enum Tag: UInt8 {
        case preVote = 1, preVoteResponse = 2, vote = 3, voteResponse = 4
        case append = 5, appendResponse = 6, timeoutNow = 7, installSnapshot = 8
    }

    /// Encodes a message. An append past the `Limits` (which the core never builds) is
    /// refused with an error rather than sent for the peer to refuse.
    public static func encode(term: Term, body: Message.Body) throws(WireError) -> [UInt8] {
        var w = ByteWriter()
        w.u64(term)
        switch body {
        case .preVote(let lastIndex, let lastTerm):
            w.u8(Tag.preVote.rawValue); w.u64(lastIndex); w.u64(lastTerm)
        case .preVoteResponse(let granted, let remaining):
            w.u8(Tag.preVoteResponse.rawValue); w.u8(granted ? 1 : 0); w.i64(remaining.nanoseconds)
        case .vote(let lastIndex, let lastTerm, let transfer):
            w.u8(Tag.vote.rawValue); w.u64(lastIndex); w.u64(lastTerm); w.u8(transfer ? 1 : 0)
        case .voteResponse(let granted):
            w.u8(Tag.voteResponse.rawValue); w.u8(granted ? 1 : 0)
        case .append(let prevIndex, let prevTerm, let entries, let commit, let sendTime):
            try checkAppendLimits(count: entries.count, dataBytes: entries.reduce(0) { $0 + $1.dataBytes },
                                  largestEntry: entries.reduce(0) { max($0, $1.dataBytes) })
            w.u8(Tag.append.rawValue); w.u64(prevIndex); w.u64(prevTerm); w.u64(commit)
            w.i64(sendTime.nanoseconds); w.u32(UInt32(entries.count))
            for e in entries {
                w.u64(e.index); w.u64(e.term)
                switch e.payload {
                case .noop: w.u8(0)
                case .data(let bytes):
                    w.u8(1); w.u32(UInt32(bytes.count)); w.raw(bytes)
                case .configuration(let c):
                    let bytes = c.encoded()
                    w.u8(2); w.u32(UInt32(bytes.count)); w.raw(bytes)
                }
            }
        case .appendResponse(let success, let match, let hint, let echo, let canLead):
            w.u8(Tag.appendResponse.rawValue); w.u8(success ? 1 : 0); w.u64(match); w.u64(hint)
            w.i64(echo.nanoseconds); w.u8(canLead ? 1 : 0)
        case .timeoutNow:
            w.u8(Tag.timeoutNow.rawValue)
        case .installSnapshot(let snapshot, let sendTime):
            let bytes = snapshot.encoded()
            guard bytes.count <= Limits.maxSnapshotBytes else {
                throw .invalid(what: "snapshot of \(bytes.count) bytes (the limit is \(Limits.maxSnapshotBytes))")
            }
            w.u8(Tag.installSnapshot.rawValue); w.i64(sendTime.nanoseconds); w.u32(UInt32(bytes.count)); w.raw(bytes)
        }
        return w.bytes
    }

    /// Decodes a payload; anything malformed is an error, never a trap.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(WireError) -> (term: Term, body: Message.Body) {
        var r = ByteReader(payload)
        let term = try r.u64("term")
        guard let tag = Tag(rawValue: try r.u8("message tag")) else { throw .invalid(what: "message tag") }
        let body: Message.Body
        switch tag {
        case .preVote:
            body = .preVote(lastLogIndex: try r.u64("last index"), lastLogTerm: try r.u64("last term"))
        case .preVoteResponse:
            let granted = try r.bool("granted")
            let remaining = try r.i64("stickiness remaining")
            guard remaining >= 0 else { throw .invalid(what: "stickiness remaining") }
            body = .preVoteResponse(granted: granted, stickinessRemaining: Interval(nanoseconds: remaining))
        case .vote:
            body = .vote(lastLogIndex: try r.u64("last index"), lastLogTerm: try r.u64("last term"),
                         transfer: try r.bool("transfer flag"))
        case .voteResponse:
            body = .voteResponse(granted: try r.bool("granted"))
        case .append:
            let prevIndex = try r.u64("prev index"), prevTerm = try r.u64("prev term")
            let commit = try r.u64("commit"), sendTime = try r.i64("send time")
            let count = Int(try r.u32("entry count"))
            try checkAppendLimits(count: count, dataBytes: 0, largestEntry: 0)
            guard count * 17 <= r.remaining else { throw .invalid(what: "entry count") }  // 17: a no-op entry
            var dataBytes = 0
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let index = try r.u64("entry index"), eterm = try r.u64("entry term")
                switch try r.u8("entry kind") {
                case 0: entries.append(Entry(index: index, term: eterm, payload: .noop))
                case 1:
                    let n = Int(try r.u32("entry length"))
                    dataBytes += n
                    try checkAppendLimits(count: count, dataBytes: dataBytes, largestEntry: n)
                    entries.append(Entry(index: index, term: eterm, payload: .data(Array(try r.take(n, "entry data")))))
                case 2:
                    let n = Int(try r.u32("entry length"))
                    dataBytes += n
                    try checkAppendLimits(count: count, dataBytes: dataBytes, largestEntry: n)
                    let raw = try r.take(n, "configuration")
                    let configuration: Configuration
                    do { configuration = try Configuration(decoding: ArraySlice(raw)) } catch {
                        throw .invalid(what: "configuration entry (\(error.message))")
                    }
                    entries.append(Entry(index: index, term: eterm, payload: .configuration(configuration)))
                default: throw .invalid(what: "entry kind")
                }
            }
            body = .append(prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries,
                           leaderCommit: commit, sendTime: Instant(nanoseconds: sendTime))
        case .appendResponse:
            body = .appendResponse(success: try r.bool("success"), matchIndex: try r.u64("match index"),
                                   hintIndex: try r.u64("hint index"),
                                   echoedSendTime: Instant(nanoseconds: try r.i64("echoed send time")),
                                   canLead: try r.bool("can-lead flag"))
        case .timeoutNow:
            body = .timeoutNow
        case .installSnapshot:
            let sendTime = try r.i64("send time")
            let n = Int(try r.u32("snapshot length"))
            guard n <= Limits.maxSnapshotBytes else { throw .invalid(what: "snapshot of \(n) bytes (the limit is \(Limits.maxSnapshotBytes))") }
            let raw = try r.take(n, "snapshot")
            let snapshot: Snapshot
            do { snapshot = try Snapshot(decoding: ArraySlice(raw)) } catch {
                throw .invalid(what: "snapshot (\(error.message))")
            }
            body = .installSnapshot(snapshot, sendTime: Instant(nanoseconds: sendTime))
        }
        try r.expectEnd("message (trailing bytes)")
        // Refused at the door, so a peer cannot push a term or index near 2⁶⁴ into the
        // core (which drops them too) or into the state file.
        guard term <= Limits.maxTerm else { throw .invalid(what: "term \(term) (over \(Limits.maxTerm))") }
        guard Limits.admits(body) else { throw .invalid(what: "log index or term (over \(Limits.maxLogIndex))") }
        return (term, body)
    }

    /// checkAppendLimits refuses an append with more entries, more data or a larger
    /// entry than `Limits` allow.
    static func checkAppendLimits(count: Int, dataBytes: Int, largestEntry: Int) throws(WireError) {
        if count > Limits.maxEntriesPerAppend {
            throw .invalid(what: "append of \(count) entries (the limit is \(Limits.maxEntriesPerAppend))")
        }
        if largestEntry > Limits.maxEntryDataBytes {
            throw .invalid(what: "entry of \(largestEntry) bytes (the limit is \(Limits.maxEntryDataBytes))")
        }
        if dataBytes > Limits.maxAppendDataBytes {
            throw .invalid(what: "append of \(dataBytes) data bytes (the limit is \(Limits.maxAppendDataBytes))")
        }
    }
}
