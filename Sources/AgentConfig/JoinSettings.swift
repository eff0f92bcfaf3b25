// `--join`: a member that waits to be added asks the group to add it, so one start-up
// template (a StatefulSet's pod spec, one unit file) serves the founding members and
// every later one alike (issue 14: "a new pod joins by `baton members add` from its
// start-up"). The ask is `baton members add` itself, sent to the members' APIs named
// here; the change goes through the leader and the log like the operator's own, so
// nothing about who votes is decided by a flag. Like Consul's retry_join, the list only
// says whom to ask.

/// JoinSettings is what `--join` and `--join-as` resolved to.
public struct JoinSettings: Hashable, Sendable {
    /// apis: members' API addresses (their --api-advertise) to ask, in turn; any member
    /// forwards the request to the leader.
    public var apis: [HostPort]
    /// role: what this member asks to be (a `--witness` member joins as a witness).
    public var role: JoinRole

    /// apisMax bounds the list: asking more members than a group has voters adds nothing.
    public static let apisMax = 16
}

/// JoinRole is the role `--join-as` asks for.
public enum JoinRole: String, Hashable, Sendable, CaseIterable {
    case voter, observer, witness
}

/// The settings table rows for the join flags (appended to `AgentSettingKeys.all`).
let joinSettingKeys: [SettingKey] = [
    SettingKey(flag: "--join", isBoolean: false, defaultValue: nil, help: "While this member waits to be added, ask these members' APIs (HOST:PORT,…) to add it ('baton members add', with --admin-token-file); lets --id be missing from --peers, whose members then found the group."),
    SettingKey(flag: "--join-as", isBoolean: false, defaultValue: nil, help: "With --join: the role to ask for, voter (default) or observer (a --witness joins as witness)."),
]

extension JoinSettings {
    /// resolve reads the join flags through `value`; nil without `--join`.
    static func resolve(_ value: (String) -> String?, witness: Bool) throws(ConfigError) -> JoinSettings? {
        let roleText = value("--join-as").flatMap { $0.isEmpty ? nil : $0 }
        guard let text = value("--join"), !text.isEmpty else {
            if roleText != nil { throw ConfigError(flag: "--join-as", "only with --join (the role this member asks to join as)") }
            return nil
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmingSpaces) }
        guard parts.count <= apisMax else {
            throw ConfigError(flag: "--join", "\(parts.count) addresses; at most \(apisMax)")
        }
        var apis: [HostPort] = []
        for part in parts {
            guard !part.isEmpty else { throw ConfigError(flag: "--join", "an empty address in '\(text)' (HOST:PORT,HOST:PORT,…)") }
            apis.append(try HostPort(parsing: part, flag: "--join"))
        }
        var role = witness ? JoinRole.witness : .voter
        if let roleText {
            guard let asked = JoinRole(rawValue: roleText.lowercased()), asked != .witness else {
                throw ConfigError(flag: "--join-as", "'\(roleText)' is not voter or observer (a witness is started with --witness)")
            }
            if witness { throw ConfigError(flag: "--join-as", "a --witness member joins as a witness; leave out --join-as") }
            role = asked
        }
        return JoinSettings(apis: apis, role: role)
    }
}
