// A group can be leaderless because its members keep failing their promote hooks: each
// winner fails the hook, resigns and sits out --promote-failure's back-off, and the next
// winner does the same. /is-leader was 503 everywhere while /health stayed 200 (issue 15
// item 4). This says so: while this node resigned for a failed promote within the last
// window and no leader is in office, /health is 503 with the reason, and the gauge
// baton_leaderless_after_promote_failure is 1. Every member that fails its hook says it,
// so when all of them do, every /health does.
//
// Kept in its own file, with one call in healthAnswer and one in metricsAnswer; the
// driver's view says when the last promote failed.
import AgentConfig
import AgentDriver
import AgentLogging
import HTTPServer
import Posix
import RaftCore

extension AgentShell {
    /// How long after its last failed promote a node keeps warning: three back-offs, so
    /// a group cycling through failures (one per member per back-off) never goes quiet.
    static var leaderlessWarningWindow: Interval { HookSettings.promoteFailureBackoff * 3 }

    /// leaderlessAfterPromoteFailure: the reason to warn, or nil.
    var leaderlessAfterPromoteFailure: String? {
        let now = now()
        guard let failedAt = view.lastPromoteFailure, now - failedAt < Self.leaderlessWarningWindow else { return nil }
        if leaseRemainingMs(at: now) != nil || view.followerKnowsLeader(at: now) { return nil }
        let agoMs = (now - failedAt).wholeMilliseconds
        return "no leader is in office, and this node's promote hook failed \(agoMs) ms ago (it resigned and is held back): "
            + "if every member's promote hook fails, the group stays leaderless; see /status hooks.last"
    }

    func leaderlessWarningAnswer() -> PreparedResponse? {
        guard let why = leaderlessAfterPromoteFailure else { return nil }
        let body = "{\"status\":\"leaderless-promote-failing\",\"reason\":\(AgentLog.json(why)),\"term\":\(view.term)}\n"
        return PreparedResponse(status: 503, headers: commonHeaders(term: view.term), body: Array(body.utf8))
    }
}
