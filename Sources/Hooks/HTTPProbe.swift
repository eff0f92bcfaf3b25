// `--check-url`: one plain-HTTP GET on the loop; a 2xx status line means healthy.
import EventLoop
import HTTPParser
public import HookSyntax
public import Posix
import Time

/// HTTPCheckTarget is a parsed `http://HOST:PORT/PATH` (no TLS: the check talks to the
/// application on this machine or its network). The host is resolved once, at start-up,
/// so a probe never blocks the loop in a DNS lookup.
public struct HTTPCheckTarget: Hashable, Sendable {
    public var address: SocketAddress
    public var hostHeader: String
    public var path: String

    /// resolve parses and resolves the URL (blocking: call it before the loop runs).
    public static func resolve(_ url: String) throws(HookSyntaxError) -> HTTPCheckTarget {
        let parsed = try CheckURL(parsing: url)
        let addresses: [SocketAddress]
        do { addresses = try Resolver.resolve(host: parsed.host, port: parsed.port) } catch {
            throw HookSyntaxError(message: "'\(url)': \(error)")
        }
        guard let first = addresses.first else { throw HookSyntaxError(message: "'\(url)': \(parsed.host) has no address") }
        return HTTPCheckTarget(address: first, hostHeader: parsed.hostHeader, path: parsed.path)
    }
}

/// HTTPProbe sends one GET and reports whether the status was 2xx, within `timeout`.
final class HTTPProbe: EventHandler {
    /// maxResponseHeadBytes: only the head matters (its status); reading stops at this many bytes.
    static let maxResponseHeadBytes = 8 * 1024

    let loop: EventLoop
    let socket: FileDescriptor
    let request: [UInt8]
    var sent = 0
    var received: [UInt8] = []
    var done: ((Bool, String) -> Void)?
    var timer: TimerID?

    private init(loop: EventLoop, socket: consuming FileDescriptor, request: [UInt8], done: @escaping (Bool, String) -> Void) {
        self.loop = loop
        self.socket = socket
        self.request = request
        self.done = done
    }

    /// start connects (non-blocking) and calls `done(passed, detail)` once, on the loop.
    static func start(loop: EventLoop, target: HTTPCheckTarget, timeout: Interval, done: @escaping (Bool, String) -> Void) {
        let fd: FileDescriptor
        do { fd = try Socket.connect(to: target.address, nonBlocking: true) } catch {
            loop.schedule(after: .zero) { _ in done(false, "connect: \(error)") }
            return
        }
        let request = HTTPClientMessage.request(method: "GET", target: target.path, host: target.hostHeader, userAgent: "baton-check")
        let probe = HTTPProbe(loop: loop, socket: fd, request: request, done: done)
        do { try loop.register(probe.socket.rawValue, interest: .writable, handler: probe) } catch {
            loop.schedule(after: .zero) { _ in done(false, "register: \(error)") }
            return
        }
        probe.timer = loop.schedule(after: timeout) { [probe] _ in
            probe.timer = nil
            probe.finish(false, "no answer within \(timeout.formatted)")
        }
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        if sent < request.count {
            if let error = Socket.pendingError(socket) { return finish(false, "connect: \(error)") }
            let result = request[sent...].withUnsafeBytes { try? socket.write($0) }
            switch result {
            case .ready(let n)?: sent += n
            case .wouldBlock?: return
            case nil: return finish(false, "send failed")
            }
            if sent == request.count { try? loop.modify(socket.rawValue, interest: .readable) }
            return
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let result: IOResult<Int>? = buffer.withUnsafeMutableBytes { try? socket.read(into: $0) }
        switch result {
        case .wouldBlock?: return
        case .ready(let n)? where n > 0:
            received += buffer[0..<n]
            let limits = HTTPResponseLimits(headBytesMax: Self.maxResponseHeadBytes)
            switch received.withUnsafeBytes({ parseResponseHead($0, limits: limits) }) {
            case .complete(let head, _):
                return finish((200..<300).contains(head.status), HTTPClientMessage.statusLine(received) ?? "status \(head.status)")
            case .invalid(let why):
                return finish(false, "not an HTTP answer: \(why)")
            case .partial:
                break
            }
            if received.count >= Self.maxResponseHeadBytes { return finish(false, "answer head longer than \(Self.maxResponseHeadBytes) bytes") }
        default:
            finish(false, received.isEmpty ? "connection closed without an answer" : "incomplete status line")
        }
    }

    private func finish(_ passed: Bool, _ detail: String) {
        guard let callback = done else { return }
        done = nil
        if let t = timer { loop.cancel(t); timer = nil }
        loop.unregister(socket.rawValue)   // drops the loop's reference; deinit closes the socket
        callback(passed, detail)
    }
}
