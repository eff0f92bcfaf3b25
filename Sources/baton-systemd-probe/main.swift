// baton-systemd-probe: drives the Systemd module from a process of its own, for tests.
// The environment that systemd hands a service (NOTIFY_SOCKET, WATCHDOG_USEC,
// WATCHDOG_PID, DBUS_SYSTEM_BUS_ADDRESS…) is per process; a child started with exactly
// that environment is how the tests check that the module reads it as systemd means it.
//
//   baton-systemd-probe notify [ready | status:TEXT | watchdog | stopping | watchdog-loop:MS | sleep:MS]...
//   baton-systemd-probe unit start|stop NAME [--user-bus] [--timeout-ms N]
import EventLoop
import Glibc
import Posix
import Systemd
import Time

func fail(_ message: String, status: Int32 = 2) -> Never {
    let line = "baton-systemd-probe: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

/// notify prints what ServiceNotifier read from the environment, then sends each step.
func notify(_ steps: ArraySlice<String>) -> Never {
    let notifier = ServiceNotifier()
    print("enabled=\(notifier.isEnabled ? 1 : 0)"
          + " watchdog_timeout_ns=\(notifier.watchdogTimeoutNs.map { String($0) } ?? "none")"
          + " watchdog_interval_ns=\(notifier.watchdogIntervalNs.map { String($0) } ?? "none")"
          + " problem=\(notifier.watchdogProblem ?? "none")")
    for step in steps {
        let error: Errno?
        switch step {
        case "ready": error = notifier.ready()
        case "watchdog": error = notifier.watchdog()
        case "stopping": error = notifier.stopping()
        case let s where s.hasPrefix("status:"): error = notifier.status(String(s.dropFirst("status:".count)))
        case let s where s.hasPrefix("watchdog-loop:"):
            // Runs an event loop for MS milliseconds with the watchdog timer started.
            guard let ms = Int(s.dropFirst("watchdog-loop:".count)) else { fail("watchdog-loop:MS needs milliseconds") }
            do {
                let loop = try EventLoop()
                let timer = notifier.startWatchdog(on: loop) { print("watchdog send failed: \($0)") }
                print("watchdog timer: \(timer == nil ? "off" : "on")")
                loop.schedule(after: .milliseconds(Int64(ms))) { $0.stop() }
                try loop.run()
            } catch { fail("event loop: \(error)") }
            error = nil
        case let s where s.hasPrefix("sleep:"):
            // Idle for measurements (RSS with libsystemd loaded), e.g. sleep:1000 (ms).
            guard let ms = UInt32(s.dropFirst("sleep:".count)) else { fail("sleep:MS needs milliseconds") }
            usleep(ms * 1000)
            error = nil
        default: fail("unknown notify step '\(step)' (ready, status:TEXT, watchdog, stopping, watchdog-loop:MS, sleep:MS)")
        }
        print("\(step): \(error.map { "error \($0)" } ?? "ok")")
    }
    exit(0)
}

/// unit runs one StartUnit/StopUnit on a real event loop and prints the report;
/// exit status 0 for "done", 1 for any other outcome, 2 for bad arguments.
func unit(_ arguments: ArraySlice<String>) -> Never {
    var rest = Array(arguments)
    guard rest.count >= 2, let action = ["start": UnitAction.start, "stop": .stop][rest[0]] else {
        fail("usage: unit start|stop NAME [--user-bus] [--timeout-ms N]")
    }
    let name: UnitName
    do { name = try UnitName(rest[1]) } catch { fail("\(error)") }
    rest.removeFirst(2)
    var bus = SystemdBus.system
    var timeoutMs: UInt64 = 5000
    while let flag = rest.first {
        rest.removeFirst()
        switch flag {
        case "--user-bus": bus = .user
        case "--timeout-ms":
            guard let v = rest.first.flatMap({ UInt64($0) }), v > 0 else { fail("--timeout-ms needs a positive number") }
            rest.removeFirst()
            timeoutMs = v
        default: fail("unknown option \(flag)")
        }
    }
    do {
        let loop = try EventLoop()
        let remote = loop.remote
        let outcome = ReportBox()
        let controller = UnitController(unit: name, bus: bus, timeout: .milliseconds(Int64(timeoutMs)), remote: remote) { report in
            print("report \(report)")
            outcome.succeeded = report.outcome.succeeded
            remote.stop()
        }
        controller.submit(action)
        try loop.run()
        controller.shutdown()
        exit(outcome.succeeded ? 0 : 1)
    } catch {
        fail("event loop: \(error)")
    }
}

/// ReportBox carries the outcome out of the loop-thread completion (set and read on
/// the main thread, which runs the loop).
final class ReportBox: @unchecked Sendable { var succeeded = false }

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "notify": notify(arguments.dropFirst())
case "unit": unit(arguments.dropFirst())
default: fail("usage: baton-systemd-probe notify STEP... | unit start|stop NAME [--user-bus] [--timeout-ms N]")
}
