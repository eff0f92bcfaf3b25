// The STATUS= line systemd shows in `systemctl status` (issue 6 part 3). It takes the
// role as a word, so this module needs nothing of the Raft core.

/// ServiceStatus formats the one-line status the agent reports to systemd whenever its
/// role, term or known leader changes. Pure, so the wording is tested without systemd.
public enum ServiceStatus {
    /// line reads as `systemctl status` shows it:
    /// "leader, term 42" / "follower of n2, term 42" / "candidate, term 43".
    /// A follower that knows no leader says so ("follower, no leader known, term 42"); a
    /// pre-candidate has not raised its term yet and says it only probes ("pre-candidate,
    /// term 42"). `leader` is the leader's configured name, nil while none is known.
    ///
    /// `role` is the role as people read it: `follower`, `pre-candidate`, `candidate` or
    /// `leader`; only a follower names its leader.
    public static func line(role: String, term: UInt64, leader: String?) -> String {
        if role == "follower" {
            if let leader, !leader.isEmpty { return "follower of \(leader), term \(term)" }
            return "follower, no leader known, term \(term)"
        }
        return "\(role), term \(term)"
    }
}
