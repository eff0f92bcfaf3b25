// The HTTP API of one agent: routes and the answers they give. Answers are prepared
// when the Raft state changes (`rebuildResponses`) and chosen at answer time from the
// lease and the clock (`leaseRemainingMs`), so a request costs no formatting; the one
// per-request part, the lease time left on the node in office, reuses its bytes
// within a millisecond (`LeaseStampedResponse`).
import AgentLogging
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import Posix
import RaftCore

extension Agent {
    /// Responses are the prepared answers, rebuilt on every change of role, term,
    /// leader or storage health. Every one carries `X-Baton-Term` (the fencing token)
    /// and `X-Baton-Leader` when a leader is known; the in-office ones also carry the
    /// lease time left, stamped at answer time.
    struct Responses {
        var inOffice: LeaseStampedResponse
        var follower: PreparedResponse
        var none: PreparedResponse
        var isLeader: LeaseStampedResponse
        var notLeader: PreparedResponse
        var healthyInOffice: LeaseStampedResponse
        var healthy: PreparedResponse
        var unhealthy: PreparedResponse?
        var readyInOffice: LeaseStampedResponse
        var readyFollower: PreparedResponse
        var notReady: PreparedResponse

        /// init(placeholder:) answers everything with `placeholder` until the first rebuild.
        init(placeholder: PreparedResponse) {
            let stamped = LeaseStampedResponse(status: placeholder.status, headers: [], body: [])
            inOffice = stamped; follower = placeholder; none = placeholder
            isLeader = stamped; notLeader = placeholder
            healthyInOffice = stamped; healthy = placeholder; unhealthy = nil
            readyInOffice = stamped; readyFollower = placeholder; notReady = placeholder
        }
    }

    func registerRoutes(on server: HTTPServer) {
        apiState.server = server
        server.setRefusalHeaders(commonHeaders(term: raft.term))
        server.route(.get, "/leader") { [unowned self] request in
            if request.head.query.count == 0 { return self.counted(.leader, .respond(self.leaderAnswer(at: self.now()))) }
            return self.counted(.leader, self.leaderLongPoll(request))
        }
        // For HAProxy `option httpchk` and readiness probes: 200 only on the node in office.
        server.route(.get, "/is-leader") { [unowned self] _ in
            let answer: PreparedResponse
            if let ms = self.leaseRemainingMs(at: self.now()) {
                answer = self.responses.isLeader.response(remainingMs: ms)
            } else {
                answer = self.responses.notLeader
            }
            return self.counted(.isLeader, .respond(answer))
        }
        server.route(.get, "/health") { [unowned self] _ in self.counted(.health, .respond(self.healthAnswer())) }
        server.route(.get, "/ready") { [unowned self] _ in self.counted(.ready, .respond(self.readyAnswer())) }
        server.route(.get, "/status") { [unowned self] _ in self.counted(.status, .respond(self.statusAnswer())) }
        server.route(.post, "/resign") { [unowned self] request in self.counted(.resign, self.resign(request)) }
        server.route(.get, "/metrics") { [unowned self] _ in self.counted(.metrics, .respond(self.metricsAnswer())) }
        server.route(.get, "/openapi.json") { [unowned self] _ in self.counted(.openAPI, .respond(self.openAPIAnswer())) }
        server.holdTimeoutResponder = { [unowned self] held in
            guard let (answer, route) = self.heldRequestTimedOut(held) else { return nil }
            self.countStatus(answer.status, route)
            return answer
        }
    }

    @inline(__always) func now() -> Instant { Clock.now() }

    /// counted tallies an answer's status for `baton_http_requests_total` (a held
    /// request is counted when it is answered).
    @inline(__always) func counted(_ route: APIRoute, _ result: HTTPHandlerResult) -> HTTPHandlerResult {
        if case .respond(let r) = result { countStatus(r.status, route) }
        return result
    }

    @inline(__always) func countStatus(_ status: Int, _ route: APIRoute) {
        apiState.metrics.countResponse(status, route: route)
    }

    /// leaderName is the name of the leader this node believes in, if any.
    var leaderName: String? { raft.leader.flatMap { nameOf[$0] } }

    /// commonHeaders: the fencing token and, when known, the leader.
    func commonHeaders(term: Term) -> [(String, String)] {
        [("X-Baton-Term", "\(term)")] + (leaderName.map { [("X-Baton-Leader", $0)] } ?? [])
    }

    func leaderJSON(_ name: String) -> String {
        let api = peerAPI[name] ?? ""
        let peer = settings.members.first { $0.name == name }?.peerAddress.description ?? ""
        return "{\"id\":\(AgentLog.json(name)),\"api\":\(AgentLog.json(api)),\"peer\":\(AgentLog.json(peer))}"
    }

    func rebuildResponses() {
        let term = raft.term
        let myName = settings.id
        let since = AgentLog.json(AgentLog.rfc3339(leaderSinceWallNs))
        let officeTerm = raft.office?.term ?? term
        let officeHeaders: [(String, String)] = [("X-Baton-Term", "\(officeTerm)"), ("X-Baton-Leader", myName)]
        let headers = commonHeaders(term: term)
        // The server's own 404 and 405 carry the term and leader too.
        apiState.server?.setRefusalHeaders(headers)
        responses.inOffice = LeaseStampedResponse(
            status: 200, headers: officeHeaders,
            body: Array("{\"leader\":\(leaderJSON(myName)),\"term\":\(officeTerm),\"self\":true,\"since\":\(since)}\n".utf8))
        let reason = storageError != nil ? "this node's storage is failing" : "no leader in office is known to this node"
        responses.none = PreparedResponse(
            status: 503, headers: headers + [("Retry-After", "1")],
            body: Array("{\"reason\":\(AgentLog.json(reason)),\"term\":\(term)}\n".utf8))
        if let leader = raft.leader, leader != me, let name = nameOf[leader] {
            responses.follower = PreparedResponse(
                status: 200, headers: headers,
                body: Array("{\"leader\":\(leaderJSON(name)),\"term\":\(term),\"self\":false,\"since\":\(since)}\n".utf8))
            responses.readyFollower = PreparedResponse(
                status: 200, headers: headers,
                body: Array("{\"ready\":true,\"term\":\(term),\"leader\":\(AgentLog.json(name))}\n".utf8))
        } else {
            responses.follower = responses.none
            responses.readyFollower = responses.none
        }
        responses.isLeader = LeaseStampedResponse(
            status: 200, contentType: "text/plain; charset=utf-8", headers: officeHeaders, body: Array("leader\n".utf8))
        responses.notLeader = PreparedResponse(
            status: 503, contentType: "text/plain; charset=utf-8", headers: headers, body: Array("not leader\n".utf8))
        responses.readyInOffice = LeaseStampedResponse(
            status: 200, headers: officeHeaders,
            body: Array("{\"ready\":true,\"term\":\(officeTerm),\"leader\":\(AgentLog.json(myName))}\n".utf8))
        let notReadyReason = storageError != nil ? "this node's storage is failing"
            : "this node has not heard from a leader in office within the election timeout"
        responses.notReady = PreparedResponse(
            status: 503, headers: headers + [("Retry-After", "1")],
            body: Array("{\"ready\":false,\"reason\":\(AgentLog.json(notReadyReason)),\"term\":\(term)}\n".utf8))
        let role = raft.role.rawValue
        let healthyBody = Array("{\"status\":\"ok\",\"role\":\"\(role)\",\"term\":\(term),\"leader\":\(leaderName.map(AgentLog.json) ?? "null")}\n".utf8)
        responses.healthy = PreparedResponse(status: 200, headers: headers, body: healthyBody)
        responses.healthyInOffice = LeaseStampedResponse(status: 200, headers: officeHeaders, body: healthyBody)
        responses.unhealthy = storageError.map { error in
            PreparedResponse(status: 503, headers: headers,
                             body: Array("{\"status\":\"unhealthy\",\"failing\":{\"storage\":\(AgentLog.json(error))},\"role\":\"\(role)\",\"term\":\(term),\"leader\":\(leaderName.map(AgentLog.json) ?? "null")}\n".utf8))
        }
        noteTransitions()
        if apiState.server != nil {
            scheduleLongPollWave()
            answerResignWaiters()
        }
    }

    /// leaseRemainingMs is the one "this node leads" test every answer uses: non-nil
    /// (the whole milliseconds left) only while the lease still holds `leaseMargin` from
    /// now (the time to write the answer) and the disk works (a node that cannot persist
    /// does not act as leader). Same test as `RaftNode.isInOffice(at: now + margin)`.
    func leaseRemainingMs(at now: Instant) -> Int64? {
        guard storageError == nil, let office = raft.office else { return nil }
        let left = office.leaseDeadline.nanoseconds - (now + settings.raft.leaseMargin).nanoseconds
        return left > 0 ? left / 1_000_000 : nil
    }

    func isInOffice(at now: Instant) -> Bool { leaseRemainingMs(at: now) != nil }

    /// followerKnowsLeader: a follower names the leader only while it heard from it
    /// within Emin (a leader in office renews well within that).
    func followerKnowsLeader(at now: Instant) -> Bool {
        storageError == nil && raft.role == .follower && raft.leader != nil && raft.leader != me
            && now < raft.lastContact + settings.raft.electionTimeoutMin
    }

    /// leaderAnswer decides "this node is in office" from the lease and the clock at
    /// answer time, never from a cached role (design §2 "Answers check the clock").
    func leaderAnswer(at now: Instant) -> PreparedResponse {
        if let ms = leaseRemainingMs(at: now) { return responses.inOffice.response(remainingMs: ms) }
        if followerKnowsLeader(at: now) { return responses.follower }
        return responses.none
    }

    func healthAnswer() -> PreparedResponse {
        if let unhealthy = responses.unhealthy { return unhealthy }
        if let ms = leaseRemainingMs(at: now()) { return responses.healthyInOffice.response(remainingMs: ms) }
        if let warning = leaderlessWarningAnswer() { return warning }
        return responses.healthy
    }

    /// readyAnswer: 200 while this node is in office or in contact with the leader in
    /// office (the same test as a follower's `GET /leader`), 503 otherwise.
    func readyAnswer() -> PreparedResponse {
        let now = now()
        if let ms = leaseRemainingMs(at: now) { return responses.readyInOffice.response(remainingMs: ms) }
        if followerKnowsLeader(at: now) { return responses.readyFollower }
        return responses.notReady
    }

    /// heldRequestTimedOut answers a held request whose wait ended: a long-poll gets
    /// the current `/leader` answer, a resignation its failure.
    func heldRequestTimedOut(_ held: HeldRequest) -> (PreparedResponse, APIRoute)? {
        if apiState.longPoll.remove(held) { return (leaderAnswer(at: now()), .leader) }
        if let i = apiState.resigns.firstIndex(where: { $0.held == held }) {
            let waiter = apiState.resigns.remove(at: i)
            return (resignFailed(waiter, reason: "no successor was heard from within \(resignWait.wholeMilliseconds) ms; an ordinary election follows"), .resign)
        }
        return nil
    }
}
