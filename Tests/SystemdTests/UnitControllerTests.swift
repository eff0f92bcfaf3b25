// StartUnit/StopUnit against a private dbus-daemon with a mock systemd manager
// (mock_systemd_manager.py), results delivered on a real event loop.
import EventLoop
import Glibc
import Posix
import Synchronization
import Systemd
import Time
import Testing

/// Reports collects what the controller delivers; `onLoopThread` records whether each
/// delivery ran on the thread that runs the loop.
final class Reports: Sendable {
    private let state = Mutex<(reports: [UnitJobReport], offLoop: Int)>(([], 0))
    let loopThread: pthread_t

    init() { loopThread = pthread_self() }

    func add(_ report: UnitJobReport) {
        let onLoop = pthread_equal(pthread_self(), loopThread) != 0
        state.withLock { $0.reports.append(report); if !onLoop { $0.offLoop += 1 } }
    }

    var all: [UnitJobReport] { state.withLock { $0.reports } }
    var deliveredOffLoop: Int { state.withLock { $0.offLoop } }
}

@Suite struct UnitControllerTests {
    /// runJobs submits `actions` for `unit` and pumps the loop until all are reported.
    func runJobs(_ actions: [UnitAction], unit: String, bus: SystemdBus, timeoutMs: UInt64 = 5000) throws -> [UnitJobReport] {
        let loop = try EventLoop()
        let reports = Reports()
        let controller = UnitController(unit: try UnitName(unit), bus: bus, timeout: .milliseconds(Int64(timeoutMs)),
                                        remote: loop.remote) { reports.add($0) }
        let ids = actions.map { controller.submit($0) }
        #expect(ids.allSatisfy { $0 != nil })
        #expect(try pump(loop, timeoutMs: timeoutMs * UInt64(actions.count) + 5000) { reports.all.count == actions.count })
        controller.shutdown()
        #expect(reports.deliveredOffLoop == 0)
        #expect(reports.all.map(\.id) == ids.compactMap { $0 })
        return reports.all
    }

    @Test func startThenStopAreCalledInOrderWithModeReplaceAndFinishDone() throws {
        let bus = try PrivateBus(withManager: true)
        let reports = try runJobs([.start, .stop], unit: "app.service", bus: .address(bus.address))
        #expect(reports.map(\.outcome) == [.done, .done])
        #expect(reports.map(\.action) == [.start, .stop])
        #expect(bus.calls == ["StartUnit app.service replace /org/freedesktop/systemd1/job/1",
                              "StopUnit app.service replace /org/freedesktop/systemd1/job/2"])
        #expect(reports.map(\.jobPath) == ["/org/freedesktop/systemd1/job/1", "/org/freedesktop/systemd1/job/2"])
        // The mock ends each job 20 ms after its reply: the report waited for JobRemoved.
        #expect(reports.allSatisfy { $0.elapsed >= .milliseconds(20) })
    }

    @Test func aFailedJobReportsSystemdsResult() throws {
        let bus = try PrivateBus(withManager: true)
        let reports = try runJobs([.start], unit: "fail-app.service", bus: .address(bus.address))
        #expect(reports.first?.outcome == .jobFailed(result: "failed"))
        #expect(reports.first?.outcome.succeeded == false)
    }

    @Test func jobRemovedBeforeTheReplyIsNotMissed() throws {
        let bus = try PrivateBus(withManager: true)
        let reports = try runJobs([.start], unit: "early-app.service", bus: .address(bus.address), timeoutMs: 3000)
        #expect(reports.first?.outcome == .done)
        #expect(reports.first.map { $0.elapsed < .seconds(2) } == true)
    }

    @Test func aJobThatNeverEndsTimesOutWhileTheLoopKeepsRunning() throws {
        let bus = try PrivateBus(withManager: true)
        let loop = try EventLoop()
        let reports = Reports()
        let controller = UnitController(unit: try UnitName("hang-job-app.service"), bus: .address(bus.address),
                                        timeout: .milliseconds(800), remote: loop.remote) { reports.add($0) }
        var ticks: [UInt64] = []
        let timer = loop.schedule(after: .milliseconds(10), repeatingEvery: .milliseconds(10)) { _ in ticks.append(Clock.boottime()) }
        let began = Clock.boottime()
        controller.start()
        #expect(try pump(loop) { !reports.all.isEmpty })
        let ended = Clock.boottime()
        let waitedMs = (ended - began) / 1_000_000
        loop.cancel(timer)
        controller.shutdown()
        #expect(reports.all.first?.outcome == .timedOut(afterMs: 800))
        #expect(reports.all.first?.jobPath == "/org/freedesktop/systemd1/job/1")
        #expect(waitedMs >= 800 && waitedMs < 3000, "waited \(waitedMs) ms")
        // The loop ran its 10 ms timer all along: had the bus wait blocked it, one gap
        // would span the whole 800 ms. The bound leaves room for a loaded machine.
        let gapsMs = zip([began] + ticks, ticks + [ended]).map { ($1 - $0) / 1_000_000 }
        #expect(ticks.count >= 10, "only \(ticks.count) ticks in \(waitedMs) ms")
        #expect(gapsMs.max().map { $0 < 400 } == true, "the loop stalled for \(gapsMs.max() ?? 0) ms")
    }

    @Test func noReplyWithinTheTimeoutIsATimeout() throws {
        let bus = try PrivateBus(withManager: true)
        let reports = try runJobs([.stop], unit: "hang-reply-app.service", bus: .address(bus.address), timeoutMs: 300)
        #expect(reports.first?.outcome == .timedOut(afterMs: 300))
        #expect(reports.first?.jobPath == nil)
        #expect(bus.calls.count == 1)
    }

    @Test func noManagerOnTheBusIsABusErrorNamingIt() throws {
        let bus = try PrivateBus(withManager: false)
        let reports = try runJobs([.start], unit: "app.service", bus: .address(bus.address), timeoutMs: 3000)
        guard case .busError(let name, let message)? = reports.first?.outcome else {
            Issue.record("expected a bus error, got \(String(describing: reports.first))"); return
        }
        #expect(name == "org.freedesktop.DBus.Error.ServiceUnknown")
        #expect(message.contains("org.freedesktop.systemd1"))
        #expect(reports.first.map { $0.elapsed < .seconds(2) } == true, "a refusal must not wait for the timeout")
    }

    @Test func anUnreachableBusIsAConnectError() throws {
        let dir = try TemporaryDirectory()
        let reports = try runJobs([.start], unit: "app.service", bus: .address("unix:path=" + dir.file("no-bus")), timeoutMs: 2000)
        guard case .busError(let name, let message)? = reports.first?.outcome else {
            Issue.record("expected a bus error, got \(String(describing: reports.first))"); return
        }
        #expect(name == "connect")
        #expect(message.contains("cannot connect"))
    }

    @Test func theQueueIsBoundedAndShutdownDropsWhatHasNotBegun() throws {
        let bus = try PrivateBus(withManager: true)
        let loop = try EventLoop()
        let reports = Reports()
        let controller = UnitController(unit: try UnitName("hang-job-app.service"), bus: .address(bus.address),
                                        timeout: .milliseconds(300), queueLimit: 1, remote: loop.remote) { reports.add($0) }
        // One request in progress (or about to be) plus one queued is the most it holds.
        let first = controller.start(), second = controller.stop(), third = controller.start()
        #expect(first != nil)
        #expect(third == nil)
        controller.shutdown()
        #expect(controller.start() == nil, "no request is accepted after shutdown")
        _ = try pump(loop, timeoutMs: 300) { false }
        // Only what had begun is reported; a dropped request never is.
        #expect(reports.all.count <= 2)
        #expect(reports.all.allSatisfy { $0.id == first || $0.id == second })
        #expect(reports.all.allSatisfy { $0.outcome == .timedOut(afterMs: 300) })
    }
}

/// The process-level paths: sd_bus_open_system/user honour DBUS_SYSTEM_BUS_ADDRESS and
/// DBUS_SESSION_BUS_ADDRESS, as they do under systemd; and a bad name never reaches the bus.
@Suite struct UnitControllerEnvironmentTests {
    @Test func systemBusAddressIsTakenFromTheEnvironment() throws {
        let bus = try PrivateBus(withManager: true)
        let run = try probe(["unit", "start", "app.service"],
                            environment: ["PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=\(bus.address)"], in: bus.directory)
        #expect(run.status == 0, "\(run.output) \(run.errors)")
        #expect(run.output.hasPrefix("report StartUnit app.service: done after "))
        #expect(bus.calls == ["StartUnit app.service replace /org/freedesktop/systemd1/job/1"])
    }

    @Test func userBusIsTheSessionBusAddress() throws {
        let bus = try PrivateBus(withManager: true)
        let run = try probe(["unit", "stop", "fail-app.service", "--user-bus"],
                            environment: ["PATH=/usr/bin:/bin", "DBUS_SESSION_BUS_ADDRESS=\(bus.address)",
                                          "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent"], in: bus.directory)
        #expect(run.status == 1)
        #expect(run.output.hasPrefix("report StopUnit fail-app.service: job result failed"))
        #expect(bus.calls.first?.hasPrefix("StopUnit fail-app.service replace ") == true)
    }

    @Test func aBadUnitNameIsRefusedBeforeAnyBusWork() throws {
        let bus = try PrivateBus(withManager: true)
        let run = try probe(["unit", "start", "../evil.service"],
                            environment: ["PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=\(bus.address)"], in: bus.directory)
        #expect(run.status == 2)
        #expect(run.errors.contains("contains '/'"))
        #expect(bus.calls.isEmpty)
    }
}
