public import AgentLogging
public import RaftCore
import Membership

/// AgentSettings is everything `baton agent` needs to start, resolved from flags, then
/// the environment (`BATON_*`), then an optional file of `BATON_KEY=value` lines (the
/// format of /etc/default/baton, which systemd's EnvironmentFile also reads). Flags win
/// over environment over file.
public struct AgentSettings: Hashable, Sendable {
    public var id: String
    public var members: [Member]
    public var peerListen: HostPort
    public var apiListen: HostPort
    public var peerAdvertise: HostPort
    public var apiAdvertise: HostPort
    public var dataDir: String
    public var clusterSecretFile: String?
    public var insecurePeers: Bool
    public var bootstrap: Bool
    public var clusterID: String
    public var witness: Bool
    public var logFormat: LogFormat
    /// logLevel: lines below it are not written (`--log-level`).
    public var logLevel: LogLevel = .info
    public var raft: Options
    /// Hooks and application checks (issue 6).
    public var hooks = HookSettings()
    /// controls: the operator controls' settings (issue 16).
    public var controls = ControlSettings()
    /// adminTokenFile holds the bearer token admin endpoints (`POST /resign`) require;
    /// without one they are accepted from loopback clients only.
    public var adminTokenFile: String? = nil
    /// hookEnvironment: the application's variables from `--config` (keys without the
    /// `BATON_` prefix, e.g. VIP_ADDRESS), added to the environment of hooks and checks.
    public var hookEnvironment: [ApplicationVariable] = []
    /// etcd: `--backend etcd` and its settings; nil for Baton's own Raft group (the
    /// default). With it, the Raft-only fields above are empty and unused.
    public var etcd: EtcdBackendSettings? = nil
    /// join: `--join`, how this member asks to be added while it waits to be (nil: it
    /// waits for the operator's 'baton members add').
    public var join: JoinSettings? = nil
    /// bootstrapSkippedAsJoiner: --bootstrap was given to a member missing from --peers
    /// (one template for every pod): it founds nothing and joins; said once at start.
    public var bootstrapSkippedAsJoiner = false

    public typealias LogFormat = AgentLogging.LogFormat

    public static let defaultAPIListen = HostPort(host: "127.0.0.1", port: 7480)
    public static let defaultDataDir = "/var/lib/baton"
    /// Limits checked at start-up (issue 15): what the wire carries, and intervals that
    /// neither burn a core nor make failover take hours.
    public static let advertisedAddressBytesMax = 255
    public static let heartbeatMin = Interval.milliseconds(1)
    public static let heartbeatMax = Interval.seconds(10)
    public static let electionTimeoutMin = Interval.milliseconds(10)
    public static let electionTimeoutMax = Interval.seconds(60)
}

/// SettingKey is one setting: its flag, its environment variable, its default and help.
/// The table below is the single source for `--help`, the environment and the file.
public struct SettingKey: Hashable, Sendable {
    public var flag: String
    public var isBoolean: Bool
    public var defaultValue: String?
    public var help: String

    /// `--election-timeout` → `BATON_ELECTION_TIMEOUT`.
    public var environmentName: String {
        "BATON_" + String(flag.dropFirst(2).map { $0 == "-" ? "_" : Character($0.uppercased()) })
    }
}

public enum AgentSettingKeys {
    public static let all: [SettingKey] = [
        SettingKey(flag: "--id", isBoolean: false, defaultValue: nil, help: "This member's name, one of --peers (or, with --join, a member that asks to be added)."),
        SettingKey(flag: "--peers", isBoolean: false, defaultValue: nil, help: "This member and others: n1=HOST:PORT,n2=HOST:PORT,… (1 to 7). With --bootstrap on an empty data dir, the founding members; afterwards only whom to contact (the membership is stored; see baton members)."),
        SettingKey(flag: "--peer-listen", isBoolean: false, defaultValue: nil, help: "Where to accept peer connections (default: this member's --peers address)."),
        SettingKey(flag: "--api-listen", isBoolean: false, defaultValue: AgentSettings.defaultAPIListen.description, help: "Where the HTTP API listens."),
        SettingKey(flag: "--peer-advertise", isBoolean: false, defaultValue: nil, help: "Peer address told to others (default: --peer-listen)."),
        SettingKey(flag: "--api-advertise", isBoolean: false, defaultValue: nil, help: "API address told to others, so any node can say where the leader's API is (default: --api-listen)."),
        SettingKey(flag: "--data-dir", isBoolean: false, defaultValue: AgentSettings.defaultDataDir, help: "Where term, vote and log are kept (locked; one agent per dir)."),
        SettingKey(flag: "--cluster-secret-file", isBoolean: false, defaultValue: nil, help: "File with the shared secret peers prove they hold (32 random bytes: head -c 32 /dev/urandom)."),
        SettingKey(flag: "--insecure-peers", isBoolean: true, defaultValue: "false", help: "Run without a cluster secret (tests on one machine only)."),
        SettingKey(flag: "--bootstrap", isBoolean: true, defaultValue: "false", help: "On an empty data dir, found a new group of --peers (ignored on an existing one); without it an empty data dir waits for 'baton members add'."),
        SettingKey(flag: "--cluster-id", isBoolean: false, defaultValue: "baton", help: "Name of this cluster; peers of another cluster are refused."),
        SettingKey(flag: "--witness", isBoolean: true, defaultValue: "false", help: "Vote and acknowledge, but never campaign or hold office."),
        SettingKey(flag: "--election-timeout", isBoolean: false, defaultValue: "150ms..300ms", help: "Randomized election timeout MIN..MAX; MIN is also the vote stickiness window."),
        SettingKey(flag: "--heartbeat-interval", isBoolean: false, defaultValue: "50ms", help: "How often the leader renews its lease."),
        SettingKey(flag: "--max-drift", isBoolean: false, defaultValue: "0.05", help: "Largest clock-rate drift between nodes, as a fraction (shortens the lease)."),
        SettingKey(flag: "--log-format", isBoolean: false, defaultValue: "text", help: "text or json."),
        SettingKey(flag: "--log-level", isBoolean: false, defaultValue: "info", help: "The least severe lines written: debug, info, notice, warning or error."),
        SettingKey(flag: "--admin-token-file", isBoolean: false, defaultValue: nil, help: "File with the token admin endpoints (POST /resign) require as 'Authorization: Bearer TOKEN'; without it they are accepted from loopback only."),
    ] + hookSettingKeys + controlSettingKeys + joinSettingKeys + etcdSettingKeys

    static func key(_ flag: String) -> SettingKey { all.first { $0.flag == flag }! }
}

extension AgentSettings {
    /// resolve applies the precedence flags > environment > file > default and validates
    /// every value. `flags` maps a flag (`--id`) to its text (`"true"` for a boolean flag,
    /// `"false"` for its `--no-` form); `fileText` is the content of `--config FILE`, if any.
    public static func resolve(flags: [String: String], environment: [String: String],
                               fileText: String?, fileName: String = "config file") throws(ConfigError) -> AgentSettings {
        let file = try fileText.map { (t) throws(ConfigError) in try SettingsFile.parse(t, name: fileName) }
        return try resolve(SettingSources(flags: flags, environment: environment, file: file))
    }

    /// resolve validates the settings that `sources` give (flags > environment > file >
    /// default); `sources.effective()` says where each value came from.
    public static func resolve(_ sources: SettingSources) throws(ConfigError) -> AgentSettings {
        for flag in sources.flags.keys where !AgentSettingKeys.all.contains(where: { $0.flag == flag }) {
            throw ConfigError(flag: flag, "unknown setting")
        }
        if try backend(sources) == .etcd { return try resolveEtcdBackend(sources) }
        try refuseForeign(etcdOnlyFlags, sources, because: "it configures --backend etcd, and this agent runs Baton's own Raft group (--backend raft)")
        func value(_ flag: String) -> String? { sources.value(flag)?.text }
        func required(_ flag: String) throws(ConfigError) -> String {
            guard let v = value(flag), !v.isEmpty else {
                throw ConfigError(flag: flag, "required (or set \(AgentSettingKeys.key(flag).environmentName))")
            }
            return v
        }
        func bool(_ flag: String) throws(ConfigError) -> Bool {
            switch value(flag)?.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off", nil: return false
            case let other?: throw ConfigError(flag: flag, "'\(other)' is not true or false")
            }
        }

        let id = try required("--id")
        var members = try parsePeers(try required("--peers"))
        let witnessFlag = try bool("--witness")
        let join = try JoinSettings.resolve(value, witness: witnessFlag)
        // A member missing from --peers is a joiner (only with --join, so a mistyped --id
        // is still caught): --peers are then the group's founders and contacts, and its
        // own address is --peer-listen's.
        let listed = members.first(where: { $0.name == id })
        if listed == nil && join == nil {
            throw ConfigError(flag: "--id", "'\(id)' is not one of --peers (\(members.map(\.name).joined(separator: ", "))); a member that joins an existing group lists itself in --peers, or passes --join to ask the group to add it")
        }
        if listed == nil && value("--peer-listen") == nil {
            throw ConfigError(flag: "--peer-listen", "required: '\(id)' is not in --peers (it joins with --join), so its peer address comes from --peer-listen")
        }
        let peerListen = try value("--peer-listen").map { (s) throws(ConfigError) in try HostPort(parsing: s, flag: "--peer-listen") } ?? listed!.peerAddress
        let apiListen = try HostPort(parsing: try required("--api-listen"), flag: "--api-listen")
        let peerAdvertise = try value("--peer-advertise").map { (s) throws(ConfigError) in try HostPort(parsing: s, flag: "--peer-advertise") } ?? peerListen
        let apiAdvertise = try value("--api-advertise").map { (s) throws(ConfigError) in try HostPort(parsing: s, flag: "--api-advertise") } ?? apiListen
        // The handshake carries both advertised addresses as strings of at most 255 bytes
        // (PeerWire's shortString): a longer one trapped at the first dial.
        for (flag, address) in [("--peer-advertise", peerAdvertise), ("--api-advertise", apiAdvertise)]
            where address.description.utf8.count > AgentSettings.advertisedAddressBytesMax {
            throw ConfigError(flag: flag, "'\(address)' is \(address.description.utf8.count) bytes; the peer handshake carries at most \(AgentSettings.advertisedAddressBytesMax) (give a shorter name or an IP address)")
        }
        let isFounder = listed != nil
        if !isFounder && peerAdvertise.isWildcard {
            throw ConfigError(flag: "--peer-advertise", "required: '\(id)' joins (it is not in --peers) and \(peerAdvertise) does not say where the others reach it; give its HOST:PORT")
        }
        if !isFounder { members.append(Member(name: id, peerAddress: peerAdvertise, witness: witnessFlag)) }
        if apiListen == peerListen {
            throw ConfigError(flag: "--api-listen", "\(apiListen) is also the peer address; give the API its own port")
        }
        let clusterID = try required("--cluster-id")
        guard clusterID.utf8.count <= 64, isValidMemberName(clusterID) else {
            throw ConfigError(flag: "--cluster-id", "'\(clusterID)' must be 1–63 letters, digits, '-', '_', '.'")
        }
        let insecure = try bool("--insecure-peers")
        let secretFile = value("--cluster-secret-file")
        if secretFile == nil && !insecure {
            throw ConfigError(flag: "--cluster-secret-file", "required: peers must prove they hold a shared secret. Create one with 'head -c 32 /dev/urandom > /etc/baton/secret; chmod 600 /etc/baton/secret' and copy it to every member, or pass --insecure-peers for a test cluster on one machine")
        }
        let logFormat = try required("--log-format")
        guard let format = LogFormat(rawValue: logFormat) else {
            throw ConfigError(flag: "--log-format", "'\(logFormat)' is not text or json")
        }
        let levelText = try required("--log-level")
        guard let level = LogLevel(name: levelText) else {
            throw ConfigError(flag: "--log-level", "'\(levelText)' is not one of \(LogLevel.allCases.map(\.name).joined(separator: ", "))")
        }

        var raft = Options()
        (raft.electionTimeoutMin, raft.electionTimeoutMax) = try parseDurationRange(try required("--election-timeout"), flag: "--election-timeout")
        raft.heartbeatInterval = try parseDuration(try required("--heartbeat-interval"), flag: "--heartbeat-interval")
        // Lower bounds: a 0.0001 ms heartbeat was accepted and burned a core; upper ones
        // keep a typo (60m for 60ms) from a group that takes an hour to fail over.
        guard raft.heartbeatInterval >= AgentSettings.heartbeatMin, raft.heartbeatInterval <= AgentSettings.heartbeatMax else {
            throw ConfigError(flag: "--heartbeat-interval", "\(raft.heartbeatInterval) is outside \(AgentSettings.heartbeatMin)..\(AgentSettings.heartbeatMax)")
        }
        guard raft.electionTimeoutMin >= AgentSettings.electionTimeoutMin, raft.electionTimeoutMax <= AgentSettings.electionTimeoutMax else {
            throw ConfigError(flag: "--election-timeout", "\(raft.electionTimeoutMin)..\(raft.electionTimeoutMax) is outside \(AgentSettings.electionTimeoutMin)..\(AgentSettings.electionTimeoutMax)")
        }
        let driftText = try required("--max-drift")
        guard let drift = Double(driftText), drift >= 0, drift < 0.5 else {
            throw ConfigError(flag: "--max-drift", "'\(driftText)' is not a fraction in [0, 0.5), e.g. 0.05 for 5 %")
        }
        raft.maxDrift = drift
        do { try raft.validate() } catch {
            let flag = error.message.contains("heartbeat") ? "--heartbeat-interval" : error.message.contains("drift") ? "--max-drift" : "--election-timeout"
            throw ConfigError(flag: flag, error.message)
        }
        let witness = witnessFlag
        if witness && members.count == 1 {
            throw ConfigError(flag: "--witness", "a single-member cluster needs a member that can lead")
        }
        let bootstrapFlag = try bool("--bootstrap")
        var settings = AgentSettings(
            id: id, members: members, peerListen: peerListen, apiListen: apiListen,
            peerAdvertise: peerAdvertise, apiAdvertise: apiAdvertise,
            dataDir: try required("--data-dir"), clusterSecretFile: secretFile, insecurePeers: insecure,
            bootstrap: bootstrapFlag && isFounder, clusterID: clusterID, witness: witness,
            logFormat: format, raft: raft)
        settings.join = join
        settings.bootstrapSkippedAsJoiner = bootstrapFlag && !isFounder
        settings.hooks = try HookSettings.resolve(value)
        settings.controls = try ControlSettings.resolve(value)
        if settings.controls.priority == 0 && members.count == 1 {
            throw ConfigError(flag: "--priority", "a single-member cluster needs a member that can lead (priority above 0)")
        }
        settings.adminTokenFile = value("--admin-token-file").flatMap { $0.isEmpty ? nil : $0 }
        settings.logLevel = level
        settings.hookEnvironment = sources.file?.applicationVariables ?? []
        return settings
    }
}

/// parseSettingsFile reads the `BATON_*` settings of a file (see `SettingsFile`).
public func parseSettingsFile(_ text: String, name: String) throws(ConfigError) -> [String: String] {
    try SettingsFile.parse(text, name: name).settings.mapValues(\.value)
}
