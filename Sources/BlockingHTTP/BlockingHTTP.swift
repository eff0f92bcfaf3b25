// One blocking HTTP/1.1 request over TCP with bounded connect and answer times, for
// callers off the event loop: the `baton` client commands, and the agent's resolver-
// and-send thread that forwards a follower's hook outcomes to the leader. Moved here
// from the CLI so both use the one exchange (HTTPParser's HTTPClientMessage).
public import HTTPParser
import Posix
import Time

#if canImport(Glibc)
import Glibc
#endif

/// BlockingHTTPError says why a request got no answer.
public struct BlockingHTTPError: Error, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

public enum BlockingHTTP {
    /// maxAnswerBytes bounds an answer (the agent's largest, /metrics, is a few KiB).
    public static let maxAnswerBytes = 1 << 20

    /// request resolves `host` (blocking), makes one request and reads the whole answer,
    /// waiting at most `timeoutMs` for the connection and then for the answer.
    public static func request(_ method: String, _ path: String, host: String, port: UInt16, headers: [(String, String)] = [],
                               body: [UInt8] = [], timeoutMs: Int = 2_000, userAgent: String = "baton") -> Result<HTTPClientMessage.Answer, BlockingHTTPError> {
        let addresses: [SocketAddress]
        do { addresses = try Resolver.resolve(host: host, port: port) } catch { return .failure(BlockingHTTPError(message: "\(error)")) }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var lastError = "no address"
        for address in addresses {
            let fd: FileDescriptor
            do { fd = try Socket.connect(to: address, nonBlocking: true) } catch { lastError = "\(error)"; continue }
            if let problem = waitConnected(fd, timeoutMs: timeoutMs) { lastError = problem; continue }
            return exchange(fd, method: method, path: path, host: hostHeader, headers: headers, body: body,
                            timeoutMs: timeoutMs, userAgent: userAgent)
        }
        return .failure(BlockingHTTPError(message: lastError))
    }

    /// waitConnected waits for a non-blocking connect; nil once connected.
    private static func waitConnected(_ fd: borrowing FileDescriptor, timeoutMs: Int) -> String? {
        var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        let n = poll(&p, 1, Int32(clamping: timeoutMs))
        if n == 0 { return "no connection within \(timeoutMs) ms" }
        if n < 0 { return "poll: \(Errno(rawValue: errno))" }
        if let error = Socket.pendingError(fd) { return "\(error)" }
        return nil
    }

    private static func exchange(_ fd: borrowing FileDescriptor, method: String, path: String, host: String,
                                 headers: [(String, String)], body: [UInt8], timeoutMs: Int, userAgent: String) -> Result<HTTPClientMessage.Answer, BlockingHTTPError> {
        let request = HTTPClientMessage.request(method: method, target: path, host: host, userAgent: userAgent, headers: headers, body: body)
        var sent = 0
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
        while true {
            let now = Clock.boottime()
            guard now < deadline else { return .failure(BlockingHTTPError(message: "no answer within \(timeoutMs) ms")) }
            var p = pollfd(fd: fd.rawValue, events: Int16(sent < request.count ? POLLOUT : POLLIN), revents: 0)
            if poll(&p, 1, Int32(clamping: (deadline - now) / 1_000_000 + 1)) < 0 && errno != EINTR {
                return .failure(BlockingHTTPError(message: "poll: \(Errno(rawValue: errno))"))
            }
            if sent < request.count {
                switch request[sent...].withUnsafeBytes({ try? fd.write($0) }) {
                case .ready(let n)?: sent += n
                case .wouldBlock?: continue
                case nil: return .failure(BlockingHTTPError(message: "the connection closed while sending"))
                }
                continue
            }
            switch buffer.withUnsafeMutableBytes({ try? fd.read(into: $0) }) {
            case .wouldBlock?: continue
            case .ready(let n)? where n > 0:
                response += buffer[0..<n]
                if response.count > maxAnswerBytes { return .failure(BlockingHTTPError(message: "an answer over \(maxAnswerBytes) bytes")) }
            case .ready?:
                guard let answer = HTTPClientMessage.answer(response) else {
                    return .failure(BlockingHTTPError(message: response.isEmpty ? "the connection closed without an answer" : "not an HTTP answer"))
                }
                return .success(answer)
            case nil:
                return .failure(BlockingHTTPError(message: "the connection failed while reading"))
            }
        }
    }
}
