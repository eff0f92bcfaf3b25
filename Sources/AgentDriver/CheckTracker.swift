// Whether the application is healthy enough to lead, from its check results (pure).

/// CheckTracker turns probe results into a healthy / failing state: failing after
/// `failuresToFail` failures in a row, healthy again after one pass. Before the first
/// pass the state is failing, so a node whose application never came up never campaigns.
public struct CheckTracker: Hashable, Sendable {
    public let failuresToFail: Int
    public private(set) var healthy = false
    public private(set) var consecutiveFailures = 0
    public private(set) var passes: UInt64 = 0
    public private(set) var failures: UInt64 = 0

    /// init starts failing, unless `healthy` carries the state of a check this one
    /// replaces (a SIGHUP reload must not by itself make a leader hand over).
    public init(failuresToFail: Int, healthy: Bool = false) {
        precondition(failuresToFail >= 1)
        self.failuresToFail = failuresToFail
        self.healthy = healthy
    }

    /// record adds one result; returns the new state when it changed.
    public mutating func record(passed: Bool) -> Bool? {
        if passed {
            passes += 1
            consecutiveFailures = 0
            if !healthy { healthy = true; return true }
            return nil
        }
        failures += 1
        consecutiveFailures += 1
        if healthy && consecutiveFailures >= failuresToFail { healthy = false; return false }
        return nil
    }
}
