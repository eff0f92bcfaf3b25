// The demo reads two kinds of JSON, both the agent's own: its log lines
// (`--log-format json`, one flat object a line) and its `/leader` answers (one nested
// object). Neither needs more than "the value at this key", so a small reader that
// flattens objects to dotted keys does, without Foundation in the binary.

/// FlatJSON maps each scalar of a JSON object to its dotted path (`leader.id`): strings
/// unescaped, numbers, `true`, `false` and `null` as written. Arrays are skipped.
/// Anything that is not a well-formed object gives nil.
struct FlatJSON {
    private(set) var values: [String: String] = [:]

    subscript(_ key: String) -> String? { values[key] }

    /// Input larger than this is refused (log lines and answers are well below it).
    static let maximumBytes = 64 * 1024

    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maximumBytes else { return nil }
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        guard reader.peek() == UInt8(ascii: "{"), reader.object(prefix: "", into: &values) else { return nil }
        reader.skipSpace()
        guard reader.atEnd else { return nil }
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0
        var depth = 0

        var atEnd: Bool { at >= bytes.count }
        func peek() -> UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func skipSpace() {
            while let b = peek(), b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { at += 1 }
        }

        mutating func expect(_ c: Unicode.Scalar) -> Bool {
            skipSpace()
            guard peek() == UInt8(ascii: c) else { return false }
            at += 1
            return true
        }

        /// object reads `{…}` at `at`, storing scalars under `prefix` + key.
        mutating func object(prefix: String, into values: inout [String: String]) -> Bool {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 16, expect("{") else { return false }
            if expect("}") { return true }
            repeat {
                skipSpace()
                guard let key = string(), expect(":") else { return false }
                guard value(path: prefix + key, into: &values) else { return false }
            } while expect(",")
            return expect("}")
        }

        mutating func value(path: String, into values: inout [String: String]) -> Bool {
            skipSpace()
            guard let b = peek() else { return false }
            switch b {
            case UInt8(ascii: "{"):
                return object(prefix: path + ".", into: &values)
            case UInt8(ascii: "["):
                return skipArray()
            case UInt8(ascii: "\""):
                guard let s = string() else { return false }
                values[path] = s
                return true
            default:
                let start = at
                while let c = peek(), c != UInt8(ascii: ","), c != UInt8(ascii: "}"), c != UInt8(ascii: "]"),
                      c > 0x20 { at += 1 }
                guard at > start else { return false }
                values[path] = String(decoding: bytes[start..<at], as: UTF8.self)
                return true
            }
        }

        mutating func skipArray() -> Bool {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 16, expect("[") else { return false }
            if expect("]") { return true }
            var ignored: [String: String] = [:]
            repeat { guard value(path: "", into: &ignored) else { return false } } while expect(",")
            return expect("]")
        }

        /// string reads a quoted string at `at` and unescapes it (RFC 8259 §7).
        mutating func string() -> String? {
            guard peek() == UInt8(ascii: "\"") else { return nil }
            at += 1
            var out: [UInt8] = []
            while let b = peek() {
                at += 1
                switch b {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let e = peek() else { return nil }
                    at += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard at + 4 <= bytes.count,
                              let code = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else { return nil }
                        at += 4
                        // Surrogate pairs never occur in the agent's output; show them as U+FFFD.
                        let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                        out += Array(String(Character(scalar)).utf8)
                    default: out.append(e)   // \" \\ \/
                    }
                default:
                    out.append(b)
                }
            }
            return nil
        }
    }
}
