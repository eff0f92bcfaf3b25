// Responses prepared once and written many times: the hot path copies their bytes into
// the connection's output buffer and builds nothing.

/// PreparedResponse is a status line, headers and body laid out as bytes once. The
/// server adds `Date`, `Connection` and the blank line when it writes one. An
/// application rebuilds its responses when its state changes, not per request.
///
/// @unchecked Sendable: the bytes are written in `init` and never again, so sharing
/// the object between threads only ever reads immutable memory.
public final class PreparedResponse: @unchecked Sendable {
    /// status is the numeric status code.
    public let status: Int
    let storage: UnsafeMutableRawBufferPointer
    /// headCount: bytes of status line and headers (each ending CRLF, no blank line).
    let headCount: Int

    /// head is the status line and headers without the final blank line.
    var head: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<headCount]) }
    /// body is the body sent after the blank line (not for HEAD).
    var body: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[headCount...]) }

    /// bodyCount is the body's length in bytes.
    public var bodyCount: Int { storage.count - headCount }

    /// init lays out a response. `headers` must not contain Content-Length, Date or
    /// Connection (the server writes those); names and values must be free of CR/LF.
    public init(status: Int, reason: String? = nil, contentType: String? = "application/json",
                headers: [(String, String)] = [], body: [UInt8]) {
        precondition((100...599).contains(status), "HTTP status \(status) is not in 100...599")
        var text = "HTTP/1.1 \(status) \(reason ?? Self.reasonPhrase(status))\r\n"
        if let contentType { text += "Content-Type: \(contentType)\r\n" }
        for (name, value) in headers {
            precondition(!name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }) &&
                         !value.contains(where: { $0 == "\r" || $0 == "\n" }),
                         "header \(name) would break the response framing")
            text += "\(name): \(value)\r\n"
        }
        // 1xx, 204 and 304 have no body and no Content-Length (RFC 9110 §8.6).
        let bodyless = status < 200 || status == 204 || status == 304
        precondition(!bodyless || body.isEmpty, "status \(status) cannot carry a body")
        if !bodyless { text += "Content-Length: \(body.count)\r\n" }
        let headBytes = Array(text.utf8)
        self.status = status
        headCount = headBytes.count
        storage = .allocate(byteCount: headBytes.count + body.count, alignment: 16)
        storage.copyBytes(from: headBytes + body)
    }

    /// init(status:text:) is a plain-text response.
    public convenience init(status: Int, text: String, headers: [(String, String)] = []) {
        self.init(status: status, contentType: "text/plain; charset=utf-8", headers: headers, body: Array(text.utf8))
    }

    deinit { storage.deallocate() }

    /// reasonPhrase is the standard phrase for the statuses this server uses.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
