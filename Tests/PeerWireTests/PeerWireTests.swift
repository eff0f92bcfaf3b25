import Testing
import Checksum
@testable import PeerWire
@testable import RaftCore

let secret = (0..<32).map { UInt8($0 &* 7 &+ 3) }
let members: Set<String> = ["n1", "n2", "n3"]

func config(_ name: String, secret: [UInt8]? = secret, cluster: String = "baton") -> SessionConfig {
    SessionConfig(clusterID: cluster, secret: secret,
                  local: PeerIdentity(name: name, peerAddress: "127.0.0.1:700\(name.last!)", apiAddress: "127.0.0.1:800\(name.last!)"),
                  members: members)
}

func feed(_ s: inout PeerSession, _ bytes: [UInt8]) throws(WireError) -> [PeerSession.Output] {
    var session = s
    defer { s = session }
    return try withBytes(bytes) { (p) throws(WireError) in try session.receive(p) }
}

func sent(_ out: [PeerSession.Output]) -> [[UInt8]] {
    out.compactMap { if case .send(let b) = $0 { b } else { nil } }
}

/// seal frames a message the test expects to be within the limits.
func seal(_ session: inout PeerSession, term: Term, _ body: Message.Body) throws -> [UInt8] {
    let frame = session.seal(term: term, body: body)
    return try #require(frame)
}

/// Runs the handshake between a client n1 and a server n2; returns both established.
func handshake(client: SessionConfig = config("n1"), server: SessionConfig = config("n2")) throws -> (PeerSession, PeerSession) {
    var (c, hello) = PeerSession.client(config: client, target: "n2")
    var s = PeerSession.server(config: server)
    let challenge = sent(try feed(&s, hello))
    #expect(challenge.count == 1)
    let cOut = try feed(&c, challenge[0])
    let proof = sent(cOut)
    #expect(c.isEstablished)
    _ = try feed(&s, proof[0])
    #expect(s.isEstablished)
    return (c, s)
}

@Suite struct CRCTests {
    @Test func knownVector() {
        // The CRC32C check value of "123456789" (RFC 3720 appendix B.4).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }
}

@Suite struct MessageCodecTests {
    static let bodies: [Message.Body] = [
        .preVote(lastLogIndex: 9, lastLogTerm: 3),
        .preVoteResponse(granted: false, stickinessRemaining: .milliseconds(42)),
        .vote(lastLogIndex: 1 << 40, lastLogTerm: 7, transfer: true),
        .voteResponse(granted: true),
        .append(prevLogIndex: 4, prevLogTerm: 2, entries: [Entry(index: 5, term: 3, payload: .noop),
                                                           Entry(index: 6, term: 3, payload: .data([1, 2, 3]))],
                leaderCommit: 4, sendTime: Instant(nanoseconds: -5)),
        .appendResponse(success: true, matchIndex: 6, hintIndex: 0, echoedSendTime: Instant(nanoseconds: 123_456_789), canLead: true),
        .appendResponse(success: false, matchIndex: 0, hintIndex: 3, echoedSendTime: Instant(nanoseconds: 5), canLead: false),
        .timeoutNow,
        .append(prevLogIndex: 9, prevLogTerm: 3, entries: [Entry(index: 10, term: 3, payload: .configuration(Self.configuration))],
                leaderCommit: 9, sendTime: Instant(nanoseconds: 77)),
        .installSnapshot(Snapshot(index: 40, term: 6, configuration: Self.configuration, appState: [9, 8, 7]),
                         sendTime: Instant(nanoseconds: 1_000)),
    ]

    static var configuration: Configuration {
        Configuration(members: [
            Member(id: NodeID(11), name: "alpha", role: .voter, priority: 200, incarnation: 0xFEED_BEEF,
                   peerAddress: "alpha.example:7001", apiAddress: "alpha.example:8001"),
            Member(id: NodeID(12), name: "beta", role: .learner, promotesTo: .witness, incarnation: 0,
                   peerAddress: "10.1.2.3:7001", apiAddress: ""),
            Member(id: NodeID(13), name: "gamma", role: .observer, priority: 0, incarnation: 3,
                   peerAddress: "[::1]:7003", apiAddress: "[::1]:8003"),
        ])
    }

    @Test func anInvalidConfigurationOrOversizedSnapshotIsRefused() throws {
        // A configuration no voter of which may lead does not decode.
        var bytes = try RaftMessageCodec.encode(term: 1, body: .installSnapshot(
            Snapshot(index: 1, term: 1, configuration: Self.configuration), sendTime: .zero))
        let roleOffset = 8 + 1 + 8 + 4 + 8 + 8 + 4 + 4 + 4  // term, tag, send time, length, index, term, length, count, id
        #expect(bytes[roleOffset] == MemberRole.voter.rawValue)
        bytes[roleOffset] = MemberRole.witness.rawValue
        #expect(throws: WireError.self) { try bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) } }
        let huge = Snapshot(index: 1, term: 1, configuration: Self.configuration,
                            appState: Array(repeating: 1, count: Limits.maxSnapshotBytes))
        #expect(throws: WireError.self) { _ = try RaftMessageCodec.encode(term: 1, body: .installSnapshot(huge, sendTime: .zero)) }
    }

    @Test(arguments: bodies)
    func roundTrip(body: Message.Body) throws {
        let bytes = try RaftMessageCodec.encode(term: 77, body: body)
        let decoded = try bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) }
        #expect(decoded.term == 77)
        #expect(decoded.body == body)
        // Every strict prefix is refused (truncated), never a trap, never a message.
        for n in 0..<bytes.count {
            #expect(throws: WireError.self) { try Array(bytes[..<n]).withUnsafeBytes { try RaftMessageCodec.decode($0) } }
        }
        // A trailing byte is refused too.
        #expect(throws: WireError.self) { try (bytes + [0]).withUnsafeBytes { try RaftMessageCodec.decode($0) } }
    }

    @Test func hostileCountsAreRefusedBeforeAllocating() {
        var w = ByteWriter()
        w.u64(1); w.u8(5); w.u64(0); w.u64(0); w.u64(0); w.i64(0); w.u32(UInt32.max)
        #expect(throws: WireError.invalid(what: "append of \(UInt32.max) entries (the limit is \(Limits.maxEntriesPerAppend))")) {
            try w.bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) }
        }
        var bad = ByteWriter(); bad.u64(1); bad.u8(99)
        #expect(throws: WireError.self) { try bad.bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) } }
        var negative = ByteWriter(); negative.u64(1); negative.u8(2); negative.u8(0); negative.i64(-1)
        #expect(throws: WireError.self) { try negative.bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) } }
    }

    /// Terms and indexes past Limits.maxTerm/maxLogIndex are refused on the wire (a term
    /// of 2^64-1 once trapped the receiver's next pre-vote, issue 15); the bound itself passes.
    @Test func termsAndIndexesBeyondTheBoundsAreRefused() throws {
        func decodes(_ term: Term, _ body: Message.Body) -> Bool {
            guard let bytes = try? RaftMessageCodec.encode(term: term, body: body) else { return false }
            return (try? bytes.withUnsafeBytes { try RaftMessageCodec.decode($0) }) != nil
        }
        #expect(decodes(Limits.maxTerm, .voteResponse(granted: false)))
        #expect(!decodes(Limits.maxTerm + 1, .voteResponse(granted: false)))
        #expect(!decodes(.max, .voteResponse(granted: true)))
        #expect(!decodes(1, .preVote(lastLogIndex: Limits.maxLogIndex + 1, lastLogTerm: 1)))
        #expect(!decodes(1, .vote(lastLogIndex: 1, lastLogTerm: .max, transfer: false)))
        #expect(!decodes(1, .appendResponse(success: true, matchIndex: .max, hintIndex: 0, echoedSendTime: .zero, canLead: true)))
        #expect(!decodes(1, .append(prevLogIndex: 0, prevLogTerm: 0, entries: [Entry(index: .max, term: 1, payload: .noop)],
                                    leaderCommit: 0, sendTime: .zero)))
        #expect(decodes(1, .append(prevLogIndex: Limits.maxLogIndex - 1, prevLogTerm: 1,
                                   entries: [Entry(index: Limits.maxLogIndex, term: Limits.maxTerm, payload: .noop)],
                                   leaderCommit: Limits.maxLogIndex, sendTime: .zero)))
    }

    /// Random payloads, most of them starting with a valid term and tag so the decoder
    /// gets past the first bytes: none traps, and whatever decodes is a message that
    /// encodes back to exactly those bytes (the encoding is canonical), so a decoder
    /// that accepted garbage as some other message would fail here.
    @Test func randomBytesNeverTrapAndWhatDecodesReencodesExactly() throws {
        var g = SeededGenerator(seed: 7)
        var decoded = 0
        for _ in 0..<20_000 {
            // Half the time exactly the size of a message kind (timeoutNow, voteResponse,
            // preVoteResponse, preVote, vote, appendResponse, an empty append).
            let sizes = [9, 10, 18, 25, 26, 35, 45]
            let n = g.next() % 2 == 0 ? sizes[Int(g.next() % 7)] : Int(g.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            if n >= 9 && g.next() % 4 != 0 {
                bytes[6] = 0; bytes[7] = 0  // a term within Limits.maxTerm (2^48)
                bytes[8] = UInt8(1 + g.next() % 7)  // a known tag, then mostly 0s and 1s (flags, small counts)
                for i in 9..<n where g.next() % 8 != 0 { bytes[i] = UInt8(g.next() % 2) }
            }
            guard let message = try? bytes.withUnsafeBytes({ try RaftMessageCodec.decode($0) }) else { continue }
            decoded += 1
            #expect(try RaftMessageCodec.encode(term: message.term, body: message.body) == bytes)
        }
        // (Fewer than before Limits.maxTerm/maxLogIndex: a random high byte in an index now
        // makes a message invalid.)
        #expect(decoded > 400, "the generator should reach valid messages, not only garbage")
    }
}

@Suite struct FrameTests {
    @Test func oversizedLengthIsRefusedFromTheHeaderAlone() {
        var d = FrameDecoder(maxPayloadBytes: 1024)
        var w = ByteWriter()
        w.raw(FrameFormat.magic); w.u8(FrameFormat.version); w.u8(FrameType.raft.rawValue); w.u16(0); w.u32(1025)
        w.bytes.withUnsafeBytes { d.feed($0) }
        #expect(throws: WireError.frameTooLarge(length: 1025, limit: 1024)) { try d.next() }
    }

    @Test func badMagicVersionTypeFlagsAndChecksumAreRefused() {
        let good = FrameFormat.build(type: .raft, payload: [1, 2, 3], mac: nil)
        func decode(_ b: [UInt8]) throws(WireError) -> FrameDecoder.RawFrame? {
            var d = FrameDecoder(); b.withUnsafeBytes { d.feed($0) }; return try d.next()
        }
        #expect(throws: Never.self) { _ = try decode(good) }
        var m = good; m[0] = 0x58
        #expect(throws: WireError.badMagic) { try decode(Array(m.prefix(2))) }
        var v = good; v[4] = 9
        #expect(throws: WireError.unsupportedVersion(9)) { try decode(v) }
        var t = good; t[5] = 200
        #expect(throws: WireError.unknownFrameType(200)) { try decode(t) }
        var f = good; f[6] = 1
        #expect(throws: WireError.reservedFlagsSet) { try decode(f) }
        for i in 12..<good.count {
            var c = good; c[i] ^= 0x40
            #expect(throws: WireError.badChecksum) { try decode(c) }
        }
    }

    @Test func framesSplitAtEveryByteReassemble() throws {
        let a = FrameFormat.build(type: .raft, payload: Array(0..<50), mac: nil)
        let b = FrameFormat.build(type: .raft, payload: [9], mac: nil)
        let stream = a + b
        for cut in 0...stream.count {
            var d = FrameDecoder()
            var frames: [FrameDecoder.RawFrame] = []
            for part in [Array(stream[..<cut]), Array(stream[cut...])] {
                part.withUnsafeBytes { d.feed($0) }
                while let f = try d.next() { frames.append(f) }
            }
            #expect(frames.map(\.payload) == [Array(0..<50), [9]])
            #expect(d.bufferedBytes == 0)
        }
    }
}

@Suite struct HandshakeTests {
    @Test func authenticatedSessionCarriesMessagesBothWays() throws {
        var (c, s) = try handshake()
        #expect(s.peer == PeerIdentity(name: "n1", peerAddress: "127.0.0.1:7001", apiAddress: "127.0.0.1:8001"))
        #expect(c.peer?.apiAddress == "127.0.0.1:8002")
        for i in 0..<3 {
            let frame = try seal(&c, term: UInt64(i), .voteResponse(granted: true))
            let out = try feed(&s, frame)
            guard case .message(let term, .voteResponse(true)) = out.first else { Issue.record("no message"); return }
            #expect(term == UInt64(i))
        }
        let back = try seal(&s, term: 5, .timeoutNow)
        guard case .message(5, .timeoutNow) = try feed(&c, back).first else { Issue.record("no reply"); return }
    }

    @Test func replayedFrameIsRefusedOnTheSameAndOnAnotherConnection() throws {
        var (c1, s1) = try handshake()
        let frame = try seal(&c1, term: 1, .voteResponse(granted: true))
        _ = try feed(&s1, frame)
        #expect(throws: WireError.badMAC) { try feed(&s1, frame) }
        var (_, s2) = try handshake()
        #expect(throws: WireError.badMAC) { try feed(&s2, frame) }
    }

    @Test func aFrameRefusedForRoomDoesNotUseUpASequenceNumber() throws {
        var (c, s) = try handshake()
        #expect(c.seal(term: 1, body: .timeoutNow, fitting: 10) == nil)
        let sealed = c.seal(term: 2, body: .timeoutNow, fitting: 1 << 20)
        let frame = try #require(sealed)
        guard case .message(2, .timeoutNow) = try feed(&s, frame).first else { Issue.record("no message"); return }
    }

    @Test func tamperedFrameIsRefused() throws {
        var (c, s) = try handshake()
        var frame = try seal(&c, term: 1, .voteResponse(granted: false))
        let last = frame.count - 1
        frame[last] ^= 1  // the MAC
        #expect(throws: WireError.badMAC) { try feed(&s, frame) }
    }

    @Test func wrongSecretFailsOnBothSides() throws {
        var other = secret; other[0] ^= 0xFF
        // Server with the wrong secret: the client refuses its proof.
        var (c, hello) = PeerSession.client(config: config("n1"), target: "n2")
        var s = PeerSession.server(config: config("n2", secret: other))
        let challenge = sent(try feed(&s, hello))[0]
        #expect(throws: WireError.authenticationFailed) { try feed(&c, challenge) }
        // Client with the wrong secret: the server refuses its proof.
        var (c2, hello2) = PeerSession.client(config: config("n1", secret: other), target: "n2")
        var s2 = PeerSession.server(config: config("n2"))
        let challenge2 = sent(try feed(&s2, hello2))[0]
        #expect(throws: WireError.authenticationFailed) { try feed(&c2, challenge2) }
        #expect(!s2.isEstablished)
    }

    @Test func clusterNodeTargetAndSecurityMismatchesAreRefused() throws {
        func hello(_ cfg: SessionConfig, to target: String = "n2") -> [UInt8] { PeerSession.client(config: cfg, target: target).hello }
        var s = PeerSession.server(config: config("n2"))
        #expect(throws: WireError.clusterMismatch(theirs: "other", ours: "baton")) { try feed(&s, hello(config("n1", cluster: "other"))) }
        s = PeerSession.server(config: config("n2"))
        #expect(throws: WireError.unknownNode("n9")) { try feed(&s, hello(config("n9"))) }
        s = PeerSession.server(config: config("n2"))
        #expect(throws: WireError.wrongTarget("n3")) { try feed(&s, hello(config("n1"), to: "n3")) }
        s = PeerSession.server(config: config("n2"))
        #expect(throws: WireError.securityMismatch(peerHasSecret: false)) { try feed(&s, hello(config("n1", secret: nil))) }
        // A Raft frame before the handshake is refused.
        s = PeerSession.server(config: config("n2"))
        #expect(throws: WireError.self) { try feed(&s, FrameFormat.build(type: .raft, payload: [0], mac: nil)) }
    }

    @Test func insecureSessionsWorkWhenBothSidesAgree() throws {
        var (c, s) = try handshake(client: config("n1", secret: nil), server: config("n2", secret: nil))
        let out = try feed(&s, try seal(&c, term: 3, .timeoutNow))
        guard case .message(3, .timeoutNow) = out.first else { Issue.record("no message"); return }
    }
}
