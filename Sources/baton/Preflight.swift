// The checks `baton agent` makes before it starts, all in one place: the agent runs them
// at start-up (exit 2 on the first problem), `--check-config` runs every one and prints
// them with the effective settings, and a SIGHUP runs them before applying anything.
import Agent
import AgentConfig
import Posix
import RaftCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

enum Preflight {
    /// Finding is one line of `--check-config`'s report.
    struct Finding {
        enum Kind: String { case ok = "ok", warning = "warn", error = "FAIL" }
        var kind: Kind
        var flag: String
        var message: String
    }

    /// loadSecret reads `--cluster-secret-file` (nil without one) and refuses one that
    /// is over 4096 bytes, under 16, or all zeros (SecretFiles).
    static func loadSecret(_ settings: AgentSettings) throws(ConfigError) -> [UInt8]? {
        guard let path = settings.clusterSecretFile else { return nil }
        var bytes: [UInt8]? = nil
        do { bytes = try readSmallFile(path, limit: SecretFiles.bytesMax) } catch {
            if error != .invalidArgument {  // over the limit: the verdict says so
                throw ConfigError(flag: "--cluster-secret-file", "cannot read \(path) (\(error)); create it with 'head -c 32 /dev/urandom > \(path); chmod 600 \(path)' and copy it to every member")
            }
        }
        if let refusal = SecretFiles.clusterSecret(bytes, mode: fileMode(path), path: path).refusal {
            throw ConfigError(flag: "--cluster-secret-file", refusal)
        }
        return bytes
    }

    /// secretWarnings: what is doubtful about the secret and the admin token files
    /// (short, readable by other users), logged at start-up; nothing is refused here.
    static func secretWarnings(_ settings: AgentSettings) -> [String] {
        var out: [String] = []
        if let path = settings.clusterSecretFile, let bytes = try? readSmallFile(path, limit: SecretFiles.bytesMax) {
            out += SecretFiles.clusterSecret(bytes, mode: fileMode(path), path: path).warnings
        }
        if let path = settings.adminTokenFile, let bytes = try? readSmallFile(path, limit: SecretFiles.bytesMax) {
            let token = bytes.reversed().drop { $0 == 0x0a || $0 == 0x0d || $0 == 0x20 || $0 == 0x09 }
            out += SecretFiles.adminToken(length: token.count, mode: fileMode(path), path: path)
        }
        return out
    }

    /// fileMode is the permission bits of `path` (0 when it cannot be read: the read
    /// that follows reports that).
    static func fileMode(_ path: String) -> UInt32 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt32(st.st_mode) : 0
    }

    /// programProblems: every hook and check program exists and is executable, found
    /// as spawning will find it (the agent's PATH, which hooks inherit).
    static func programProblems(_ settings: AgentSettings) -> [ConfigError] {
        let h = settings.hooks
        var out: [ConfigError] = []
        for (flag, argv) in [("--on-promote", h.onPromote), ("--on-demote", h.onDemote), ("--on-change", h.onChange), ("--check", h.check)] {
            guard let program = argv?.first else { continue }
            if let why = Executables.problem(with: program) { out.append(ConfigError(flag: flag, why)) }
        }
        return out
    }

    /// startProblems are the checks start-up and reload make beyond resolving: programs
    /// and the agent's own (token, check URL, unit).
    static func startProblems(_ settings: AgentSettings, reload: Bool = false) -> [ConfigError] {
        programProblems(settings) + Agent.preflightProblems(settings, withUnit: !reload)
    }

    /// report runs every check for `--check-config`; nothing is changed.
    static func report(_ settings: AgentSettings) -> [Finding] {
        var out: [Finding] = []
        let h = settings.hooks
        let problems = startProblems(settings)
        for (flag, argv) in [("--on-promote", h.onPromote), ("--on-demote", h.onDemote), ("--on-change", h.onChange), ("--check", h.check)] {
            guard let argv else { continue }
            if let p = problems.first(where: { $0.flag == flag }) { out.append(Finding(kind: .error, flag: flag, message: p.message)) }
            else { out.append(Finding(kind: .ok, flag: flag, message: "\(argv[0]) is executable")) }
        }
        for p in problems where !["--on-promote", "--on-demote", "--on-change", "--check"].contains(p.flag) {
            out.append(Finding(kind: .error, flag: p.flag, message: p.message))
        }
        if let url = h.checkURL, !problems.contains(where: { $0.flag == "--check-url" }) {
            out.append(Finding(kind: .ok, flag: "--check-url", message: "\(url) resolves"))
        }
        if let path = settings.adminTokenFile, !problems.contains(where: { $0.flag == "--admin-token-file" }) {
            out.append(Finding(kind: .ok, flag: "--admin-token-file", message: "\(path) holds a token"))
        }
        do {
            if let secret = try loadSecret(settings) {
                out.append(Finding(kind: .ok, flag: "--cluster-secret-file", message: "\(settings.clusterSecretFile!) holds \(secret.count) bytes"))
            }
        } catch { out.append(Finding(kind: .error, flag: error.flag, message: error.message)) }
        if settings.etcd != nil { return out + etcdFindings(settings) }
        out += addressFindings(settings)
        out += dataDirFindings(settings)
        return out
    }

    /// addressFindings: this member's own addresses must resolve; another member's that
    /// does not resolve yet is a warning (a peer's DNS name may appear only once it runs).
    static func addressFindings(_ settings: AgentSettings) -> [Finding] {
        var out: [Finding] = []
        for (flag, hp) in [("--peer-listen", settings.peerListen), ("--api-listen", settings.apiListen)] {
            do {
                let addresses = try Resolver.resolve(host: hp.host, port: hp.port)
                out.append(Finding(kind: .ok, flag: flag, message: "\(hp) is \(addresses.map(\.description).joined(separator: ", "))"))
            } catch {
                out.append(Finding(kind: .error, flag: flag, message: "\(error)"))
            }
        }
        for m in settings.members where m.name != settings.id {
            do { _ = try Resolver.resolve(host: m.peerAddress.host, port: m.peerAddress.port) } catch {
                out.append(Finding(kind: .warning, flag: "--peers", message: "\(m.name)=\(m.peerAddress): \(error) (the agent keeps trying)"))
            }
        }
        return out
    }

    /// dataDirFindings: the data dir is usable and in the state --bootstrap expects.
    static func dataDirFindings(_ settings: AgentSettings) -> [Finding] {
        let dir = settings.dataDir
        let inspection: DataDirectoryInspection
        do { inspection = try DataDirectory.inspect(path: dir) } catch {
            return [Finding(kind: .error, flag: "--data-dir", message: "\(error)")]
        }
        guard inspection.exists, let state = inspection.state else {
            if settings.bootstrap {
                return [Finding(kind: .ok, flag: "--data-dir", message: "\(dir) \(inspection.exists ? "is empty" : "does not exist"); --bootstrap will create a new member's state")]
            }
            return [Finding(kind: .error, flag: "--data-dir", message: "\(dir) \(inspection.exists ? "is empty" : "does not exist"): give --bootstrap for the very first start of a new cluster, or restore this member's data dir")]
        }
        var out: [Finding] = []
        let ids = (try? Agent.memberIDs(settings.members)) ?? [:]
        let vote = state.votedFor.map { v in ids.first { $0.value == v }?.key ?? "an id not in --peers (\(v))" } ?? "nobody"
        var message = "\(dir): term \(state.term), voted for \(vote), \(inspection.logEntries) log entries"
        if inspection.inUse { message += "; in use by a running agent\(inspection.lockHolder.map { " (pid \($0))" } ?? "")" }
        if let torn = inspection.tornTailBytes { message += "; a torn append of \(torn) bytes will be cut at start" }
        out.append(Finding(kind: .ok, flag: "--data-dir", message: message))
        if !inspection.writable {
            out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) is not writable by this user (uid \(getuid())); the agent must write its term and vote there"))
        }
        if let identity = inspection.identity {
            if identity.removed {
                out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) belongs to member \(identity.memberName), which the group removed: it must not be used again; add this member back with a new data dir"))
            } else if identity.memberName != settings.id {
                out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) belongs to member \(identity.memberName) (incarnation \(identity.incarnation)), not to --id \(settings.id): give each member its own data dir"))
            } else if identity.clusterName != settings.clusterID {
                out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) belongs to cluster \(identity.clusterName), not to --cluster-id \(settings.clusterID)"))
            } else {
                out.append(Finding(kind: .ok, flag: "--data-dir", message: "belongs to member \(identity.memberName) of cluster \(identity.clusterName) (incarnation \(identity.incarnation))"))
            }
        }
        if state.votedFor != nil && vote.hasPrefix("an id not in") {
            out.append(Finding(kind: .warning, flag: "--data-dir", message: "\(dir) voted for a member that is not in --peers: is this data dir from another cluster?"))
        }
        return out
    }
}
