// The HTTP API of one agent: routes and the answers they give. Answers are prepared
// when the Raft state changes (`rebuildResponses`) and chosen at answer time from the
// lease and the clock (`isInOffice`), so a request costs no formatting.
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import Posix
import RaftCore

extension Agent {
    /// Responses are the prepared answers, rebuilt on every change of role, term,
    /// leader or storage health.
    struct Responses {
        var inOffice: PreparedResponse
        var follower: PreparedResponse
        var none: PreparedResponse
        var isLeader: PreparedResponse
        var notLeader: PreparedResponse
    }

    func registerRoutes(on server: HTTPServer) {
        server.route(.get, "/leader") { [unowned self] _ in .respond(self.leaderAnswer()) }
        server.route(.get, "/health") { [unowned self] _ in .respond(self.healthAnswer()) }
        // For HAProxy `option httpchk` and readiness probes: 200 only on the node in office.
        server.route(.get, "/is-leader") { [unowned self] _ in
            .respond(self.isInOffice(at: Instant(nanoseconds: Int64(Clock.boottime())))
                     ? self.responses.isLeader : self.responses.notLeader)
        }
    }

    func rebuildResponses() {
        let term = raft.term
        let myName = settings.id
        func leaderJSON(_ name: String) -> String {
            let api = peerAPI[name] ?? ""
            let peer = settings.members.first { $0.name == name }?.peerAddress.description ?? ""
            return "{\"id\":\(AgentLog.json(name)),\"api\":\(AgentLog.json(api)),\"peer\":\(AgentLog.json(peer))}"
        }
        let since = AgentLog.json(AgentLog.rfc3339(leaderSinceWallNs))
        let officeTerm = raft.office?.term ?? term
        responses.inOffice = PreparedResponse(
            status: 200, headers: [("X-Baton-Term", "\(officeTerm)"), ("X-Baton-Leader", myName)],
            body: Array("{\"leader\":\(leaderJSON(myName)),\"term\":\(officeTerm),\"self\":true,\"since\":\(since)}\n".utf8))
        if let leader = raft.leader, leader != me, let name = nameOf[leader] {
            responses.follower = PreparedResponse(
                status: 200, headers: [("X-Baton-Term", "\(term)"), ("X-Baton-Leader", name)],
                body: Array("{\"leader\":\(leaderJSON(name)),\"term\":\(term),\"self\":false,\"since\":\(since)}\n".utf8))
        } else {
            responses.follower = responses.none
        }
        let reason = storageError != nil ? "this node's storage is failing" : "no leader in office is known to this node"
        responses.none = PreparedResponse(
            status: 503, headers: [("X-Baton-Term", "\(term)"), ("Retry-After", "1")],
            body: Array("{\"reason\":\(AgentLog.json(reason)),\"term\":\(term)}\n".utf8))
        if raft.leader == nil || raft.leader == me { responses.follower = responses.none }
        responses.isLeader = PreparedResponse(
            status: 200, contentType: "text/plain; charset=utf-8",
            headers: [("X-Baton-Term", "\(officeTerm)"), ("X-Baton-Leader", myName)], body: Array("leader\n".utf8))
        let known = raft.leader.flatMap { nameOf[$0] }
        responses.notLeader = PreparedResponse(
            status: 503, contentType: "text/plain; charset=utf-8",
            headers: [("X-Baton-Term", "\(term)")] + (known.map { [("X-Baton-Leader", $0)] } ?? []),
            body: Array("not leader\n".utf8))
    }

    /// isInOffice is the one "this node leads" test every answer uses: the lease must
    /// still hold `leaseMargin` from now (the time to write the answer), and the disk
    /// must work (a node that cannot persist does not act as leader).
    func isInOffice(at now: Instant) -> Bool {
        storageError == nil && raft.isInOffice(at: now + settings.raft.leaseMargin)
    }

    /// leaderAnswer decides "this node is in office" from the lease and the clock at
    /// answer time, never from a cached role (design §2 "Answers check the clock"); a
    /// follower names the leader only while it heard from it within Emin.
    func leaderAnswer() -> PreparedResponse {
        let now = Instant(nanoseconds: Int64(Clock.boottime()))
        if isInOffice(at: now) { return responses.inOffice }
        if storageError == nil, raft.role == .follower, raft.leader != nil,
           now < raft.lastContact + settings.raft.electionTimeoutMin {
            return responses.follower
        }
        return responses.none
    }

    func healthAnswer() -> PreparedResponse {
        let role = raft.role.rawValue
        if let error = storageError {
            return PreparedResponse(status: 503, headers: [("X-Baton-Term", "\(raft.term)")],
                                    body: Array("{\"status\":\"unhealthy\",\"failing\":{\"storage\":\(AgentLog.json(error))},\"role\":\"\(role)\",\"term\":\(raft.term)}\n".utf8))
        }
        return PreparedResponse(status: 200, headers: [("X-Baton-Term", "\(raft.term)")],
                                body: Array("{\"status\":\"ok\",\"role\":\"\(role)\",\"term\":\(raft.term)}\n".utf8))
    }
}
