// The contract between the parser (this module) and the server (HTTPServer).
// The parser is a pure function over borrowed bytes (style rule 15, after
// h2o/picohttpparser): no allocation, no Glibc, every size capped.

/// HTTPLimits caps every size the parser accepts; each has a status when exceeded.
/// The parser clamps each limit to `0...HTTPLimits.hardCap`, so every position it
/// reports fits the `Int32` of `ByteRange`.
public struct HTTPLimits: Hashable, Sendable {
    /// Longest request line (method SP target SP version), in bytes → 414 when over.
    public var requestLineBytesMax: Int = 8 * 1024
    /// Most header fields → 431 when over.
    public var headerCountMax: Int = 64
    /// Most bytes of header fields (everything after the request line) → 431 when over.
    public var headerBytesMax: Int = 16 * 1024
    /// Largest Content-Length accepted → 413 when over.
    public var bodyBytesMax: Int = 64 * 1024
    public init() {}
    /// hardCap bounds every limit (256 MiB): a request line plus header section under
    /// twice this still indexes with `Int32`.
    public static let hardCap = 1 << 28
}

/// HTTPMethod is the request method; `other` covers any valid token we do not route.
public enum HTTPMethod: UInt8, Hashable, Sendable {
    case get, head, post, put, delete, options, patch, trace, connect, other
}

/// ByteRange locates a part of the request inside the caller's buffer, so the parser
/// never copies; valid only until the caller moves or reuses those bytes.
public struct ByteRange: Hashable, Sendable {
    public var start: Int32
    public var count: Int32
    @inlinable public init(start: Int32, count: Int32) { self.start = start; self.count = count }
    public static let empty = ByteRange(start: 0, count: 0)
}

/// HeaderSlot is one header field, by position; the caller owns an array of them.
public struct HeaderSlot: Hashable, Sendable {
    public var name: ByteRange
    public var value: ByteRange
    @inlinable public init(name: ByteRange = .empty, value: ByteRange = .empty) { self.name = name; self.value = value }
}

/// HTTPRequestHead is what the parser learned from the request line and headers.
public struct HTTPRequestHead: Hashable, Sendable {
    public var method: HTTPMethod = .get
    /// The method token as sent (useful for `other`).
    public var methodBytes: ByteRange = .empty
    /// The whole request target as sent.
    public var target: ByteRange = .empty
    /// The path part of the target (before the first `?`), still percent-encoded: for
    /// absolute-form (`http://host/p`) the path after the authority, empty when there is
    /// none, which means `/` (RFC 9112 §3.2.2); `*` for `OPTIONS *`.
    public var path: ByteRange = .empty
    /// The query part after the first `?` (empty when none), still percent-encoded;
    /// iterate it with `QueryParameters`.
    public var query: ByteRange = .empty
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: UInt8 = 1
    /// How many of the caller's header slots are filled, in the order sent; look one up
    /// with `firstHeader(named:in:headers:)`.
    public var headerCount: Int = 0
    /// Body length from Content-Length (0 when absent).
    public var contentLength: Int = 0
    /// Whether the connection stays open after this exchange: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool = true
    /// `Expect: 100-continue` was sent in HTTP/1.1 (ignored in HTTP/1.0, RFC 9110
    /// §10.1.1): answer 100 before reading the body, or refuse without reading it.
    public var expectContinue: Bool = false
    public init() {}
}

/// HTTPParseError says why a request was refused and which status answers it. Every
/// one of them closes the connection afterwards (the framing can no longer be trusted).
public enum HTTPParseError: Hashable, Sendable {
    /// 400: malformed syntax; `reason` is a short static explanation.
    case badRequest(reason: StaticString)
    /// 414: request line longer than `requestLineBytesMax`.
    case uriTooLong
    /// 431: too many header fields or too many header bytes.
    case headerFieldsTooLarge
    /// 413: Content-Length above `bodyBytesMax`.
    case contentTooLarge
    /// 501: a Transfer-Encoding we do not implement (we implement none).
    case notImplemented
    /// 505: a version other than HTTP/1.0 or HTTP/1.1.
    case versionNotSupported
    /// 417: an HTTP/1.1 `Expect` other than `100-continue`, the only expectation
    /// defined (RFC 9110 §10.1.1 lets a server answer 417 to any other).
    case expectationFailed

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headerFieldsTooLarge: 431
        case .contentTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        case .expectationFailed: 417
        }
    }

    public static func == (a: HTTPParseError, b: HTTPParseError) -> Bool {
        switch (a, b) {
        case (.badRequest(let x), .badRequest(let y)):
            // Compares the reasons' bytes in place: no String is built.
            x.withUTF8Buffer { a in y.withUTF8Buffer { b in a.elementsEqual(b) } }
        case (.uriTooLong, .uriTooLong), (.headerFieldsTooLarge, .headerFieldsTooLarge),
             (.contentTooLarge, .contentTooLarge), (.notImplemented, .notImplemented),
             (.versionNotSupported, .versionNotSupported),
             (.expectationFailed, .expectationFailed): true
        default: false
        }
    }
    public func hash(into h: inout Hasher) { h.combine(status) }
}

/// HTTPParseResult: `complete(consumed)` means the head ends `consumed` bytes into the
/// buffer (the body, `head.contentLength` bytes, follows); `partial` means more bytes
/// are needed (and none of the limits is yet exceeded); `invalid` says why not.
public enum HTTPParseResult: Hashable, Sendable {
    case complete(consumed: Int)
    case partial
    case invalid(HTTPParseError)
}

// parseRequestHead(_:limits:head:headers:) is the parser's entry point (Parser.swift):
//
//     public func parseRequestHead(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits,
//                                  head: inout HTTPRequestHead,
//                                  headers: UnsafeMutableBufferPointer<HeaderSlot>) -> HTTPParseResult
//
// It parses from the start of `bytes` each time it is called (so a request split at
// any byte is handled by calling again with more bytes), fills `head` and up to
// `headers.count` slots (the server passes `limits.headerCountMax` slots), and never
// reads outside `bytes`. `head` is written only on `.complete`; the slots are scratch
// space until then.
