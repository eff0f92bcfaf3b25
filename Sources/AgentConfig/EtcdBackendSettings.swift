// The second engine's settings (issue 18): `--backend etcd` elects through an existing
// etcd cluster instead of Baton's own Raft group. Such an agent needs only `--id`,
// `--api-listen`, `--data-dir` and the etcd flags; the Raft group's own settings
// (members, peer addresses, the cluster secret, --bootstrap, Raft timing) are refused
// when given, from any source, with a message that says why: an operator who leaves
// `BATON_PEERS` in /etc/default/baton while switching engines should hear that it no
// longer means anything rather than find out later.
import AgentLogging
import Membership
public import EtcdElection
public import RaftCore

/// EtcdBackendSettings is what `--etcd-endpoints`, `--etcd-prefix` and
/// `--etcd-lease-ttl` resolved to. The endpoints are checked for their form here; the
/// agent resolves host names once at start-up (blocking, before the loop runs).
public struct EtcdBackendSettings: Hashable, Sendable {
    /// endpoints are client URLs, `http://HOST:PORT`, tried in order with failover.
    public var endpoints: [String]
    /// prefix holds every key of this group: `PREFIX/election/<lease>` (and, once the
    /// operator controls of issue 16 exist, their pause and history under the same prefix).
    public var prefix: String
    /// leaseTTL is asked of etcd (whole seconds); design §2's arithmetic uses what it grants.
    public var leaseTTL: Interval

    public init(endpoints: [String], prefix: String, leaseTTL: Interval) {
        self.endpoints = endpoints; self.prefix = prefix; self.leaseTTL = leaseTTL
    }

    /// endpointCountMax matches the etcd client's own bound (EtcdClientOptions).
    public static let endpointCountMax = 16
    public static let defaultLeaseTTL = Interval.seconds(2)

    /// electionOptions are the election's options for member `id` publishing `apiAddress`.
    public func electionOptions(id: String, apiAddress: String, maxDrift: Double) -> EtcdElectionOptions {
        var o = EtcdElectionOptions(candidate: CandidateInfo(name: id, apiAddress: apiAddress), prefix: prefix)
        o.leaseTTL = leaseTTL
        o.maxDrift = maxDrift
        return o
    }
}

/// Backend names the election engine (`--backend`).
public enum Backend: String, Hashable, Sendable, CaseIterable {
    case raft, etcd
}

/// The settings table rows for the engine flags (appended to `AgentSettingKeys.all`).
let etcdSettingKeys: [SettingKey] = [
    SettingKey(flag: "--backend", isBoolean: false, defaultValue: "raft", help: "The election engine: raft (Baton's own group, the default) or etcd (an existing etcd cluster)."),
    SettingKey(flag: "--etcd-endpoints", isBoolean: false, defaultValue: nil, help: "With --backend etcd: etcd client URLs, http://HOST:PORT[,…] (tried in order, with failover)."),
    SettingKey(flag: "--etcd-prefix", isBoolean: false, defaultValue: nil, help: "With --backend etcd: the key prefix of this group (default: /baton/CLUSTER-ID)."),
    SettingKey(flag: "--etcd-lease-ttl", isBoolean: false, defaultValue: "2s", help: "With --backend etcd: the lease TTL, whole seconds; failover after a crash takes about this long."),
]

extension AgentSettings {
    /// raftOnlyFlags are the Raft group's own settings: refused with `--backend etcd`.
    public static let raftOnlyFlags = ["--peers", "--peer-listen", "--peer-advertise", "--cluster-secret-file",
                                       "--insecure-peers", "--bootstrap", "--witness", "--election-timeout", "--heartbeat-interval",
                                       "--join", "--join-as"]
    /// raftControlFlags are issue 16's operator controls (pause, priority, preemption):
    /// kept in the Raft group's replicated log, so not available with `--backend etcd` yet.
    public static let raftControlFlags = ["--pause-default", "--pause-max", "--priority", "--preempt", "--preempt-after"]
    /// etcdOnlyFlags are refused with `--backend raft`.
    public static let etcdOnlyFlags = ["--etcd-endpoints", "--etcd-prefix", "--etcd-lease-ttl"]

    /// backend reads `--backend` (raft when unset).
    static func backend(_ sources: SettingSources) throws(ConfigError) -> Backend {
        let text = sources.value("--backend")?.text ?? "raft"
        guard let b = Backend(rawValue: text.lowercased()) else {
            throw ConfigError(flag: "--backend", "'\(text)' is not \(Backend.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        return b
    }

    /// refuseForeign throws for the first of `flags` set anywhere (a boolean only when
    /// switched on), naming where it was set and why it does not apply.
    static func refuseForeign(_ flags: [String], _ sources: SettingSources, because why: String) throws(ConfigError) {
        for flag in flags {
            guard let (text, source) = sources.value(flag), source != .defaultValue else { continue }
            if AgentSettingKeys.key(flag).isBoolean, ["false", "0", "no", "off"].contains(text.lowercased()) { continue }
            throw ConfigError(flag: flag, "set (\(source)) but \(why); remove it")
        }
    }

    /// resolveEtcdBackend builds the settings of an agent that elects through etcd: the
    /// API, data dir, hooks, check, logs and admin token as with Raft; no members, peer
    /// addresses or secret (the Raft-only fields hold empty values the etcd agent never
    /// reads).
    static func resolveEtcdBackend(_ sources: SettingSources) throws(ConfigError) -> AgentSettings {
        try refuseForeign(raftOnlyFlags, sources, because: "--backend etcd elects through etcd: there is no Raft group, no peer port and no cluster secret")
        try refuseForeign(raftControlFlags, sources, because: "pause, priority and preemption are kept in the Raft group's replicated log and are not available with --backend etcd yet")
        func value(_ flag: String) -> String? { sources.value(flag)?.text }
        func required(_ flag: String) throws(ConfigError) -> String {
            guard let v = value(flag), !v.isEmpty else {
                throw ConfigError(flag: flag, "required with --backend etcd (or set \(AgentSettingKeys.key(flag).environmentName))")
            }
            return v
        }
        let id = try required("--id")
        guard isValidMemberName(id) else { throw ConfigError(flag: "--id", "'\(id)' must be 1–63 letters, digits, '-', '_', '.'") }
        let apiListen = try HostPort(parsing: try required("--api-listen"), flag: "--api-listen")
        let apiAdvertise = try value("--api-advertise").map { (s) throws(ConfigError) in try HostPort(parsing: s, flag: "--api-advertise") } ?? apiListen
        let clusterID = try required("--cluster-id")
        guard clusterID.utf8.count <= 64, isValidMemberName(clusterID) else {
            throw ConfigError(flag: "--cluster-id", "'\(clusterID)' must be 1–63 letters, digits, '-', '_', '.'")
        }
        let format = try required("--log-format")
        guard let logFormat = LogFormat(rawValue: format) else { throw ConfigError(flag: "--log-format", "'\(format)' is not text or json") }
        let levelText = try required("--log-level")
        guard let level = LogLevel(name: levelText) else {
            throw ConfigError(flag: "--log-level", "'\(levelText)' is not one of \(LogLevel.allCases.map(\.name).joined(separator: ", "))")
        }
        let driftText = try required("--max-drift")
        guard let drift = Double(driftText), drift >= 0, drift < 0.5 else {
            throw ConfigError(flag: "--max-drift", "'\(driftText)' is not a fraction in [0, 0.5), e.g. 0.05 for 5 %")
        }
        let etcd = EtcdBackendSettings(endpoints: try parseEtcdEndpoints(try required("--etcd-endpoints")),
                                       prefix: value("--etcd-prefix") ?? "/baton/\(clusterID)",
                                       leaseTTL: try parseDuration(try required("--etcd-lease-ttl"), flag: "--etcd-lease-ttl"))
        // One rule for the election's settings: the election's own validation (prefix
        // form, TTL bounds, the renewal fitting the lease, the published value's size).
        do { try etcd.electionOptions(id: id, apiAddress: apiAdvertise.description, maxDrift: drift).validate() } catch {
            let flag = error.description.contains("prefix") ? "--etcd-prefix" : error.description.contains("drift") ? "--max-drift"
                : error.description.contains("bytes") ? "--api-advertise" : "--etcd-lease-ttl"
            throw ConfigError(flag: flag, error.description)
        }
        var raft = Options()
        raft.maxDrift = drift
        // The peer fields are never read with this backend: no peer port is opened.
        let noPeer = HostPort(host: "0.0.0.0", port: 0)
        var settings = AgentSettings(
            id: id, members: [], peerListen: noPeer, apiListen: apiListen, peerAdvertise: noPeer, apiAdvertise: apiAdvertise,
            dataDir: try required("--data-dir"), clusterSecretFile: nil, insecurePeers: false, bootstrap: false,
            clusterID: clusterID, witness: false, logFormat: logFormat, raft: raft)
        settings.etcd = etcd
        settings.hooks = try HookSettings.resolve(value)
        settings.adminTokenFile = value("--admin-token-file").flatMap { $0.isEmpty ? nil : $0 }
        settings.logLevel = level
        settings.hookEnvironment = sources.file?.applicationVariables ?? []
        return settings
    }

    /// parseEtcdEndpoints checks `http://HOST:PORT[,…]`: the scheme (TLS is not
    /// supported yet), an address with a port, no path, at most `endpointCountMax`.
    public static func parseEtcdEndpoints(_ text: String) throws(ConfigError) -> [String] {
        let flag = "--etcd-endpoints"
        var out: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var url = String(part.trimmingSpaces)
            if url.hasPrefix("https://") {
                throw ConfigError(flag: flag, "'\(url)': TLS to etcd is not supported yet; give an http:// client URL")
            }
            guard url.hasPrefix("http://") else {
                throw ConfigError(flag: flag, "'\(url)' must be a client URL http://HOST:PORT (e.g. http://127.0.0.1:2379)")
            }
            if url.hasSuffix("/") { url.removeLast() }
            let authority = String(url.dropFirst("http://".count))
            guard !authority.contains("/"), !authority.contains("@"), !authority.contains("?") else {
                throw ConfigError(flag: flag, "'\(url)' must be http://HOST:PORT with no path, user or query")
            }
            _ = try HostPort(parsing: authority, flag: flag)
            out.append(url)
        }
        guard out.count <= EtcdBackendSettings.endpointCountMax else {
            throw ConfigError(flag: flag, "\(out.count) endpoints; at most \(EtcdBackendSettings.endpointCountMax)")
        }
        return out
    }
}
