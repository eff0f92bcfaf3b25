/// LogValue is a field's value with its type, so JSON lines carry numbers as numbers
/// (`"log_entries":4`, not `"4"`) and text lines quote only what needs quoting.
public enum LogValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)

    /// number makes an integer field from any integer type.
    public static func number<T: BinaryInteger>(_ n: T) -> LogValue {
        n < 0 ? .int(Int64(n)) : .uint(UInt64(n))
    }

    /// milliseconds makes a field in ms with microsecond precision from nanoseconds.
    public static func milliseconds<T: BinaryInteger>(fromNanoseconds ns: T) -> LogValue {
        .double(Double(Int64(ns) / 1000) / 1000)
    }

    /// json is the value as JSON (RFC 8259). A non-finite double is `null`: JSON has no
    /// NaN or infinity.
    public var json: String {
        switch self {
        case .string(let s): JSONText.quote(s)
        case .int(let n): String(n)
        case .uint(let n): String(n)
        case .double(let d): d.isFinite ? Self.decimal(d) : "null"
        case .bool(let b): b ? "true" : "false"
        }
    }

    /// text is the value in a `key=value` line: quoted (as JSON strings are) only when
    /// empty or holding a space, a quote, `=` or a control character.
    public var text: String {
        switch self {
        case .string(let s):
            let plain = !s.isEmpty && !s.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.value < 0x20 || $0 == "\\" }
            return plain ? s : JSONText.quote(s)
        case .double(let d): return d.isFinite ? Self.decimal(d) : String(d)
        default: return json
        }
    }

    /// decimal writes a double without an exponent for the magnitudes logs carry
    /// (durations, fractions), and Swift's shortest form otherwise.
    static func decimal(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}

extension LogValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension LogValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension LogValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension LogValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// LogFields are a line's fields in the order they are written.
public typealias LogFields = [(String, LogValue)]
