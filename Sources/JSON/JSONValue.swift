// A parsed JSON document (RFC 8259) as a plain value. Numbers keep their text, so a
// 64-bit integer (etcd's revisions and lease ids, Raft terms) is read back exactly;
// `Double` loses integers above 2^53.

/// JSONValue is one JSON value. Objects keep their members in document order (a reader
/// that needs a lookup uses `subscript(key:)`, which takes the first match: RFC 8259 §4
/// leaves duplicate names undefined, and "first wins" is what a reader can state).
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as written (validated against the RFC 8259 §6 grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    /// Member is one name/value pair of an object.
    public struct Member: Hashable, Sendable {
        public var name: String
        public var value: JSONValue
        public init(_ name: String, _ value: JSONValue) { self.name = name; self.value = value }
    }

    /// subscript(key:) is the first member named `key`, or `.null` when there is none or
    /// this is not an object (so chains like `v["a"]["b"]` need no optional handling).
    public subscript(key: String) -> JSONValue {
        guard case .object(let members) = self else { return .null }
        for member in members where member.name == key { return member.value }
        return .null
    }

    /// has(_:) says whether an object has a member named `key` (null-valued included).
    public func has(_ key: String) -> Bool {
        guard case .object(let members) = self else { return false }
        return members.contains { $0.name == key }
    }

    public var isNull: Bool { if case .null = self { true } else { false } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var members: [Member]? { if case .object(let m) = self { m } else { nil } }

    /// int64 reads an integer number exactly; nil for fractions, exponents or overflow.
    public var int64: Int64? { if case .number(let text) = self { Int64(text) } else { nil } }
    /// uint64 reads a non-negative integer number exactly.
    public var uint64: UInt64? { if case .number(let text) = self { UInt64(text) } else { nil } }
    /// double reads any number (rounded to the nearest Double).
    public var double: Double? { if case .number(let text) = self { Double(text) } else { nil } }

    /// number(_:) makes an integer number.
    public static func number<I: BinaryInteger>(_ value: I) -> JSONValue { .number(String(value)) }
}
