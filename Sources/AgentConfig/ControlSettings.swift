// The settings of the operator controls (issue 16): how long a pause lasts by default
// and at most (a pause always ends).
public import RaftCore

/// ControlSettings is what `--pause-default` and `--pause-max` resolved to.
public struct ControlSettings: Hashable, Sendable {
    public var pauseDefault = Interval(nanoseconds: 3_600_000_000_000)
    public var pauseMax = Interval(nanoseconds: 86_400_000_000_000)

    public init() {}

    /// pauseLimit: the longest --pause-max accepted (a week: a pause always ends, and
    /// one forgotten for longer is a group that cannot fail over).
    public static let pauseLimit = Interval(nanoseconds: 7 * 86_400_000_000_000)
}

/// The settings table rows for the control flags (appended to `AgentSettingKeys.all`).
let controlSettingKeys: [SettingKey] = [
    SettingKey(flag: "--pause-default", isBoolean: false, defaultValue: "1h", help: "How long 'baton pause' without --for pauses the group."),
    SettingKey(flag: "--pause-max", isBoolean: false, defaultValue: "24h", help: "The longest pause accepted (at most 7 days): a pause always ends."),
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
        return s
    }
}
