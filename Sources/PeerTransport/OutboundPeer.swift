import EventLoop
import PeerWire
import Posix
import RaftCore

/// OutboundPeer keeps one connection to one peer open: resolve (off the loop, again on
/// every reconnect, so a Kubernetes pod that moved is found), connect without blocking,
/// handshake, and on any failure retry after a jittered, doubling back-off.
final class OutboundPeer {
    unowned let transport: PeerTransport
    let member: PeerEndpoint
    private var connection: PeerConnection?
    private var hello: [UInt8] = []
    private var backoffMs: Int
    /// The peer (or this node) refused the last connection's membership.
    private var wasRefused = false
    /// The last connection reached the peer (TCP connected, hello sent).
    private var wasOpened = false
    private var retryTimer: TimerID?
    private var resolving = false
    private var stopped = false
    private var resolveGeneration = 0

    init(transport: PeerTransport, member: PeerEndpoint) {
        self.transport = transport
        self.member = member
        self.backoffMs = transport.limits.reconnectInitialMs
    }

    func connect() {
        guard !stopped, connection == nil, !resolving else { return }
        if let numeric = try? SocketAddress(parsing: member.address) {
            dial(numeric)
            return
        }
        resolving = true
        resolveGeneration += 1
        let generation = resolveGeneration
        let host = member.host, port = member.port
        let remote = transport.loop.remote
        // The posted work runs on the loop thread, the only thread that touches self.
        nonisolated(unsafe) let peer = self
        do {
            _ = try PosixThread.spawn {
                let result = Result { () throws(Resolver.ResolveError) in try Resolver.resolve(host: host, port: port) }
                remote.post { _ in peer.resolved(result, generation: generation) }
            }
        } catch {
            resolving = false
            failed("cannot start a resolver thread: \(error)")
        }
    }

    private func resolved(_ result: Result<[SocketAddress], Resolver.ResolveError>, generation: Int) {
        guard generation == resolveGeneration else { return }
        resolving = false
        guard !stopped else { return }
        switch result {
        case .success(let addresses): dial(addresses[0])
        case .failure(let error): failed(error.description)
        }
    }

    private func dial(_ address: SocketAddress) {
        let fd: FileDescriptor
        do { fd = try Socket.connect(to: address, nonBlocking: true) } catch {
            failed("connect to \(address) failed: \(error)")
            return
        }
        let (session, hello) = PeerSession.client(config: transport.config, target: member.name)
        self.hello = hello
        let c = PeerConnection(transport: transport, socket: SocketBox(fd), session: session, outbound: self)
        connection = c
        c.start(connecting: true)
    }

    func connectionOpened(_ c: PeerConnection) {
        wasOpened = true
        _ = c.enqueue(hello)
    }

    func connectionEstablished(_ c: PeerConnection) {
        backoffMs = transport.limits.reconnectInitialMs
        transport.noteConnected(member.name, true)
    }

    func connectionClosed(_ c: PeerConnection, reason: String?) {
        guard connection === c else { return }
        let wasEstablished = c.established
        connection = nil
        if wasEstablished { transport.noteConnected(member.name, false) }
        if stopped { return }
        // A connection that had worked is retried at once: a restarted peer is back fast.
        // One the membership refused is retried slowly, and so is one the peer accepted
        // and closed before the handshake finished: it refuses this node's name, cluster
        // or secret, which a redial every 100 ms will not change (32 joiners waiting to
        // be added once cost the leader its lease that way). A peer that restarts or
        // heals is dialled at once anyway: its own authenticated dial calls peerReachable.
        // A handshake that only ran out of time is no refusal: nothing answered (a hello
        // lost to a partition, behind a proxy that accepted the TCP connect), and the
        // link must come back as fast after the heal as one whose SYN was lost (fault
        // soak seed 1004: a new leader's only other voter redialled 300 ms late).
        let closedInHandshake = wasOpened && !wasEstablished && !c.timedOut
        wasOpened = false
        if wasRefused || closedInHandshake {
            wasRefused = false
            backoffMs = transport.limits.reconnectMaxMs * 8
        } else if wasEstablished {
            backoffMs = transport.limits.reconnectInitialMs
        }
        // A link that had worked and closed is the delegate's peerDisconnected, not a
        // failure to reach the peer.
        failed(reason ?? "closed", reported: !wasEstablished)
    }

    private func failed(_ reason: String, reported: Bool = true) {
        transport.noteConnectFailure(member.name, reason, reported: reported)
        guard !stopped, retryTimer == nil else { return }
        let delay = transport.jitteredBackoffMs(backoffMs)
        // The long wait after a refusal is for that one redial: a later failure of
        // another kind backs off as usual (a refusal sets it again before each redial).
        backoffMs = min(transport.limits.reconnectMaxMs, backoffMs * 2)
        retryTimer = transport.loop.schedule(after: .milliseconds(Int64(delay))) { [weak self] _ in
            guard let self else { return }
            self.retryTimer = nil
            self.connect()
        }
    }

    /// peerReachable: an inbound connection from this peer has just authenticated, so
    /// the path works now (a partition healed, the peer restarted). Dial at once rather
    /// than wait out the back-off, or a pending connect whose SYN or hello the partition
    /// swallowed. An established connection is kept; the peer's side then already works,
    /// so the two never redial each other in turn.
    /// refused: the peer refused this node's membership; it will not change its mind in
    /// milliseconds, so the next dial waits the longest back-off.
    func refused() { wasRefused = true }

    func peerReachable() {
        guard !stopped, !resolving else { return }
        if let c = connection {
            guard !c.established else { return }
            connection = nil  // so that its close does not schedule a retry
            c.close(reason: nil)
        }
        if let t = retryTimer { transport.loop.cancel(t); retryTimer = nil }
        backoffMs = transport.limits.reconnectInitialMs
        connect()
    }

    func send(term: Term, body: Message.Body) -> Bool {
        connection?.send(term: term, body: body) ?? false
    }

    func shutdown() {
        stopped = true
        if let t = retryTimer { transport.loop.cancel(t); retryTimer = nil }
        connection?.close(reason: nil)
        connection = nil
    }
}
