import Testing
import RaftCore
@testable import AgentConfig

@Suite struct HookSettingsTests {
    let base = ["--id": "n1", "--peers": "n1=127.0.0.1:7001", "--insecure-peers": "true"]

    func resolve(_ flags: [String: String], env: [String: String] = [:], file: String? = nil) throws(ConfigError) -> HookSettings {
        try AgentSettings.resolve(flags: base.merging(flags) { $1 }, environment: env, fileText: file).hooks
    }

    @Test func defaults() throws {
        let h = try resolve([:])
        #expect(h.onPromote == nil && h.onDemote == nil && h.onChange == nil && h.check == nil && h.checkURL == nil)
        #expect(h.hookTimeout == .seconds(30) && h.promoteDelay == .seconds(0) && h.promoteFailure == .resign)
        #expect(h.checkInterval == .seconds(2) && h.checkFailures == 3)
    }

    @Test func flagOverEnvironmentOverFileAndCommandsAreSplit() throws {
        // Real programs: each hook's program must exist and be executable (issue 15).
        let file = "BATON_ON_PROMOTE=/bin/false\nBATON_ON_DEMOTE='/bin/cat --x'\nBATON_HOOK_TIMEOUT=5s\n"
        let env = ["BATON_ON_PROMOTE": "/bin/true 'a b'", "BATON_PROMOTE_DELAY": "250ms"]
        let h = try resolve(["--on-promote": "/bin/echo \"x y\" z", "--check-failures": "5"], env: env, file: file)
        #expect(h.onPromote == ["/bin/echo", "x y", "z"])
        #expect(h.onDemote == ["/bin/cat", "--x"])
        #expect(h.hookTimeout == .seconds(5) && h.promoteDelay == .milliseconds(250) && h.checkFailures == 5)
        let e = try resolve([:], env: env)
        #expect(e.onPromote == ["/bin/true", "a b"])
    }

    @Test(arguments: [
        (["--on-change": "x \"y"], "--on-change", "double quote is not closed"),
        (["--check": "  "], "--check", "empty"),
        (["--hook-timeout": "0s"], "--hook-timeout", "above 0"),
        (["--hook-timeout": "3601s"], "--hook-timeout", "at most 3600s"),
        (["--promote-delay": "5"], "--promote-delay", "no unit"),
        (["--promote-failure": "Resign"], "--promote-failure", "not resign or ignore"),
        (["--check-url": "http://h:0/"], "--check-url", "port"),
        (["--check-interval": "99ms"], "--check-interval", "between 100ms"),
        (["--check-failures": "101"], "--check-failures", "1 to 100"),
        (["--check-failures": "x"], "--check-failures", "whole number"),
    ])
    func refuses(_ flags: [String: String], _ flag: String, _ fragment: String) {
        do { _ = try resolve(flags); Issue.record("expected an error for \(flag)") } catch {
            #expect(error.flag == flag)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }
}
