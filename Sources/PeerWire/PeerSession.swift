public import RaftCore
import Crypto

/// PeerIdentity is what one agent tells another about itself in the handshake: its
/// member name, the incarnation of its data dir, the fingerprint of the group it was
/// bootstrapped into, and the addresses it advertises (so any node can say where the
/// leader's API is). All of it is bound into the authenticated transcript.
public struct PeerIdentity: Hashable, Sendable {
    public var name: String
    public var peerAddress: String
    public var apiAddress: String
    /// The random id its data dir was created with (design S6); 0 for "not said".
    public var incarnation: UInt64
    /// The group's fingerprint (the hash of its founding member list); 0 while a new
    /// member waits to be added and has not learnt it yet.
    public var fingerprint: UInt64
    public init(name: String, peerAddress: String, apiAddress: String, incarnation: UInt64 = 0, fingerprint: UInt64 = 0) {
        self.name = name; self.peerAddress = peerAddress; self.apiAddress = apiAddress
        self.incarnation = incarnation; self.fingerprint = fingerprint
    }
}

/// Refusal is why an authenticated peer is not served; sent to it before closing, so
/// the refused side can say what to do (and a wiped member learns it must be re-added).
public struct Refusal: Hashable, Sendable, CustomStringConvertible {
    public enum Code: UInt8, Sendable {
        /// Not (or no longer) a member of this group.
        case notAMember = 1
        /// A member whose data dir was replaced: its incarnation is not the one bound.
        case staleIncarnation = 2
        /// Bootstrapped into another group (a different founding member list).
        case otherGroup = 3
        /// This node was removed from the group and serves nobody as a member.
        case removed = 4
    }
    public var code: Code
    /// A sentence for the refused side's log, naming the fix.
    public var reason: String
    public init(_ code: Code, _ reason: String) { self.code = code; self.reason = reason }
    public var description: String { reason }
}

/// SessionConfig is this agent's side of every peer connection.
public struct SessionConfig: Sendable {
    /// At most 64 bytes; peers of another cluster are refused.
    public var clusterID: String
    /// The cluster secret (32 random bytes); nil only with `--insecure-peers`.
    public var secret: [UInt8]?
    public var local: PeerIdentity
    /// Every member name, this node included: a hello from another name is refused
    /// before any work is done for it.
    public var members: Set<String>
    /// acceptsAnyMember: a node waiting to be added knows no members yet and serves any
    /// name that proves the secret (the leader adding it is among them).
    public var acceptsAnyMember = false
    public var maxPayloadBytes: Int = FrameFormat.defaultMaxPayloadBytes

    public init(clusterID: String, secret: [UInt8]?, local: PeerIdentity, members: Set<String>) {
        self.clusterID = clusterID; self.secret = secret; self.local = local; self.members = members
    }
}

/// PeerSession is one connection's protocol state: a three-message handshake, then
/// authenticated Raft frames.
///
/// Handshake (both sides prove they hold the secret; neither reveals it):
///   1. client → server  hello:     cluster, from, to, nonceC, advertised addresses
///   2. server → client  challenge: nonceS, proofS = HMAC(secret, "server" ‖ T), addresses
///   3. client → server  proof:     proofC = HMAC(secret, "client" ‖ T)
/// where T binds the cluster, both names and both nonces. Each direction then keys its
/// frame MACs with HMAC(secret, "c2s"/"s2c" ‖ T) and a sequence number, so a frame
/// recorded on one connection is worthless on any other, or twice on the same one.
/// (The shape follows common challenge–response designs such as SCRAM, RFC 5802.)
public struct PeerSession: Sendable {
    public enum Role: Sendable { case client, server }
    enum State: Sendable { case awaitingHello, awaitingChallenge, awaitingProof, established }

    /// What the connection must do after `receive`.
    public enum Output: Sendable {
        case send([UInt8])
        /// The peer is authenticated; Raft messages may flow.
        case established(PeerIdentity)
        case message(term: Term, body: Message.Body)
        /// The peer refused this connection, for the reason given (authenticated).
        case refused(Refusal)
    }

    public let role: Role
    public let config: SessionConfig
    public private(set) var peer: PeerIdentity? = nil
    private var state: State
    private var decoder: FrameDecoder
    /// Empty on the server side until a well-formed hello arrives: a stranger that
    /// never sends one costs no random bytes (a flood of thousands per second would).
    private var localNonce: [UInt8]
    private var targetName: String
    private var transcript: [UInt8] = []
    private var sendKey: SymmetricKey? = nil
    private var receiveKey: SymmetricKey? = nil
    private var sendSequence: UInt64 = 0
    private var receiveSequence: UInt64 = 0

    public static let nonceBytes = 32
    /// The largest handshake frame payload: a hello with every string at its 255-byte
    /// maximum is 1,122 bytes. Until a peer has authenticated it may not make us buffer
    /// more than this (a stranger could otherwise announce a 1 MiB frame and trickle it).
    public static let handshakeMaxPayloadBytes = 2_048

    public var isEstablished: Bool { state == .established }
    /// sawHello: (server side) a well-formed hello naming this cluster and a member
    /// arrived; what a flood of strangers does not get past.
    public var sawHello: Bool { role == .server && (state == .awaitingProof || state == .established) }

    /// Starts the client side towards member `target`; send the returned hello first.
    public static func client(config: SessionConfig, target: String,
                              nonce: [UInt8] = PeerSession.randomNonce()) -> (session: PeerSession, hello: [UInt8]) {
        precondition(nonce.count == nonceBytes, "client: nonce must be 32 bytes")
        let s = PeerSession(role: .client, config: config, nonce: nonce, target: target)
        var w = ByteWriter()
        w.u8(config.secret == nil ? 0 : 1)
        w.shortString(config.clusterID); w.u64(config.local.fingerprint)
        w.shortString(config.local.name); w.u64(config.local.incarnation); w.shortString(target)
        w.raw(nonce)
        w.shortString(config.local.peerAddress); w.shortString(config.local.apiAddress)
        return (s, FrameFormat.build(type: .hello, payload: w.bytes, mac: nil))
    }

    /// Starts the server side of an accepted connection.
    public static func server(config: SessionConfig, nonce: [UInt8] = []) -> PeerSession {
        precondition(nonce.isEmpty || nonce.count == nonceBytes, "server: nonce must be 32 bytes")
        return PeerSession(role: .server, config: config, nonce: nonce, target: config.local.name)
    }

    private init(role: Role, config: SessionConfig, nonce: [UInt8], target: String) {
        precondition(config.clusterID.utf8.count <= 64, "SessionConfig: cluster id over 64 bytes")
        self.role = role
        self.config = config
        self.localNonce = nonce
        self.targetName = target
        self.state = role == .client ? .awaitingChallenge : .awaitingHello
        self.decoder = FrameDecoder(maxPayloadBytes: min(config.maxPayloadBytes, Self.handshakeMaxPayloadBytes))
    }

    /// randomNonce: 32 bytes from the system generator, 8 at a time.
    public static func randomNonce() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(nonceBytes)
        for _ in 0..<(nonceBytes / 8) { withUnsafeBytes(of: g.next()) { out.append(contentsOf: $0) } }
        return out
    }

    /// Feeds received bytes; returns what to do, in order. A thrown error means the
    /// connection must be closed; nothing of the offending frame took effect.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> [Output] {
        decoder.feed(bytes)
        var out: [Output] = []
        while let frame = try decoder.next() {
            try handle(frame, into: &out)
        }
        return out
    }

    /// Frames one Raft message for sending on an established session; nil for a
    /// message past the `Limits` (see `seal(term:body:fitting:)`).
    public mutating func seal(term: Term, body: Message.Body) -> [UInt8]? {
        seal(term: term, body: body, fitting: .max)
    }

    /// Frames one Raft message only if the frame is at most `limit` bytes, else returns
    /// nil. A sealed frame consumes a MAC sequence number, so a sender with a bounded
    /// queue must ask before sealing: a sealed frame it then dropped would desynchronize
    /// the sequence and every later frame would fail the receiver's MAC check. A message
    /// past the `Limits` (the core builds none) is also nil: dropped like a message to
    /// a full queue, which Raft resends.
    public mutating func seal(term: Term, body: Message.Body, fitting limit: Int) -> [UInt8]? {
        precondition(state == .established, "seal: handshake not finished")
        guard let payload = try? RaftMessageCodec.encode(term: term, body: body) else { return nil }
        let frameBytes = FrameFormat.headerBytes + payload.count + FrameFormat.checksumBytes
            + (sendKey == nil ? 0 : FrameFormat.macBytes)
        guard frameBytes <= limit else { return nil }
        let seq = sendSequence
        sendSequence += 1
        let key = sendKey
        return FrameFormat.build(type: .raft, payload: payload, mac: key.map { k in { bytes in Self.mac(k, seq, bytes) } })
    }

    /// Frames a refusal for an established session (authenticated like a message); the
    /// caller sends it and closes.
    public mutating func sealRefusal(_ refusal: Refusal) -> [UInt8] {
        precondition(state == .established, "sealRefusal: handshake not finished")
        var w = ByteWriter()
        w.u8(refusal.code.rawValue)
        w.shortString(String(decoding: Array(refusal.reason.utf8).prefix(255), as: UTF8.self))
        let seq = sendSequence
        sendSequence += 1
        let key = sendKey
        return FrameFormat.build(type: .refusal, payload: w.bytes, mac: key.map { k in { bytes in Self.mac(k, seq, bytes) } })
    }

    // MARK: Handshake

    private mutating func handle(_ f: FrameDecoder.RawFrame, into out: inout [Output]) throws(WireError) {
        switch (state, f.type) {
        case (.awaitingHello, .hello): try handleHello(f.payload, into: &out)
        case (.awaitingChallenge, .challenge): try handleChallenge(f.payload, into: &out)
        case (.awaitingProof, .proof): try handleProof(f.payload, into: &out)
        case (.established, .raft):
            if let key = receiveKey {
                let expected = Self.mac(key, receiveSequence, f.authenticated)
                guard constantTimeEqual(expected, f.mac) else { throw .badMAC }
            }
            receiveSequence += 1
            let decoded = try withBytes(f.payload) { (p) throws(WireError) in try RaftMessageCodec.decode(p) }
            out.append(.message(term: decoded.term, body: decoded.body))
        case (.established, .refusal):
            if let key = receiveKey {
                let expected = Self.mac(key, receiveSequence, f.authenticated)
                guard constantTimeEqual(expected, f.mac) else { throw .badMAC }
            }
            receiveSequence += 1
            let refusal = try withBytes(f.payload) { (p) throws(WireError) in
                var r = ByteReader(p)
                guard let code = Refusal.Code(rawValue: try r.u8("refusal code")) else { throw WireError.invalid(what: "refusal code") }
                let reason = try r.shortString("refusal reason", max: 255)
                try r.expectEnd("refusal (trailing bytes)")
                return Refusal(code, reason)
            }
            out.append(.refused(refusal))
        default:
            throw .unexpectedFrame(type: f.type.rawValue, state: stateName)
        }
    }

    private var stateName: String {
        switch state {
        case .awaitingHello: "awaiting hello"
        case .awaitingChallenge: "awaiting challenge"
        case .awaitingProof: "awaiting proof"
        case .established: "established"
        }
    }

    private mutating func handleHello(_ payload: [UInt8], into out: inout [Output]) throws(WireError) {
        let (flags, cluster, fingerprint, from, incarnation, to, nonce, peerAddr, apiAddr) = try withBytes(payload) { (p) throws(WireError) in
                var r = ByteReader(p)
                let flags = try r.u8("hello flags")
                let cluster = try r.shortString("cluster id", max: 64)
                let fingerprint = try r.u64("group fingerprint")
                let from = try r.shortString("node name", max: 255)
                let incarnation = try r.u64("incarnation")
                let to = try r.shortString("target name", max: 255)
                let nonce = Array(try r.take(Self.nonceBytes, "nonce"))
                let peerAddr = try r.shortString("peer address", max: 255)
                let apiAddr = try r.shortString("api address", max: 255)
                try r.expectEnd("hello (trailing bytes)")
                return (flags, cluster, fingerprint, from, incarnation, to, nonce, peerAddr, apiAddr)
        }
        guard flags <= 1 else { throw .invalid(what: "hello flags") }
        guard cluster == config.clusterID else { throw .clusterMismatch(theirs: cluster, ours: config.clusterID) }
        guard (flags == 1) == (config.secret != nil) else { throw .securityMismatch(peerHasSecret: flags == 1) }
        guard config.acceptsAnyMember || config.members.contains(from), from != config.local.name else { throw .unknownNode(from) }
        guard to == config.local.name else { throw .wrongTarget(to) }
        let client = PeerIdentity(name: from, peerAddress: peerAddr, apiAddress: apiAddr, incarnation: incarnation, fingerprint: fingerprint)
        peer = client
        if localNonce.isEmpty { localNonce = Self.randomNonce() }
        transcript = Self.transcript(cluster: cluster, client: client, server: config.local, clientNonce: nonce, serverNonce: localNonce)
        var w = ByteWriter()
        w.u8(flags)
        w.raw(localNonce)
        w.raw(proof("server"))
        w.u64(config.local.fingerprint); w.u64(config.local.incarnation)
        w.shortString(config.local.peerAddress); w.shortString(config.local.apiAddress)
        out.append(.send(FrameFormat.build(type: .challenge, payload: w.bytes, mac: nil)))
        state = .awaitingProof
    }

    private mutating func handleChallenge(_ payload: [UInt8], into out: inout [Output]) throws(WireError) {
        let (flags, nonce, theirProof, fingerprint, incarnation, peerAddr, apiAddr) = try withBytes(payload) { (p) throws(WireError) in
            var r = ByteReader(p)
            let flags = try r.u8("challenge flags")
            let nonce = Array(try r.take(Self.nonceBytes, "nonce"))
            let proof = Array(try r.take(32, "proof"))
            let fingerprint = try r.u64("group fingerprint")
            let incarnation = try r.u64("incarnation")
            let peerAddr = try r.shortString("peer address", max: 255)
            let apiAddr = try r.shortString("api address", max: 255)
            try r.expectEnd("challenge (trailing bytes)")
            return (flags, nonce, proof, fingerprint, incarnation, peerAddr, apiAddr)
        }
        guard flags <= 1 else { throw .invalid(what: "handshake flags \(flags)") }
        guard (flags == 1) == (config.secret != nil) else { throw .securityMismatch(peerHasSecret: flags == 1) }
        let server = PeerIdentity(name: targetName, peerAddress: peerAddr, apiAddress: apiAddr, incarnation: incarnation, fingerprint: fingerprint)
        transcript = Self.transcript(cluster: config.clusterID, client: config.local, server: server,
                                     clientNonce: localNonce, serverNonce: nonce)
        guard constantTimeEqual(proof("server"), theirProof) else { throw .authenticationFailed }
        peer = server
        out.append(.send(FrameFormat.build(type: .proof, payload: proof("client"), mac: nil)))
        establish(into: &out)
    }

    private mutating func handleProof(_ payload: [UInt8], into out: inout [Output]) throws(WireError) {
        guard payload.count == 32 else { throw .invalid(what: "proof length") }
        guard constantTimeEqual(proof("client"), payload) else { throw .authenticationFailed }
        establish(into: &out)
    }

    private mutating func establish(into out: inout [Output]) {
        if let secret = config.secret {
            let c2s = SymmetricKey(data: Self.hmac(secret, label: "c2s", transcript))
            let s2c = SymmetricKey(data: Self.hmac(secret, label: "s2c", transcript))
            (sendKey, receiveKey) = role == .client ? (c2s, s2c) : (s2c, c2s)
            decoder.expectsMAC = true
        }
        state = .established
        decoder.maxPayloadBytes = config.maxPayloadBytes
        out.append(.established(peer!))
    }

    // MARK: Crypto helpers

    private func proof(_ label: String) -> [UInt8] {
        guard let secret = config.secret else { return [UInt8](repeating: 0, count: 32) }
        return Self.hmac(secret, label: label, transcript)
    }

    /// transcript binds everything each side said about itself: a peer cannot claim
    /// another incarnation or group than the one it proved with.
    static func transcript(cluster: String, client: PeerIdentity, server: PeerIdentity,
                           clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("baton-peer-v2".utf8))
        w.shortString(cluster)
        for side in [client, server] {
            w.shortString(side.name); w.u64(side.incarnation); w.u64(side.fingerprint)
            w.shortString(side.peerAddress); w.shortString(side.apiAddress)
        }
        w.raw(clientNonce); w.raw(serverNonce)
        return w.bytes
    }

    static func hmac(_ secret: [UInt8], label: String, _ transcript: [UInt8]) -> [UInt8] {
        var h = HMAC<SHA256>(key: SymmetricKey(data: secret))
        h.update(data: Array(label.utf8))
        h.update(data: [0])
        h.update(data: transcript)
        return Array(h.finalize())
    }

    static func mac(_ key: SymmetricKey, _ sequence: UInt64, _ bytes: borrowing [UInt8]) -> [UInt8] {
        var h = HMAC<SHA256>(key: key)
        h.update(data: withUnsafeBytes(of: sequence.littleEndian) { Array($0) })
        h.update(data: copy bytes)
        return Array(Array(h.finalize()).prefix(FrameFormat.macBytes))
    }
}

/// constantTimeEqual compares without an early exit, so timing reveals nothing of a MAC.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}
