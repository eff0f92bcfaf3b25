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

    /// Answer is a whole answer: status, header fields (names lower-cased) and body.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var bodyText: String { String(decoding: body, as: UTF8.self) }

        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.first { $0.name == wanted }?.value
        }
    }

    /// statusCode reads the status of an answer whose status line has arrived
    /// (`HTTP/1.x NNN …\r\n`); nil while it has not, or when it is not HTTP.
    public static func statusCode(_ bytes: some Collection<UInt8>) -> Int? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = Array(bytes[..<end])
        guard line.count >= 12, line.starts(with: Array("HTTP/1.".utf8)), line[8] == UInt8(ascii: " ") else { return nil }
        let digits = line[9..<12]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        guard line.count == 12 || line[12] == UInt8(ascii: " ") || line[12] == UInt8(ascii: "\r") else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    /// statusLine is the first line of an answer, without its line end (for messages).
    public static func statusLine(_ bytes: some Collection<UInt8>) -> String? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var line = Array(bytes[..<end])
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    /// answer reads a whole answer, read to the end of the stream. The body is what
    /// follows the head, cut to Content-Length when one is given; nil when the bytes are
    /// not an HTTP answer or the head never ends.
    public static func answer(_ bytes: [UInt8]) -> Answer? {
        guard let status = statusCode(bytes) else { return nil }
        let separator: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a]
        guard bytes.count >= 4, let headEnd = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        var headers: [(name: String, value: String)] = []
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self)
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })))
        }
        var body = Array(bytes[(headEnd + 4)...])
        if let length = headers.first(where: { $0.name == "content-length" }).flatMap({ Int($0.value) }), length < body.count {
            body = Array(body[..<length])
        }
        return Answer(status: status, headers: headers, body: body)
    }
}
