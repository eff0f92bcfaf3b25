// sd_notify from a real process to a real AF_UNIX datagram socket set as NOTIFY_SOCKET.
import Glibc
import Posix
import Systemd
import Testing

@Suite struct ServiceNotifierTests {
    /// baseEnvironment is what a process needs besides the variables under test.
    let baseEnvironment = ["PATH=/usr/bin:/bin"]

    @Test func readyStatusWatchdogAndStoppingArriveInOrderWithTheirText() throws {
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let run = try probe(["notify", "ready", "status:leader, term 42", "watchdog", "status:follower of n2, term 42", "stopping"],
                            environment: baseEnvironment + ["NOTIFY_SOCKET=\(socket.path)"], in: dir)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.hasPrefix("enabled=1 "))
        #expect(!run.output.contains("error"))
        #expect(socket.received() == ["READY=1", "STATUS=leader, term 42", "WATCHDOG=1",
                                      "STATUS=follower of n2, term 42", "STOPPING=1"])
    }

    @Test func anAbstractNotifySocketIsReached() throws {
        // "@name", as systemd sets it for services in some set-ups.
        let dir = try TemporaryDirectory()
        let name = "@baton-notify-test-\(getpid())"
        let socket = try DatagramListener(path: name)
        let run = try probe(["notify", "ready", "stopping"], environment: baseEnvironment + ["NOTIFY_SOCKET=\(name)"], in: dir)
        #expect(run.status == 0, "\(run.errors)")
        #expect(!run.output.contains("error"), "\(run.output)")
        #expect(socket.received() == ["READY=1", "STOPPING=1"])
    }

    @Test func aRelativeNotifySocketIsRejectedWithAnError() throws {
        // NOTIFY_SOCKET must be absolute or "@abstract"; anything else is reported.
        let dir = try TemporaryDirectory()
        let run = try probe(["notify", "ready"], environment: baseEnvironment + ["NOTIFY_SOCKET=relative/path"], in: dir)
        #expect(run.status == 0)
        #expect(run.output.contains("ready: error"), "a bad NOTIFY_SOCKET must be reported, got: \(run.output)")
    }

    @Test func aStatusLineCannotSmuggleAnotherAssignment() throws {
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let run = try probe(["notify", "status:leader, term 7\nREADY=1"],
                            environment: baseEnvironment + ["NOTIFY_SOCKET=\(socket.path)"], in: dir)
        #expect(run.status == 0, "\(run.errors)")
        #expect(socket.received() == ["STATUS=leader, term 7 READY=1"])
    }

    @Test func aLongStatusIsCutAtTheLimit() throws {
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let long = String(repeating: "é", count: ServiceNotifier.statusMaxBytes) // 2 bytes each
        _ = try probe(["notify", "status:" + long], environment: baseEnvironment + ["NOTIFY_SOCKET=\(socket.path)"], in: dir)
        let got = socket.received()
        #expect(got.count == 1)
        #expect(got.first == "STATUS=" + String(repeating: "é", count: ServiceNotifier.statusMaxBytes / 2))
    }

    @Test func withoutNotifySocketEveryCallIsAQuietNoOp() throws {
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let run = try probe(["notify", "ready", "status:leader, term 1", "watchdog", "stopping"],
                            environment: baseEnvironment, in: dir)
        #expect(run.status == 0)
        #expect(run.output.contains("enabled=0 watchdog_timeout_ns=none watchdog_interval_ns=none problem=none"))
        #expect(run.output.split(separator: "\n").dropFirst().allSatisfy { $0.hasSuffix(": ok") })
        #expect(socket.received().isEmpty)
    }

    @Test func aMissingNotifySocketIsReportedNotFatal() throws {
        let dir = try TemporaryDirectory()
        let run = try probe(["notify", "ready", "watchdog"],
                            environment: baseEnvironment + ["NOTIFY_SOCKET=\(dir.file("nobody-listens"))"], in: dir)
        #expect(run.status == 0)
        #expect(run.output.contains("ready: error"))
        #expect(run.output.contains("watchdog: error"))
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsecForThisPid() throws {
        let dir = try TemporaryDirectory()
        let run = try probe(["notify"], environment: baseEnvironment + ["WATCHDOG_USEC=3000000"],
                            ownPidAs: "WATCHDOG_PID", in: dir)
        #expect(run.output.contains("watchdog_timeout_ns=3000000000 watchdog_interval_ns=1500000000 problem=none"), "\(run.output)")
    }

    @Test func watchdogWithoutPidAppliesToThisProcess() throws {
        let dir = try TemporaryDirectory()
        let run = try probe(["notify"], environment: baseEnvironment + ["WATCHDOG_USEC=500000"], in: dir)
        #expect(run.output.contains("watchdog_timeout_ns=500000000 watchdog_interval_ns=250000000"), "\(run.output)")
    }

    @Test func watchdogMeantForAnotherPidIsOff() throws {
        // A hook that inherited the variables must not believe the watchdog is its own.
        let dir = try TemporaryDirectory()
        let run = try probe(["notify"], environment: baseEnvironment + ["WATCHDOG_USEC=3000000", "WATCHDOG_PID=1"], in: dir)
        #expect(run.output.contains("watchdog_timeout_ns=none watchdog_interval_ns=none problem=none"), "\(run.output)")
    }

    @Test(arguments: ["abc", "0", "-5"])
    func unreadableWatchdogUsecIsExplainedAndTreatedAsOff(value: String) throws {
        let dir = try TemporaryDirectory()
        let run = try probe(["notify"], environment: baseEnvironment + ["WATCHDOG_USEC=\(value)"],
                            ownPidAs: "WATCHDOG_PID", in: dir)
        #expect(run.output.contains("watchdog_timeout_ns=none"), "\(run.output)")
        #expect(run.output.contains("problem=WATCHDOG_USEC/WATCHDOG_PID not understood"), "\(run.output)")
    }

    @Test func theLoopSendsWatchdogAtHalfTheTimeout() throws {
        // WATCHDOG_USEC 200 ms: one WATCHDOG=1 every 100 ms, so 4 in a 450 ms run (3 to 5
        // allows for a loaded machine; fewer than the unread-datagram limit of 10).
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let run = try probe(["notify", "watchdog-loop:450"],
                            environment: baseEnvironment + ["NOTIFY_SOCKET=\(socket.path)", "WATCHDOG_USEC=200000"],
                            ownPidAs: "WATCHDOG_PID", in: dir)
        #expect(run.output.contains("watchdog timer: on"), "\(run.output)")
        let got = socket.received()
        #expect((3...5).contains(got.count), "\(got)")
        #expect(got.allSatisfy { $0 == "WATCHDOG=1" })
    }

    @Test func withoutWatchdogUsecNoTimerIsStarted() throws {
        let dir = try TemporaryDirectory()
        let socket = try DatagramListener(path: dir.file("notify"))
        let run = try probe(["notify", "watchdog-loop:150"],
                            environment: baseEnvironment + ["NOTIFY_SOCKET=\(socket.path)"], in: dir)
        #expect(run.output.contains("watchdog timer: off"), "\(run.output)")
        #expect(socket.received().isEmpty)
    }

    @Test func sanitizedStatusKeepsOneLineAndWholeCharacters() {
        #expect(ServiceNotifier.sanitizedStatus("a\nb\r\nc\0d") == "a b c d")
        let cut = ServiceNotifier.sanitizedStatus(String(repeating: "x", count: ServiceNotifier.statusMaxBytes - 1) + "é")
        #expect(cut.utf8.count == ServiceNotifier.statusMaxBytes - 1)
        #expect(ServiceNotifier.sanitizedStatus("follower of n2, term 42") == "follower of n2, term 42")
    }
}
