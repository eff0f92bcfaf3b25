// The demo asks the agents what a user would ask them: `GET /leader` and
// `GET /is-leader`. Unlike the client commands (which exit 2 when an agent cannot be
// reached), a probe of a node that is down or starting is an ordinary answer: nil.
import HTTPParser

/// DemoProbe makes one short HTTP/1.1 GET to a local agent.
enum DemoProbe {
    /// A probe waits at most this long for an answer; a live agent on loopback answers
    /// in well under a millisecond, so only a stopped (SIGSTOP) or dying agent hits it.
    static let answerTimeoutMs = 500

    /// get returns the status and body, or nil when nothing answered.
    static func get(port: Int, path: String) -> (status: Int, body: String)? {
        let target = AgentTarget(host: "127.0.0.1", port: UInt16(port), source: "the demo")
        guard case .success(let answer) = HTTPClient.request("GET", path, to: target, timeoutMs: answerTimeoutMs, userAgent: "baton-demo")
        else { return nil }
        return (answer.status, answer.bodyText)
    }

    /// isLeader is true when the node answers `/is-leader` with 200 — in office by its
    /// lease at answer time.
    static func isLeader(port: Int) -> Bool {
        get(port: port, path: "/is-leader")?.status == 200
    }

    /// LeaderView is one node's `/leader` answer.
    struct LeaderView: Equatable {
        var leader: String?
        var term: UInt64
        var isSelf: Bool
    }

    /// leader reads `/leader`: the leader's id (nil on 503), the term and `self`.
    static func leader(port: Int) -> LeaderView? {
        guard let answer = get(port: port, path: "/leader"), let json = FlatJSON(answer.body) else { return nil }
        let term = json["term"].flatMap { UInt64($0) } ?? 0
        if answer.status == 200, let id = json["leader.id"] {
            return LeaderView(leader: id, term: term, isSelf: json["self"] == "true")
        }
        return LeaderView(leader: nil, term: term, isSelf: false)
    }
}
