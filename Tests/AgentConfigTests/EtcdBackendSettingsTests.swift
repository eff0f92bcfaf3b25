// `--backend etcd` (issue 18): what it needs, what it refuses, and that the Raft agent
// refuses the etcd flags; every refusal names the flag, where it was set and the fix.
import Testing
import RaftCore
@testable import AgentConfig

private let etcdFlags = ["--backend": "etcd", "--id": "web-1", "--etcd-endpoints": "http://127.0.0.1:2379,http://10.0.0.2:2379"]

private func resolve(_ flags: [String: String], env: [String: String] = [:], file: String? = nil) throws(ConfigError) -> AgentSettings {
    try AgentSettings.resolve(flags: flags, environment: env, fileText: file)
}

private func expectRefused(_ flag: String, _ fragment: String, _ body: () throws(ConfigError) -> AgentSettings,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do { _ = try body(); Issue.record("expected \(flag) to be refused", sourceLocation: sourceLocation) } catch {
        #expect(error.flag == flag, sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite struct EtcdBackendSettingsTests {
    @Test func needsOnlyAnIDAndEndpoints() throws {
        let s = try resolve(etcdFlags)
        let etcd = try #require(s.etcd)
        #expect(etcd.endpoints == ["http://127.0.0.1:2379", "http://10.0.0.2:2379"])
        #expect(etcd.prefix == "/baton/baton")  // /baton/CLUSTER-ID
        #expect(etcd.leaseTTL == .seconds(2))
        #expect(s.members.isEmpty && s.clusterSecretFile == nil && !s.bootstrap)
        #expect(s.apiListen == AgentSettings.defaultAPIListen)
        var flags = etcdFlags
        flags["--etcd-prefix"] = "/jobs/scheduler"
        flags["--etcd-lease-ttl"] = "10s"
        flags["--cluster-id"] = "ignored-for-the-prefix"
        let t = try resolve(flags)
        #expect(t.etcd?.prefix == "/jobs/scheduler" && t.etcd?.leaseTTL == .seconds(10))
        #expect(try resolve(etcdFlags.merging(["--cluster-id": "jobs"]) { $1 }).etcd?.prefix == "/baton/jobs")
    }

    @Test(arguments: AgentSettings.raftOnlyFlags)
    func refusesEveryRaftOnlyFlag(flag: String) {
        let value = AgentSettingKeys.all.first { $0.flag == flag }!.isBoolean ? "true" : "n1=127.0.0.1:7001"
        expectRefused(flag, "--backend etcd elects through etcd") { () throws(ConfigError) in try resolve(etcdFlags.merging([flag: value]) { $1 }) }
    }

    @Test func refusalsNameTheSourceAndIgnoreSwitchedOffBooleans() throws {
        expectRefused("--peers", "environment BATON_PEERS") { () throws(ConfigError) in try resolve(etcdFlags, env: ["BATON_PEERS": "a=1.2.3.4:5"]) }
        expectRefused("--cluster-secret-file", "cfg:1") { () throws(ConfigError) in
            try AgentSettings.resolve(flags: etcdFlags, environment: [:], fileText: "BATON_CLUSTER_SECRET_FILE=/etc/baton/secret\n", fileName: "cfg")
        }
        // --no-bootstrap says nothing a Raft group would need: accepted.
        _ = try resolve(etcdFlags.merging(["--bootstrap": "false"]) { $1 })
    }

    @Test func theRaftAgentRefusesTheEtcdFlags() {
        for flag in AgentSettings.etcdOnlyFlags {
            expectRefused(flag, "--backend etcd") { () throws(ConfigError) in
                try resolve(["--id": "n1", "--peers": "n1=127.0.0.1:7001", "--insecure-peers": "true", flag: "http://127.0.0.1:2379"])
            }
        }
    }

    @Test(arguments: [
        ("--backend", "zookeeper", "not raft or etcd"),
        ("--etcd-endpoints", "https://127.0.0.1:2379", "TLS"),
        ("--etcd-endpoints", "127.0.0.1:2379", "http://HOST:PORT"),
        ("--etcd-endpoints", "http://127.0.0.1:2379/v3", "no path"),
        ("--etcd-endpoints", "http://127.0.0.1", "no port"),
        ("--etcd-endpoints", "http://127.0.0.1:2379,,http://127.0.0.2:2379", "http://HOST:PORT"),
        ("--etcd-prefix", "baton/x", "must start with '/'"),
        ("--etcd-prefix", "/baton/x/", "not end with '/'"),
        ("--etcd-lease-ttl", "1500ms", "whole seconds"),
        ("--etcd-lease-ttl", "2h", "between 1s and 3600s"),
        ("--etcd-lease-ttl", "2", "unit"),
        ("--id", "web 1", "letters, digits"),
    ])
    func refusesBadValues(flag: String, value: String, fragment: String) {
        expectRefused(flag, fragment) { () throws(ConfigError) in try resolve(etcdFlags.merging([flag: value]) { $1 }) }
    }

    @Test func endpointsAreBounded() {
        let many = (1...17).map { "http://10.0.0.\($0):2379" }.joined(separator: ",")
        expectRefused("--etcd-endpoints", "at most 16") { () throws(ConfigError) in try resolve(etcdFlags.merging(["--etcd-endpoints": many]) { $1 }) }
        #expect((try? resolve(etcdFlags.merging(["--etcd-endpoints": (1...16).map { "http://10.0.0.\($0):2379" }.joined(separator: ",")]) { $1 })) != nil)
    }

    @Test func theEngineSettingsNeedARestart() throws {
        let a = try resolve(etcdFlags)
        let b = try resolve(etcdFlags.merging(["--etcd-lease-ttl": "5s", "--on-promote": "/bin/true"]) { $1 })
        let plan = a.reloadPlan(to: b)
        #expect(plan.needsRestart == ["--etcd-lease-ttl"])
        #expect(plan.applied == ["--on-promote"])
    }
}
