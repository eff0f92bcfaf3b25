// Test support: a server on its own loop thread with routes for every behaviour under
// test, and a blocking client over a real socket.
import EventLoop
import Foundation
import HTTPParser
import HTTPServer
import Posix
import Testing
import Time

/// TestServer runs an HTTPServer with the test routes on an EventLoopThread.
final class TestServer: Sendable {
    let thread: EventLoopThread
    let address: SocketAddress

    init(listen: String = "127.0.0.1:0", _ configure: @Sendable (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var configuration = HTTPServerConfiguration()
        // Short timeouts so timeout tests run fast; tests that need them tune further.
        configuration.timeoutCheckInterval = .milliseconds(10)
        configure(&configuration)
        let frozen = configuration
        (thread, address) = try EventLoopThread.start { loop in
            let server = try HTTPServer(loop: loop, address: SocketAddress(parsing: listen), configuration: frozen)
            installRoutes(server, loop: loop)
            return server.localAddress
        }
    }

    func stop() { thread.stop() }

    func client(receiveBufferBytes: Int32? = nil) throws -> TestClient {
        try TestClient(address, receiveBufferBytes: receiveBufferBytes)
    }

    /// statistics asks the server for its counters over a fresh connection.
    func statistics() throws -> [String: Int] {
        let c = try client()
        try c.send("GET /stats HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try c.readResponse()
        var result: [String: Int] = [:]
        for line in response.body.split(separator: "\n") {
            let parts = line.split(separator: "=")
            if parts.count == 2 { result[String(parts[0])] = Int(parts[1]) }
        }
        return result
    }
}

/// Held is the long-poll requests the test routes hold; lives on the loop thread.
final class HeldList {
    var requests: [HeldRequest] = []
}

let bigBody = [UInt8](repeating: UInt8(ascii: "x"), count: 32 * 1024)

func installRoutes(_ server: HTTPServer, loop: EventLoop) {
    let a = PreparedResponse(status: 200, text: "A")
    let b = PreparedResponse(status: 200, text: "B")
    let c = PreparedResponse(status: 200, text: "C")
    let big = PreparedResponse(status: 200, contentType: "application/octet-stream", body: bigBody)
    let timedOut = PreparedResponse(status: 200, text: "timeout")
    let held = HeldList()
    server.route(.get, "/a") { _ in .respond(a) }
    server.route(.get, "/b") { _ in .respond(b) }
    server.route(.get, "/c") { _ in .respond(c) }
    server.route(.get, "/big") { _ in .respond(big) }
    server.route(.post, "/echo") { request in
        let text = "got \(request.body.count): " + String(decoding: request.body, as: UTF8.self)
        return .respond(PreparedResponse(status: 200, text: text))
    }
    server.route(.put, "/echo") { _ in .respond(a) }
    server.route(.get, "/query") { request in
        .respond(PreparedResponse(status: 200, text: request.queryParameter("name") ?? "(none)"))
    }
    server.route(.get, "/header") { request in
        let value = request.header("x-probe").map { String(decoding: $0, as: UTF8.self) } ?? "(none)"
        return .respond(PreparedResponse(status: 200, text: value))
    }
    server.route(.get, "/wait") { request in
        held.requests.append(request.held)
        let ms = request.queryParameter("ms").flatMap { Int($0) } ?? 10_000
        return .hold(timeout: .milliseconds(Int64(ms)), onTimeout: timedOut)
    }
    let freshHolds = HeldList()
    server.route(.get, "/wait-fresh") { request in
        // Timed out with an answer computed at expiry (holdTimeoutResponder below).
        freshHolds.requests.append(request.held)
        return .hold(timeout: .milliseconds(50), onTimeout: timedOut)
    }
    server.holdTimeoutResponder = { held in
        freshHolds.requests.contains(held) ? PreparedResponse(status: 200, text: "fresh at expiry") : nil
    }
    server.route(.post, "/release") { [unowned server] _ in
        // Held requests are completed on the next loop turn, never from inside a handler
        // (the server refuses that: the waiter's next request would be parsed into the
        // header slots this handler's request still points into).
        let waiting = held.requests.filter { server.isHeld($0) }
        held.requests.removeAll()
        loop.schedule(after: .zero) { [unowned server] _ in
            for h in waiting { server.complete(h, with: PreparedResponse(status: 200, text: "released")) }
        }
        return .respond(PreparedResponse(status: 200, text: "released \(waiting.count)"))
    }
    server.route(.post, "/refusal-headers") { [unowned server] request in
        // The application's headers for the server's own 404 and 405 (the agent's term).
        server.setRefusalHeaders([("X-Term", request.queryParameter("term") ?? "")])
        return .respond(PreparedResponse(status: 200, text: "set"))
    }
    server.route(.get, "/stats") { [unowned server] _ in
        let s = server.statistics
        let text = """
            connectionsAccepted=\(s.connectionsAccepted)
            connectionsRejected=\(s.connectionsRejected)
            requests=\(s.requests)
            parseErrors=\(s.parseErrors)
            headerTimeouts=\(s.headerTimeouts)
            idleTimeouts=\(s.idleTimeouts)
            bodyTimeouts=\(s.bodyTimeouts)
            writeTimeouts=\(s.writeTimeouts)
            holdTimeouts=\(s.holdTimeouts)
            holdsRefused=\(s.holdsRefused)
            holdsEndedByPeerClose=\(s.holdsEndedByPeerClose)
            outputBytesPendingMax=\(s.outputBytesPendingMax)
            connectionCount=\(server.connectionCount)
            heldCount=\(server.heldCount)

            """
        return .respond(PreparedResponse(status: 200, text: text))
    }
}

struct Response {
    var status: Int
    var headers: [String: String]
    var body: String
    var bodyBytes: [UInt8]
}

struct ClientError: Error, CustomStringConvertible { var description: String }

/// TestClient is a blocking HTTP/1.1 client on a raw socket, so tests control exactly
/// which bytes go out and when.
final class TestClient {
    let socket: FileDescriptor
    var buffer: [UInt8] = []
    var sawEOF = false

    init(_ address: SocketAddress, receiveBufferBytes: Int32? = nil) throws {
        if let bytes = receiveBufferBytes {
            // SO_RCVBUF must be set before connect to limit the window.
            socket = try Socket.connectWithReceiveBuffer(to: address, bytes: bytes)
        } else {
            socket = try Socket.connect(to: address)
        }
        try Socket.setReceiveTimeoutMs(socket, 5000)
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try socket.writeAll(raw) }
    }

    /// fill reads once; false on EOF or reset.
    @discardableResult
    func fill(timeoutMs: Int = 5000) throws -> Bool {
        try Socket.setReceiveTimeoutMs(socket, timeoutMs)
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n: Int
        do {
            n = try chunk.withUnsafeMutableBytes { raw in try socket.readBlocking(into: raw) }
        } catch let error as Errno where error == .connectionReset {
            sawEOF = true
            return false
        }
        if n == 0 { sawEOF = true; return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// readResponse reads one response (body per Content-Length, none for HEAD).
    func readResponse(isHead: Bool = false, timeoutMs: Int = 5000) throws -> Response {
        while headEnd() == nil {
            if try !fill(timeoutMs: timeoutMs) { throw ClientError(description: "EOF before a response head; got \(String(decoding: buffer, as: UTF8.self))") }
        }
        let end = headEnd()!
        let headText = String(decoding: buffer[0..<end - 4], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ClientError(description: "bad status line \(statusLine)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmedSpaces()
        }
        var length = Int(headers["content-length"] ?? "0") ?? 0
        if isHead || status < 200 || status == 204 || status == 304 { length = 0 }
        while buffer.count < end + length {
            if try !fill(timeoutMs: timeoutMs) { throw ClientError(description: "EOF inside a body") }
        }
        let body = Array(buffer[end..<end + length])
        buffer.removeFirst(end + length)
        return Response(status: status, headers: headers, body: String(decoding: body, as: UTF8.self), bodyBytes: body)
    }

    /// isClosedByServer reads until EOF; true if EOF (or reset) comes within `timeoutMs`
    /// with no more bytes than already expected.
    func isClosedByServer(timeoutMs: Int = 3000) throws -> Bool {
        if sawEOF { return true }
        let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
        while Clock.boottime() < deadline {
            do {
                if try !fill(timeoutMs: max(1, Int((deadline &- Clock.boottime()) / 1_000_000))) { return true }
            } catch let error as Errno where error == .wouldBlock {
                return false
            }
        }
        return false
    }

    /// stillOpen checks that nothing arrives and the connection is not closed within `ms`.
    func staysOpenAndSilent(forMs ms: Int) throws -> Bool {
        do {
            return try fill(timeoutMs: ms) == false ? false : false
        } catch let error as Errno where error == .wouldBlock {
            return true
        }
    }
}

extension String {
    func trimmedSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// waitUntil polls `condition` every 10 ms for up to `timeoutMs`.
func waitUntil(timeoutMs: Int = 3000, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
    while Clock.boottime() < deadline {
        if try condition() { return true }
        try PosixThread.sleepMs(10)
    }
    return try condition()
}
