// The demo reads two kinds of JSON, both the agent's own: its log lines
// (`--log-format json`, one flat object a line) and its `/leader` answers (one nested
// object). Neither needs more than "the value at this key", so objects read by the
// project's one JSON reader (the JSON module) are flattened to dotted keys.
import JSON

/// FlatJSON maps each scalar of a JSON object to its dotted path (`leader.id`): strings
/// unescaped, numbers, `true`, `false` and `null` as written. Arrays are skipped.
/// Anything that is not a well-formed object gives nil.
struct FlatJSON {
    private(set) var values: [String: String] = [:]

    subscript(_ key: String) -> String? { values[key] }

    /// Input larger than this is refused (log lines and answers are well below it).
    static let maximumBytes = 64 * 1024

    init?(_ text: String) {
        guard text.utf8.count <= Self.maximumBytes, let root = JSONValue.read(text), case .object = root else { return nil }
        Self.flatten(root, path: "", into: &values)
    }

    /// flatten stores every scalar under its dotted path; numbers keep their text, so a
    /// boot clock in ns past 2^53 stays exact.
    private static func flatten(_ value: JSONValue, path: String, into values: inout [String: String]) {
        switch value {
        case .object(let members):
            for m in members { flatten(m.value, path: path.isEmpty ? m.name : path + "." + m.name, into: &values) }
        case .array: break
        case .string(let s): values[path] = s
        case .number(let n): values[path] = n
        case .bool(let b): values[path] = b ? "true" : "false"
        case .null: values[path] = "null"
        }
    }
}
