import Testing
import RaftCore
@testable import AgentConfig

private let peers = "n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003"

private func resolve(_ flags: [String: String], env: [String: String] = [:], file: String? = nil) throws(ConfigError) -> AgentSettings {
    try AgentSettings.resolve(flags: flags, environment: env, fileText: file)
}

private func expectError(_ flag: String, _ fragment: String, _ body: () throws(ConfigError) -> Void,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do { try body(); Issue.record("expected an error for \(flag)", sourceLocation: sourceLocation) } catch {
        #expect(error.flag == flag, sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite struct DurationTests {
    @Test func acceptsMillisecondsAndSeconds() throws {
        #expect(try parseDuration("150ms", flag: "-x") == .milliseconds(150))
        #expect(try parseDuration("2s", flag: "-x") == .seconds(2))
        #expect(try parseDuration("1.5s", flag: "-x") == .milliseconds(1500))
        // The one grammar (Time.DurationText): compound values and minutes/hours too.
        #expect(try parseDuration("1m30s", flag: "-x") == .seconds(90))
        #expect(try parseDuration("1h", flag: "-x") == .seconds(3600))
        #expect(try parseDuration(" 2s\t", flag: "-x") == .seconds(2))  // config-file padding
        #expect(try parseDuration("24h", flag: "-x") == .seconds(86_400))
        let r = try parseDurationRange("150ms..300ms", flag: "-x")
        #expect(r.min == .milliseconds(150) && r.max == .milliseconds(300))
    }

    @Test(arguments: ["150", "ms", "-5ms", "1e3ms", "fast", "", "2 s", "9999999999s"])
    func refusesNonsense(text: String) {
        #expect(throws: ConfigError.self) { try parseDuration(text, flag: "--x") }
    }

    /// A value the first release refused is still refused, and the message says exactly
    /// what to write instead.
    @Test func errorsSayWhatToWrite() {
        expectError("--hook-timeout", "'30' has no unit; write 30s for seconds or 30ms for milliseconds") { () throws(ConfigError) in
            _ = try parseDuration("30", flag: "--hook-timeout")
        }
        expectError("--x", "units are h, m, s and ms") { () throws(ConfigError) in _ = try parseDuration("2d", flag: "--x") }
        expectError("--x", "longer than a day (24h)") { () throws(ConfigError) in _ = try parseDuration("24h1ms", flag: "--x") }
        expectError("--x", "is negative") { () throws(ConfigError) in _ = try parseDuration("-5ms", flag: "--x") }
    }

    @Test func refusesEmptyOrInvertedRange() {
        expectError("--e", "minimum must be below") { () throws(ConfigError) in _ = try parseDurationRange("300ms..150ms", flag: "--e") }
        expectError("--e", "not a range") { () throws(ConfigError) in _ = try parseDurationRange("150ms", flag: "--e") }
    }
}

@Suite struct PeersAndAddressTests {
    @Test func parsesNamesAndAddresses() throws {
        let m = try parsePeers("a=127.0.0.1:1,b=[::1]:2,c=baton-2.baton.default.svc:7001")
        #expect(m.map(\.name) == ["a", "b", "c"])
        #expect(m[1].peerAddress == HostPort(host: "::1", port: 2))
        #expect(m[1].peerAddress.description == "[::1]:2")
        #expect(m[2].peerAddress.host == "baton-2.baton.default.svc")
    }

    @Test(arguments: [
        ("n1=127.0.0.1:7001,n1=127.0.0.1:7002", "listed twice"),
        ("n1", "NAME=HOST:PORT"),
        ("n1=127.0.0.1", "no port"),
        ("n1=127.0.0.1:0", "1...65535"),
        ("n1=::1:7001", "brackets"),
        ("bad name=127.0.0.1:7001", "valid member name"),
        ("a=h:1,b=h:2,c=h:3,d=h:4,e=h:5,f=h:6,g=h:7,h=h:8", "1 to 7"),
    ])
    func refusesBadPeers(text: String, fragment: String) {
        expectError("--peers", fragment) { () throws(ConfigError) in _ = try parsePeers(text) }
    }
}

@Suite struct ResolutionTests {
    @Test func defaultsFillTheRest() throws {
        let s = try resolve(["--id": "n2", "--peers": peers, "--insecure-peers": "true"])
        #expect(s.peerListen == HostPort(host: "127.0.0.1", port: 7002))
        #expect(s.apiListen == AgentSettings.defaultAPIListen)
        #expect(s.apiAdvertise == s.apiListen && s.peerAdvertise == s.peerListen)
        #expect(s.clusterID == "baton" && !s.bootstrap && !s.witness)
        #expect(s.raft.electionTimeoutMin == .milliseconds(150) && s.raft.heartbeatInterval == .milliseconds(50))
    }

    @Test func flagsWinOverEnvironmentOverFile() throws {
        let file = """
        # /etc/default/baton
        BATON_ID=n3
        BATON_PEERS="\(peers)"
        BATON_CLUSTER_ID=fromfile
        BATON_HEARTBEAT_INTERVAL=20ms
        BATON_INSECURE_PEERS=yes
        """
        let s = try resolve(["--cluster-id": "fromflag"], env: ["BATON_ID": "n1", "BATON_CLUSTER_ID": "fromenv"], file: file)
        #expect(s.id == "n1")                 // env over file
        #expect(s.clusterID == "fromflag")    // flag over env
        #expect(s.raft.heartbeatInterval == .milliseconds(20))  // file over default
        #expect(s.insecurePeers)
    }

    @Test func errorsNameTheFlagAndTheFix() {
        expectError("--id", "required") { () throws(ConfigError) in _ = try resolve(["--peers": peers]) }
        expectError("--id", "not one of --peers") { () throws(ConfigError) in _ = try resolve(["--id": "n9", "--peers": peers, "--insecure-peers": "true"]) }
        expectError("--cluster-secret-file", "head -c 32 /dev/urandom") { () throws(ConfigError) in _ = try resolve(["--id": "n1", "--peers": peers]) }
        expectError("--heartbeat-interval", "lower the heartbeat interval") { () throws(ConfigError) in
            _ = try resolve(["--id": "n1", "--peers": peers, "--insecure-peers": "1", "--heartbeat-interval": "100ms"])
        }
        expectError("--max-drift", "fraction") { () throws(ConfigError) in
            _ = try resolve(["--id": "n1", "--peers": peers, "--insecure-peers": "1", "--max-drift": "5%"])
        }
        expectError("--insecure-peers", "not true or false") { () throws(ConfigError) in
            _ = try resolve(["--id": "n1", "--peers": peers, "--insecure-peers": "maybe"])
        }
        expectError("--api-listen", "its own port") { () throws(ConfigError) in
            _ = try resolve(["--id": "n1", "--peers": peers, "--insecure-peers": "1", "--api-listen": "127.0.0.1:7001"])
        }
        expectError("--config", "line 2: unknown setting BATON_HEARTBEAT") { () throws(ConfigError) in
            _ = try resolve([:], file: "BATON_ID=n1\nBATON_HEARTBEAT=5ms\n")
        }
    }

    @Test func environmentNamesMirrorFlags() {
        let names = AgentSettingKeys.all.map(\.environmentName)
        #expect(names.contains("BATON_ELECTION_TIMEOUT"))
        #expect(names.contains("BATON_CLUSTER_SECRET_FILE"))
        #expect(Set(names).count == names.count)
    }
}

/// `--join` (issue 14): one start-up template for founders and later members.
@Suite struct JoinSettingsTests {
    static let base = ["--peers": peers, "--api-listen": "127.0.0.1:7480", "--cluster-secret-file": "/s", "--bootstrap": "true"]
    static let join = "127.0.0.1:8001, 127.0.0.1:8002,m3.example:8003"
    static func with(_ extra: [String: String]) -> [String: String] { base.merging(extra) { $1 } }

    @Test func aFounderKeepsBootstrapAndJoinsOnlyIfItWaits() throws {
        let s = try resolve(Self.with(["--id": "n2", "--join": Self.join]))
        #expect(s.bootstrap && !s.bootstrapSkippedAsJoiner)
        #expect(s.join?.apis.map(\.description) == ["127.0.0.1:8001", "127.0.0.1:8002", "m3.example:8003"])
        #expect(s.join?.role == .voter)
        #expect(s.members.map(\.name) == ["n1", "n2", "n3"])
    }

    @Test func aMemberMissingFromPeersJoinsAndFoundsNothing() throws {
        let s = try resolve(Self.with(["--id": "n4", "--join": Self.join, "--peer-listen": "127.0.0.1:7004",
                                      "--join-as": "observer"]))
        #expect(!s.bootstrap && s.bootstrapSkippedAsJoiner)
        #expect(s.members.map(\.name) == ["n1", "n2", "n3", "n4"])
        #expect(s.members.last?.peerAddress.description == "127.0.0.1:7004")
        #expect(s.join?.role == .observer)
        let w = try resolve(Self.with(["--id": "n4", "--join": Self.join, "--peer-listen": "127.0.0.1:7004",
                                      "--witness": "true"]))
        #expect(w.join?.role == .witness && w.members.last?.witness == true)
    }

    @Test func mistakesAreRefusedSayingWhatToDo() {
        // A mistyped --id is still caught without --join, and the message names --join.
        expectError("--id", "passes --join") { () throws(ConfigError) in _ = try resolve(Self.with(["--id": "n9"])) }
        expectError("--peer-listen", "comes from --peer-listen") { () throws(ConfigError) in
            _ = try resolve(Self.with(["--id": "n4", "--join": Self.join]))
        }
        expectError("--peer-advertise", "does not say where the others reach it") { () throws(ConfigError) in
            _ = try resolve(Self.with(["--id": "n4", "--join": Self.join, "--peer-listen": "0.0.0.0:7004"]))
        }
        expectError("--join-as", "only with --join") { () throws(ConfigError) in _ = try resolve(Self.with(["--id": "n1", "--join-as": "observer"])) }
        expectError("--join-as", "not voter or observer") { () throws(ConfigError) in
            _ = try resolve(Self.with(["--id": "n1", "--join": Self.join, "--join-as": "witness"]))
        }
        expectError("--join-as", "joins as a witness") { () throws(ConfigError) in
            _ = try resolve(Self.with(["--id": "n1", "--join": Self.join, "--join-as": "observer", "--witness": "true"]))
        }
        expectError("--join", "an empty address") { () throws(ConfigError) in _ = try resolve(Self.with(["--id": "n1", "--join": "127.0.0.1:1,,"])) }
        let many = (1...17).map { "127.0.0.1:\(8000 + $0)" }.joined(separator: ",")
        expectError("--join", "at most 16") { () throws(ConfigError) in _ = try resolve(Self.with(["--id": "n1", "--join": many])) }
        expectError("--join", "") { () throws(ConfigError) in _ = try resolve(Self.with(["--id": "n1", "--join": "no-port"])) }
    }
}
