// The response-head parser, for the project's HTTP clients (the etcd client): the
// status line and header section of RFC 9112 §4–§6, read in one forward scan over
// borrowed bytes like `parseRequestHead`, with the same byte classes and the same
// strictness (CRLF only, no obs-fold, every size capped). It reports only what a client
// needs to frame the body and keep the connection: status, Content-Length, chunked,
// Connection: close. Pure, allocation-free, and a libFuzzer target (fuzz/).

/// HTTPResponseLimits caps what one response head may cost a client.
public struct HTTPResponseLimits: Hashable, Sendable {
    /// headBytesMax: the status line and header section with its final empty line.
    public var headBytesMax: Int = 16 * 1024
    /// headerCountMax: header fields.
    public var headerCountMax: Int = 64
    public init(headBytesMax: Int = 16 * 1024, headerCountMax: Int = 64) {
        self.headBytesMax = headBytesMax
        self.headerCountMax = headerCountMax
    }
}

/// HTTPResponseHead is what the client learned from the head.
public struct HTTPResponseHead: Hashable, Sendable {
    /// status is the three-digit status code (100...999).
    public var status: Int = 0
    /// versionMinor: 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: UInt8 = 1
    /// contentLength is the body length when the response has Content-Length, else nil.
    public var contentLength: Int? = nil
    /// chunked: the body is in the chunked transfer coding (RFC 9112 §7.1).
    public var chunked = false
    /// keepAlive: the connection may carry another request after this response.
    public var keepAlive = true
    public init() {}

    /// bodyFraming is how the body ends (RFC 9112 §6.3), for a response to a request
    /// other than HEAD.
    public var bodyFraming: HTTPBodyFraming {
        if status < 200 || status == 204 || status == 304 { return .none }
        if chunked { return .chunked }
        if let length = contentLength { return .length(length) }
        return .untilClose
    }
}

/// HTTPBodyFraming is how a response body is delimited (RFC 9112 §6.3).
public enum HTTPBodyFraming: Hashable, Sendable {
    case none
    case length(Int)
    case chunked
    case untilClose
}

/// HTTPResponseParseResult is the outcome of one `parseResponseHead` call.
public enum HTTPResponseParseResult: Hashable, Sendable {
    /// The head ends `consumed` bytes into the input.
    case complete(HTTPResponseHead, consumed: Int)
    /// Every byte so far fits a valid head within the limits; read more.
    case partial
    /// The bytes cannot be (the start of) a valid head within the limits.
    case invalid(String)
}

/// parseResponseHead(_:limits:) parses the status line and header section at the start
/// of `bytes`. Once a prefix is `.invalid`, every longer input is `.invalid` too.
/// Transfer codings other than a single `chunked` are refused (we ask for none), and so
/// are Content-Length together with Transfer-Encoding and conflicting lengths (the
/// smuggling cases of RFC 9112 §6.3).
public func parseResponseHead(_ bytes: UnsafeRawBufferPointer, limits: HTTPResponseLimits = HTTPResponseLimits()) -> HTTPResponseParseResult {
    var scanner = ResponseHeadScanner(bytes: bytes, limit: max(0, min(limits.headBytesMax, HTTPLimits.hardCap)),
                                      headerCountMax: max(0, limits.headerCountMax))
    do throws(ParseStop) {
        let consumed = try scanner.scan()
        return .complete(scanner.head, consumed: consumed)
    } catch {
        switch error {
        case .partial: return .partial
        case .invalid(let reason): return .invalid(reason.responseText)
        }
    }
}

extension HTTPParseError {
    /// responseText is the reason of a refusal for a client's log.
    var responseText: String {
        switch self {
        case .badRequest(let reason): "\(reason)"
        default: "\(self)"
        }
    }
}

/// ResponseHeadScanner is one scan of a response head.
struct ResponseHeadScanner {
    let bytes: UnsafeRawBufferPointer
    /// end is where the head must have ended (the limit, or the input's end if shorter).
    let end: Int
    let limitReached: Bool
    let headerCountMax: Int
    var head = HTTPResponseHead()

    init(bytes: UnsafeRawBufferPointer, limit: Int, headerCountMax: Int) {
        self.bytes = bytes
        self.end = min(bytes.count, limit)
        self.limitReached = bytes.count >= limit
        self.headerCountMax = headerCountMax
    }

    /// need(_:) stops the scan for want of byte `i`: past the limit the head is too large.
    func need(_ i: Int) -> ParseStop {
        limitReached && i >= end ? bad("response head larger than the limit") : .partial
    }

    func byte(_ i: Int) throws(ParseStop) -> UInt8 {
        guard i < end else { throw need(i) }
        return bytes[i]
    }

    /// crlf(_:) checks a CRLF at `i` and returns the index after it.
    func crlf(_ i: Int) throws(ParseStop) -> Int {
        let cr = try byte(i)
        guard cr == ASCII.cr else { throw bad(cr == ASCII.lf ? "bare LF: lines must end with CRLF" : "unexpected byte at line end") }
        guard try byte(i + 1) == ASCII.lf else { throw bad("bare CR") }
        return i + 2
    }

    mutating func scan() throws(ParseStop) -> Int {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4)
        let version: StaticString = "HTTP/1."
        for k in 0..<version.utf8CodeUnitCount where try byte(k) != version.utf8Start[k] {
            throw bad("response does not start with HTTP/1.")
        }
        let minor = try byte(7)
        guard minor == ASCII.zero || minor == ASCII.zero + 1 else { throw bad("unsupported HTTP version") }
        head.versionMinor = minor - ASCII.zero
        guard try byte(8) == ASCII.sp else { throw bad("malformed status line") }
        var status = 0
        for k in 9..<12 {
            let d = try byte(k)
            guard ByteClass.isDigit(d) else { throw bad("status code is not three digits") }
            status = status * 10 + Int(d - ASCII.zero)
        }
        guard status >= 100 else { throw bad("status code below 100") }
        head.status = status
        var i = 12
        let afterCode = try byte(i)
        if afterCode == ASCII.sp {
            i += 1
            while ByteClass.isFieldValueChar(try byte(i)) { i += 1 }
        }
        i = try crlf(i)

        var contentLength = -1
        var transferEncoding = false
        var chunked = false
        var connectionClose = false
        var connectionKeepAlive = false
        var fields = 0
        while true {
            let first = try byte(i)
            if first == ASCII.cr { i = try crlf(i); break }
            if ByteClass.isOWS(first) { throw bad("obsolete line folding or leading whitespace") }
            guard fields < headerCountMax else { throw bad("more header fields than the limit") }
            fields += 1
            let nameStart = i
            while ByteClass.isTokenChar(try byte(i)) { i += 1 }
            guard i > nameStart, try byte(i) == ASCII.colon else { throw bad("header name is not a token followed by ':'") }
            let nameEnd = i
            i += 1
            while ByteClass.isOWS(try byte(i)) { i += 1 }
            let valueStart = i
            while ByteClass.isFieldValueChar(try byte(i)) { i += 1 }
            var valueEnd = i
            while valueEnd > valueStart && ByteClass.isOWS(bytes[valueEnd - 1]) { valueEnd -= 1 }
            i = try crlf(i)
            switch nameEnd - nameStart {
            case 10 where folded(nameStart, "connection"):
                connectionClose = connectionClose || listContains(valueStart, valueEnd, "close")
                connectionKeepAlive = connectionKeepAlive || listContains(valueStart, valueEnd, "keep-alive")
            case 14 where folded(nameStart, "content-length"):
                var value = 0
                guard valueEnd > valueStart else { throw bad("empty Content-Length") }
                for k in valueStart..<valueEnd {
                    guard ByteClass.isDigit(bytes[k]) else { throw bad("Content-Length is not 1*DIGIT") }
                    value = min(value * 10 + Int(bytes[k] - ASCII.zero), FramingFields.contentLengthSaturated)
                }
                if contentLength >= 0 && contentLength != value { throw bad("conflicting Content-Length values") }
                contentLength = value
            case 17 where folded(nameStart, "transfer-encoding"):
                guard !transferEncoding else { throw bad("more than one Transfer-Encoding field") }
                transferEncoding = true
                chunked = valueEnd - valueStart == 7 && folded(valueStart, "chunked")
                guard chunked else { throw bad("transfer coding other than chunked") }
            default:
                break
            }
        }
        if transferEncoding && contentLength >= 0 { throw bad("both Content-Length and Transfer-Encoding") }
        head.chunked = chunked
        head.contentLength = contentLength >= 0 ? contentLength : nil
        head.keepAlive = !connectionClose && (head.versionMinor == 1 || connectionKeepAlive)
        // A body that ends at close leaves nothing after it to keep.
        if head.bodyFraming == .untilClose { head.keepAlive = false }
        return i
    }

    func folded(_ s: Int, _ literal: StaticString) -> Bool {
        for k in 0..<literal.utf8CodeUnitCount where ByteClass.foldedLetter(bytes[s + k]) != literal.utf8Start[k] { return false }
        return true
    }

    /// listContains(_:_:_:) says whether a comma list holds `token` (ASCII case ignored).
    func listContains(_ start: Int, _ end: Int, _ token: StaticString) -> Bool {
        var i = start
        while i < end {
            while i < end && (ByteClass.isOWS(bytes[i]) || bytes[i] == ASCII.comma) { i += 1 }
            let s = i
            while i < end && bytes[i] != ASCII.comma { i += 1 }
            var e = i
            while e > s && ByteClass.isOWS(bytes[e - 1]) { e -= 1 }
            if e - s == token.utf8CodeUnitCount && folded(s, token) { return true }
        }
        return false
    }
}
