// The demo reads two kinds of JSON, both the agent's own: its log lines
// (`--log-format json`, one flat object a line) and its `/leader` answers (one nested
// object). Neither needs more than "the value at this key", so objects read by the
// client's JSON reader (JSON.swift) are flattened to dotted keys.

/// FlatJSON maps each scalar of a JSON object to its dotted path (`leader.id`): strings
/// unescaped, numbers, `true`, `false` and `null` as written. Arrays are skipped.
/// Anything that is not a well-formed object gives nil.
struct FlatJSON {
    private(set) var values: [String: String] = [:]

    subscript(_ key: String) -> String? { values[key] }

    /// Input larger than this is refused (log lines and answers are well below it).
    static let maximumBytes = 64 * 1024

    init?(_ text: String) {
        guard text.utf8.count <= Self.maximumBytes, let root = JSON.parse(text), case .object = root else { return nil }
        Self.flatten(root, path: "", into: &values)
    }

    /// flatten stores every scalar under its dotted path, through the client's JSON reader
    /// (one parser in the binary). Integers print without a fraction; past 2^53 (a boot
    /// clock of 104 days, in ns) they keep Double's precision, a few hundred ns.
    private static func flatten(_ value: JSON, path: String, into values: inout [String: String]) {
        switch value {
        case .object(let fields):
            for (key, field) in fields { flatten(field, path: path.isEmpty ? key : path + "." + key, into: &values) }
        case .array: break
        case .string(let s): values[path] = s
        case .number(let n): values[path] = n.rounded() == n && abs(n) < 9.2e18 ? String(Int64(n)) : String(n)
        case .bool(let b): values[path] = b ? "true" : "false"
        case .null: values[path] = "null"
        }
    }
}
