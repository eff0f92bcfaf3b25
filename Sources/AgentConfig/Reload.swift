// SIGHUP (issue 17 point 1): what a running agent can take from a changed config, and
import RaftCore
// what only a restart changes. Pure: the agent asks, then applies what it is told.

/// ReloadPlan is what differs between the running settings and newly read ones.
public struct ReloadPlan: Hashable, Sendable {
    /// applied: flags whose new values the agent takes now.
    public var applied: [String] = []
    /// needsRestart: flags that changed but keep their old values until a restart (the
    /// identity, addresses, data dir, secret, timing and the leader unit: changing them
    /// under a running member could break the promise, e.g. two stickiness windows).
    public var needsRestart: [String] = []

    public var isEmpty: Bool { applied.isEmpty && needsRestart.isEmpty }
}

extension AgentSettings {
    /// reloadable are the settings a SIGHUP applies; everything else needs a restart.
    public static let reloadableFlags: [String] = [
        "--on-promote", "--on-demote", "--on-change", "--hook-timeout", "--promote-delay", "--promote-failure",
        "--check", "--check-url", "--check-interval", "--check-failures",
        "--log-format", "--log-level", "--admin-token-file",
    ]

    /// reloadPlan compares the running settings with `new` (already validated).
    /// Application variables for hooks count as `--config` and are applied.
    public func reloadPlan(to new: AgentSettings) -> ReloadPlan {
        var plan = ReloadPlan()
        for (flag, same) in Self.comparisons where !same(self, new) {
            if Self.reloadableFlags.contains(flag) { plan.applied.append(flag) } else { plan.needsRestart.append(flag) }
        }
        if hookEnvironment != new.hookEnvironment { plan.applied.append("--config (application variables)") }
        return plan
    }

    /// reloading returns these settings with the reloadable part taken from `new`: what
    /// the agent runs with after a SIGHUP.
    public func reloading(_ new: AgentSettings) -> AgentSettings {
        var s = self
        s.hooks.onPromote = new.hooks.onPromote
        s.hooks.onDemote = new.hooks.onDemote
        s.hooks.onChange = new.hooks.onChange
        s.hooks.hookTimeout = new.hooks.hookTimeout
        s.hooks.promoteDelay = new.hooks.promoteDelay
        s.hooks.promoteFailure = new.hooks.promoteFailure
        s.hooks.check = new.hooks.check
        s.hooks.checkURL = new.hooks.checkURL
        s.hooks.checkInterval = new.hooks.checkInterval
        s.hooks.checkFailures = new.hooks.checkFailures
        s.logFormat = new.logFormat
        s.logLevel = new.logLevel
        s.adminTokenFile = new.adminTokenFile
        s.hookEnvironment = new.hookEnvironment
        return s
    }

    /// One comparison per flag, so a setting added to AgentSettings without a row here
    /// is caught by the test that every key of the table has one.
    static let comparisons: [(String, @Sendable (AgentSettings, AgentSettings) -> Bool)] = [
        ("--id", { $0.id == $1.id }),
        ("--peers", { $0.members == $1.members }),
        ("--peer-listen", { $0.peerListen == $1.peerListen }),
        ("--api-listen", { $0.apiListen == $1.apiListen }),
        ("--peer-advertise", { $0.peerAdvertise == $1.peerAdvertise }),
        ("--api-advertise", { $0.apiAdvertise == $1.apiAdvertise }),
        ("--data-dir", { $0.dataDir == $1.dataDir }),
        ("--cluster-secret-file", { $0.clusterSecretFile == $1.clusterSecretFile }),
        ("--insecure-peers", { $0.insecurePeers == $1.insecurePeers }),
        // --bootstrap only matters when a data dir is first created: nothing to apply.
        ("--bootstrap", { _, _ in true }),
        ("--cluster-id", { $0.clusterID == $1.clusterID }),
        ("--witness", { $0.witness == $1.witness }),
        ("--join", { $0.join?.apis == $1.join?.apis }),
        ("--join-as", { $0.join?.role == $1.join?.role }),
        ("--election-timeout", { $0.raft.electionTimeoutMin == $1.raft.electionTimeoutMin && $0.raft.electionTimeoutMax == $1.raft.electionTimeoutMax }),
        ("--heartbeat-interval", { $0.raft.heartbeatInterval == $1.raft.heartbeatInterval }),
        ("--max-drift", { $0.raft.maxDrift == $1.raft.maxDrift }),
        ("--log-format", { $0.logFormat == $1.logFormat }),
        ("--log-level", { $0.logLevel == $1.logLevel }),
        ("--admin-token-file", { $0.adminTokenFile == $1.adminTokenFile }),
        ("--on-promote", { $0.hooks.onPromote == $1.hooks.onPromote }),
        ("--on-demote", { $0.hooks.onDemote == $1.hooks.onDemote }),
        ("--on-change", { $0.hooks.onChange == $1.hooks.onChange }),
        ("--hook-timeout", { $0.hooks.hookTimeout == $1.hooks.hookTimeout }),
        ("--promote-delay", { $0.hooks.promoteDelay == $1.hooks.promoteDelay }),
        ("--promote-failure", { $0.hooks.promoteFailure == $1.hooks.promoteFailure }),
        ("--check", { $0.hooks.check == $1.hooks.check }),
        ("--check-url", { $0.hooks.checkURL == $1.hooks.checkURL }),
        ("--check-interval", { $0.hooks.checkInterval == $1.hooks.checkInterval }),
        ("--check-failures", { $0.hooks.checkFailures == $1.hooks.checkFailures }),
        ("--leader-unit", { $0.hooks.leaderUnit == $1.hooks.leaderUnit }),
        ("--user-bus", { $0.hooks.userBus == $1.hooks.userBus }),
        ("--pause-default", { $0.controls.pauseDefault == $1.controls.pauseDefault }),
        ("--pause-max", { $0.controls.pauseMax == $1.controls.pauseMax }),
        ("--priority", { $0.controls.priority == $1.controls.priority }),
        ("--preempt", { $0.controls.preempt == $1.controls.preempt }),
        ("--preempt-after", { $0.controls.preemptAfter == $1.controls.preemptAfter }),
        ("--backend", { ($0.etcd == nil) == ($1.etcd == nil) }),
        ("--etcd-endpoints", { $0.etcd?.endpoints == $1.etcd?.endpoints }),
        ("--etcd-prefix", { $0.etcd?.prefix == $1.etcd?.prefix }),
        ("--etcd-lease-ttl", { $0.etcd?.leaseTTL == $1.etcd?.leaseTTL }),
    ]
}
