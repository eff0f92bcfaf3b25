// One HTTP/1.1 connection to one etcd member, on the event loop: a non-blocking connect,
// one request at a time (no pipelining: a slow answer must not hold up the next call,
// so the client opens another connection instead), and the answer read incrementally —
// head, then a body framed by length, chunks or close — with every size capped.
import EtcdAPI
import EventLoop
import HTTPParser
import JSON
import Posix
import Time

/// EtcdConnection reports what happens on it to its owner, the client.
protocol EtcdConnectionOwner: AnyObject {
    /// connected: the TCP connection is up; a queued request may be sent.
    func connectionConnected(_ connection: EtcdConnection)
    /// answer: one message arrived (a unary body, or one line of a stream).
    func connection(_ connection: EtcdConnection, answered status: Int, body: JSONValue)
    /// finished: the current answer ended and the connection may serve another request.
    func connectionFinished(_ connection: EtcdConnection)
    /// closed: the connection is gone; `answerStarted` says whether any byte of the
    /// current answer had arrived (a request on a reused connection that failed before
    /// it may never have reached etcd).
    func connectionClosed(_ connection: EtcdConnection, reason: String, answerStarted: Bool)
}

/// SocketHolder boxes the non-copyable descriptor so a class can drop it early.
final class SocketHolder {
    let fd: FileDescriptor
    init(_ fd: consuming FileDescriptor) { self.fd = fd }
}

final class EtcdConnection: EventHandler {
    enum Phase { case connecting, idle, waitingHead, body, closed }

    unowned let owner: any EtcdConnectionOwner
    let loop: EventLoop
    let endpointIndex: Int
    let options: EtcdClientOptions
    /// isWatch: this connection carries (or was opened for) one watch stream.
    let isWatch: Bool
    private var socket: SocketHolder?
    private(set) var phase: Phase = .connecting
    /// servedCount is how many answers this connection finished (0: fresh).
    private(set) var servedCount = 0
    private var connectTimer: TimerID?

    private var output: [UInt8] = []
    private var outputOffset = 0
    /// input holds received bytes not yet consumed (the head, or undecoded body bytes).
    private var input: [UInt8] = []
    private var head = HTTPResponseHead()
    private var streaming = false
    private var decoder = ChunkedDecoder()
    /// body holds decoded body bytes: the whole unary body, or a stream's partial line.
    private var body: [UInt8] = []
    private var bodyRemaining = 0
    private var answerStarted = false
    private let readBuffer: UnsafeMutableRawBufferPointer

    init(owner: any EtcdConnectionOwner, loop: EventLoop, endpointIndex: Int, options: EtcdClientOptions,
         isWatch: Bool, readBuffer: UnsafeMutableRawBufferPointer) {
        self.owner = owner
        self.loop = loop
        self.endpointIndex = endpointIndex
        self.options = options
        self.isWatch = isWatch
        self.readBuffer = readBuffer
        var limits = ChunkedDecoder.Limits()
        limits.chunkBytesMax = options.answerBytesMax
        decoder = ChunkedDecoder(limits: limits)
    }

    var isOpen: Bool { phase != .closed }

    /// open starts the non-blocking connect; failures arrive as `connectionClosed`.
    func open() {
        let endpoint = options.endpoints[endpointIndex]
        do {
            let fd = try Socket.connect(to: endpoint.address, nonBlocking: true)
            try? Socket.setUnacknowledgedTimeoutMs(fd, options.unacknowledgedTimeoutMs)
            let holder = SocketHolder(fd)
            socket = holder
            try loop.register(holder.fd.rawValue, interest: [.readable, .writable], handler: self)
        } catch {
            // Reported from the loop, never from inside the caller's call (no re-entry).
            socket = nil
            loop.schedule(after: .zero) { [weak self] _ in self?.close(reason: "connect failed: \(error)") }
            return
        }
        connectTimer = loop.schedule(after: .milliseconds(Int64(options.connectTimeoutMs))) { [weak self] _ in
            guard let self, self.phase == .connecting else { return }
            self.connectTimer = nil
            self.close(reason: "connect timed out after \(self.options.connectTimeoutMs) ms")
        }
    }

    /// send writes one request; the connection must be idle.
    func send(path: String, body requestBody: String, requireLeader: Bool, isStream: Bool) {
        precondition(phase == .idle, "send on a connection that is not idle")
        let endpoint = options.endpoints[endpointIndex]
        var text = "POST \(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\nContent-Type: application/json\r\n"
        if requireLeader { text += "Grpc-Metadata-hasleader: true\r\n" }
        text += "Content-Length: \(requestBody.utf8.count)\r\n\r\n"
        text += requestBody
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
        output.append(contentsOf: text.utf8)
        streaming = isStream
        head = HTTPResponseHead()
        body.removeAll(keepingCapacity: true)
        answerStarted = false
        phase = .waitingHead
        flush()
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        guard let s = socket else { return }
        if phase == .connecting {
            if let error = Socket.pendingError(s.fd) {
                close(reason: "connect failed: \(error)")
                return
            }
            guard events.contains(.writable) || events.contains(.hangup) || events.contains(.error) else { return }
            if let t = connectTimer { loop.cancel(t); connectTimer = nil }
            phase = .idle
            updateInterest()
            owner.connectionConnected(self)
            return
        }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) || events.contains(.peerClosedWrite) {
            readAvailable()
        }
        if socket != nil && events.contains(.writable) { flush() }
    }

    private func updateInterest() {
        guard let s = socket else { return }
        let wantWrite = outputOffset < output.count
        try? loop.modify(s.fd.rawValue, interest: wantWrite ? [.readable, .writable] : .readable)
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
                updateInterest()
                return
            }
        }
        updateInterest()
    }

    private func readAvailable() {
        while let s = socket {
            let result: IOResult<Int>
            do { result = try s.fd.read(into: readBuffer) } catch {
                close(reason: "read failed: \(error)")
                return
            }
            switch result {
            case .wouldBlock: return
            case .ready(0):
                if phase == .body && head.bodyFraming == .untilClose {
                    finishBody()
                }
                close(reason: "closed by etcd")
                return
            case .ready(let n):
                guard phase == .waitingHead || phase == .body else {
                    close(reason: "etcd sent bytes with no request outstanding")
                    return
                }
                answerStarted = true
                input.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
                consumeInput()
                if n < readBuffer.count { return }
            }
        }
    }

    /// consumeInput parses what `input` holds as far as it goes.
    private func consumeInput() {
        while socket != nil {
            switch phase {
            case .waitingHead:
                let parsed = input.withUnsafeBytes {
                    parseResponseHead($0, limits: HTTPResponseLimits(headBytesMax: options.headBytesMax))
                }
                switch parsed {
                case .partial: return
                case .invalid(let reason):
                    close(reason: "bad response head: \(reason)")
                    return
                case .complete(let h, let consumed):
                    head = h
                    input.removeFirst(consumed)
                    phase = .body
                    // An error answer is one JSON document even on a stream path.
                    if head.status != 200 { streaming = false }
                    switch head.bodyFraming {
                    case .none:
                        finishBody()
                    case .length(let n):
                        guard n <= options.answerBytesMax else {
                            close(reason: "answer of \(n) bytes is over the limit of \(options.answerBytesMax)")
                            return
                        }
                        bodyRemaining = n
                    case .chunked:
                        var limits = ChunkedDecoder.Limits()
                        limits.chunkBytesMax = options.answerBytesMax
                        decoder = ChunkedDecoder(limits: limits)
                    case .untilClose:
                        break
                    }
                }
            case .body:
                guard !input.isEmpty else { return }
                switch head.bodyFraming {
                case .none:
                    return
                case .length:
                    let n = min(bodyRemaining, input.count)
                    body.append(contentsOf: input[0..<n])
                    input.removeFirst(n)
                    bodyRemaining -= n
                    if bodyRemaining == 0 { finishBody() } else { return }
                case .untilClose:
                    body.append(contentsOf: input)
                    input.removeAll(keepingCapacity: true)
                    guard body.count <= options.answerBytesMax else {
                        close(reason: "answer over the limit of \(options.answerBytesMax) bytes")
                        return
                    }
                    return
                case .chunked:
                    let (consumed, outcome) = input.withUnsafeBytes { decoder.decode($0, into: &body) }
                    input.removeFirst(consumed)
                    if streaming { deliverLines() }
                    guard socket != nil else { return }
                    switch outcome {
                    case .invalid(let reason):
                        close(reason: "bad chunked body: \(reason)")
                        return
                    case .needMore:
                        guard body.count <= options.answerBytesMax else {
                            close(reason: "answer over the limit of \(options.answerBytesMax) bytes")
                            return
                        }
                        return
                    case .done:
                        finishBody()
                    }
                }
            case .idle:
                // Bytes after a finished answer that no request asked for.
                if !input.isEmpty { close(reason: "etcd sent bytes with no request outstanding") }
                return
            case .connecting, .closed:
                return
            }
        }
    }

    /// deliverLines hands each complete line of a stream body to the owner.
    private func deliverLines() {
        var start = 0
        while socket != nil, let newline = body[start...].firstIndex(of: 0x0A) {
            let line = Array(body[start..<newline])
            start = newline + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            deliver(line)
        }
        if start > 0 { body.removeFirst(min(start, body.count)) }
    }

    private func deliver(_ bytes: [UInt8]) {
        let limits = JSONLimits(documentBytesMax: options.answerBytesMax, depthMax: 32, stringBytesMax: options.answerBytesMax,
                                containerCountMax: 100_000)
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes: bytes, limits: limits)
        } catch {
            close(reason: "answer is not JSON: \(error)")
            return
        }
        owner.connection(self, answered: head.status, body: json)
    }

    private func finishBody() {
        if streaming {
            deliverLines()
            if socket != nil && !body.isEmpty { deliver(body) }
        } else {
            deliver(body)
        }
        guard socket != nil else { return }
        body.removeAll(keepingCapacity: true)
        servedCount += 1
        if head.keepAlive && head.bodyFraming != .untilClose {
            phase = .idle
            owner.connectionFinished(self)
            // Whatever else arrived with the answer is unasked for.
            if socket != nil && !input.isEmpty { close(reason: "etcd sent bytes with no request outstanding") }
        } else {
            close(reason: "etcd closes the connection after the answer", quietly: true)
        }
    }

    /// detach drops the socket without a word to the owner (the owner is going away).
    func detach() {
        phase = .closed
        if let t = connectTimer { loop.cancel(t); connectTimer = nil }
        if let s = socket {
            loop.unregister(s.fd.rawValue)
            socket = nil
        }
    }

    /// close drops the socket and reports once to the owner (`quietly`: after an answer
    /// that said so, which is not a failure).
    func close(reason: String, quietly: Bool = false) {
        guard phase != .closed else { return }
        let started = answerStarted && phase != .idle
        let wasQuiet = quietly || phase == .idle && servedCount > 0 && reason == "closed by etcd"
        phase = .closed
        if let t = connectTimer { loop.cancel(t); connectTimer = nil }
        if let s = socket {
            loop.unregister(s.fd.rawValue)
            socket = nil
        }
        owner.connectionClosed(self, reason: wasQuiet ? "" : reason, answerStarted: started)
    }
}
