// One StartUnit/StopUnit over sd-bus, waited for to the end: the blocking part of
// UnitController, run on its thread only.
import CSystemd
import Glibc
import Posix

/// UnitJobRunner performs one job request on a fresh bus connection. A connection per
/// request costs a connect and a Hello (well under a millisecond on a local bus) on a
/// path taken only at promotion and demotion, and means a restarted dbus-daemon or
/// manager needs no reconnect logic.
enum UnitJobRunner {
    static let managerName = "org.freedesktop.systemd1"
    static let managerPath = "/org/freedesktop/systemd1"
    static let managerInterface = "org.freedesktop.systemd1.Manager"
    /// jobMode "replace": a start replaces a pending stop of the same unit and vice
    /// versa, so a demote that follows a promote whose job has not finished wins.
    static let jobMode = "replace"

    /// run calls `action` for `unit` and waits for the JobRemoved signal of the job it
    /// created, all within `timeoutMs` of the start. Returns the outcome and job path.
    static func run(_ action: UnitAction, unit: UnitName, bus choice: SystemdBus,
                    timeoutMs: UInt64) -> (outcome: UnitJobOutcome, jobPath: String?) {
        let deadlineNs = Clock.boottime() + timeoutMs * 1_000_000
        if let problem = UnitController.busUnavailable() { return (.busError(name: "libsystemd", message: problem), nil) }
        var bus: OpaquePointer? = nil
        var r = open(choice, &bus)
        defer { if bus != nil { baton_sd_bus_close(bus); baton_sd_bus_unref(bus) } }
        if r < 0 {
            return (.busError(name: "connect", message: "cannot connect to the \(choice): \(Errno(rawValue: -r))" + hint(for: choice)), nil)
        }
        // Every blocking call below (AddMatch, the method call) is bounded by what is
        // left of the timeout.
        baton_sd_bus_set_method_call_timeout(bus, remainingUsec(until: deadlineNs))

        // Subscribe before calling: systemd may finish the job (and send JobRemoved)
        // before its reply to StartUnit reaches us. The manager sends JobRemoved to the
        // job's creator even without Manager.Subscribe (systemd tracks the caller on the
        // job: src/core/dbus-job.c, bus_job_track_sender), as `systemctl` relies on.
        let watch = JobWatch(unit: unit.rawValue)
        var slot: OpaquePointer? = nil
        r = withExtendedLifetime(watch) {
            baton_sd_bus_match_signal(bus, &slot, managerName, managerPath, managerInterface, "JobRemoved",
                                      jobRemovedHandler, Unmanaged.passUnretained(watch).toOpaque())
        }
        defer { if slot != nil { baton_sd_bus_slot_unref(slot) } }
        if r < 0 { return (failure(r, deadlineNs, operation: "subscribing to JobRemoved", timeoutMs), nil) }

        let jobPath: String
        switch call(action, unit: unit, bus: bus, deadlineNs: deadlineNs, timeoutMs: timeoutMs) {
        case .failure(let failure): return (failure.outcome, nil)
        case .success(let path): jobPath = path
        }

        // Wait for our job's JobRemoved; signals queued during the call are dispatched
        // to the match by the first sd_bus_process.
        while true {
            if let result = watch.removed[jobPath] {
                return (result == "done" ? .done : .jobFailed(result: result), jobPath)
            }
            let now = Clock.boottime()
            if now >= deadlineNs { return (.timedOut(afterMs: timeoutMs), jobPath) }
            r = withExtendedLifetime(watch) { baton_sd_bus_process(bus, nil) }
            if r > 0 { continue }
            if r == 0 { r = baton_sd_bus_wait(bus, remainingUsec(until: deadlineNs)) }
            if r < 0 && r != -EINTR {
                return (.busError(name: "connection", message: "lost the bus while waiting for job \(jobPath): \(Errno(rawValue: -r))"), jobPath)
            }
        }
    }

    /// hint says where the bus was looked for, since "ENOENT" alone does not.
    private static func hint(for choice: SystemdBus) -> String {
        switch choice {
        case .system: return " (is the D-Bus system bus running? Debian package dbus; DBUS_SYSTEM_BUS_ADDRESS overrides /run/dbus/system_bus_socket)"
        case .user: return " (is the user's bus running? DBUS_SESSION_BUS_ADDRESS overrides $XDG_RUNTIME_DIR/bus)"
        case .address: return ""
        }
    }

    /// open connects to the chosen bus (sd_bus_open_system/user read the DBUS_*
    /// variables; an explicit address is used as given).
    private static func open(_ choice: SystemdBus, _ bus: inout OpaquePointer?) -> Int32 {
        switch choice {
        case .system: return baton_sd_bus_open_system(&bus)
        case .user: return baton_sd_bus_open_user(&bus)
        case .address(let address):
            var r = baton_sd_bus_new(&bus)
            if r >= 0 { r = baton_sd_bus_set_address(bus, address) }
            if r >= 0 { r = baton_sd_bus_set_bus_client(bus, 1) }
            if r >= 0 { r = baton_sd_bus_start(bus) }
            return r
        }
    }

    /// call sends StartUnit/StopUnit and returns the job path from the reply.
    private static func call(_ action: UnitAction, unit: UnitName, bus: OpaquePointer?,
                             deadlineNs: UInt64, timeoutMs: UInt64) -> Result<String, CallFailure> {
        var message: OpaquePointer? = nil
        var r = baton_sd_bus_message_new_method_call(bus, &message, managerName, managerPath, managerInterface, action.rawValue)
        defer { if message != nil { baton_sd_bus_message_unref(message) } }
        if r >= 0 { r = baton_sd_bus_append_unit_and_mode(message, unit.rawValue, jobMode) }
        if r < 0 { return .failure(CallFailure(failure(r, deadlineNs, operation: "building the \(action.rawValue) call", timeoutMs))) }

        var error = baton_sd_bus_error()
        defer { baton_sd_bus_error_free(&error) }
        var reply: OpaquePointer? = nil
        defer { if reply != nil { baton_sd_bus_message_unref(reply) } }
        r = baton_sd_bus_call(bus, message, remainingUsec(until: deadlineNs), &error, &reply)
        if r < 0 {
            if r == -ETIMEDOUT || Clock.boottime() >= deadlineNs {
                return .failure(CallFailure(.timedOut(afterMs: timeoutMs)))
            }
            // A refusal by the bus or the manager carries a D-Bus error name and text
            // (ServiceUnknown when no manager is on the bus, NoSuchUnit, AccessDenied…).
            let name = error.name.map { String(cString: $0) } ?? action.rawValue
            let text = error.message.map { String(cString: $0) } ?? "\(Errno(rawValue: -r))"
            return .failure(CallFailure(.busError(name: name, message: text)))
        }
        var path: UnsafePointer<CChar>? = nil
        r = baton_sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &path)
        guard r > 0, let path else {
            return .failure(CallFailure(.busError(name: "reply", message: "\(action.rawValue) answered without a job path (\(r < 0 ? "\(Errno(rawValue: -r))" : "empty reply"))")))
        }
        return .success(String(cString: path))
    }

    /// failure turns a negative sd-bus return into an outcome: a timeout when the
    /// deadline passed or the call timed out, a bus error otherwise.
    private static func failure(_ r: Int32, _ deadlineNs: UInt64, operation: String, _ timeoutMs: UInt64) -> UnitJobOutcome {
        if r == -ETIMEDOUT || Clock.boottime() >= deadlineNs { return .timedOut(afterMs: timeoutMs) }
        return .busError(name: operation, message: "\(Errno(rawValue: -r))")
    }

    /// remainingUsec is at least 1: sd-bus reads 0 as "its default of 25 s".
    private static func remainingUsec(until deadlineNs: UInt64) -> UInt64 {
        let now = Clock.boottime()
        return deadlineNs > now ? max(1, (deadlineNs - now) / 1000) : 1
    }
}

/// CallFailure carries an outcome through Result.
struct CallFailure: Error { let outcome: UnitJobOutcome; init(_ o: UnitJobOutcome) { outcome = o } }

/// JobWatch collects the results of JobRemoved signals for our unit, keyed by job path,
/// for the match callback (which runs inside sd_bus_process on the same thread).
/// Only our unit's jobs are kept, so the table stays as small as the jobs on that unit.
final class JobWatch {
    let unit: String
    var removed: [String: String] = [:]
    init(unit: String) { self.unit = unit }
}

/// jobRemovedHandler reads JobRemoved(u id, o job, s unit, s result) into the JobWatch.
private let jobRemovedHandler: baton_sd_bus_message_handler_t = { message, userdata, _ in
    guard let message, let userdata else { return 0 }
    let watch = Unmanaged<JobWatch>.fromOpaque(userdata).takeUnretainedValue()
    var id: UInt32 = 0
    var job: UnsafePointer<CChar>? = nil
    var unit: UnsafePointer<CChar>? = nil
    var result: UnsafePointer<CChar>? = nil
    if baton_sd_bus_read_job_removed(message, &id, &job, &unit, &result) >= 0,
       let job, let unit, let result, String(cString: unit) == watch.unit {
        watch.removed[String(cString: job)] = String(cString: result)
    }
    return 0
}
