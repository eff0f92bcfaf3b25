import Testing
@testable import PeerWire
@testable import RaftCore

/// Property tests over random Raft messages and random bytes (issue 13): every message
/// the limits allow survives encode → frame → split stream → decode unchanged, on a
/// plain frame decoder and on an authenticated session; random bytes never trap.
@Suite struct PropertyTests {
    /// randomMessage draws any message body with fields over their whole range, and
    /// appends from empty up to the limits (count and bytes), a few at the limits.
    static func randomMessage(_ g: inout SeededGenerator) -> (term: Term, body: Message.Body) {
        func any(_ g: inout SeededGenerator) -> UInt64 {
            // Small values, values near the top of what the codec accepts (terms and
            // indexes up to Limits.maxTerm/maxLogIndex, both 2^48), and everything between.
            switch g.next() % 4 {
            case 0: g.next() % 16
            case 1: Limits.maxTerm - g.next() % 16
            default: g.next() % (Limits.maxTerm + 1)
            }
        }
        func bool(_ g: inout SeededGenerator) -> Bool { g.next() % 2 == 0 }
        let term = any(&g)
        let body: Message.Body
        switch g.next() % 7 {
        case 0: body = .preVote(lastLogIndex: any(&g), lastLogTerm: any(&g))
        case 1: body = .preVoteResponse(granted: bool(&g), stickinessRemaining: Interval(nanoseconds: Int64(any(&g) >> 1)))
        case 2: body = .vote(lastLogIndex: any(&g), lastLogTerm: any(&g), transfer: bool(&g))
        case 3: body = .voteResponse(granted: bool(&g))
        case 4:
            let count = g.next() % 8 == 0 ? Limits.maxEntriesPerAppend : Int(g.next() % 6)
            let atLimit = g.next() % 8 == 0
            var budget = Limits.maxAppendDataBytes
            var entries: [Entry] = []
            for k in 0..<count {
                let size = atLimit ? min(Limits.maxEntryDataBytes, budget) : Int(g.next() % 40)
                budget -= size
                let payload: Entry.Payload = g.next() % 3 == 0 && !atLimit
                    ? .noop : .data((0..<size).map { _ in UInt8(truncatingIfNeeded: g.next()) })
                entries.append(Entry(index: min(any(&g), Limits.maxLogIndex - UInt64(Limits.maxEntriesPerAppend)) + UInt64(k),
                                     term: any(&g), payload: payload))
            }
            body = .append(prevLogIndex: any(&g), prevLogTerm: any(&g), entries: entries,
                           leaderCommit: any(&g), sendTime: Instant(nanoseconds: Int64(bitPattern: any(&g))))
        case 5:
            body = .appendResponse(success: bool(&g), matchIndex: any(&g), hintIndex: any(&g),
                                   echoedSendTime: Instant(nanoseconds: Int64(bitPattern: any(&g))), canLead: bool(&g))
        default: body = .timeoutNow
        }
        return (term, body)
    }

    @Test func randomMessagesRoundTripThroughCodecAndFrames() throws {
        var g = SeededGenerator(seed: 1313)
        var stream: [UInt8] = []
        var expected: [(Term, Message.Body)] = []
        for _ in 0..<3_000 {
            let (term, body) = Self.randomMessage(&g)
            let payload = try RaftMessageCodec.encode(term: term, body: body)
            #expect(payload.count <= RaftMessageCodec.maxAppendPayloadBytes)
            let decoded = try payload.withUnsafeBytes { try RaftMessageCodec.decode($0) }
            #expect(decoded.term == term && decoded.body == body)
            stream += FrameFormat.build(type: .raft, payload: payload, mac: nil)
            expected.append((term, body))
        }
        // The frames of all messages as one stream, cut at random points.
        var decoder = FrameDecoder()
        var got: [(Term, Message.Body)] = []
        var at = 0
        while at < stream.count {
            let n = min(stream.count - at, 1 + Int(g.next() % 70_000))
            stream[at..<(at + n)].withUnsafeBytes { decoder.feed($0) }
            at += n
            while let frame = try decoder.next() {
                #expect(frame.type == .raft)
                got.append(try frame.payload.withUnsafeBytes { try RaftMessageCodec.decode($0) })
            }
        }
        #expect(decoder.bufferedBytes == 0)
        #expect(got.count == expected.count)
        for (a, b) in zip(got, expected) { #expect(a.0 == b.0 && a.1 == b.1) }
    }

    @Test func randomMessagesRoundTripThroughAnAuthenticatedSession() throws {
        var g = SeededGenerator(seed: 2626)
        var (client, server) = try handshake()
        for _ in 0..<500 {
            let (term, body) = Self.randomMessage(&g)
            let frame = try seal(&client, term: term, body)
            let out = try feed(&server, frame)
            guard out.count == 1, case .message(let t, let b) = out[0] else { Issue.record("expected one message, got \(out)"); return }
            #expect(t == term && b == body)
        }
    }

    /// Random bytes into a frame decoder and into sessions at each stage: errors, never
    /// traps, and nothing is taken for a message unless it was a well-formed frame.
    @Test func randomBytesNeverTrapTheFrameDecoderOrASession() throws {
        var g = SeededGenerator(seed: 99)
        for round in 0..<3_000 {
            let n = Int(g.next() % 200)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            if round % 2 == 0 && n >= 12 {  // a valid header over random contents gets further
                bytes.replaceSubrange(0..<6, with: FrameFormat.magic + [FrameFormat.version, UInt8(1 + g.next() % 4)])
                bytes[6] = 0; bytes[7] = 0
            }
            var decoder = FrameDecoder(maxPayloadBytes: 1024)
            bytes.withUnsafeBytes { decoder.feed($0) }
            while let _ = try? decoder.next() {}
            var server = PeerSession.server(config: config("n2"))
            _ = try? feed(&server, bytes)
            if round % 10 == 0 {
                var (_, established) = try handshake()
                if let out = try? feed(&established, bytes) {
                    // Only a frame with a valid MAC could carry a message.
                    #expect(!out.contains { if case .message = $0 { true } else { false } })
                }
            }
        }
    }
}
