// The peer transport: TCP between agents on the event loop, one outbound connection per
// peer for what this node sends and the peers' outbound connections (inbound here) for
// what it receives, so a slow or dead peer only ever fills its own queue.
public import EventLoop
public import PeerWire
public import Posix
public import RaftCore

/// PeerTransportDelegate hears what arrives. Called on the loop thread.
public protocol PeerTransportDelegate: AnyObject {
    /// A Raft message from `peer` (authenticated; the connection says who sent it and
    /// with which incarnation, which the core checks against the membership).
    func transport(received term: Term, _ body: Message.Body, from peer: String, incarnation: UInt64)
    /// Decides whether an authenticated peer is served: nil admits it; a refusal is sent
    /// to it (so it can say what to do) and the connection closed. Asked on both sides
    /// of every connection once the handshake succeeds.
    func transport(admit peer: PeerIdentity) -> Refusal?
    /// `peer` refused this node, for the reason given (authenticated by the secret).
    func transport(refusedBy peer: String, _ refusal: Refusal)
    /// `peer` connected to us and proved it holds the secret; carries its addresses.
    func transport(peerConnected peer: PeerIdentity)
    /// The connection `peer` sends on closed (a crashed process closes it within
    /// milliseconds): the early-campaign hint when `peer` leads.
    func transport(peerDisconnected peer: String)
    /// A connection was refused and closed (bad secret, other cluster, bad frame…).
    func transport(rejected reason: String, address: String)
    /// Dialling `peer` failed (`reason`: cannot resolve, refused, timed out), or, with
    /// nil, a link to it is up again; for the log.
    func transport(cannotReach peer: String, reason: String?)
}

extension PeerTransportDelegate {
    public func transport(cannotReach peer: String, reason: String?) {}
    public func transport(admit peer: PeerIdentity) -> Refusal? { nil }
    public func transport(refusedBy peer: String, _ refusal: Refusal) {}
}

/// TransportLimits bounds everything the transport holds.
public struct TransportLimits: Sendable {
    /// Queued outbound bytes per peer; past it new messages to that peer are dropped
    /// (Raft tolerates loss; blocking would delay heartbeats to everyone).
    public var sendQueueBytesMax = 4 << 20
    /// The pre-authentication budget: an inbound connection must finish the handshake
    /// (one round trip) within this, else it is refused and its slot freed.
    public var handshakeTimeoutMs = 1_000
    /// An outbound connection must be up (TCP connect and handshake) within this, else
    /// it is dialled again after the back-off. The kernel would resend a SYN lost to a
    /// partition only after 1 s, then 3 s, so without it a cut link came back up to
    /// 1.1 s after the heal (seen in tests/faults: a follower pre-voting in the quiet
    /// period). The agent sets it to the minimum election timeout: a link slower than
    /// that to come up cannot help an election anyway.
    public var connectTimeoutMs = 150
    /// Reconnect back-off: starts here, doubles, capped, with ±50 % jitter. With
    /// `connectTimeoutMs`, the cap bounds how long after a partition heals a link is
    /// back (a redial ten times a second to a dead peer costs a few system calls). The
    /// agent sets the cap to half the minimum election timeout too.
    public var reconnectInitialMs = 20
    public var reconnectMaxMs = 100
    /// A connection whose sent data stays unacknowledged this long is aborted by the
    /// kernel (TCP_USER_TIMEOUT) and dialled again. Without it, a link cut by a partition
    /// resumes only at TCP's next retransmission after the heal, whose back-off grows to
    /// seconds and then minutes (seen in tests/faults: a leader 1.1 s late after a heal).
    /// Well above the 200 ms minimum retransmission timeout, so one lost segment on a
    /// lossy link is retransmitted rather than ending the connection.
    public var unacknowledgedTimeoutMs = 1_000
    /// Unauthenticated inbound connections at once, and from one source address (see
    /// InboundGate: when full, the oldest is evicted, so each connection keeps its slot
    /// for at least slots ÷ arrival rate). Authenticated members hold no such slot.
    public var preAuthSlotsMax = 256
    public var preAuthSlotsPerSourceMax = 128
    /// Descriptors the pre-authentication slots leave to everything else (the API's
    /// connection cap leaves the same number plus the slots).
    public static let descriptorsReservedForOthers = 128
    /// The listen backlog (capped by net.core.somaxconn): connections the kernel queues
    /// until the loop accepts them. A flood that outruns a loop stalled for a moment
    /// fills a short queue, and then a member's connection is dropped and its SYN resent
    /// only after 1 s (seen in bench/peer-flood with the old 511).
    public var listenBacklog: Int32 = 4096
    /// Connections accepted per wake-up, so a storm cannot starve established links.
    public var acceptsPerWakeupMax = 64
    /// accept() out of descriptors or memory: stop accepting this long (a level-triggered
    /// listener would otherwise report the same pending connection in a busy loop).
    public var acceptPauseMs = 100
    public init() {}
}

/// PeerStats are counters for /status and /metrics.
public struct PeerStats: Sendable {
    public var connected = false
    public var framesSent: UInt64 = 0
    public var framesDropped: UInt64 = 0
    public var framesReceived: UInt64 = 0
    public var connectFailures: UInt64 = 0
    public var lastError: String? = nil
}

/// PeerTransport owns the listener, the outbound connections and the inbound ones.
public final class PeerTransport {
    let loop: EventLoop
    private(set) var config: SessionConfig
    let limits: TransportLimits
    private(set) var members: [PeerEndpoint]
    weak var delegate: (any PeerTransportDelegate)?
    private var listener: Listener?
    private var outbound: [String: OutboundPeer] = [:]
    var inbound: [Int32: PeerConnection] = [:]
    /// The latest inbound connection per peer name (a newer one replaces an older one).
    var inboundByPeer: [String: Int32] = [:]
    public private(set) var stats: [String: PeerStats] = [:]
    public private(set) var rejectedConnections: UInt64 = 0
    /// Refusals by kind, for /metrics and /status.
    public var rejectionsByKind: [RejectionKind: UInt64] { rejections.totals }
    /// Unauthenticated inbound connections holding a slot now.
    public var preAuthConnections: Int { gate.count }
    var gate: InboundGate
    private var rejections = RejectionCounts()
    var rng = SystemRandomNumberGenerator()

    public init(loop: EventLoop, config: SessionConfig, members: [PeerEndpoint], limits: TransportLimits = TransportLimits(),
                delegate: any PeerTransportDelegate) {
        self.loop = loop
        self.config = config
        self.limits = limits
        self.members = members
        self.delegate = delegate
        // Strangers may never hold most of the descriptors: with a low RLIMIT_NOFILE the
        // slots shrink, leaving the rest to members, storage and the API.
        let descriptors = Int((try? ResourceLimits.raiseOpenFiles(to: 0)) ?? 1024)
        let slots = min(limits.preAuthSlotsMax, max(4, (descriptors - TransportLimits.descriptorsReservedForOthers) / 2))
        self.gate = InboundGate(slotsMax: slots, slotsPerSourceMax: limits.preAuthSlotsPerSourceMax)
        for m in members where m.name != config.local.name { stats[m.name] = PeerStats() }
    }

    /// setMembers changes the member set the transport serves and protects (membership
    /// changes at run time, issue 14): new peers are dialled, removed ones' links closed,
    /// and only the new set may authenticate from now on. This node must be among them.
    public func setMembers(_ newMembers: [PeerEndpoint], acceptAnyMember: Bool = false) {
        let local = config.local.name
        let old = Dictionary(members.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(newMembers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        members = newMembers
        config.members = Set(new.keys).union([local])
        config.acceptsAnyMember = acceptAnyMember
        for (name, _) in old where new[name] == nil || new[name] != old[name] {
            outbound.removeValue(forKey: name)?.shutdown()
            if new[name] == nil {
                stats[name] = nil
                if let fd = inboundByPeer[name], let c = inbound[fd] { c.close(reason: nil) }
            }
        }
        for (name, m) in new where name != local && outbound[name] == nil && listener != nil {
            if stats[name] == nil { stats[name] = PeerStats() }
            let peer = OutboundPeer(transport: self, member: m)
            outbound[name] = peer
            peer.connect()
        }
        for (name, _) in new where name != local && stats[name] == nil { stats[name] = PeerStats() }
    }

    /// setLocalFingerprint: a node that joined learns its group's fingerprint and says it
    /// in every later handshake.
    public func setLocalFingerprint(_ fingerprint: UInt64) { config.local.fingerprint = fingerprint }

    /// start binds the listener (an error here is fatal for the agent: the address is
    /// taken or not ours) and starts dialing every peer.
    public func start(listen address: SocketAddress) throws(Errno) -> SocketAddress {
        let l = try Listener(transport: self, address: address)
        listener = l
        for m in members where m.name != config.local.name {
            let peer = OutboundPeer(transport: self, member: m)
            outbound[m.name] = peer
            peer.connect()
        }
        return l.boundAddress
    }

    /// send queues one message for `peer`; it is dropped (and counted) when the peer is
    /// not connected or its queue is full.
    public func send(to peer: String, term: Term, body: Message.Body) {
        guard let p = outbound[peer] else { return }
        if p.send(term: term, body: body) {
            stats[peer]?.framesSent += 1
        } else {
            stats[peer]?.framesDropped += 1
        }
    }

    /// stop closes every connection and the listener.
    public func stop() {
        listener?.close()
        listener = nil
        for p in outbound.values { p.shutdown() }
        outbound.removeAll()
        for c in Array(inbound.values) { c.close(reason: nil) }
    }

    func noteReceived(from peer: String) { stats[peer]?.framesReceived += 1 }
    func noteConnected(_ peer: String, _ up: Bool) {
        stats[peer]?.connected = up
        if up { delegate?.transport(cannotReach: peer, reason: nil) }
    }
    func noteConnectFailure(_ peer: String, _ error: String, reported: Bool) {
        stats[peer]?.connectFailures += 1
        stats[peer]?.lastError = error
        if reported { delegate?.transport(cannotReach: peer, reason: error) }
    }
    /// noteRejected counts one refused connection by kind and tells the delegate, naming
    /// the source (the agent's log rate-limits per source).
    func noteRejected(_ kind: RejectionKind, _ reason: String, source: String) {
        rejectedConnections += 1
        rejections.record(kind)
        delegate?.transport(rejected: reason, address: source)
    }

    func inboundClosed(fd: Int32, peer: String?) {
        inbound[fd] = nil
        gate.remove(fd)
        if let peer, inboundByPeer[peer] == fd {
            inboundByPeer[peer] = nil
            delegate?.transport(peerDisconnected: peer)
        }
    }

    func inboundEstablished(fd: Int32, identity: PeerIdentity) {
        gate.remove(fd)  // a member: it no longer holds a pre-authentication slot
        if let old = inboundByPeer[identity.name], old != fd, let c = inbound[old] {
            inboundByPeer[identity.name] = nil
            c.close(reason: nil)  // a restarted peer: its old connection is dead
        }
        inboundByPeer[identity.name] = fd
        delegate?.transport(peerConnected: identity)
        // The peer reached us, so we can reach it: our own link to it need not wait.
        outbound[identity.name]?.peerReachable()
    }

    func jitteredBackoffMs(_ base: Int) -> Int {
        let half = max(1, base / 2)
        return base - half + Int.random(in: 0...(2 * half), using: &rng)
    }
}

/// Listener accepts peer connections and gives each a server-side session, admitted
/// through the InboundGate.
final class Listener: EventHandler {
    unowned let transport: PeerTransport
    var socket: SocketBox?
    let boundAddress: SocketAddress
    private var paused = false

    init(transport: PeerTransport, address: SocketAddress) throws(Errno) {
        self.transport = transport
        let box = SocketBox(try Socket.listen(on: address, backlog: transport.limits.listenBacklog))
        boundAddress = try Socket.localAddress(box.fd)
        socket = box
        try transport.loop.register(box.raw, interest: .readable, handler: self)
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        for _ in 0..<transport.limits.acceptsPerWakeupMax {
            guard let listening = socket else { return }
            let result: AcceptResult
            do { result = try Socket.accept(listening.fd) } catch {
                if error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem
                    || error == .noBufferSpace || error == .outOfMemory {
                    pause(error)
                }
                return  // ECONNABORTED and the like concern one connection only
            }
            switch consume result {
            case .wouldBlock: return
            case .accepted(let fd):
                let box = SocketBox(fd)
                // The source without its port: limits are per address. A socket whose
                // peer is already gone has none; it is closed unread.
                guard let peer = Socket.peerAddress(rawDescriptor: box.raw) else { continue }
                let source = peer.withPort(0)
                if let evicted = transport.gate.admit(box.raw, from: source), let c = transport.inbound[evicted] {
                    c.close(reason: "evicted unauthenticated: the pre-authentication slots are full", rejected: .slotsFull)
                }
                let session = PeerSession.server(config: transport.config)
                let c = PeerConnection(transport: transport, socket: box, session: session, outbound: nil)
                c.source = peer.host
                transport.inbound[box.raw] = c
                c.start(connecting: false)
            }
        }
    }

    /// pause stops accepting for `acceptPauseMs`: with level-triggered epoll the pending
    /// connection would be reported again at once, spinning the loop at 100 % CPU.
    private func pause(_ error: Errno) {
        guard !paused, let s = socket else { return }
        paused = true
        transport.noteRejected(.acceptPaused, "accept failed (\(error)): accepting paused for \(transport.limits.acceptPauseMs) ms",
                               source: "listener")
        try? transport.loop.modify(s.raw, interest: [])
        _ = transport.loop.schedule(after: .milliseconds(Int64(transport.limits.acceptPauseMs))) { [weak self] _ in
            guard let self, let s = self.socket else { return }
            self.paused = false
            try? self.transport.loop.modify(s.raw, interest: .readable)
        }
    }

    func close() {
        if let s = socket?.raw { transport.loop.unregister(s) }
        socket = nil
    }
}

/// SocketBox lets a class hold a descriptor it may give up (closing it in deinit).
final class SocketBox {
    let fd: FileDescriptor
    var raw: Int32 { fd.rawValue }
    init(_ fd: consuming FileDescriptor) { self.fd = fd }
}
