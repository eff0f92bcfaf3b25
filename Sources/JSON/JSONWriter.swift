// Writing JSON: the compact form of a JSONValue, and string escaping for code that
// writes its documents by hand.

extension JSONValue {
    /// serialized() is the compact text of the value (no spaces); numbers keep their text.
    public func serialized() -> String {
        var out = ""
        write(into: &out)
        return out
    }

    /// write(into:) appends the compact text of the value.
    public func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): JSONValue.appendQuoted(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                JSONValue.appendQuoted(member.name, to: &out)
                out += ":"
                member.value.write(into: &out)
            }
            out += "}"
        }
    }

    /// appendQuoted(_:to:) appends `text` as a JSON string: quotes, backslash and the
    /// control characters escaped (RFC 8259 §7); everything else is written as UTF-8.
    public static func appendQuoted(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// quoted(_:) is `text` as a JSON string.
    public static func quoted(_ text: String) -> String {
        var out = ""
        appendQuoted(text, to: &out)
        return out
    }
}
