// The hook and check settings of issue 6: commands split once here, so a bad quote is
// a start-up error naming the flag, never a failing hook at the worst moment.
import HookSyntax
public import RaftCore

/// HookSettings is what `--on-promote`, `--on-demote`, `--on-change`, `--hook-timeout`,
/// `--promote-delay`, `--promote-failure` and the `--check*` flags resolved to.
public struct HookSettings: Hashable, Sendable {
    public var onPromote: [String]? = nil
    public var onDemote: [String]? = nil
    public var onChange: [String]? = nil
    public var hookTimeout = Interval(nanoseconds: 30_000_000_000)
    public var promoteDelay = Interval(nanoseconds: 0)
    public var promoteFailure = PromoteFailure.resign
    public var check: [String]? = nil
    public var checkURL: String? = nil
    public var checkInterval = Interval(nanoseconds: 2_000_000_000)
    public var checkFailures = 3
    /// `--leader-unit NAME.service`: started on promote, stopped on demote and at start-up
    /// (validated by the agent against systemd's unit-name rules).
    public var leaderUnit: String? = nil
    /// `--user-bus`: talk to the user's service manager instead of the system's.
    public var userBus = false

    public enum PromoteFailure: String, Hashable, Sendable { case resign, ignore }

    public init() {}

    /// Limits on the values (each refused with a message naming the flag).
    public static let maxHookTimeout = Interval(nanoseconds: 3_600_000_000_000)
    public static let minCheckInterval = Interval(nanoseconds: 100_000_000)
    public static let maxCheckFailures = 100
    /// promoteFailureBackoff: after a failed promote (`--promote-failure resign`) the
    /// node hands over and does not campaign for this long, so a node that cannot
    /// serve does not keep winning elections.
    public static let promoteFailureBackoff = Interval(nanoseconds: 10_000_000_000)
}

/// The settings table rows for the hook flags (appended to `AgentSettingKeys.all`).
let hookSettingKeys: [SettingKey] = [
    SettingKey(flag: "--on-promote", isBoolean: false, defaultValue: nil, help: "Command run when this node takes office (BATON_EVENT=promote)."),
    SettingKey(flag: "--on-demote", isBoolean: false, defaultValue: nil, help: "Command run when this node leaves office, and once at start-up (BATON_EVENT=demote or startup)."),
    SettingKey(flag: "--on-change", isBoolean: false, defaultValue: nil, help: "Command run on every transition, after --on-promote or --on-demote, and alone (BATON_EVENT=change) when the leader becomes another member."),
    SettingKey(flag: "--hook-timeout", isBoolean: false, defaultValue: "30s", help: "A hook running longer gets SIGTERM, then SIGKILL 2 s later, and counts as failed."),
    SettingKey(flag: "--promote-delay", isBoolean: false, defaultValue: "0s", help: "Wait this long after winning before the promote hook (a budget for the old leader's demote)."),
    SettingKey(flag: "--promote-failure", isBoolean: false, defaultValue: "resign", help: "resign or ignore: what a failed promote hook does."),
    SettingKey(flag: "--check", isBoolean: false, defaultValue: nil, help: "Command checking the application's health (exit 0 = healthy)."),
    SettingKey(flag: "--check-url", isBoolean: false, defaultValue: nil, help: "http:// URL checking the application's health (2xx = healthy)."),
    SettingKey(flag: "--check-interval", isBoolean: false, defaultValue: "2s", help: "How often the check runs; each probe must finish within it."),
    SettingKey(flag: "--check-failures", isBoolean: false, defaultValue: "3", help: "Failed checks in a row that make the node unhealthy."),
    SettingKey(flag: "--leader-unit", isBoolean: false, defaultValue: nil, help: "systemd unit started on promote and stopped on demote (NAME.service), within --hook-timeout."),
    SettingKey(flag: "--user-bus", isBoolean: true, defaultValue: "false", help: "Start and stop --leader-unit through the user's service manager, not the system's."),
]

extension HookSettings {
    /// resolve reads the hook flags through `value` (flags > environment > file > default).
    static func resolve(_ value: (String) -> String?) throws(ConfigError) -> HookSettings {
        var s = HookSettings()
        func command(_ flag: String) throws(ConfigError) -> [String]? {
            guard let text = value(flag) else { return nil }
            do { return try CommandWords.split(text) } catch {
                throw ConfigError(flag: flag, "\(error.message) (commands are split like a shell splits words but never run by one; for pipes or variables write sh -c '…')")
            }
        }
        s.onPromote = try command("--on-promote")
        s.onDemote = try command("--on-demote")
        s.onChange = try command("--on-change")
        s.check = try command("--check")

        s.hookTimeout = try parseDuration(value("--hook-timeout") ?? "30s", flag: "--hook-timeout")
        guard s.hookTimeout.nanoseconds > 0, s.hookTimeout <= HookSettings.maxHookTimeout else {
            throw ConfigError(flag: "--hook-timeout", "must be above 0 and at most 3600s")
        }
        s.promoteDelay = try parseDuration(value("--promote-delay") ?? "0s", flag: "--promote-delay")
        guard s.promoteDelay <= HookSettings.maxHookTimeout else {
            throw ConfigError(flag: "--promote-delay", "must be at most 3600s")
        }
        let policy = value("--promote-failure") ?? "resign"
        guard let p = PromoteFailure(rawValue: policy) else {
            throw ConfigError(flag: "--promote-failure", "'\(policy)' is not resign or ignore")
        }
        s.promoteFailure = p

        if let url = value("--check-url") {
            if s.check != nil {
                throw ConfigError(flag: "--check-url", "give either --check or --check-url, not both")
            }
            do { _ = try CheckURL(parsing: url) } catch { throw ConfigError(flag: "--check-url", error.message) }
            s.checkURL = url
        }
        s.checkInterval = try parseDuration(value("--check-interval") ?? "2s", flag: "--check-interval")
        guard s.checkInterval >= HookSettings.minCheckInterval, s.checkInterval <= HookSettings.maxHookTimeout else {
            throw ConfigError(flag: "--check-interval", "must be between 100ms and 3600s")
        }
        let failures = value("--check-failures") ?? "3"
        guard let n = Int(failures), n >= 1, n <= HookSettings.maxCheckFailures else {
            throw ConfigError(flag: "--check-failures", "'\(failures)' is not a whole number from 1 to \(HookSettings.maxCheckFailures)")
        }
        s.checkFailures = n
        if let unit = value("--leader-unit"), !unit.isEmpty { s.leaderUnit = unit }
        switch (value("--user-bus") ?? "false").lowercased() {
        case "true", "1", "yes", "on": s.userBus = true
        case "false", "0", "no", "off", "": s.userBus = false
        case let other: throw ConfigError(flag: "--user-bus", "'\(other)' is not true or false")
        }
        if s.userBus && s.leaderUnit == nil {
            throw ConfigError(flag: "--user-bus", "only means something with --leader-unit; give --leader-unit NAME.service or drop --user-bus")
        }
        return s
    }
}

