// What a leader-unit job is asked to do and how it ended.
public import Time

/// UnitAction is the manager method to call: StartUnit on promote, StopUnit on demote.
public enum UnitAction: String, Sendable, Equatable {
    case start = "StartUnit"
    case stop = "StopUnit"
}

/// SystemdBus says which bus the service manager is reached on.
public enum SystemdBus: Sendable, Equatable, CustomStringConvertible {
    /// system is the system manager (PID 1). sd_bus_open_system honours
    /// DBUS_SYSTEM_BUS_ADDRESS, else /run/dbus/system_bus_socket.
    case system
    /// user is the user's manager (`--user-bus`). sd_bus_open_user honours
    /// DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.
    case user
    /// address is an explicit D-Bus address (tests, or a private bus).
    case address(String)

    public var description: String {
        switch self {
        case .system: return "system bus"
        case .user: return "user bus"
        case .address(let a): return "bus \(a)"
        }
    }
}

/// UnitJobOutcome is how a StartUnit/StopUnit ended. Only `.done` is success: the hook
/// rules count every other outcome as a failed hook.
public enum UnitJobOutcome: Sendable, Equatable, CustomStringConvertible {
    /// done: systemd finished the job with result "done".
    case done
    /// jobFailed: the job finished with another result ("failed", "canceled",
    /// "timeout", "dependency", "skipped", …), given as systemd wrote it.
    case jobFailed(result: String)
    /// timedOut: no reply, or no JobRemoved for our job, within the timeout. The job may
    /// still run in systemd; the next StopUnit/StartUnit (mode "replace") replaces it.
    case timedOut(afterMs: UInt64)
    /// busError: the bus could not be reached, or the manager refused the call
    /// (`name` is the D-Bus error name, e.g. org.freedesktop.DBus.Error.ServiceUnknown
    /// when no manager is on the bus, or "connect" when the bus itself is unreachable).
    case busError(name: String, message: String)

    public var succeeded: Bool { self == .done }

    public var description: String {
        switch self {
        case .done: return "done"
        case .jobFailed(let result): return "job result \(result)"
        case .timedOut(let ms): return "no answer within \(ms) ms"
        case .busError(let name, let message): return "bus error \(name): \(message)"
        }
    }
}

/// UnitJobReport is one finished request, delivered on the loop thread.
public struct UnitJobReport: Sendable, Equatable, CustomStringConvertible {
    /// id is what `UnitController.submit` returned for this request.
    public var id: UInt64
    public var action: UnitAction
    public var unit: UnitName
    public var outcome: UnitJobOutcome
    /// jobPath is the job object systemd created (nil when the call itself failed).
    public var jobPath: String?
    /// elapsed runs from the start of the bus work to its end (not queueing time).
    public var elapsed: Interval

    public var description: String {
        "\(action.rawValue) \(unit): \(outcome) after \(elapsed.wholeMilliseconds) ms"
    }
}
