// Opening the data dir as the member it belongs to (design S6, issue 14): a data dir
// records its group and member; a new one is made for a new group (--bootstrap) or for
// a member waiting to be added; a first-release one is migrated in place. The
// membership comes from the data dir from then on, never from --peers.
public import AgentConfig
public import AgentLogging
public import Membership
import Posix
public import RaftCore
public import Storage

/// DataDirStart is what opening the data dir found and did.
public struct DataDirStart: ~Copyable {
    public var directory: DataDirectory
    public var identity: MemberIdentity
    /// notices are lines for the log (what was made or migrated).
    public var notices: [(event: String, level: LogLevel, message: String)]
    /// waitsToBeAdded: a new data dir without --bootstrap; the member waits for
    /// `baton members add`.
    public var waitsToBeAdded: Bool
}

extension Agent {
    /// founders are `--peers` as the founding members of a group.
    public static func founders(_ settings: AgentSettings) -> [Founder] {
        settings.members.map { Founder(name: $0.name, peerAddress: $0.peerAddress.description, witness: $0.witness) }
    }

    /// openDataDir opens (or makes, or migrates) the data dir; a data dir of another
    /// member or group, or of a removed member, is refused with the reason and the fix.
    public static func openDataDir(_ settings: AgentSettings) throws(ConfigError) -> DataDirStart {
        let founders = Self.founders(settings)
        let fingerprint = groupFingerprint(clusterName: settings.clusterID, founders: founders)
        let path = settings.dataDir
        let existing: DataDirectory?
        do { existing = try DataDirectory.open(path: path, creating: nil) }
        catch {
            guard case .notInitialized = error else { throw ConfigError(flag: "--data-dir", error.description) }
            existing = nil
        }
        guard var directory = existing else {
            return try makeDataDir(settings, founders: founders, fingerprint: fingerprint)
        }
        var notices: [(String, LogLevel, String)] = directory.report.notices.map { ("storage-notice", .notice, $0) }
        if settings.bootstrap {
            notices.append(("storage-notice", .notice, "--bootstrap ignored: \(path) already holds this member's state"))
        }
        guard let identity = directory.identity else {
            // A data dir of the first release: it has state and no identity. Its members
            // are --peers as they are now, bound to derived incarnations every member of
            // an upgraded group computes alike.
            let migrated = try migrate(&directory, settings, founders: founders, fingerprint: fingerprint)
            notices.append(("data-dir-migrated", .notice, """
                migrated \(path) from the first release: the membership is now stored in it \
                (\(founders.map(\.name).joined(separator: ", ")), from --peers); from now on --peers is only \
                a list of addresses, and 'baton members' changes the membership
                """))
            return DataDirStart(directory: directory, identity: migrated, notices: notices, waitsToBeAdded: false)
        }
        let made = identity.createdWallNs > 0 ? " (made \(AgentLog.rfc3339(identity.createdWallNs)))" : ""
        if identity.removed {
            throw ConfigError(flag: "--data-dir", """
                this member was removed: \(path)\(made) belongs to member \(identity.memberName), which the group \
                removed; it must not vote again. To bring the member back, move the data dir aside, start the agent \
                on an empty one (no --bootstrap) and run 'baton members add \(identity.memberName) HOST:PORT' on a member
                """)
        }
        if identity.memberName != settings.id {
            throw ConfigError(flag: "--data-dir", """
                \(path)\(made) belongs to member \(identity.memberName) of cluster \(identity.clusterName), not to \
                --id \(settings.id): start it with --id \(identity.memberName), or give this member its own --data-dir
                """)
        }
        if identity.clusterName != settings.clusterID {
            throw ConfigError(flag: "--cluster-id", """
                \(path)\(made) belongs to cluster \(identity.clusterName), not \(settings.clusterID): start it with \
                --cluster-id \(identity.clusterName), or give this member a new --data-dir
                """)
        }
        return DataDirStart(directory: directory, identity: identity, notices: notices,
                            waitsToBeAdded: directory.state.snapshot == nil && directory.state.log.isEmpty)
    }

    /// makeDataDir makes an empty data dir: with --bootstrap for a new group (its founding
    /// membership written as a snapshot at index 0, no incarnation bound yet), without
    /// for a member waiting to be added.
    private static func makeDataDir(_ settings: AgentSettings, founders: [Founder], fingerprint: UInt64) throws(ConfigError) -> DataDirStart {
        let identity = MemberIdentity(clusterName: settings.clusterID, fingerprint: settings.bootstrap ? fingerprint : 0,
                                      memberName: settings.id, incarnation: MemberIdentity.newIncarnation(),
                                      createdWallNs: Clock.realtimeNanoseconds())
        var directory: DataDirectory
        do { directory = try DataDirectory.open(path: settings.dataDir, creating: identity) }
        catch { throw ConfigError(flag: "--data-dir", error.description) }
        var notices: [(String, LogLevel, String)] = []
        if settings.bootstrap {
            var founding = foundingConfiguration(founders, selfName: settings.id, selfAPIAddress: settings.apiAdvertise.description,
                                                 selfWitness: settings.witness) { _ in 0 }
            // --priority seeds this member's own entry (issue 16).
            if let p = settings.controls.priority {
                founding = Configuration(members: founding.members.map { m in
                    var m = m
                    if m.name == settings.id { m.priority = p }
                    return m
                })
            }
            do { try founding.validate() } catch { throw ConfigError(flag: "--peers", error.message) }
            do { try directory.persist(hardState: nil, snapshot: .bootstrap(founding), truncateFrom: nil, entries: []) }
            catch { throw ConfigError(flag: "--data-dir", error.description) }
            notices.append(("data-dir-made", .notice, """
                bootstrapped a new group in \(settings.dataDir): members \(founders.map(\.name).joined(separator: ", ")); \
                the first election needs every one of them, then a majority
                """))
        } else {
            notices.append(("waiting-to-be-added", .notice, """
                made an empty data dir in \(settings.dataDir): this member waits to be added to the group; run \
                'baton members add \(settings.id) \(settings.peerAdvertise)' on any member (a new group needs --bootstrap instead)
                """))
        }
        return DataDirStart(directory: directory, identity: identity, notices: notices, waitsToBeAdded: !settings.bootstrap)
    }

    /// migrate writes a first-release data dir's membership as a snapshot at its commit
    /// index (entries up to it are committed, so any member may stand for them), then its
    /// identity — in that order, so a crash between the two migrates again.
    private static func migrate(_ directory: inout DataDirectory, _ settings: AgentSettings, founders: [Founder],
                                fingerprint: UInt64) throws(ConfigError) -> MemberIdentity {
        let state = directory.state
        let commit = state.hardState.commitIndex
        let base = state.snapshot?.index ?? 0
        let term: Term = commit == base ? state.snapshot?.term ?? 0 : state.log[Int(commit - base) - 1].term
        let founding = foundingConfiguration(founders, selfName: settings.id, selfAPIAddress: settings.apiAdvertise.description,
                                             selfWitness: settings.witness, incarnation: legacyIncarnation)
        do { try founding.validate() } catch { throw ConfigError(flag: "--peers", error.message) }
        let identity = MemberIdentity(clusterName: settings.clusterID, fingerprint: fingerprint, memberName: settings.id,
                                      incarnation: legacyIncarnation(memberName: settings.id),
                                      createdWallNs: Clock.realtimeNanoseconds())
        do {
            if state.snapshot == nil || state.snapshot!.index < commit {
                try directory.persist(hardState: nil, snapshot: Snapshot(index: commit, term: term, configuration: founding),
                                      truncateFrom: nil, entries: [])
            }
            try directory.setIdentity(identity)
        } catch {
            throw ConfigError(flag: "--data-dir", "migrating \(settings.dataDir): \(error.description)")
        }
        return identity
    }
}
