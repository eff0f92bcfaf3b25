// The client side of HTTP/1.1, as the agent's own clients speak it (`baton leader`,
// `baton status`, the demo, the --check-url probe): one request writer and one answer
// reader, so the executable holds one HTTP client (issue 13) whatever carries the bytes.

/// HTTPClientMessage builds requests and reads answers. Requests always say
/// `Connection: close`: each client asks once, and the answer ends at end of stream.
public enum HTTPClientMessage {
    /// request is the bytes of one request. `body` is sent with its Content-Length (a
    /// POST without a body says `Content-Length: 0`, as servers require).
    public static func request(method: String, target: String, host: String, userAgent: String,
                               headers: [(String, String)] = [], body: [UInt8] = []) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: \(userAgent)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + body
    }

    /// Answer is a whole answer: its status and body.
    public struct Answer: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// statusLine is the first line of an answer, without its line end (for messages).
    public static func statusLine(_ bytes: some Collection<UInt8>) -> String? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var line = Array(bytes[..<end])
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    /// answer reads a whole answer, read to the end of the stream (the requests say
    /// `Connection: close`), through the one response-head parser (`parseResponseHead`).
    /// The body ends at Content-Length or at the end of the stream; nil when the bytes
    /// are not a complete, valid answer (a chunked body is not asked for, so not read).
    public static func answer(_ bytes: [UInt8], limits: HTTPResponseLimits = HTTPResponseLimits()) -> Answer? {
        let parsed = bytes.withUnsafeBytes { parseResponseHead($0, limits: limits) }
        guard case .complete(let head, let consumed) = parsed else { return nil }
        let rest = bytes[consumed...]
        switch head.bodyFraming {
        case .none: return Answer(status: head.status, body: [])
        case .length(let n): return rest.count >= n ? Answer(status: head.status, body: Array(rest.prefix(n))) : nil
        case .untilClose: return Answer(status: head.status, body: Array(rest))
        case .chunked: return nil
        }
    }
}
