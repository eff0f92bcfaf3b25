// The settings of the operator controls (issue 16): how long a pause lasts by default
// and at most (a pause always ends); this member's priority and preemption.
public import RaftCore

/// ControlSettings is what `--pause-default` and `--pause-max` resolved to.
public struct ControlSettings: Hashable, Sendable {
    public var pauseDefault = Interval(nanoseconds: 3_600_000_000_000)
    public var pauseMax = Interval(nanoseconds: 86_400_000_000_000)
    /// priority: `--priority N` when given (nil: not given). It seeds this member's
    /// entry when --bootstrap founds a group; afterwards the membership's stored
    /// priority decides (changed by 'baton members set', a logged change) and a flag
    /// that differs is warned about. 0 also holds this node back at once.
    public var priority: UInt16? = nil
    /// preempt: a leader hands over to a caught-up, healthy member of higher priority
    /// once it has been so for `preemptAfter` (`--no-preempt` turns it off).
    public var preempt = true
    public var preemptAfter = Interval(nanoseconds: 10_000_000_000)

    public init() {}

    /// pauseLimit: the longest --pause-max accepted (a week: a pause always ends, and
    /// one forgotten for longer is a group that cannot fail over).
    public static let pauseLimit = Interval(nanoseconds: 7 * 86_400_000_000_000)
    /// preemptAfterMax bounds --preempt-after (an hour: longer is --no-preempt).
    public static let preemptAfterMax = Interval(nanoseconds: 3_600_000_000_000)
}

/// The settings table rows for the control flags (appended to `AgentSettingKeys.all`).
let controlSettingKeys: [SettingKey] = [
    SettingKey(flag: "--pause-default", isBoolean: false, defaultValue: "1h", help: "How long 'baton pause' without --for pauses the group."),
    SettingKey(flag: "--pause-max", isBoolean: false, defaultValue: "24h", help: "The longest pause accepted (at most 7 days): a pause always ends."),
    SettingKey(flag: "--priority", isBoolean: false, defaultValue: nil, help: "This member's priority when --bootstrap founds the group (default 100; 0: never leads); later 'baton members set NAME --priority N'."),
    SettingKey(flag: "--preempt", isBoolean: true, defaultValue: "true", help: "A leader hands over to a caught-up healthy member of higher priority (--no-preempt: never)."),
    SettingKey(flag: "--preempt-after", isBoolean: false, defaultValue: "10s", help: "How long a higher-priority member must be caught up and healthy before the leader hands over to it."),
]

extension ControlSettings {
    /// resolve reads the control flags through `value` (flags > environment > file > default).
    static func resolve(_ value: (String) -> String?) throws(ConfigError) -> ControlSettings {
        var s = ControlSettings()
        s.pauseMax = try parseDuration(value("--pause-max") ?? "24h", flag: "--pause-max")
        guard s.pauseMax > .zero, s.pauseMax <= pauseLimit else {
            throw ConfigError(flag: "--pause-max", "\(s.pauseMax.formatted) is outside 1ms..7d")
        }
        s.pauseDefault = try parseDuration(value("--pause-default") ?? "1h", flag: "--pause-default")
        guard s.pauseDefault > .zero, s.pauseDefault <= s.pauseMax else {
            throw ConfigError(flag: "--pause-default", "\(s.pauseDefault.formatted) must be more than 0 and at most --pause-max (\(s.pauseMax.formatted))")
        }
        if let text = value("--priority") {
            guard let p = UInt16(text) else { throw ConfigError(flag: "--priority", "'\(text)' is not a whole number in 0...65535 (0: never leads)") }
            s.priority = p
        }
        switch value("--preempt")?.lowercased() {
        case "true", "1", "yes", "on", nil: s.preempt = true
        case "false", "0", "no", "off": s.preempt = false
        case let other?: throw ConfigError(flag: "--preempt", "'\(other)' is not true or false")
        }
        s.preemptAfter = try parseDuration(value("--preempt-after") ?? "10s", flag: "--preempt-after")
        guard s.preemptAfter > .zero, s.preemptAfter <= preemptAfterMax else {
            throw ConfigError(flag: "--preempt-after", "\(s.preemptAfter.formatted) is outside 1ms..1h (to never preempt: --no-preempt)")
        }
        return s
    }
}
