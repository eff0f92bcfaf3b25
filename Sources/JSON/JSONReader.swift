// The JSON reader: one recursive-descent pass over bytes, strict RFC 8259 grammar, with
// every size capped before it can grow (style rule 11). Pure: no I/O, no Foundation,
// so the fuzz target and every module that reads JSON can share it.

/// JSONLimits caps what one document may cost. The defaults fit etcd's answers and the
/// agent's own (a few KiB); callers with bigger documents raise them explicitly.
public struct JSONLimits: Hashable, Sendable {
    /// documentBytesMax: a longer input is refused before any byte is read.
    public var documentBytesMax: Int
    /// depthMax: nesting of arrays and objects (recursion depth of the reader).
    public var depthMax: Int
    /// stringBytesMax: the decoded bytes of one string (member names included).
    public var stringBytesMax: Int
    /// containerCountMax: elements of one array or members of one object.
    public var containerCountMax: Int

    public init(documentBytesMax: Int = 1 << 20, depthMax: Int = 32, stringBytesMax: Int = 1 << 20,
                containerCountMax: Int = 10_000) {
        self.documentBytesMax = documentBytesMax
        self.depthMax = depthMax
        self.stringBytesMax = stringBytesMax
        self.containerCountMax = containerCountMax
    }
}

/// JSONError says why a document was refused and at which byte offset.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// parse(_:limits:) reads exactly one JSON document (surrounding whitespace allowed).
    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { buffer in
            Result { () throws(JSONError) -> JSONValue in try parse(UnsafeRawBufferPointer(buffer), limits: limits) }
        }
        return try result.get()
    }

    /// parse(bytes:limits:) reads exactly one JSON document from an array of bytes.
    public static func parse(bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) -> JSONValue in try parse(raw, limits: limits) }
        }
        return try result.get()
    }

    /// parse(_:limits:) reads exactly one JSON document from borrowed bytes.
    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        guard bytes.count <= limits.documentBytesMax else {
            throw JSONError(offset: 0, reason: "document of \(bytes.count) bytes is over the limit of \(limits.documentBytesMax)")
        }
        var reader = Reader(bytes: bytes, limits: limits)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.at == bytes.count else { throw reader.error("text after the document") }
        return value
    }
}

/// Reader holds the position of one parse.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let limits: JSONLimits
    var at = 0

    init(bytes: UnsafeRawBufferPointer, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func error(_ reason: String) -> JSONError { JSONError(offset: at, reason: reason) }

    func peek() -> UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
        guard peek() == byte else { throw error("expected \(what)") }
        at += 1
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        skipSpace()
        guard let b = peek() else { throw error("unexpected end of document") }
        switch b {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected byte \(b)")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard at + count <= bytes.count else { throw error("unexpected end of document") }
        for k in 0..<count where bytes[at + k] != word.utf8Start[k] { throw error("unknown literal") }
        at += count
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.depthMax else { throw error("nesting deeper than \(limits.depthMax)") }
        at += 1  // {
        var members: [JSONValue.Member] = []
        skipSpace()
        if peek() == UInt8(ascii: "}") { at += 1; return .object(members) }
        while true {
            guard members.count < limits.containerCountMax else { throw error("object with more than \(limits.containerCountMax) members") }
            skipSpace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let name = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"), "':'")
            members.append(JSONValue.Member(name, try value(depth: depth)))
            skipSpace()
            guard let b = peek() else { throw error("unexpected end of document") }
            at += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "}") { return .object(members) }
            at -= 1
            throw error("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.depthMax else { throw error("nesting deeper than \(limits.depthMax)") }
        at += 1  // [
        var items: [JSONValue] = []
        skipSpace()
        if peek() == UInt8(ascii: "]") { at += 1; return .array(items) }
        while true {
            guard items.count < limits.containerCountMax else { throw error("array with more than \(limits.containerCountMax) elements") }
            items.append(try value(depth: depth))
            skipSpace()
            guard let b = peek() else { throw error("unexpected end of document") }
            at += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "]") { return .array(items) }
            at -= 1
            throw error("expected ',' or ']'")
        }
    }

    /// number() checks `-? int frac? exp?` (RFC 8259 §6) and returns its text.
    mutating func number() throws(JSONError) -> String {
        let start = at
        func digits(_ r: inout Reader) -> Int {
            let s = r.at
            while let b = r.peek(), b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { r.at += 1 }
            return r.at - s
        }
        if peek() == UInt8(ascii: "-") { at += 1 }
        if peek() == UInt8(ascii: "0") {
            at += 1
        } else {
            guard digits(&self) > 0 else { throw error("a number needs digits") }
        }
        if peek() == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw error("a fraction needs digits") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            at += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw error("an exponent needs digits") }
        }
        guard at - start <= 64 else { throw error("number longer than 64 characters") }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
    }

    /// string() reads a quoted string with its escapes; raw control characters and
    /// invalid UTF-8 are refused (RFC 8259 §7, §8.1), lone surrogates too.
    mutating func string() throws(JSONError) -> String {
        at += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw error("unterminated string") }
            at += 1
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { at -= 1; throw error("control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
            } else {
                guard let e = peek() else { throw error("unterminated string") }
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard peek() == UInt8(ascii: "\\"), at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "u") else {
                            throw error("lone high surrogate")
                        }
                        at += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw error("high surrogate without a low one") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw error("lone low surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: UTF8.encode(u)!)
                default:
                    at -= 1
                    throw error("unknown escape")
                }
            }
            guard out.count <= limits.stringBytesMax else { throw error("string longer than \(limits.stringBytesMax) bytes") }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard at + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[at]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            at += 1
        }
        return v
    }
}
