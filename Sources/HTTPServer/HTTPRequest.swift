// What a handler sees of a request: views into the connection's buffer, valid only
// for the duration of the handler call (the buffer is reused right after).
public import HTTPParser
public import Time
import Posix

/// HeldRequest names a request a handler chose to hold (long-poll), so the
/// application can answer it later with `HTTPServer.complete(_:with:)`. It stays
/// unique: the connection's generation and a per-connection serial number are part of it.
public struct HeldRequest: Hashable, Sendable {
    let descriptor: Int32
    let generation: UInt32
    let serial: UInt32
}

/// HTTPHandlerResult is a handler's answer: respond now from prepared bytes, or hold
/// the request (up to `timeout`, capped by the configuration) and answer it later;
/// if nobody does in time, `onTimeout` is sent.
public enum HTTPHandlerResult {
    case respond(PreparedResponse)
    case hold(timeout: Interval, onTimeout: PreparedResponse)
}

/// HTTPHandler answers one request; it runs on the loop thread and must not block.
public typealias HTTPHandler = (borrowing HTTPRequest) -> HTTPHandlerResult

/// HTTPRequest gives a handler the parsed head, header fields and body. Its byte views
/// point into the connection's read buffer and must not be kept after the handler returns.
public struct HTTPRequest: ~Copyable {
    /// head is what the parser found (method, version, keep-alive, ranges).
    public let head: HTTPRequestHead
    /// base is the first byte of the request; ranges in `head` are relative to it.
    var base: UnsafeRawPointer { headBytes.baseAddress! }
    /// headBytes is the request line and header section; every range in `head` and in
    /// the header slots lies inside it (for the parser's helpers such as `firstHeader`).
    public let headBytes: UnsafeRawBufferPointer
    /// headerSlots are the parsed fields (`head.headerCount` of them).
    public let headerSlots: UnsafeBufferPointer<HeaderSlot>
    /// body is the request body (`head.contentLength` bytes).
    public let body: UnsafeRawBufferPointer
    /// held is the name to use with `HTTPServer.complete` if the handler returns `.hold`.
    public let held: HeldRequest

    /// bytes returns the buffer bytes of a range from `head`.
    public func bytes(_ range: ByteRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Int(range.start), count: Int(range.count))
    }

    /// clientDescription names the client (`127.0.0.1:51234`) for log lines; it asks
    /// the kernel, so keep it off the hot path.
    public var clientDescription: String {
        Socket.peerAddress(rawDescriptor: held.descriptor)?.description ?? "an unknown client"
    }

    /// path is the target's path, still percent-encoded.
    public var path: UnsafeRawBufferPointer { bytes(head.path) }

    /// pathString is `path` as a String (allocates; for logs and slow paths).
    public var pathString: String { String(decoding: path, as: UTF8.self) }

    /// headerCount is how many header fields the request has.
    public var headerCount: Int { head.headerCount }

    /// headerName / headerValue read the i-th field as sent.
    public func headerName(_ i: Int) -> UnsafeRawBufferPointer { bytes(headerSlots[i].name) }
    public func headerValue(_ i: Int) -> UnsafeRawBufferPointer { bytes(headerSlots[i].value) }

    /// header returns the value of the first field named `name` (ASCII
    /// case-insensitive), or nil.
    public func header(_ name: String) -> UnsafeRawBufferPointer? {
        var name = name
        return name.withUTF8 { wanted in
            for i in 0..<head.headerCount where asciiCaseInsensitiveEqual(headerName(i), UnsafeRawBufferPointer(wanted)) {
                return headerValue(i)
            }
            return nil
        }
    }

    /// queryParameter returns the decoded value (`%XX` and `+` decoded, by the
    /// parser's helpers) of the first `name=value` pair in the query, "" for a bare
    /// `name`, nil when absent or badly encoded. Allocates: for handlers off the hot path.
    public func queryParameter(_ name: String) -> String? {
        if case .value(let v) = queryValue(name) { return v }
        return nil
    }

    /// QueryValue tells an absent parameter from one whose value fails to decode (bad
    /// `%XX` or not UTF-8): a handler must answer the latter 400, never treat it as absent
    /// (`POST /resign?to=%ff` once handed over to anyone).
    public enum QueryValue: Equatable, Sendable {
        case absent, invalid, value(String)
    }

    /// queryValue is the first `name=value` pair's value, decoded, or why there is none.
    public func queryValue(_ name: String) -> QueryValue {
        let buffer = headBytes
        for pair in QueryParameters(head.query, in: buffer) {
            guard let key = try? percentDecoded(pair.name.bytes(in: buffer), plusAsSpace: true),
                  key.elementsEqual(name.utf8) else { continue }
            guard let value = try? percentDecoded(pair.value.bytes(in: buffer), plusAsSpace: true),
                  let text = String(validating: value, as: UTF8.self) else { return .invalid }
            return .value(text)
        }
        return .absent
    }
}

/// asciiCaseInsensitiveEqual compares header names (which are ASCII tokens).
func asciiCaseInsensitiveEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count {
        var x = a[i], y = b[i]
        if x >= 65 && x <= 90 { x |= 0x20 }
        if y >= 65 && y <= 90 { y |= 0x20 }
        if x != y { return false }
    }
    return true
}
