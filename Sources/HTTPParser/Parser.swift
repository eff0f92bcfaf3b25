// The request-head parser: one forward scan over borrowed bytes (style rule 15, after
// h2o/picohttpparser's phr_parse_request: re-parse from the start on every call, caller-
// owned header slots, no allocation). Grammar: RFC 9112 §2–§6; semantics: RFC 9110.
//
// Decisions a reader should know:
// - Line ends are CRLF only. A bare LF (which RFC 9112 §2.2 lets a recipient accept) and
//   a bare CR are 400: a front proxy that splits lines differently from us is how
//   requests get smuggled, and every client we serve sends CRLF.
// - At most `emptyLinesBeforeRequestMax` empty lines (CRLF) before the request line are
//   skipped (RFC 9112 §2.2 "SHOULD ignore at least one"), for clients that send a stray
//   CRLF after a body.
// - An error is reported at the first byte that proves it, so once a prefix of the input
//   is `.invalid(e)`, every longer input is `.invalid(e)` too; framing checks that need
//   the whole header section (missing Host, CL with TE, TE, CL over the limit, unknown
//   Expect) are made at its end, in that order.

/// parseRequestHead(_:limits:head:headers:) parses the request line and header section
/// at the start of `bytes` (RFC 9112 §2.1: `start-line *( field-line CRLF ) CRLF`).
///
/// Returns `.complete(consumed:)` with the index just past the empty line that ends the
/// head; `.partial` when every byte so far fits a valid request and no limit is exceeded;
/// `.invalid(reason)` at the first byte that proves the request bad or too large. `head`
/// is written only on `.complete`; up to `min(limits.headerCountMax, headers.count)`
/// slots are filled (scratch until then). Every range returned lies in `0..<consumed`.
/// Reads no byte outside `bytes`, allocates nothing, and needs no state between calls.
public func parseRequestHead(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits,
                             head: inout HTTPRequestHead,
                             headers: UnsafeMutableBufferPointer<HeaderSlot>) -> HTTPParseResult {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return .partial }
    let scanner = RequestHeadScanner(base: base, count: bytes.count, limits: limits, slots: headers)
    var parsed = HTTPRequestHead()
    do throws(ParseStop) {
        let consumed = try scanner.scan(into: &parsed)
        head = parsed
        return .complete(consumed: consumed)
    } catch {
        switch error {
        case .partial: return .partial
        case .invalid(let reason): return .invalid(reason)
        }
    }
}

/// emptyLinesBeforeRequestMax bounds the empty lines skipped before a request line
/// (RFC 9112 §2.2 asks for at least one); more is garbage, not robustness → 400.
let emptyLinesBeforeRequestMax = 4

/// ParseStop is how a scan step ends early: more bytes needed, or a refusal.
enum ParseStop: Error {
    case partial
    case invalid(HTTPParseError)
}

/// bad(_:) is the 400 refusal with a short static reason.
@inline(__always)
func bad(_ reason: StaticString) -> ParseStop { .invalid(.badRequest(reason: reason)) }

/// RequestHeadScanner holds what one call of `parseRequestHead` reads: the bytes, the
/// clamped limits and the slots. It has no state of its own; positions live in `scan`.
struct RequestHeadScanner {
    let base: UnsafeRawPointer
    let count: Int
    let requestLineBytesMax: Int
    let headerBytesMax: Int
    let headerCountMax: Int
    let bodyBytesMax: Int
    let slots: UnsafeMutableBufferPointer<HeaderSlot>

    init(base: UnsafeRawPointer, count: Int, limits: HTTPLimits, slots: UnsafeMutableBufferPointer<HeaderSlot>) {
        func clamped(_ limit: Int) -> Int { min(max(limit, 0), HTTPLimits.hardCap) }
        self.base = base
        self.count = count
        self.requestLineBytesMax = clamped(limits.requestLineBytesMax)
        self.headerBytesMax = clamped(limits.headerBytesMax)
        self.headerCountMax = min(clamped(limits.headerCountMax), slots.count)
        self.bodyBytesMax = max(limits.bodyBytesMax, 0)
        self.slots = slots
    }

    /// byte(_:) reads one byte; callers have checked `i < count`.
    @inline(__always)
    func byte(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }

    /// range(_:_:) is the ByteRange of `from..<to`; both are under 2 × hardCap + 10.
    @inline(__always)
    func range(_ from: Int, _ to: Int) -> ByteRange {
        ByteRange(start: Int32(truncatingIfNeeded: from), count: Int32(truncatingIfNeeded: to &- from))
    }

    /// ranOut(_:_:) is how a scan that reached `end = min(count, limit)` stops: if the
    /// limit came first the request is too large whatever follows, else more bytes may
    /// still complete it.
    @inline(__always)
    func ranOut(_ end: Int, _ tooLarge: HTTPParseError) -> ParseStop {
        end < count ? .invalid(tooLarge) : .partial
    }

    /// scan(into:) runs the whole head left to right and returns the bytes consumed.
    func scan(into head: inout HTTPRequestHead) throws(ParseStop) -> Int {
        var i = try skipEmptyLines()
        i = try scanRequestLine(from: i, into: &head)
        return try scanFields(from: i, into: &head)
    }

    /// skipEmptyLines() returns where the request line starts (RFC 9112 §2.2).
    func skipEmptyLines() throws(ParseStop) -> Int {
        var i = 0
        var lines = 0
        while i < count {
            let b = byte(i)
            if b == ASCII.lf { throw bad("bare LF: lines must end with CRLF") }
            guard b == ASCII.cr else { return i }
            guard i + 1 < count else { throw .partial }
            guard byte(i + 1) == ASCII.lf else { throw bad("bare CR") }
            lines += 1
            guard lines <= emptyLinesBeforeRequestMax else { throw bad("too many empty lines before the request line") }
            i += 2
        }
        throw .partial
    }

    /// scanRequestLine(from:into:) reads `method SP request-target SP HTTP-version CRLF`
    /// (RFC 9112 §3) and returns where the field lines start. The line without its CRLF
    /// may be `requestLineBytesMax` long: any byte needed past that is 414.
    func scanRequestLine(from lineStart: Int, into head: inout HTTPRequestHead) throws(ParseStop) -> Int {
        let lineLimit = lineStart + requestLineBytesMax
        let end = min(count, lineLimit)
        var i = lineStart

        // method = token (RFC 9110 §9.1), case-sensitive, then exactly one SP.
        while i < end && ByteClass.isTokenChar(byte(i)) { i += 1 }
        guard i < end else { throw ranOut(end, .uriTooLong) }
        guard i > lineStart else { throw bad("request line must start with a method token") }
        guard byte(i) == ASCII.sp else { throw bad("method must be a token followed by one space") }
        head.method = method(at: lineStart, length: i - lineStart)
        head.methodBytes = range(lineStart, i)
        i += 1

        // request-target: no controls, SP, '#' or non-ASCII; split at the first '?'.
        let targetStart = i
        var queryMark = -1
        while i < end {
            let b = byte(i)
            guard ByteClass.isTargetChar(b) else { break }
            if b == ASCII.question && queryMark < 0 { queryMark = i }
            i += 1
        }
        guard i < end else { throw ranOut(end, .uriTooLong) }
        guard byte(i) == ASCII.sp else {
            throw bad("request target holds a control character, space, '#' or non-ASCII byte")
        }
        guard i > targetStart else { throw bad("empty request target (two spaces?)") }
        let targetEnd = i
        let pathEnd = queryMark >= 0 ? queryMark : targetEnd
        head.target = range(targetStart, targetEnd)
        head.query = queryMark >= 0 ? range(queryMark + 1, targetEnd) : .empty
        let first = byte(targetStart)
        if first == ASCII.slash {
            head.path = range(targetStart, pathEnd)  // origin-form, RFC 9112 §3.2.1
        } else if first == ASCII.asterisk && targetEnd - targetStart == 1 {
            // asterisk-form (RFC 9112 §3.2.4) is only for a server-wide OPTIONS.
            guard head.method == .options else { throw bad("'*' target is only for OPTIONS") }
            head.path = head.target
        } else if let pathStart = absoluteFormPathStart(targetStart, pathEnd) {
            head.path = range(pathStart, pathEnd)
        } else {
            // authority-form (CONNECT host:port) also lands here: we are not a proxy.
            throw bad("request target is not origin-form, absolute-form or '*'")
        }
        i += 1

        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
        let v = i
        guard v + 8 <= lineLimit else { throw .invalid(.uriTooLong) }
        let available = min(count, v + 8)
        while i < available {
            let b = byte(i)
            let ok: Bool
            switch i - v {
            case 0: ok = b == 0x48  // H
            case 1, 2: ok = b == 0x54  // T
            case 3: ok = b == 0x50  // P
            case 4: ok = b == ASCII.slash
            case 6: ok = b == 0x2E  // .
            default: ok = ByteClass.isDigit(b)
            }
            guard ok else { throw bad("malformed HTTP version") }
            i += 1
        }
        guard v + 8 < count else { throw .partial }
        let afterVersion = byte(v + 8)
        guard afterVersion == ASCII.cr else {
            throw bad(afterVersion == ASCII.lf ? "bare LF: lines must end with CRLF" : "malformed HTTP version")
        }
        guard v + 9 < count else { throw .partial }
        guard byte(v + 9) == ASCII.lf else { throw bad("bare CR") }
        let major = byte(v + 5) &- ASCII.zero
        let minor = byte(v + 7) &- ASCII.zero
        guard major == 1 && minor <= 1 else { throw .invalid(.versionNotSupported) }
        head.versionMinor = minor
        return v + 10
    }

    /// method(at:length:) maps the registered methods (RFC 9110 §9.3) to the enum;
    /// method names are case-sensitive, so `get` is `.other`.
    @inline(__always)
    func method(at s: Int, length: Int) -> HTTPMethod {
        switch length {
        case 3:
            if matches(s, "GET") { return .get }
            if matches(s, "PUT") { return .put }
        case 4:
            if matches(s, "HEAD") { return .head }
            if matches(s, "POST") { return .post }
        case 5:
            if matches(s, "PATCH") { return .patch }
            if matches(s, "TRACE") { return .trace }
        case 6:
            if matches(s, "DELETE") { return .delete }
        case 7:
            if matches(s, "OPTIONS") { return .options }
            if matches(s, "CONNECT") { return .connect }
        default: break
        }
        return .other
    }

    /// matches(_:_:) compares the literal's bytes exactly; the caller checked the length.
    @inline(__always)
    func matches(_ s: Int, _ literal: StaticString) -> Bool {
        let l = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount where byte(s + k) != l[k] { return false }
        return true
    }

    /// matchesFolded(_:_:) compares ignoring ASCII letter case; the literal is lowercase
    /// and the caller checked the length.
    @inline(__always)
    func matchesFolded(_ s: Int, _ literal: StaticString) -> Bool {
        let l = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount where ByteClass.foldedLetter(byte(s + k)) != l[k] { return false }
        return true
    }

    /// absoluteFormPathStart(_:_:) accepts `http://authority[/path]` or `https://…`
    /// (RFC 9112 §3.2.2; the scheme is case-insensitive, RFC 3986 §3.1) and returns
    /// where the path starts (`pathEnd` when the path is empty, meaning "/"); nil if
    /// the target is not absolute-form or has an empty authority.
    func absoluteFormPathStart(_ s: Int, _ pathEnd: Int) -> Int? {
        var authority: Int
        if pathEnd - s > 7 && matchesFolded(s, "http://") {
            authority = s + 7
        } else if pathEnd - s > 8 && matchesFolded(s, "https://") {
            authority = s + 8
        } else {
            return nil
        }
        let authorityStart = authority
        while authority < pathEnd && byte(authority) != ASCII.slash { authority += 1 }
        return authority > authorityStart ? authority : nil
    }

    /// scanFields(from:into:) reads `*( field-line CRLF ) CRLF` (RFC 9112 §5) into the
    /// slots and returns the bytes consumed. The section, with every CRLF and the final
    /// empty line, may be `headerBytesMax` long and hold `headerCountMax` fields: any
    /// byte or field needed past that is 431.
    func scanFields(from start: Int, into head: inout HTTPRequestHead) throws(ParseStop) -> Int {
        let end = min(count, start + headerBytesMax)
        var framing = FramingFields()
        var fieldCount = 0
        var i = start
        while true {
            guard i < end else { throw ranOut(end, .headerFieldsTooLarge) }
            let first = byte(i)
            if first == ASCII.cr {
                guard i + 1 < end else { throw ranOut(end, .headerFieldsTooLarge) }
                guard byte(i + 1) == ASCII.lf else { throw bad("bare CR") }
                i += 2
                break
            }
            if first == ASCII.lf { throw bad("bare LF: lines must end with CRLF") }
            if ByteClass.isOWS(first) {
                // RFC 9112 §2.2 (whitespace before the first field) and §5.2 (obs-fold):
                // both may hide a field from one parser and show it to another.
                throw bad(fieldCount == 0 ? "whitespace before the first header field" : "obsolete line folding")
            }
            guard fieldCount < headerCountMax else { throw .invalid(.headerFieldsTooLarge) }

            // field-name = token, then ':' with no whitespace before it (RFC 9112 §5.1).
            let nameStart = i
            while i < end && ByteClass.isTokenChar(byte(i)) { i += 1 }
            guard i < end else { throw ranOut(end, .headerFieldsTooLarge) }
            let afterName = byte(i)
            guard afterName == ASCII.colon && i > nameStart else {
                throw bad(ByteClass.isOWS(afterName) && i > nameStart
                          ? "whitespace between header name and colon" : "header name is not a token")
            }
            let nameEnd = i
            i += 1

            // field-value with its leading and trailing OWS trimmed (RFC 9112 §5.1).
            while i < end && ByteClass.isOWS(byte(i)) { i += 1 }
            let valueStart = i
            // Eight bytes a step while none is a control or DEL (picohttpparser's idea,
            // with a SWAR test instead of SSE4.2); HTAB and the value's end fall through
            // to the byte loop, which decides.
            while i + 8 <= end && !ByteClass.hasControlOrDEL(base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i += 8
            }
            while i < end && ByteClass.isFieldValueChar(byte(i)) { i += 1 }
            guard i < end else { throw ranOut(end, .headerFieldsTooLarge) }
            guard byte(i) == ASCII.cr else { throw bad("header value holds a control character or bare LF") }
            guard i + 1 < end else { throw ranOut(end, .headerFieldsTooLarge) }
            guard byte(i + 1) == ASCII.lf else { throw bad("bare CR") }
            var valueEnd = i
            while valueEnd > valueStart && ByteClass.isOWS(byte(valueEnd - 1)) { valueEnd -= 1 }

            slots[fieldCount] = HeaderSlot(name: range(nameStart, nameEnd), value: range(valueStart, valueEnd))
            fieldCount += 1
            try note(name: nameStart, nameLength: nameEnd - nameStart, value: valueStart, valueEnd: valueEnd,
                     versionMinor: head.versionMinor, into: &framing)
            i += 2
        }
        head.headerCount = fieldCount
        try framing.finish(into: &head, bodyBytesMax: bodyBytesMax)
        return i
    }

    /// note(name:nameLength:value:valueEnd:versionMinor:into:) records the fields that
    /// decide framing and connection handling; others pass untouched. Field names are
    /// case-insensitive (RFC 9110 §5.1).
    @inline(__always)
    func note(name: Int, nameLength: Int, value: Int, valueEnd: Int, versionMinor: UInt8,
              into framing: inout FramingFields) throws(ParseStop) {
        switch nameLength {
        case 4 where matchesFolded(name, "host"):
            // RFC 9112 §3.2: more than one Host, or an invalid one, is 400.
            guard framing.hostCount == 0 else { throw bad("more than one Host header") }
            framing.hostCount = 1
            for k in value..<valueEnd where !ByteClass.isHostChar(byte(k)) { throw bad("invalid Host header") }
        case 6 where matchesFolded(name, "expect"):
            // RFC 9110 §10.1.1: a 100-continue in HTTP/1.0 MUST be ignored; we ignore
            // every HTTP/1.0 expectation, since 1.0 clients cannot have meant one.
            guard versionMinor == 1 else { return }
            if valueEnd - value == 12 && matchesFolded(value, "100-continue") {
                framing.expectContinue = true
            } else {
                framing.expectOther = true
            }
        case 10 where matchesFolded(name, "connection"):
            noteConnection(value, valueEnd, into: &framing)
        case 14 where matchesFolded(name, "content-length"):
            try noteContentLength(value, valueEnd, into: &framing)
        case 17 where matchesFolded(name, "transfer-encoding"):
            framing.transferEncoding = true
        default:
            return
        }
    }

    /// noteConnection(_:_:into:) scans the comma-separated connection options (RFC 9110
    /// §7.6.1) for `close` and `keep-alive`, ignoring case, OWS and empty elements.
    func noteConnection(_ start: Int, _ end: Int, into framing: inout FramingFields) {
        var i = start
        while i < end {
            while i < end && (ByteClass.isOWS(byte(i)) || byte(i) == ASCII.comma) { i += 1 }
            let tokenStart = i
            while i < end && byte(i) != ASCII.comma { i += 1 }
            var tokenEnd = i
            while tokenEnd > tokenStart && ByteClass.isOWS(byte(tokenEnd - 1)) { tokenEnd -= 1 }
            switch tokenEnd - tokenStart {
            case 5 where matchesFolded(tokenStart, "close"): framing.connectionClose = true
            case 10 where matchesFolded(tokenStart, "keep-alive"): framing.connectionKeepAlive = true
            default: break
            }
        }
    }

    /// noteContentLength(_:_:into:) parses `Content-Length = 1*DIGIT` (RFC 9110 §8.6),
    /// also as a comma list of equal values, which §8.6 lets a recipient accept. A sign,
    /// inner space, empty element or any other byte is 400, and so is a value that
    /// differs from an earlier one: two lengths are the classic smuggling vector
    /// (RFC 9112 §6.3 item 5). Values saturate at `contentLengthSaturated`, far above
    /// any body limit, so overflow is impossible and two huge values both answer 413.
    func noteContentLength(_ start: Int, _ end: Int, into framing: inout FramingFields) throws(ParseStop) {
        var i = start
        while true {
            while i < end && ByteClass.isOWS(byte(i)) { i += 1 }
            let digitsStart = i
            var value = 0
            while i < end && ByteClass.isDigit(byte(i)) {
                let digit = Int(byte(i) &- ASCII.zero)
                value = value < FramingFields.contentLengthSaturated
                    ? value * 10 + digit : FramingFields.contentLengthSaturated
                i += 1
            }
            guard i > digitsStart else { throw bad("Content-Length is not a list of 1*DIGIT") }
            while i < end && ByteClass.isOWS(byte(i)) { i += 1 }
            if framing.contentLength >= 0 && framing.contentLength != value {
                throw bad("conflicting Content-Length values")
            }
            framing.contentLength = value
            if i == end { return }
            guard byte(i) == ASCII.comma else { throw bad("Content-Length is not a list of 1*DIGIT") }
            i += 1
        }
    }
}

/// FramingFields gathers, during the field scan, what the end of the head must judge:
/// how the body is framed and whether the connection stays open.
struct FramingFields {
    /// contentLengthSaturated: parsed lengths stop growing here (2^50 bytes).
    static let contentLengthSaturated = 1 << 50

    var hostCount = 0
    /// -1 while no Content-Length was seen.
    var contentLength = -1
    var transferEncoding = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false
    var expectOther = false

    /// finish(into:bodyBytesMax:) makes the checks that need the whole header section,
    /// most fundamental first, and fills the framing fields of `head`.
    func finish(into head: inout HTTPRequestHead, bodyBytesMax: Int) throws(ParseStop) {
        if head.versionMinor == 1 && hostCount == 0 { throw bad("HTTP/1.1 request without Host") }
        // RFC 9112 §6.1: CL with TE "ought to be handled as an error"; we never guess.
        if transferEncoding && contentLength >= 0 { throw bad("both Content-Length and Transfer-Encoding") }
        // We decode no transfer coding (chunked included): RFC 9112 §6.1 says 501.
        if transferEncoding { throw .invalid(.notImplemented) }
        if contentLength > bodyBytesMax { throw .invalid(.contentTooLarge) }
        if expectOther { throw .invalid(.expectationFailed) }
        head.contentLength = max(contentLength, 0)
        // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
        head.keepAlive = !connectionClose && (head.versionMinor == 1 || connectionKeepAlive)
        head.expectContinue = expectContinue
    }
}
