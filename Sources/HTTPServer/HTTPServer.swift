// The HTTP/1.1 server on the event loop: accept, read, parse (HTTPParser), route to
// handlers answering from prepared bytes, write, with every limit and timeout of
// `HTTPServerConfiguration`. Ideas from nginx (lingering close, accept pause on
// EMFILE, a ready connection read once per wake-up) and h2o (caller-owned header slots).
public import EventLoop
public import HTTPParser
public import Posix
import Time

/// HTTPServer serves HTTP/1.1 on one `EventLoop`. Not Sendable: create it, route and
/// complete held requests on the loop's thread.
///
///     let loop = try EventLoop()
///     let server = try HTTPServer(loop: loop, address: SocketAddress(parsing: "127.0.0.1:8080"))
///     var leader = PreparedResponse(status: 200, body: Array(json.utf8))  // rebuilt on state change
///     server.route(.get, "/leader") { _ in .respond(leader) }
///     try loop.run()
///
/// A request is answered from prepared bytes copied into the connection's reused output
/// buffer, so a kept-alive `GET` allocates nothing. Pipelined requests are answered in
/// order with one write per read; a held request (long-poll) keeps the ones behind it
/// waiting. Every error the parser reports closes the connection after its answer
/// (lingering, so the client reads it); 404, 405 and 501 for an unknown method keep it.
///
/// A client that closes its sending side (`shutdown(SHUT_WR)`, `nc -N`) still gets an
/// answer to every complete request it sent, in order, however full its output was;
/// the server closes once they are all written. A request it has held then gets its
/// timeout answer at once (from `holdTimeoutResponder` when set, so from the state at
/// that moment): such a client can send nothing more, and one that has gone entirely
/// looks the same on the wire, so the hold is not kept for the rest of its time.
public final class HTTPServer: EventHandler {
    public let configuration: HTTPServerConfiguration
    /// localAddress is the bound address (with the kernel's port when asked for port 0).
    public let localAddress: SocketAddress
    /// statistics counts accepted, refused and timed-out connections and requests.
    public private(set) var statistics = HTTPServerStatistics()
    /// connectionCount is the number of open connections (those over the cap excluded).
    public private(set) var connectionCount = 0
    /// heldCount is the number of requests currently held.
    public private(set) var heldCount = 0

    private unowned let loop: EventLoop
    private let listener: FileDescriptor
    private let listenerDescriptor: Int32
    private var listenerPaused = false
    private var isShutDown = false
    private var connections: [Connection?] = []
    private var nextGeneration: UInt32 = 1
    private var routes: [Route] = []
    private var sweepTimer: TimerID?
    private var date = HTTPDate()
    /// headerSlots are shared by all connections: a request is parsed and handled
    /// before the next one is touched.
    private let headerSlots: UnsafeMutableBufferPointer<HeaderSlot>
    /// discard is scratch space for input read and thrown away (lingering close).
    private let discard: UnsafeMutableRawBufferPointer
    private let inputBytesMax: Int
    /// reparseStrideBytes: with no new line end, the parser is called again only after
    /// this many more bytes; small enough that a request line over its limit is still
    /// refused promptly.
    private let reparseStrideBytes: Int
    private let holdRefused: PreparedResponse
    private var notFound: PreparedResponse
    /// Headers the application adds to the server's own 404 and 405 (see `setRefusalHeaders`).
    private var refusalHeaders: [(String, String)] = []
    private let notImplementedMethod: PreparedResponse
    private var errorResponses: [Int: PreparedResponse] = [:]
    /// handlerRunning is true while a handler runs: `complete` is refused then (see there).
    private var handlerRunning = false

    private static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
    private static let closeLine: StaticString = "Connection: close\r\n"
    private static let keepAliveLine: StaticString = "Connection: keep-alive\r\n"
    /// overCapacity is written raw to connections over the cap; short so one send fits.
    private static let overCapacity: StaticString =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"

    /// init binds `address` (port 0: any free port) and starts accepting on `loop`.
    public init(loop: EventLoop, address: SocketAddress, configuration: HTTPServerConfiguration = .init()) throws {
        try configuration.validate()
        self.configuration = configuration
        self.loop = loop
        let listener = try Socket.listen(on: address, backlog: configuration.listenBacklog)
        localAddress = try Socket.localAddress(listener)
        listenerDescriptor = listener.rawValue
        self.listener = listener
        inputBytesMax = configuration.inputBytesMax
        reparseStrideBytes = max(16, min(1024, configuration.limits.requestLineBytesMax / 4))
        headerSlots = .allocate(capacity: max(configuration.limits.headerCountMax, 1))
        headerSlots.initialize(repeating: HeaderSlot())
        discard = .allocate(byteCount: 4096, alignment: 16)
        holdRefused = PreparedResponse(status: 503, text: "too many requests waiting\n", headers: [("Retry-After", "1")])
        notFound = PreparedResponse(status: 404, text: "not found\n")
        notImplementedMethod = PreparedResponse(status: 501, text: "method not implemented\n")
        for (status, text) in [(400, "bad request\n"), (408, "request timeout\n"), (413, "content too large\n"),
                               (414, "URI too long\n"), (431, "request header fields too large\n"),
                               (501, "not implemented\n"), (505, "HTTP version not supported\n"), (417, "expectation failed\n"),
                               (500, "internal server error\n")] {
            errorResponses[status] = PreparedResponse(status: status, text: text)
        }
        try loop.register(listenerDescriptor, interest: .readable, handler: self)
    }

    deinit {
        headerSlots.deallocate()
        discard.deallocate()
    }

    // MARK: routing

    /// HandlerBox holds a handler in a concrete struct field: an `Array<HTTPHandler?>`
    /// would store closures at generic abstraction, and reading one back would allocate
    /// a reabstraction thunk on every request.
    private struct HandlerBox {
        let call: HTTPHandler
    }

    private struct Route {
        var path: [UInt8]
        /// isPrefix: the route was given as `/prefix/*` and takes any longer path under it.
        var isPrefix = false
        var handlers: [HandlerBox?] = Array(repeating: nil, count: 10)
        var methodNotAllowed: PreparedResponse
    }

    /// route sends requests for `method` and exactly `path` (without query) to `handler`;
    /// a path ending in `/*` takes every longer path under it (`/members/*`: one member),
    /// after the exact routes. HEAD falls back to the GET handler, answering without the body.
    public func route(_ method: HTTPMethod, _ path: String, _ handler: @escaping HTTPHandler) {
        precondition(method != .other, "route a named method")
        precondition(path.hasPrefix("/"), "a route path starts with /")
        let isPrefix = path.hasSuffix("/*")
        let bytes = Array((isPrefix ? String(path.dropLast()) : path).utf8)
        let index: Int
        if let found = routes.firstIndex(where: { $0.path == bytes && $0.isPrefix == isPrefix }) {
            index = found
        } else {
            routes.append(Route(path: bytes, isPrefix: isPrefix, methodNotAllowed: notFound))
            index = routes.count - 1
        }
        routes[index].handlers[Int(method.rawValue)] = HandlerBox(call: handler)
        routes[index].methodNotAllowed = methodNotAllowed(for: routes[index])
    }

    /// setRefusalHeaders makes the server's own 404 (unknown path) and 405 (known path,
    /// other method) carry `headers` too, as the application's answers do (the agent's
    /// term and leader). Cheap enough to call on every change of them; not for per-request data.
    public func setRefusalHeaders(_ headers: [(String, String)]) {
        refusalHeaders = headers
        notFound = PreparedResponse(status: 404, text: "not found\n", headers: headers)
        for i in routes.indices { routes[i].methodNotAllowed = methodNotAllowed(for: routes[i]) }
    }

    private func methodNotAllowed(for route: Route) -> PreparedResponse {
        // 405 must list what is allowed (RFC 9110 §15.5.6).
        var allowed: [String] = []
        let names: [(HTTPMethod, String)] = [(.get, "GET"), (.head, "HEAD"), (.post, "POST"), (.put, "PUT"),
                                             (.delete, "DELETE"), (.options, "OPTIONS"), (.patch, "PATCH"),
                                             (.trace, "TRACE"), (.connect, "CONNECT")]
        for (m, name) in names {
            let has = route.handlers[Int(m.rawValue)] != nil
                || (m == .head && route.handlers[Int(HTTPMethod.get.rawValue)] != nil)
            if has { allowed.append(name) }
        }
        return PreparedResponse(status: 405, text: "method not allowed\n",
                                headers: [("Allow", allowed.joined(separator: ", "))] + refusalHeaders)
    }

    // MARK: held requests

    /// complete answers a held request. Returns false if it is no longer held (its
    /// connection closed, or it timed out and got its `onTimeout` answer).
    ///
    /// Never from inside a handler: answering a hold parses the waiter's next requests,
    /// which would overwrite the header slots the running handler's request points
    /// into. Applications hand such work to the next loop turn (the agent's driver
    /// never answers from inside a handler).
    @discardableResult
    public func complete(_ held: HeldRequest, with response: PreparedResponse) -> Bool {
        precondition(!handlerRunning, "HTTPServer.complete called from inside a handler: defer it to the next loop turn")
        guard let connection = connection(held), let hold = connection.hold, hold.serial == held.serial else { return false }
        loop.cancel(hold.timer.id)
        answerHold(connection, hold, response)
        return true
    }

    /// holdTimeoutResponder, when set, is asked for the answer to a held request whose
    /// time ran out; nil (or no responder) sends the `onTimeout` given when holding.
    public var holdTimeoutResponder: ((HeldRequest) -> PreparedResponse?)?

    /// isHeld says whether a held request still waits for an answer.
    public func isHeld(_ held: HeldRequest) -> Bool {
        guard let connection = connection(held), let hold = connection.hold else { return false }
        return hold.serial == held.serial
    }

    private func connection(_ held: HeldRequest) -> Connection? {
        let index = Int(held.descriptor)
        guard index >= 0, index < connections.count, let c = connections[index], c.generation == held.generation else { return nil }
        return c
    }

    private func holdExpired(_ held: HeldRequest) {
        guard let connection = connection(held), let hold = connection.hold, hold.serial == held.serial else { return }
        statistics.holdTimeouts += 1
        // The application may answer from its state at expiry rather than at hold time
        // (a leader answer must check the lease when it is sent, design §2).
        let response = holdTimeoutResponder?(held) ?? hold.onTimeout
        answerHold(connection, hold, response)
    }

    private func answerHold(_ connection: Connection, _ hold: Connection.Hold, _ response: PreparedResponse) {
        endHold(connection, hold, response)
        processRequests(connection)
        flush(connection)
    }

    /// endHold writes a held request's answer into the output; the caller resumes parsing.
    private func endHold(_ connection: Connection, _ hold: Connection.Hold, _ response: PreparedResponse) {
        connection.hold = nil
        heldCount -= 1
        appendResponse(connection, response, isHead: hold.isHead, versionMinor: hold.versionMinor)
        connection.phase = .waiting
        connection.deadline = loop.now + configuration.idleTimeout
    }

    /// answerHoldOfClosedPeer gives the held request of a client that closed its sending
    /// side its timeout answer now (see the type's comment for why).
    private func answerHoldOfClosedPeer(_ connection: Connection, _ hold: Connection.Hold) {
        loop.cancel(hold.timer.id)
        statistics.holdsEndedByPeerClose += 1
        let held = HeldRequest(descriptor: connection.descriptor, generation: connection.generation, serial: hold.serial)
        endHold(connection, hold, holdTimeoutResponder?(held) ?? hold.onTimeout)
    }

    // MARK: shutting down

    /// shutdown stops accepting and closes every connection (held requests are dropped).
    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        loop.unregister(listenerDescriptor)
        for case let c? in connections { close(c) }
        if let t = sweepTimer { loop.cancel(t); sweepTimer = nil }
    }

    // MARK: events

    public func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        if descriptor == listenerDescriptor {
            acceptConnections()
            return
        }
        guard let connection = connections[Int(descriptor)] else { return }
        if connection.phase == .lingering {
            linger(connection)
            return
        }
        if events.contains(.writable) {
            flush(connection)
            if connection.isClosed { return }
        }
        if !events.isDisjoint(with: [.readable, .hangup, .error]) {
            readAndServe(connection, failing: !events.isDisjoint(with: [.hangup, .error]))
        }
    }

    private func acceptConnections() {
        // Bounded per wake-up so a connection storm cannot starve served connections.
        for _ in 0..<64 {
            let result: AcceptResult
            do {
                result = try Socket.accept(listener)
            } catch {
                if error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem
                    || error == .noBufferSpace || error == .outOfMemory {
                    pauseAccepting()
                }
                // ECONNABORTED and similar concern one connection only.
                return
            }
            switch consume result {
            case .wouldBlock:
                return
            case .accepted(let socket):
                if connectionCount >= configuration.connectionsMax {
                    statistics.connectionsRejected += 1
                    refuse(socket)
                    continue
                }
                admit(socket)
            }
        }
    }

    /// refuse answers a connection over the cap with a canned 503 and closes it. Any
    /// request bytes already received are read first so the close is not a reset.
    private func refuse(_ socket: consuming FileDescriptor) {
        _ = try? socket.read(into: discard)
        Self.overCapacity.withUTF8Buffer { bytes in
            _ = try? socket.write(UnsafeRawBufferPointer(bytes))
        }
        Socket.shutdownWrite(socket)
        // `socket` closes at the end of scope.
    }

    /// pauseAccepting stops watching the listener for 100 ms when descriptors ran out,
    /// instead of spinning on a listener that stays readable (nginx does the same).
    private func pauseAccepting() {
        guard !listenerPaused else { return }
        listenerPaused = true
        try? loop.modify(listenerDescriptor, interest: [])
        loop.schedule(after: .milliseconds(100)) { [weak self] _ in
            guard let self, !self.isShutDown else { return }
            self.listenerPaused = false
            try? self.loop.modify(self.listenerDescriptor, interest: .readable)
        }
    }

    private func admit(_ socket: consuming FileDescriptor) {
        let generation = nextGeneration
        nextGeneration = nextGeneration == .max ? 1 : nextGeneration + 1
        let connection = Connection(socket: socket, generation: generation,
                                    inputCapacity: configuration.inputChunkBytes,
                                    deadline: loop.now + configuration.headerReadTimeout)
        let index = Int(connection.descriptor)
        if index >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: max(index + 1, connections.count * 2) - connections.count))
        }
        do {
            try loop.register(connection.descriptor, interest: .readable, handler: self)
        } catch {
            return  // `connection` is released, closing the socket
        }
        connections[index] = connection
        connectionCount += 1
        statistics.connectionsAccepted += 1
        if sweepTimer == nil {
            sweepTimer = loop.schedule(after: configuration.timeoutCheckInterval,
                                       repeatingEvery: configuration.timeoutCheckInterval) { [weak self] _ in
                self?.sweep()
            }
        }
    }

    private func close(_ connection: Connection) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        if let hold = connection.hold {
            loop.cancel(hold.timer.id)
            connection.hold = nil
            heldCount -= 1
        }
        loop.unregister(connection.descriptor)
        connections[Int(connection.descriptor)] = nil
        connectionCount -= 1
        // The socket closes when the last reference to `connection` goes.
    }

    // MARK: reading

    private func readAndServe(_ connection: Connection, failing: Bool = false) {
        if connection.inputEnd == connection.inputCapacity {
            let wanted = min(inputBytesMax, connection.inputAvailable + configuration.inputChunkBytes)
            if wanted <= connection.inputAvailable || !connection.makeInputRoom(total: wanted, limit: inputBytesMax) {
                // Full of requests we cannot consume yet (held or backpressured): stop
                // reading until that changes. Hang-up and error are reported whatever the
                // interest, so on those close now rather than be woken again and again.
                if failing { close(connection) } else { updateInterest(connection) }
                return
            }
        }
        let space = UnsafeMutableRawBufferPointer(start: connection.input + connection.inputEnd,
                                                  count: connection.inputCapacity - connection.inputEnd)
        do {
            switch try connection.socket.read(into: space) {
            case .wouldBlock:
                return
            case .ready(0):
                connection.peerClosed = true
            case .ready(let n):
                connection.inputEnd += n
            }
        } catch {
            close(connection)  // ECONNRESET and friends: nothing left to answer
            return
        }
        // On EOF too: the requests already received are answered before the close
        // (`flush` closes once they are written and nothing complete is left).
        processRequests(connection)
        flush(connection)
    }

    /// processRequests answers every complete request in the input, in order, stopping
    /// at an incomplete one, a held one, a closing answer, or a full output buffer. For a
    /// client that closed its sending side, a held request is answered at once and the
    /// ones behind it go on.
    private func processRequests(_ connection: Connection) {
        parseAndDispatch(connection)
        while connection.peerClosed, !connection.isClosed, let hold = connection.hold {
            answerHoldOfClosedPeer(connection, hold)
            parseAndDispatch(connection)
        }
    }

    /// parseAndDispatch is `processRequests` without the closed-peer rule for holds.
    private func parseAndDispatch(_ connection: Connection) {
        let now = loop.now
        while connection.hold == nil && !connection.closeAfterWrite && !connection.isClosed
                && connection.outputPending < configuration.outputBytesMax {
            let available = connection.inputAvailable
            if available == 0 {
                connection.inputStart = 0
                connection.inputEnd = 0
                return
            }
            let base = connection.input + connection.inputStart
            // The parser starts over on every call (its contract), so a client that
            // dribbles bytes would cost quadratic time. Call it only when it can say
            // something new: the body it waits for is complete, a line ended, or a
            // stride of bytes arrived (so a limit is still caught within a stride).
            if connection.awaitedBytes > 0 && available < connection.awaitedBytes { return }
            if connection.scannedBytes > 0 && available - connection.scannedBytes < reparseStrideBytes
                && !containsLineFeed(base, from: connection.scannedBytes, to: available) {
                return
            }
            var head = HTTPRequestHead()
            let result = parseRequestHead(UnsafeRawBufferPointer(start: base, count: available),
                                          limits: configuration.limits, head: &head, headers: headerSlots)
            switch result {
            case .partial:
                connection.scannedBytes = available
                if connection.phase != .readingHead {
                    connection.phase = .readingHead
                    connection.deadline = now + configuration.headerReadTimeout
                }
                if available >= inputBytesMax {
                    // The parser should have refused this already; never wait on a full buffer.
                    fail(connection, status: 431)
                }
                return
            case .invalid(let error):
                statistics.parseErrors += 1
                fail(connection, status: error.status)
                return
            case .complete(let consumed):
                let total = consumed + head.contentLength
                connection.scannedBytes = 0
                if available < total {
                    connection.awaitedBytes = total
                    if connection.phase != .readingBody {
                        connection.phase = .readingBody
                        connection.deadline = now + configuration.bodyReadTimeout
                    }
                    guard connection.makeInputRoom(total: total, limit: inputBytesMax) else {
                        fail(connection, status: 413)
                        return
                    }
                    if head.expectContinue && !connection.sentContinue {
                        connection.sentContinue = true
                        // makeInputRoom may have moved the bytes: `base` is stale.
                        let movedBase = connection.input + connection.inputStart
                        if let refusal = refusal(for: head, base: movedBase) {
                            // Refuse before the client sends the body (RFC 9110 §10.1.1);
                            // its body may still follow, so the framing ends here.
                            connection.closeAfterWrite = true
                            appendResponse(connection, refusal, isHead: head.method == .head, versionMinor: head.versionMinor)
                            return
                        }
                        Self.continueLine.withUTF8Buffer { connection.append(UnsafeRawBufferPointer($0)) }
                    }
                    return
                }
                connection.sentContinue = false
                connection.awaitedBytes = 0
                connection.phase = .waiting
                connection.deadline = now + configuration.idleTimeout
                dispatch(connection, head, base: base, consumed: consumed)
                connection.inputStart += total
            }
        }
    }

    /// Resolution is where a request goes: a handler, or an answer given without one.
    private enum Resolution {
        case handler(HandlerBox)
        /// refused: 404 (unknown path), 405 (known path, other method) or 501 (unknown method).
        case refused(PreparedResponse)
    }

    /// resolve finds the request's handler with one walk of the routes.
    private func resolve(_ head: HTTPRequestHead, base: UnsafeRawPointer) -> Resolution {
        if head.method == .other { return .refused(notImplementedMethod) }
        guard let index = routeIndex(head, base: base) else { return .refused(notFound) }
        guard let box = handler(routes[index], head.method) else { return .refused(routes[index].methodNotAllowed) }
        return .handler(box)
    }

    /// refusal is the answer a request gets without running a handler (404, 405, 501),
    /// or nil when a handler will answer it.
    private func refusal(for head: HTTPRequestHead, base: UnsafeRawPointer) -> PreparedResponse? {
        if case .refused(let response) = resolve(head, base: base) { return response }
        return nil
    }

    private func routeIndex(_ head: HTTPRequestHead, base: UnsafeRawPointer) -> Int? {
        let path = UnsafeRawBufferPointer(start: base + Int(head.path.start), count: Int(head.path.count))
        for i in routes.indices where !routes[i].isPrefix {
            let matched = routes[i].path.withUnsafeBytes { candidate in
                candidate.count == path.count && (path.count == 0 || memcmpBytes(candidate, path))
            }
            if matched { return i }
        }
        for i in routes.indices where routes[i].isPrefix {
            let matched = routes[i].path.withUnsafeBytes { candidate in
                path.count > candidate.count && memcmpBytes(candidate, UnsafeRawBufferPointer(rebasing: path[0..<candidate.count]))
            }
            if matched { return i }
        }
        return nil
    }

    private func handler(_ route: Route, _ method: HTTPMethod) -> HandlerBox? {
        if let h = route.handlers[Int(method.rawValue)] { return h }
        if method == .head { return route.handlers[Int(HTTPMethod.get.rawValue)] }
        return nil
    }

    private func dispatch(_ connection: Connection, _ head: HTTPRequestHead, base: UnsafeRawPointer, consumed: Int) {
        statistics.requests += 1
        if !head.keepAlive { connection.closeAfterWrite = true }
        let isHead = head.method == .head
        let box: HandlerBox
        switch resolve(head, base: base) {
        case .refused(let response):
            appendResponse(connection, response, isHead: isHead, versionMinor: head.versionMinor)
            return
        case .handler(let found):
            box = found
        }
        let serial = connection.nextSerial
        connection.nextSerial &+= 1
        let request = HTTPRequest(
            head: head, headBytes: UnsafeRawBufferPointer(start: base, count: consumed), headerSlots: UnsafeBufferPointer(rebasing: headerSlots[0..<head.headerCount]),
            body: UnsafeRawBufferPointer(start: base + consumed, count: head.contentLength),
            held: HeldRequest(descriptor: connection.descriptor, generation: connection.generation, serial: serial))
        handlerRunning = true
        let result = box.call(request)
        handlerRunning = false
        switch result {
        case .respond(let response):
            appendResponse(connection, response, isHead: isHead, versionMinor: head.versionMinor)
        case .hold(let timeout, let onTimeout):
            guard heldCount < configuration.heldRequestsMax else {
                statistics.holdsRefused += 1
                appendResponse(connection, holdRefused, isHead: isHead, versionMinor: head.versionMinor)
                return
            }
            let held = request.held
            let delay = max(.zero, min(timeout, configuration.holdTimeoutMax))
            let timer = loop.schedule(after: delay) { [weak self] _ in self?.holdExpired(held) }
            connection.hold = Connection.Hold(serial: serial, isHead: isHead, versionMinor: head.versionMinor,
                                              onTimeout: onTimeout, timer: TimerIDBox(id: timer))
            connection.phase = .held
            heldCount += 1
        }
    }

    // MARK: writing

    /// appendResponse copies a prepared answer into the output: its head, `Date`,
    /// `Connection` when needed, the blank line, and the body unless HEAD.
    private func appendResponse(_ connection: Connection, _ response: PreparedResponse, isHead: Bool, versionMinor: UInt8) {
        date.refresh()
        let head = response.head
        let body = isHead ? UnsafeRawBufferPointer(start: nil, count: 0) : response.body
        let connectionLine: StaticString? = connection.closeAfterWrite ? Self.closeLine
            : (versionMinor == 0 ? Self.keepAliveLine : nil)
        let lineCount = connectionLine?.utf8CodeUnitCount ?? 0
        let total = head.count + HTTPDate.lineCount + lineCount + 2 + body.count
        var at = connection.reserveOutput(total)
        at.copyMemory(from: head.baseAddress!, byteCount: head.count)
        at += head.count
        at.copyMemory(from: date.line.baseAddress!, byteCount: HTTPDate.lineCount)
        at += HTTPDate.lineCount
        if let line = connectionLine {
            at.copyMemory(from: line.utf8Start, byteCount: lineCount)
            at += lineCount
        }
        at.storeBytes(of: 0x0a0d, as: UInt16.self)  // "\r\n", little-endian
        at += 2
        if body.count > 0 { at.copyMemory(from: body.baseAddress!, byteCount: body.count) }
        if connection.outputPending > statistics.outputBytesPendingMax {
            statistics.outputBytesPendingMax = connection.outputPending
        }
    }

    /// fail answers an error after which the framing cannot be trusted, and closes.
    private func fail(_ connection: Connection, status: Int) {
        connection.closeAfterWrite = true
        appendResponse(connection, errorResponses[status] ?? errorResponses[400]!, isHead: false, versionMinor: 1)
    }

    /// flush writes pending output until done or the socket is full, then decides what
    /// the connection waits for next.
    private func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        var progressed = false
        while connection.outputPending > 0 {
            let pending = UnsafeRawBufferPointer(start: connection.output! + connection.outputStart, count: connection.outputPending)
            do {
                switch try connection.socket.write(pending) {
                case .ready(let n):
                    connection.outputStart += n
                    progressed = true
                    continue
                case .wouldBlock:
                    break
                }
            } catch {
                close(connection)  // EPIPE, ECONNRESET: the client is gone
                return
            }
            break
        }
        if connection.outputPending == 0 {
            connection.outputStart = 0
            connection.outputEnd = 0
            connection.writeDeadline = nil
            if connection.hold == nil && (progressed || connection.peerClosed) {
                // Space freed: requests left waiting behind the full buffer can go on
                // (for a closed peer, also the ones read with its FIN).
                processRequests(connection)
                if connection.outputPending > 0 { return flush(connection) }
            }
            // A closed peer with everything answered: what is left in the input is at
            // most an incomplete request that can never complete.
            if connection.hold == nil && (connection.closeAfterWrite || connection.peerClosed) {
                finish(connection)
                return
            }
        } else if progressed || connection.writeDeadline == nil {
            // A client that reads nothing for writeTimeout is dropped (nginx send_timeout).
            connection.writeDeadline = loop.now + configuration.writeTimeout
        }
        updateInterest(connection)
    }

    /// finish ends a connection whose last answer is written: close at once if the
    /// client already closed; otherwise send FIN and discard input for a while, so a
    /// client still sending does not turn our answer into a reset (nginx lingering_close).
    private func finish(_ connection: Connection) {
        if connection.peerClosed || configuration.lingerTimeout == .zero {
            close(connection)
            return
        }
        Socket.shutdownWrite(connection.socket)
        connection.phase = .lingering
        connection.deadline = loop.now + configuration.lingerTimeout
        updateInterest(connection)
    }

    private func linger(_ connection: Connection) {
        for _ in 0..<16 {
            switch try? connection.socket.read(into: discard) {
            case .wouldBlock?: return
            case .ready(let n)? where n > 0: continue
            default: close(connection); return  // EOF or error
            }
        }
    }

    private func updateInterest(_ connection: Connection) {
        guard !connection.isClosed else { return }
        var wanted: EpollEvents = []
        if connection.outputPending > 0 { wanted.insert(.writable) }
        let inputFull = connection.inputAvailable >= inputBytesMax
        if connection.phase == .lingering
            || (!connection.peerClosed && !connection.closeAfterWrite && !inputFull
                && connection.outputPending < configuration.outputBytesMax) {
            wanted.insert(.readable)
        }
        if wanted != connection.interest {
            do {
                try loop.modify(connection.descriptor, interest: wanted)
                connection.interest = wanted
            } catch {
                close(connection)
            }
        }
    }

    // MARK: timeouts

    /// sweep closes or answers connections past their deadline. It runs every
    /// `timeoutCheckInterval` while any connection is open; scanning all of them is
    /// a few microseconds per thousand and needs no per-request timer bookkeeping.
    private func sweep() {
        let now = loop.now
        if connectionCount == 0 {
            if let t = sweepTimer { loop.cancel(t); sweepTimer = nil }
            // Idle now: hand the closed connections' buffer pages back, so RSS after a
            // burst of connections returns to the idle figure.
            Memory.trimHeap()
            return
        }
        for case let connection? in connections {
            if let writeDeadline = connection.writeDeadline {
                if now >= writeDeadline {
                    statistics.writeTimeouts += 1
                    close(connection)
                }
                continue  // blocked output: the write timeout governs
            }
            guard connection.phase != .held, now >= connection.deadline else { continue }
            switch connection.phase {
            case .waiting:
                statistics.idleTimeouts += 1
                close(connection)
            case .readingHead:
                statistics.headerTimeouts += 1
                fail(connection, status: 408)
                flush(connection)
            case .readingBody:
                statistics.bodyTimeouts += 1
                fail(connection, status: 408)
                flush(connection)
            case .lingering:
                close(connection)
            case .held:
                break
            }
        }
    }

}

/// containsLineFeed says whether a LF is among the bytes `from..<to` of `base`, looking
/// one byte back so a CRLF split across reads is seen.
@inline(__always)
private func containsLineFeed(_ base: UnsafeRawPointer, from: Int, to: Int) -> Bool {
    var i = max(0, from - 1)
    while i < to {
        if base.load(fromByteOffset: i, as: UInt8.self) == 10 { return true }
        i += 1
    }
    return false
}

@inline(__always)
private func memcmpBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}
