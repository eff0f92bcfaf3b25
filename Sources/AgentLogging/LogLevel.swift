/// LogLevel is a line's severity, numbered as syslog priorities (RFC 5424 §6.2.1), so
/// the `<N>` prefix journald reads (sd-daemon(3)) is the raw value and
/// `journalctl -p warning` shows warnings and worse.
public enum LogLevel: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case error = 3
    case warning = 4
    case notice = 5
    case info = 6
    case debug = 7

    /// name is the word written in `level=` and accepted by `--log-level`.
    public var name: String {
        switch self {
        case .error: "error"
        case .warning: "warning"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }

    public var description: String { name }

    /// init(name:) reads a `--log-level` word; nil for anything else.
    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = level
    }

    /// `<` orders by importance: `.error < .warning` is false; a more severe level is
    /// "greater", so `line.level >= minimum` keeps it.
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue > b.rawValue }
}

/// LogFormat is how a line is written: `key=value` text (journald keeps it readable) or
/// one JSON object a line, for log shippers.
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json
}
