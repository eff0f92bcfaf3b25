// sd_notify through libsystemd: READY=1, STATUS=, WATCHDOG=1, STOPPING=1 (issue 6 part 3).
import CSystemd
import Glibc
public import Posix

/// ServiceNotifier tells systemd how the agent is doing (a `Type=notify` service).
///
/// It reads the environment systemd sets once, at `init`: `NOTIFY_SOCKET` (where the
/// messages go) and `WATCHDOG_USEC`/`WATCHDOG_PID` (through `sd_watchdog_enabled`, which
/// honours WATCHDOG_PID so that a child that inherited the variables does not think the
/// watchdog is its own). Outside systemd `NOTIFY_SOCKET` is unset and every call is a
/// no-op, so the agent calls it unconditionally.
///
/// Each message is one `sd_notify` call: one short blocking `sendmsg` on a datagram
/// socket, made on the loop thread. It waits only when the receiver has let its queue
/// fill (net.unix.max_dgram_qlen unread datagrams, 10 by default; seen in testing with a
/// socket nobody read). systemd reads its notify socket in its own event loop, so that
/// happens only if PID 1 itself hangs. The agent sends a message per role change and one
/// per watchdog interval; nothing here retries or queues.
public struct ServiceNotifier: Sendable {
    /// statusMaxBytes bounds a STATUS= line. systemd keeps the text for `systemctl
    /// status`; Baton's lines are ~40 bytes, so a longer one is cut rather than sent whole.
    public static let statusMaxBytes = 256

    /// environmentKeys are the variables that make a process a systemd notifier. A hook
    /// or other child must not inherit them (systemd would reject or, with
    /// NotifyAccess=all, believe its messages): remove them from children's environment.
    public static let environmentKeys = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// isEnabled is true when NOTIFY_SOCKET is set, i.e. systemd waits for our messages.
    public let isEnabled: Bool
    /// watchdogTimeoutNs is WATCHDOG_USEC in nanoseconds when the watchdog is on for this
    /// process, else nil.
    public let watchdogTimeoutNs: UInt64?
    /// watchdogProblem explains why WATCHDOG_USEC/WATCHDOG_PID were not understood (nil
    /// when they were fine or unset); the watchdog is then treated as off. Log it.
    public let watchdogProblem: String?

    /// watchdogIntervalNs is how often to send WATCHDOG=1: half the timeout, as
    /// sd_watchdog_enabled(3) recommends, so one late tick does not get us killed.
    public var watchdogIntervalNs: UInt64? { watchdogTimeoutNs.map { $0 / 2 } }

    /// init reads NOTIFY_SOCKET and the watchdog variables of this process.
    public init() {
        isEnabled = getenv("NOTIFY_SOCKET").map { $0.pointee != 0 } ?? false
        var usec: UInt64 = 0
        // unset_environment 0: the variables stay, because sd_notify reads NOTIFY_SOCKET
        // on every call; children are kept clean by removing `environmentKeys` instead.
        let r = baton_sd_watchdog_enabled(0, &usec)
        if r > 0 && usec > 0 {
            watchdogTimeoutNs = usec.multipliedReportingOverflow(by: 1000).overflow ? UInt64.max : usec * 1000
            watchdogProblem = nil
        } else if r < 0 {
            watchdogTimeoutNs = nil
            watchdogProblem = "WATCHDOG_USEC/WATCHDOG_PID not understood (\(Errno(rawValue: -r))); the systemd watchdog is off"
        } else {
            watchdogTimeoutNs = nil
            watchdogProblem = nil
        }
    }

    /// ready says start-up is complete: storage loaded, listeners bound, start-up hook
    /// finished. `status` is sent in the same message when given.
    @discardableResult
    public func ready(status: String? = nil) -> Errno? {
        send("READY=1" + (status.map { "\nSTATUS=" + Self.sanitizedStatus($0) } ?? ""))
    }

    /// status replaces the line `systemctl status` shows (see `ServiceStatus.line`).
    @discardableResult
    public func status(_ line: String) -> Errno? {
        send("STATUS=" + Self.sanitizedStatus(line))
    }

    /// watchdog tells systemd the loop is alive. Send it from the loop at
    /// `watchdogIntervalNs`, never from another thread: the point is that the loop runs.
    @discardableResult
    public func watchdog() -> Errno? { send("WATCHDOG=1") }

    /// stopping says shutdown has begun (the hand-over may take a moment).
    @discardableResult
    public func stopping(status: String? = nil) -> Errno? {
        send("STOPPING=1" + (status.map { "\nSTATUS=" + Self.sanitizedStatus($0) } ?? ""))
    }

    /// send passes newline-separated assignments to sd_notify. Returns nil when sent or
    /// when not under systemd, the error otherwise (for the log; never fatal).
    @discardableResult
    public func send(_ assignments: String) -> Errno? {
        guard isEnabled else { return nil }
        let r = baton_sd_notify(0, assignments)
        return r < 0 ? Errno(rawValue: -r) : nil
    }

    /// sanitizedStatus keeps a status on one line (a newline would start another
    /// assignment: "STATUS=x\nREADY=1") and within `statusMaxBytes`, cut at a character
    /// boundary.
    public static func sanitizedStatus(_ line: String) -> String {
        var out = ""
        var bytes = 0
        for character in line {
            let c: Character = (character.isNewline || character == "\0") ? " " : character
            let size = c.utf8.count
            if bytes + size > statusMaxBytes { break }
            out.append(c)
            bytes += size
        }
        return out
    }
}
