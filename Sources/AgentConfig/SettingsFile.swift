// The settings file (`--config FILE`, /etc/default/baton): the one place an operator
// writes the agent's settings, checked as strictly as flags are.

/// ApplicationVariable is a line of the settings file that is not a Baton setting (no
/// `BATON_` prefix): the application's own variable, given to hooks and checks in their
/// environment (`VIP_ADDRESS=10.0.0.10` for examples/hooks/vip).
public struct ApplicationVariable: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

/// SettingsFile is a parsed file of `KEY=value` lines, the format of /etc/default files:
/// `#` starts a comment line, `export ` before a key is allowed (so the same file can be
/// sourced by a shell), a value may be wrapped in single or double quotes. `BATON_*`
/// keys must be settings — a typo is refused, naming the line and the closest setting —
/// and every other key is an application variable for the hooks.
public struct SettingsFile: Sendable {
    public struct Entry: Hashable, Sendable {
        public var value: String
        public var line: Int
    }

    public var name: String
    /// settings by environment name (`BATON_ID`), with the line each was on.
    public var settings: [String: Entry] = [:]
    public var applicationVariables: [ApplicationVariable] = []

    /// Bounds: the file is read whole (64 KiB at most, by the caller), and no key or
    /// variable count is unbounded.
    public static let maxApplicationVariables = 256

    public static func parse(_ text: String, name: String) throws(ConfigError) -> SettingsFile {
        let known = Set(AgentSettingKeys.all.map(\.environmentName))
        var file = SettingsFile(name: name)
        // "\r\n" is one Character in Swift: a file written on Windows splits on it too.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (n, rawLine) in lines.enumerated() {
            let where_ = "\(name) line \(n + 1)"
            var line = rawLine.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") || line.hasPrefix("export\t") { line = line.dropFirst(7).trimmingSpaces }
            let kv = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { throw ConfigError(flag: "--config", "\(where_): expected KEY=value") }
            let key = String(kv[0].trimmingSpaces)
            guard isVariableName(key) else {
                throw ConfigError(flag: "--config", "\(where_): '\(key)' is not a variable name (letters, digits and _, not starting with a digit)")
            }
            var value = kv[1].trimmingSpaces
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = value.dropFirst().dropLast()
            }
            if key.hasPrefix("BATON_") {
                guard known.contains(key) else {
                    let hint = closestSetting(to: key).map { "; did you mean \($0)?" } ?? "; `baton agent --help` lists the settings"
                    throw ConfigError(flag: "--config", "\(where_): unknown setting \(key)\(hint)")
                }
                if let earlier = file.settings[key] {
                    throw ConfigError(flag: "--config", "\(where_): \(key) is already set on line \(earlier.line)")
                }
                file.settings[key] = Entry(value: String(value), line: n + 1)
            } else {
                guard file.applicationVariables.count < maxApplicationVariables else {
                    throw ConfigError(flag: "--config", "\(where_): more than \(maxApplicationVariables) application variables")
                }
                file.applicationVariables.append(ApplicationVariable(name: key, value: String(value)))
            }
        }
        return file
    }

    static func isVariableName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)) }
    }
}

/// closestSetting suggests the setting a mistyped name meant: the known environment
/// name within an edit distance of 3 (and less than half its length), nearest first.
public func closestSetting(to name: String) -> String? {
    closest(name.uppercased(), among: AgentSettingKeys.all.map(\.environmentName), prefix: "BATON_")
}

/// closestFlag is closestSetting for a flag (`--electon-timeout`).
public func closestFlag(to flag: String) -> String? {
    closest(flag, among: AgentSettingKeys.all.map(\.flag), prefix: "--")
}

/// closest is the candidate nearest to `word` when the part after the shared prefix is
/// at most a quarter wrong (one typo in a short name, three in a long one): BATON_BIN
/// suggests nothing, BATON_ELECTON_TIMEOUT suggests BATON_ELECTION_TIMEOUT.
func closest(_ word: String, among candidates: [String], prefix: String) -> String? {
    let w = word.hasPrefix(prefix) ? String(word.dropFirst(prefix.count)) : word
    var best: (String, Int)? = nil
    for c in candidates {
        let name = String(c.dropFirst(prefix.count))
        let d = editDistance(w, name)
        if d <= min(3, max(1, name.count / 4)), best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
}

/// editDistance is the Levenshtein distance (insertions, deletions, substitutions).
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}

/// SettingSource says where a setting's value came from, for `--check-config`.
public enum SettingSource: Hashable, Sendable, CustomStringConvertible {
    case flag
    case environment(String)
    case file(String, line: Int)
    case defaultValue

    public var description: String {
        switch self {
        case .flag: "command line"
        case .environment(let name): "environment \(name)"
        case .file(let name, let line): "\(name):\(line)"
        case .defaultValue: "default"
        }
    }
}

/// SettingSources are the three places settings come from, in precedence order.
public struct SettingSources: Sendable {
    public var flags: [String: String]
    public var environment: [String: String]
    public var file: SettingsFile?

    public init(flags: [String: String], environment: [String: String], file: SettingsFile?) {
        self.flags = flags
        self.environment = environment
        self.file = file
    }

    /// value is the text of a setting and where it came from; nil when unset with no default.
    public func value(_ flag: String) -> (text: String, source: SettingSource)? {
        let key = AgentSettingKeys.key(flag)
        if let v = flags[flag] { return (v, .flag) }
        if let v = environment[key.environmentName] { return (v, .environment(key.environmentName)) }
        if let file, let e = file.settings[key.environmentName] { return (e.value, .file(file.name, line: e.line)) }
        return key.defaultValue.map { ($0, .defaultValue) }
    }

    /// effective lists every setting with its value and source, in the table's order.
    public func effective() -> [(flag: String, value: String?, source: SettingSource?)] {
        AgentSettingKeys.all.map { key in
            let v = value(key.flag)
            return (key.flag, v?.text, v?.source)
        }
    }

    /// strayEnvironment names `BATON_*` variables that are neither settings nor the
    /// client's own (BATON_API, BATON_CONFIG), with the setting each may have meant:
    /// the agent ignores them, which is what a typo in a unit's Environment= looks like.
    public func strayEnvironment() -> [(name: String, suggestion: String?)] {
        let known = Set(AgentSettingKeys.all.map(\.environmentName)).union(["BATON_API", "BATON_CONFIG"])
        return environment.keys.filter { $0.hasPrefix("BATON_") && !known.contains($0) }.sorted()
            .map { ($0, closestSetting(to: $0)) }
    }
}
