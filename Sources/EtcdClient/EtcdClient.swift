// An etcd v3 client on Baton's own event loop.
//
// Why the JSON gateway and not gRPC: etcd's native API is gRPC over HTTP/2, and the
// Swift gRPC library (grpc-swift 2) carries it over SwiftNIO, which the project does not
// use (one epoll loop of our own, no second runtime and thread pool in a sidecar whose
// RSS is a benchmark figure). Every etcd since 3.3 also serves the same v3 API as JSON
// over HTTP/1.1 (grpc-gateway), which needs nothing but a socket, the response parser
// and a JSON reader — all small and pure. What it costs: one HTTP request per lease
// renewal (the 3.4 gateway cannot keep a request stream open), base64 keys, and no
// multiplexing, so the client keeps a few connections instead of one.
//
// The client knows nothing about elections: it carries `EtcdCall`s and hands back
// `EtcdReply`s or `EtcdFailure`s, always from the loop and never from inside `start`, so
// a state machine that asked for a call is never re-entered by its answer.
public import EtcdAPI
public import EventLoop
import JSON
import Posix
import Time

/// EtcdCallID names one started call, to cancel it.
public struct EtcdCallID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt64
    public var description: String { "call#\(raw)" }
}

/// EtcdClient runs calls against a list of endpoints with failover. Not thread-safe:
/// use it from its loop's thread only.
public final class EtcdClient {
    /// Reply is where a call's answers go: once for an ordinary call; for a watch once
    /// per message, then once with the failure that ended it (never after `cancel`).
    public typealias Reply = (Result<EtcdReply, EtcdFailure>) -> Void

    final class Call {
        let id: EtcdCallID
        let call: EtcdCall
        let body: String
        let reply: Reply
        let deadlineNs: UInt64
        var timer: TimerID?
        var connection: EtcdConnection?
        /// sent: the request was written to `connection`.
        var sent = false
        /// answered: a reply was delivered (a keep-alive completes at its first message;
        /// a watch at its `created` message, after which only its end is reported).
        var answered = false
        var retriedStale = false
        /// held: a keep-alive's answer, delivered when its stream ends, so the next call
        /// finds the connection idle instead of opening another.
        var held: Result<EtcdReply, EtcdFailure>?
        var lastFailure = ""
        init(id: EtcdCallID, call: EtcdCall, reply: @escaping Reply, deadlineNs: UInt64) {
            self.id = id
            self.call = call
            self.body = call.body
            self.reply = reply
            self.deadlineNs = deadlineNs
        }
    }

    struct EndpointState {
        var failures = 0
        var downUntilNs: UInt64 = 0
        var lastError = ""
    }

    /// Stats are counters for /status and metrics.
    public struct Stats: Hashable, Sendable {
        public var callsStarted = 0
        public var callsSucceeded = 0
        public var callsFailed = 0
        public var connectionsOpened = 0
        public var endpointSwitches = 0
    }

    public let loop: EventLoop
    public let options: EtcdClientOptions
    private var endpoints: [EndpointState]
    /// current is the endpoint new connections go to.
    public private(set) var currentEndpointIndex = 0
    private var connections: [EtcdConnection] = []
    private var queue: [Call] = []
    private var active: [EtcdCallID: Call] = [:]
    private var nextID: UInt64 = 1
    private var closed = false
    public private(set) var stats = Stats()
    private let readBuffer: UnsafeMutableRawBufferPointer

    public init(loop: EventLoop, options: EtcdClientOptions) throws(EtcdEndpoint.ParseError) {
        try options.validate()
        self.loop = loop
        self.options = options
        self.endpoints = Array(repeating: EndpointState(), count: options.endpoints.count)
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        // The loop holds the connections as handlers: unregister them before the buffer
        // they read into goes away.
        for c in connections { c.detach() }
        readBuffer.deallocate()
    }

    /// currentEndpoint is the endpoint in use (for /status).
    public var currentEndpoint: EtcdEndpoint { options.endpoints[currentEndpointIndex] }

    /// openConnectionCount is how many connections are open (for tests and metrics).
    public var openConnectionCount: Int { connections.count }

    /// start begins a call that must be answered within `timeoutMs` (for a watch: set up
    /// within it). The reply always comes later from the loop, never from inside `start`.
    @discardableResult
    public func start(_ call: EtcdCall, timeoutMs: Int, reply: @escaping Reply) -> EtcdCallID {
        precondition(timeoutMs > 0, "an etcd call needs a positive timeout")
        let id = EtcdCallID(raw: nextID)
        nextID += 1
        stats.callsStarted += 1
        let entry = Call(id: id, call: call, reply: reply, deadlineNs: Clock.boottime() + UInt64(timeoutMs) * 1_000_000)
        if closed {
            later(entry, .refused("the client is closed"))
            return id
        }
        if queue.count >= options.queuedCallCountMax {
            later(entry, .refused("\(options.queuedCallCountMax) calls already wait for a connection"))
            return id
        }
        if call.isWatch && activeWatchCount >= options.watchCountMax {
            later(entry, .refused("\(options.watchCountMax) watches already open"))
            return id
        }
        active[id] = entry
        entry.timer = loop.schedule(at: Instant(nanoseconds: Int64(entry.deadlineNs))) { [weak self] _ in self?.timedOut(id) }
        queue.append(entry)
        pump()
        return id
    }

    /// cancel ends a call without a reply; a watch's connection is closed.
    public func cancel(_ id: EtcdCallID) {
        guard let entry = active.removeValue(forKey: id) else { return }
        if let t = entry.timer { loop.cancel(t) }
        queue.removeAll { $0.id == id }
        if let c = entry.connection {
            entry.connection = nil
            c.close(reason: "", quietly: true)
        }
    }

    /// close cancels every call (each ordinary call is answered `.refused`; watches end
    /// quietly) and closes every connection.
    public func close() {
        closed = true
        for entry in Array(active.values) {
            let isWatchStream = entry.call.isWatch && entry.answered
            cancel(entry.id)
            if !isWatchStream && !entry.answered { later(entry, .refused("the client is closed")) }
        }
        for c in connections { c.close(reason: "", quietly: true) }
        connections.removeAll()
    }

    private var activeWatchCount: Int { active.values.filter { $0.call.isWatch }.count }

    // MARK: dispatch

    /// later delivers a failure from the loop (never re-entrantly).
    private func later(_ entry: Call, _ failure: EtcdFailure) {
        stats.callsFailed += 1
        loop.schedule(after: .zero) { _ in entry.reply(.failure(failure)) }
    }

    /// finish removes a call and delivers its last reply.
    private func finish(_ entry: Call, _ result: Result<EtcdReply, EtcdFailure>) {
        guard active.removeValue(forKey: entry.id) != nil else { return }
        if let t = entry.timer { loop.cancel(t) }
        entry.timer = nil
        switch result {
        case .success: stats.callsSucceeded += 1
        case .failure: stats.callsFailed += 1
        }
        entry.reply(result)
    }

    /// pump gives queued calls to idle connections, opening new ones within the caps.
    private func pump() {
        var index = 0
        while index < queue.count {
            let entry = queue[index]
            guard active[entry.id] != nil else { queue.remove(at: index); continue }
            guard let endpoint = usableEndpoint() else {
                queue.remove(at: index)
                let why = endpoints.map(\.lastError).filter { !$0.isEmpty }.last ?? "every endpoint is backing off"
                finish(entry, .failure(.unreachable(entry.lastFailure.isEmpty ? why : entry.lastFailure)))
                continue
            }
            if entry.call.isWatch {
                queue.remove(at: index)
                let c = openConnection(endpoint, isWatch: true)
                entry.connection = c
                watchOwners[ObjectIdentifier(c)] = entry.id
                continue
            }
            if let idle = connections.first(where: { $0.phase == .idle && !$0.isWatch && $0.endpointIndex == endpoint && owner(of: $0) == nil }) {
                queue.remove(at: index)
                send(entry, on: idle)
                continue
            }
            let unaryCount = connections.filter { !$0.isWatch }.count
            let connectingIdle = connections.filter { !$0.isWatch && $0.phase == .connecting && owner(of: $0) == nil }.count
            if unaryCount < options.connectionCountMax && connectingIdle == 0 {
                _ = openConnection(endpoint, isWatch: false)
            }
            index += 1
        }
    }

    /// usableEndpoint is the current endpoint, or the next one not backing off (which
    /// becomes current); nil when every endpoint is backing off.
    private func usableEndpoint() -> Int? {
        let now = Clock.boottime()
        for step in 0..<endpoints.count {
            let i = (currentEndpointIndex + step) % endpoints.count
            if endpoints[i].downUntilNs <= now {
                if i != currentEndpointIndex {
                    currentEndpointIndex = i
                    stats.endpointSwitches += 1
                    // Idle connections to the old endpoint would keep sending there.
                    for c in connections where c.phase == .idle && c.endpointIndex != i && owner(of: c) == nil {
                        c.close(reason: "", quietly: true)
                    }
                }
                return i
            }
        }
        return nil
    }

    private var watchOwners: [ObjectIdentifier: EtcdCallID] = [:]
    private var unaryOwners: [ObjectIdentifier: EtcdCallID] = [:]

    private func owner(of c: EtcdConnection) -> Call? {
        let key = ObjectIdentifier(c)
        if let id = watchOwners[key] ?? unaryOwners[key] { return active[id] }
        return nil
    }

    private func openConnection(_ endpoint: Int, isWatch: Bool) -> EtcdConnection {
        let c = EtcdConnection(owner: self, loop: loop, endpointIndex: endpoint, options: options, isWatch: isWatch, readBuffer: readBuffer)
        connections.append(c)
        stats.connectionsOpened += 1
        c.open()
        return c
    }

    private func send(_ entry: Call, on c: EtcdConnection) {
        entry.connection = c
        entry.sent = true
        if c.isWatch { watchOwners[ObjectIdentifier(c)] = entry.id } else { unaryOwners[ObjectIdentifier(c)] = entry.id }
        c.send(path: entry.call.path, body: entry.body, requireLeader: options.requireLeader, isStream: entry.call.isStream)
    }

    private func timedOut(_ id: EtcdCallID) {
        guard let entry = active[id] else { return }
        entry.timer = nil
        queue.removeAll { $0.id == id }
        let c = entry.connection
        entry.connection = nil
        if let c {
            // The connection still owes an answer nobody wants: it cannot be reused.
            noteFailure(c.endpointIndex, "call timed out")
            forget(c)
            c.close(reason: "", quietly: true)
        }
        finish(entry, .failure(.timedOut))
        pump()
    }

    private func forget(_ c: EtcdConnection) {
        watchOwners[ObjectIdentifier(c)] = nil
        unaryOwners[ObjectIdentifier(c)] = nil
    }

    private func noteFailure(_ endpoint: Int, _ reason: String) {
        var state = endpoints[endpoint]
        state.failures += 1
        let backoff = min(options.backoffMaxMs, options.backoffInitialMs << min(state.failures - 1, 20))
        state.downUntilNs = Clock.boottime() + UInt64(backoff) * 1_000_000
        state.lastError = "\(options.endpoints[endpoint]): \(reason)"
        endpoints[endpoint] = state
    }

    private func noteSuccess(_ endpoint: Int) {
        endpoints[endpoint].failures = 0
        endpoints[endpoint].downUntilNs = 0
    }
}

extension EtcdClient: EtcdConnectionOwner {
    func connectionConnected(_ c: EtcdConnection) {
        if c.isWatch {
            guard let entry = owner(of: c) else { c.close(reason: "", quietly: true); return }
            c.sendWatch(entry)
            return
        }
        // Take the oldest queued call for this endpoint.
        if let index = queue.firstIndex(where: { active[$0.id] != nil && !$0.call.isWatch }) {
            let entry = queue.remove(at: index)
            send(entry, on: c)
        }
        pump()
    }

    func connection(_ c: EtcdConnection, answered status: Int, body: JSONValue) {
        guard let entry = owner(of: c) else { return }
        let result = entry.call.decodeAnswer(status: status, body: body)
        if case .success = result { noteSuccess(c.endpointIndex) }
        if case .failure(.server(let code, _)) = result, code == 14 || code == 4 {
            // Unavailable or deadline exceeded: this member cannot serve (no leader, no quorum).
            noteFailure(c.endpointIndex, "\(result)")
        }
        if entry.call.isWatch {
            switch result {
            case .success(.watch(let w)) where w.canceled:
                entry.answered = true
                forget(c)
                entry.connection = nil
                c.close(reason: "", quietly: true)
                let reason = w.compactRevision > 0 ? "compacted" : (w.cancelReason.isEmpty ? "watch canceled" : w.cancelReason)
                finish(entry, .failure(.server(code: w.compactRevision > 0 ? EtcdFailure.grpcOutOfRange : -1,
                                               message: w.compactRevision > 0 ? "\(reason) at revision \(w.compactRevision)" : reason)))
            case .success(let reply):
                if !entry.answered {
                    entry.answered = true
                    if let t = entry.timer { loop.cancel(t); entry.timer = nil }
                }
                stats.callsSucceeded += 1
                entry.reply(.success(reply))
            case .failure:
                forget(c)
                entry.connection = nil
                c.close(reason: "", quietly: true)
                finish(entry, result)
            }
            return
        }
        guard !entry.answered, entry.held == nil else { return }
        if entry.call.isStream && status == 200 {
            entry.held = result
            return
        }
        entry.answered = true
        finish(entry, result)
    }

    func connectionFinished(_ c: EtcdConnection) {
        if let entry = owner(of: c), let held = entry.held, !entry.answered {
            entry.answered = true
            finish(entry, held)
        }
        forget(c)
        if c.isWatch {
            // A watch answer that ended: the stream is over.
            c.close(reason: "watch stream ended", quietly: false)
            return
        }
        pump()
    }

    func connectionClosed(_ c: EtcdConnection, reason: String, answerStarted: Bool) {
        connections.removeAll { $0 === c }
        let entry = owner(of: c)
        forget(c)
        if !reason.isEmpty && (entry != nil || c.servedCount == 0) { noteFailure(c.endpointIndex, reason) }
        if let entry, active[entry.id] != nil {
            entry.connection = nil
            if let held = entry.held, !entry.answered {
                entry.answered = true
                finish(entry, held)
            } else if entry.call.isWatch {
                if entry.answered {
                    finish(entry, .failure(.unreachable(reason.isEmpty ? "watch stream ended" : reason)))
                } else {
                    // Not set up yet: try the next endpoint while the deadline allows.
                    entry.lastFailure = reason
                    queue.append(entry)
                }
            } else if !entry.sent {
                entry.lastFailure = reason
                queue.append(entry)
            } else if !entry.answered && !answerStarted && c.servedCount > 0 && !entry.retriedStale {
                // A reused connection that etcd closed while idle: the request most likely
                // never arrived. Send it once more on a fresh connection.
                entry.retriedStale = true
                entry.sent = false
                queue.insert(entry, at: 0)
            } else if !entry.answered {
                finish(entry, .failure(.unreachable(reason.isEmpty ? "connection closed" : reason)))
            }
        }
        if !closed { pump() }
    }
}

extension EtcdConnection {
    func sendWatch(_ entry: EtcdClient.Call) {
        send(path: entry.call.path, body: entry.body, requireLeader: options.requireLeader, isStream: true)
        entry.sent = true
    }
}
