// The STATUS= line systemd shows in `systemctl status` (issue 6 part 3).
public import RaftCore

/// ServiceStatus formats the one-line status the agent reports to systemd whenever its
/// role, term or known leader changes. Pure, so the wording is tested without systemd.
public enum ServiceStatus {
    /// line reads as `systemctl status` shows it:
    /// "leader, term 42" / "follower of n2, term 42" / "candidate, term 43".
    /// A follower that knows no leader says so ("follower, no leader known, term 42"); a
    /// pre-candidate has not raised its term yet and says it only probes ("pre-candidate,
    /// term 42"). `leader` is the leader's configured name, nil while none is known.
    public static func line(role: Role, term: UInt64, leader: String?) -> String {
        switch role {
        case .leader:
            return "leader, term \(term)"
        case .candidate:
            return "candidate, term \(term)"
        case .preCandidate:
            return "pre-candidate, term \(term)"
        case .follower:
            if let leader, !leader.isEmpty { return "follower of \(leader), term \(term)" }
            return "follower, no leader known, term \(term)"
        }
    }
}
