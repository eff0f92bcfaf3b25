// Every input of the driver comes through one door, like the core's `Event`, each with
// `now`: this node's CLOCK_BOOTTIME in the agent, a drifting simulated clock in the
// simulator. The driver reads no clock of its own.
public import Membership
public import RaftCore

/// DriverInput is one thing that happened to the agent.
public enum DriverInput: Sendable {
    /// The process is up (storage loaded, listeners bound): run the start-up hook,
    /// hold campaigns until it finished.
    case start
    /// A message from an authenticated peer.
    case message(Message)
    /// A peer's handshake completed; `apiAddress` is where its HTTP API listens,
    /// `peerAddress` where it accepts peers (a node waiting to be added dials it back).
    case peerConnected(NodeID, apiAddress: String, name: String, peerAddress: String)
    /// The transport lost its connection to a peer.
    case peerDisconnected(NodeID)
    /// Every write up to `upTo` is durable.
    case persisted(upTo: JobID)
    /// The write covering jobs up to `upTo` failed; their content waits for a retry.
    case persistFailed(upTo: JobID, error: String)
    /// A hook step ended (the executor enforced its timeout and kill grace).
    case hookStepFinished(RunID, HookStepOutcome)
    /// The application check ran once (`--check`/`--check-url`).
    case checkResult(passed: Bool, detail: String, duration: Interval)
    /// Timers: deliver at or after `AgentDriver.nextDeadline`; early or extra ticks are harmless.
    case tick
    /// SIGTERM or SIGINT: hand over and exit; a second one means now.
    case terminate
    /// `POST /resign[?to=NAME]`: a planned hand-over; answered through the responder.
    /// `client` says who asked, for the log.
    case resign(RequestID, to: String?, client: String)
    /// `POST /members`, `DELETE /members/NAME`: a membership change, on the leader;
    /// answered once committed (or refused, with why).
    case membership(RequestID, MembershipRequest, client: String)
    /// SIGHUP: take new hook commands and bounds (once no hook job runs: a job keeps the
    /// commands it started with) and a new check configuration.
    case reload(DriverReload)
    /// `POST /pause`: pause the group for `duration` (nil: the default) — a log entry,
    /// on the leader; answered once committed.
    case pause(RequestID, duration: Interval?, reason: String, client: String)
    /// `POST /resume`: end the pause — on the leader, or on a member of a paused group
    /// that knows no leader (it campaigns and logs the resume once in office).
    case resume(RequestID, client: String)
    /// `POST /handover`: schedule a hand-over to `to` at a moment — a log entry, on the
    /// leader; answered once committed (ScheduledHandover.swift).
    case scheduleHandover(RequestID, to: String, at: HandoverMoment, client: String)
    /// `DELETE /handover`: cancel the scheduled hand-over; on the leader.
    case cancelHandover(RequestID, client: String)
    /// `POST /history/hooks`: another member's own hook outcomes (its demote), for the
    /// leader to log (HookOutcomeForwarding.swift).
    case hookOutcomes(RequestID, [HookRecord], client: String)
}

/// HandoverMoment is when a scheduled hand-over is to happen, as the operator wrote it.
public enum HandoverMoment: Hashable, Sendable {
    /// A wall-clock moment (Unix ms), read by the leader's wall clock.
    case at(wallMs: Int64)
    /// After this long from when the leader logs it.
    case after(Interval)
}

/// DriverReload is what a SIGHUP may change in a running driver.
public struct DriverReload: Hashable, Sendable {
    /// hooks replaces the hook plan; the leader unit stays as it was (it needs a restart).
    public var hooks: HookPlan
    public var checkConfigured: Bool
    public var checkFailuresToFail: Int
    /// checkReplaced: the check changed (command, URL, interval or failure count). The
    /// new one starts with the old one's health (no check counts as healthy), so a
    /// reload by itself never makes a leader hand over; the next results decide.
    public var checkReplaced: Bool

    public init(hooks: HookPlan, checkConfigured: Bool, checkFailuresToFail: Int, checkReplaced: Bool) {
        self.hooks = hooks; self.checkConfigured = checkConfigured
        self.checkFailuresToFail = checkFailuresToFail; self.checkReplaced = checkReplaced
    }
}
