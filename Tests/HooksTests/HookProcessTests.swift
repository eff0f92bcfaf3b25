import EventLoop
import Hooks
import Posix
import Testing
import Time

/// Real child processes on a real loop: output capture and its limits, exit status,
/// timeout with SIGTERM then SIGKILL, a program that cannot be started.
@Suite(.serialized) struct HookProcessTests {
    struct Run {
        var lines: [(OutputStream, String)] = []
        var outcome: HookOutcome?
    }

    static func run(_ argv: [String], env: [String] = ["PATH=/usr/bin:/bin"], timeoutMs: UInt64 = 5000,
                    graceMs: UInt64 = 2000, limits: OutputLimits = OutputLimits()) throws -> Run {
        let loop = try EventLoop()
        var run = Run()
        HookProcess.start(loop: loop, argv: argv, environment: env, timeout: .milliseconds(Int64(timeoutMs)),
                          killGrace: .milliseconds(Int64(graceMs)), limits: limits,
                          onLine: { run.lines.append(($0, $1)) },
                          onExit: { run.outcome = $0; loop.stop() })
        let guardTimer = loop.schedule(after: .seconds(20)) { $0.stop() }
        try loop.run()
        loop.cancel(guardTimer)
        return run
    }

    @Test func capturesBothStreamsLineByLineWithTheEnvironmentGiven() throws {
        let r = try Self.run(["sh", "-c", "echo out1; echo err1 >&2; printf 'out2 %s' \"$BATON_EVENT\"; exit 3"],
                             env: ["PATH=/usr/bin:/bin", "BATON_EVENT=promote"])
        #expect(r.outcome?.exit == .exited(code: 3))
        #expect(r.outcome?.succeeded == false)
        #expect(r.outcome?.summary == "exit 3")
        #expect(r.lines.filter { $0.0 == .stdout }.map(\.1) == ["out1", "out2 promote"])
        #expect(r.lines.filter { $0.0 == .stderr }.map(\.1) == ["err1"])
    }

    @Test func stdinIsEmptyAndNoShellRunsUnlessAsked() throws {
        let r = try Self.run(["cat"])
        #expect(r.outcome?.succeeded == true)
        #expect(r.lines.isEmpty)
        let literal = try Self.run(["echo", "$HOME", "*", "a|b"])
        #expect(literal.lines.map(\.1) == ["$HOME * a|b"])
    }

    @Test func overTimeoutGetsSIGTERM() throws {
        let r = try Self.run(["sleep", "10"], timeoutMs: 200)
        #expect(r.outcome?.timedOut == true)
        #expect(r.outcome?.exit == .signalled(signal: 15))
        #expect(r.outcome?.succeeded == false)
        #expect((r.outcome?.duration ?? .zero) >= .milliseconds(200) && (r.outcome?.duration ?? .zero) < .seconds(2))
    }

    @Test func ignoringSIGTERMEarnsSIGKILLAfterTheGrace() throws {
        // The timeout leaves the shell time to set its trap on a loaded machine (at 200 ms
        // it sometimes had not, and SIGTERM ended it).
        let r = try Self.run(["sh", "-c", "trap 'echo got-term' TERM; while :; do sleep 0.05; done"], timeoutMs: 1_000, graceMs: 300)
        #expect(r.outcome?.exit == .signalled(signal: 9))
        #expect(r.outcome?.summary == "timeout (signal 9)")
        let d = r.outcome?.duration ?? .zero
        #expect(d >= .milliseconds(1_300) && d < .seconds(4), "\(d)")
        #expect(r.lines.map(\.1).contains("got-term"))
    }

    @Test func aBackgroundChildHoldingThePipesDoesNotDelayTheEnd() throws {
        let r = try Self.run(["sh", "-c", "sleep 5 & echo started"])
        #expect(r.outcome?.succeeded == true)
        #expect((r.outcome?.duration ?? .seconds(3600)) < .seconds(2))
        #expect(r.lines.map(\.1) == ["started"])
    }

    @Test func outputOverTheLimitsIsCutAndCounted() throws {
        let limits = OutputLimits(maxLineBytes: 10, maxBytesPerRun: 1000)
        let r = try Self.run(["sh", "-c", "echo 0123456789abcdef; i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done"], limits: limits)
        #expect(r.outcome?.succeeded == true)
        #expect(r.lines.first?.1 == "0123456789…[cut]")
        let logged = r.lines.reduce(0) { $0 + $1.1.utf8.count }
        #expect(logged <= 1000)
        #expect((r.outcome?.droppedBytes ?? 0) > 2000)
    }

    @Test func aMissingProgramIsReportedNotThrown() throws {
        let r = try Self.run(["/nonexistent/hook"])
        #expect(r.outcome?.exit == nil)
        #expect(r.outcome?.succeeded == false)
        #expect(r.outcome?.summary.contains("no such program") == true)
    }
}

