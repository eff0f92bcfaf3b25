import Testing
@testable import AgentConfig
import AgentLogging
import RaftCore

private let peers = "n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003"

private func settings(_ flags: [String: String] = [:], file: String? = nil) throws(ConfigError) -> AgentSettings {
    try AgentSettings.resolve(flags: ["--id": "n1", "--peers": peers, "--insecure-peers": "true"].merging(flags) { $1 },
                              environment: [:], fileText: file, fileName: "/etc/default/baton")
}

@Suite struct SettingsFileTests {
    @Test func exportPrefixesCommentsAndQuotesAreAccepted() throws {
        let f = try SettingsFile.parse("""
            # comment
            export BATON_ID=n2
              export BATON_CLUSTER_ID='prod'\r
            VIP_ADDRESS="10.0.0.10/24"
            export VIP_INTERFACE=eth0

            """, name: "f")
        #expect(f.settings["BATON_ID"] == .init(value: "n2", line: 2))
        #expect(f.settings["BATON_CLUSTER_ID"]?.value == "prod")
        #expect(f.applicationVariables == [ApplicationVariable(name: "VIP_ADDRESS", value: "10.0.0.10/24"),
                                           ApplicationVariable(name: "VIP_INTERFACE", value: "eth0")])
    }

    @Test func aMistypedSettingIsRefusedWithTheClosestName() {
        #expect(throws: ConfigError(flag: "--config", "f line 2: unknown setting BATON_ELECTON_TIMEOUT; did you mean BATON_ELECTION_TIMEOUT?")) {
            try SettingsFile.parse("BATON_ID=n1\nBATON_ELECTON_TIMEOUT=1s\n", name: "f")
        }
        #expect(throws: ConfigError.self) { try SettingsFile.parse("BATON_ZZZZZZZZZZZ=1\n", name: "f") }
        #expect(closestSetting(to: "BATON_ZZZZZZZZZZZ") == nil)
        #expect(closestFlag(to: "--electon-timeout") == "--election-timeout")
    }

    @Test(arguments: [("1ABC=x", "not a variable name"), ("BATON_ID", "expected KEY=value"),
                      ("BATON_ID=a\nBATON_ID=b", "already set on line 1"), ("MY-VAR=x", "not a variable name")])
    func badLinesAreRefusedByLine(text: String, fragment: String) {
        do { _ = try SettingsFile.parse(text, name: "f"); Issue.record("accepted \(text)") } catch {
            #expect(error.flag == "--config" && error.message.contains(fragment), "\(error)")
        }
    }

    @Test func applicationVariablesReachTheSettings() throws {
        let s = try settings(file: "VIP_ADDRESS=10.0.0.10\n")
        #expect(s.hookEnvironment == [ApplicationVariable(name: "VIP_ADDRESS", value: "10.0.0.10")])
    }

    @Test func sourcesSayWhereEachValueCameFrom() throws {
        let file = try SettingsFile.parse("BATON_ID=n3\nBATON_HEARTBEAT_INTERVAL=20ms\n", name: "/etc/default/baton")
        let sources = SettingSources(flags: ["--cluster-id": "x"], environment: ["BATON_ID": "n1", "BATON_ELECTON_TIMEOUT": "1s", "BATON_API": "h:1"], file: file)
        let eff = Dictionary(uniqueKeysWithValues: sources.effective().map { ($0.flag, ($0.value, $0.source)) })
        #expect(eff["--cluster-id"]! == ("x", .flag))
        #expect(eff["--id"]! == ("n1", .environment("BATON_ID")))
        #expect(eff["--heartbeat-interval"]! == ("20ms", .file("/etc/default/baton", line: 2)))
        #expect(eff["--log-format"]! == ("text", .defaultValue))
        #expect(eff["--on-promote"]! == (nil, nil))
        #expect(sources.strayEnvironment().map(\.name) == ["BATON_ELECTON_TIMEOUT"])
        #expect(sources.strayEnvironment().first?.suggestion == "BATON_ELECTION_TIMEOUT")
    }
}

@Suite struct ReloadPlanTests {
    @Test func hooksChecksLogAndTokenApplyTheRestNeedsARestart() throws {
        let old = try settings(["--on-promote": "/bin/true", "--log-level": "info"])
        let new = try settings(["--on-promote": "/bin/echo hi", "--log-level": "debug", "--check": "/bin/true",
                                "--heartbeat-interval": "40ms", "--cluster-id": "other"],
                               file: "VIP_ADDRESS=1\n")
        let plan = old.reloadPlan(to: new)
        #expect(plan.applied == ["--log-level", "--on-promote", "--check", "--config (application variables)"])
        #expect(plan.needsRestart == ["--cluster-id", "--heartbeat-interval"])
        let running = old.reloading(new)
        #expect(running.hooks.onPromote == ["/bin/echo", "hi"] && running.hooks.check == ["/bin/true"] && running.logLevel == .debug)
        #expect(running.clusterID == "baton" && running.raft.heartbeatInterval == old.raft.heartbeatInterval)
        #expect(old.reloadPlan(to: old).isEmpty)
    }

    @Test func everySettingIsComparedAndEveryReloadableOneIsApplied() throws {
        #expect(Set(AgentSettings.comparisons.map(\.0)) == Set(AgentSettingKeys.all.map(\.flag)))
        #expect(Set(AgentSettings.reloadableFlags).isSubset(of: Set(AgentSettingKeys.all.map(\.flag))))
        // Every reloadable flag changed: reloading takes all of them, so the plan from
        // the result to the new settings is empty but for the restart-only ones.
        let old = try settings()
        let new = try settings(["--on-promote": "a", "--on-demote": "b", "--on-change": "c", "--hook-timeout": "5s",
                                "--promote-delay": "1s", "--promote-failure": "ignore", "--check-url": "http://127.0.0.1:1/",
                                "--check-interval": "1s", "--check-failures": "2", "--log-format": "json",
                                "--log-level": "warning", "--admin-token-file": "/x"])
        #expect(Set(old.reloadPlan(to: new).applied) == Set(AgentSettings.reloadableFlags).subtracting(["--check"]))  // --check-url instead
        #expect(old.reloading(new).reloadPlan(to: new).isEmpty)
    }
}
