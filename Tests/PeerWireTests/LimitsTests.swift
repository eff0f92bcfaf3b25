import Testing
@testable import PeerWire
@testable import RaftCore

/// The wire's side of `Limits`: the largest append the core may build fits one frame
/// and crosses a session; one byte or one entry more is refused with an error on both
/// the sending and the receiving side, never a trap.
@Suite struct WireLimitsTests {
    /// The largest append the limits allow: the most entries, the most data, entries as
    /// large as allowed.
    static func largestAppend() -> Message.Body {
        var budget = Limits.maxAppendDataBytes
        var entries: [Entry] = []
        for k in 0..<Limits.maxEntriesPerAppend {
            let size = min(Limits.maxEntryDataBytes, budget)
            budget -= size
            entries.append(Entry(index: UInt64(k + 1), term: 1, payload: .data([UInt8](repeating: UInt8(k), count: size))))
        }
        return .append(prevLogIndex: 0, prevLogTerm: 0, entries: entries, leaderCommit: 0, sendTime: .zero)
    }

    static func append(_ entries: [Entry]) -> Message.Body {
        .append(prevLogIndex: 0, prevLogTerm: 0, entries: entries, leaderCommit: 0, sendTime: .zero)
    }

    static func entries(_ count: Int, bytes: Int) -> [Entry] {
        (0..<count).map { Entry(index: UInt64($0 + 1), term: 1, payload: .data([UInt8](repeating: 7, count: bytes))) }
    }

    @Test func eachPairOfLimitsIsConsistent() {
        // A single entry of the largest size fits an append's data budget.
        #expect(Limits.maxEntryDataBytes <= Limits.maxAppendDataBytes)
        // The largest append fits the frame cap the receiver enforces.
        #expect(RaftMessageCodec.maxAppendPayloadBytes <= Limits.maxFramePayloadBytes)
        #expect(FrameFormat.defaultMaxPayloadBytes == Limits.maxFramePayloadBytes)
        #expect(SessionConfig(clusterID: "c", secret: nil, local: PeerIdentity(name: "a", peerAddress: "", apiAddress: ""),
                              members: []).maxPayloadBytes == Limits.maxFramePayloadBytes)
        // The core's defaults are within what the wire accepts.
        #expect(Options().maxEntriesPerAppend <= Limits.maxEntriesPerAppend)
    }

    @Test func theLargestAppendEncodesToTheComputedSizeAndCrossesASession() throws {
        let body = Self.largestAppend()
        let payload = try RaftMessageCodec.encode(term: 9, body: body)
        #expect(payload.count == RaftMessageCodec.maxAppendPayloadBytes)
        var (c, s) = try handshake()
        let frame = try seal(&c, term: 9, body)
        let out = try feed(&s, frame)
        guard out.count == 1, case .message(9, let got) = out[0] else { Issue.record("no message"); return }
        #expect(got == body)
    }

    @Test(arguments: [
        ("one entry too many", entries(Limits.maxEntriesPerAppend + 1, bytes: 0), "append of 65 entries"),
        ("an entry one byte too large", entries(1, bytes: Limits.maxEntryDataBytes + 1), "entry of 65537 bytes"),
        ("one data byte too many", entries(8, bytes: Limits.maxEntryDataBytes) + entries(1, bytes: 1), "append of 524289 data bytes"),
    ] as [(String, [Entry], String)])
    func overLimitAppendsAreRefusedOnBothSides(name: String, entries: [Entry], fragment: String) throws {
        let body = Self.append(entries)
        // Sending: an error from the codec, nil from the session, and no sequence number used.
        do {
            _ = try RaftMessageCodec.encode(term: 1, body: body)
            Issue.record("\(name): encoded")
        } catch {
            #expect(error.description.contains(fragment), "\(name): \(error)")
        }
        var (c, s) = try handshake()
        #expect(c.seal(term: 1, body: body) == nil, "\(name)")
        let next = try seal(&c, term: 2, .timeoutNow)
        guard case .message(2, .timeoutNow) = try feed(&s, next).first else { Issue.record("\(name): sequence broken"); return }
        // Receiving: the same bytes built by hand are refused by the decoder.
        var w = ByteWriter()
        w.u64(1); w.u8(5); w.u64(0); w.u64(0); w.u64(0); w.i64(0); w.u32(UInt32(entries.count))
        for e in entries {
            w.u64(e.index); w.u64(e.term); w.u8(1); w.u32(UInt32(e.dataBytes))
            w.raw([UInt8](repeating: 7, count: e.dataBytes))
        }
        do {
            _ = try withBytes(w.bytes) { (p) throws(WireError) in try RaftMessageCodec.decode(p) }
            Issue.record("\(name): decoded")
        } catch {
            #expect(error.description.contains(fragment), "\(name): \(error)")
        }
    }

    @Test func aFrameOverTheCapIsRefusedBeforeBuffering() {
        var d = FrameDecoder()
        var w = ByteWriter()
        w.raw(FrameFormat.magic); w.u8(FrameFormat.version); w.u8(FrameType.raft.rawValue); w.u16(0); w.u32(UInt32(Limits.maxFramePayloadBytes + 1))
        w.bytes.withUnsafeBytes { d.feed($0) }
        #expect(throws: WireError.frameTooLarge(length: UInt32(Limits.maxFramePayloadBytes + 1), limit: Limits.maxFramePayloadBytes)) {
            try d.next()
        }
    }
}
