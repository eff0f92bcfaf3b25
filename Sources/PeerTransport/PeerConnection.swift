import EventLoop
import PeerWire
import Posix
import RaftCore

/// PeerConnection is one TCP connection to or from a peer: its session (handshake,
/// then authenticated frames) and its bounded output buffer. Level-triggered: it asks
/// for writability only while output is pending.
final class PeerConnection: EventHandler {
    unowned let transport: PeerTransport
    private var socket: SocketBox?
    private var session: PeerSession
    /// The outbound peer this connection belongs to; nil for an inbound connection.
    weak var outbound: OutboundPeer?
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var connecting = false
    private var wantsWrite = false
    private var handshakeTimer: TimerID?
    private(set) var established = false
    /// timedOut: our own connect or handshake ran out of time (no answer, not a refusal).
    private(set) var timedOut = false
    private var remoteName: String? = nil
    private var remoteIncarnation: UInt64 = 0
    /// The remote address (without port) of an inbound connection, for logs.
    var source: String? = nil

    /// One read buffer shared by all connections (the loop is single-threaded).
    nonisolated(unsafe) static var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(transport: PeerTransport, socket: SocketBox, session: PeerSession, outbound: OutboundPeer?) {
        self.transport = transport
        self.socket = socket
        self.session = session
        self.outbound = outbound
    }

    var isOpen: Bool { socket != nil }

    func start(connecting: Bool) {
        guard let s = socket else { return }
        self.connecting = connecting
        wantsWrite = connecting
        // Cannot fail on a TCP socket; without it the link only recovers more slowly.
        try? Socket.setUnacknowledgedTimeoutMs(s.fd, transport.limits.unacknowledgedTimeoutMs)
        do {
            try transport.loop.register(s.raw, interest: connecting ? [.readable, .writable] : .readable, handler: self)
        } catch {
            close(reason: "cannot watch the socket: \(error)")
            return
        }
        // Ours must be up within connectTimeoutMs: a SYN or hello lost to a partition
        // would otherwise be resent only after seconds, and the healed link would wait
        // for it. A stranger's must finish within handshakeTimeoutMs, or it is refused.
        let ours = outbound != nil
        let limitMs = ours ? transport.limits.connectTimeoutMs : transport.limits.handshakeTimeoutMs
        handshakeTimer = transport.loop.schedule(after: .milliseconds(Int64(limitMs))) { [weak self] _ in
            guard let self, !self.established else { return }
            self.handshakeTimer = nil
            if ours {
                self.timedOut = true
                self.close(reason: "connect timed out")  // dialled again after the back-off
            } else {
                self.close(reason: "peer handshake not finished within \(self.transport.limits.handshakeTimeoutMs) ms",
                           rejected: .handshakeTimeout)
            }
        }
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        if connecting {
            guard let s = socket else { return }
            if let error = Socket.pendingError(s.fd) {
                close(reason: "connect failed: \(error)")
                return
            }
            guard events.contains(.writable) || events.contains(.hangup) || events.contains(.error) else { return }
            connecting = false
            outbound?.connectionOpened(self)
            updateInterest()
        }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) || events.contains(.peerClosedWrite) {
            readAvailable()
        }
        if socket != nil && events.contains(.writable) { flush() }
    }

    private func readAvailable() {
        while let s = socket {
            let result: IOResult<Int>
            do { result = try s.fd.read(into: Self.readBuffer) } catch {
                close(reason: "read failed: \(error)")
                return
            }
            switch result {
            case .wouldBlock: return
            case .ready(0):
                close(reason: "closed by peer")
                return
            case .ready(let n):
                let outputs: [PeerSession.Output]
                do {
                    outputs = try session.receive(UnsafeRawBufferPointer(rebasing: Self.readBuffer[0..<n]))
                } catch {
                    close(reason: error.description, rejected: error.rejectionKind)
                    return
                }
                if outbound == nil && !established && session.sawHello { transport.gate.markHello(s.raw) }
                for o in outputs {
                    guard socket != nil else { return }
                    switch o {
                    case .send(let bytes): _ = enqueue(bytes)
                    case .established(let identity):
                        established = true
                        remoteName = identity.name
                        remoteIncarnation = identity.incarnation
                        if let t = handshakeTimer { transport.loop.cancel(t); handshakeTimer = nil }
                        if let refusal = transport.delegate?.transport(admit: identity) {
                            // Authenticated but not served: say why (the refused side logs
                            // the fix), then close.
                            _ = enqueue(session.sealRefusal(refusal))
                            established = false  // never served: no "disconnected", a slow redial
                            outbound?.refused()
                            close(reason: "refused \(identity.name): \(refusal.reason)", rejected: .identity)
                            return
                        }
                        if let peer = outbound { peer.connectionEstablished(self) } else {
                            transport.inboundEstablished(fd: s.raw, identity: identity)
                        }
                    case .message(let term, let body):
                        guard let name = remoteName else { return }
                        transport.noteReceived(from: name)
                        transport.delegate?.transport(received: term, body, from: name, incarnation: remoteIncarnation)
                    case .refused(let refusal):
                        guard let name = remoteName else { return }
                        transport.delegate?.transport(refusedBy: name, refusal)
                        outbound?.refused()
                        close(reason: "refused by \(name): \(refusal.reason)")
                        return
                    }
                }
                // A short read drained the socket: epoll is level-triggered and will say
                // when more arrives, so skip the read that would only return EAGAIN (half
                // of an idle leader's system calls).
                if n < Self.readBuffer.count { return }
            }
        }
    }

    /// send frames one message; false when not established or the buffer is full. The
    /// room is checked before sealing, so a refused message never uses up a MAC sequence
    /// number (the receiver would then reject every later frame).
    func send(term: Term, body: Message.Body) -> Bool {
        guard established, socket != nil else { return false }
        let room = transport.limits.sendQueueBytesMax - (output.count - outputOffset)
        guard let frame = session.seal(term: term, body: body, fitting: room) else { return false }
        return enqueue(frame)
    }

    func enqueue(_ bytes: [UInt8]) -> Bool {
        guard socket != nil else { return false }
        if output.count - outputOffset + bytes.count > transport.limits.sendQueueBytesMax { return false }
        if outputOffset > 0 && outputOffset == output.count {
            output.removeAll(keepingCapacity: true); outputOffset = 0
        }
        output.append(contentsOf: bytes)
        if !connecting { flush() }
        return true
    }

    private func flush() {
        while let s = socket, outputOffset < output.count {
            let result: IOResult<Int>
            do {
                result = try output.withUnsafeBytes { try s.fd.write(UnsafeRawBufferPointer(rebasing: $0[outputOffset...])) }
            } catch {
                close(reason: "write failed: \(error)")
                return
            }
            switch result {
            case .ready(let n): outputOffset += n
            case .wouldBlock:
                if !wantsWrite { wantsWrite = true; updateInterest() }
                return
            }
        }
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
            outputOffset = 0
            if wantsWrite { wantsWrite = false; updateInterest() }
        }
    }

    private func updateInterest() {
        guard let s = socket else { return }
        let interest: EpollEvents = wantsWrite || connecting ? [.readable, .writable] : .readable
        do { try transport.loop.modify(s.raw, interest: interest) } catch {
            close(reason: "cannot watch the socket: \(error)")
        }
    }

    /// close releases the socket once; `reason` nil means a deliberate close; `rejected`
    /// says the peer misbehaved (counted and logged at a bounded rate).
    func close(reason: String?, rejected: RejectionKind? = nil) {
        guard let s = socket else { return }
        let raw = s.raw
        transport.loop.unregister(raw)
        socket = nil  // closes the descriptor
        if let t = handshakeTimer { transport.loop.cancel(t); handshakeTimer = nil }
        output = []; outputOffset = 0
        if let rejected, let reason {
            let who = remoteName.map { "\($0) (\(source ?? "?"))" } ?? source ?? outbound?.member.name ?? "inbound"
            transport.noteRejected(rejected, reason, source: who)
        }
        if let peer = outbound {
            peer.connectionClosed(self, reason: reason)
        } else {
            transport.inboundClosed(fd: raw, peer: established ? remoteName : nil)
        }
    }
}

extension WireError {
    /// rejectionKind classifies a refusal for the metrics.
    var rejectionKind: RejectionKind {
        switch self {
        case .badMagic, .unsupportedVersion, .unknownFrameType, .reservedFlagsSet, .frameTooLarge, .badChecksum, .truncated:
            .badFrame
        case .badMAC, .authenticationFailed, .securityMismatch: .authentication
        case .clusterMismatch, .unknownNode, .wrongTarget: .notMember
        case .invalid, .unexpectedFrame: .badMessage
        }
    }
}
