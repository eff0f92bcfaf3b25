// The HTTP API of one agent: routes and the answers they give. Answers are prepared
// when the view's generation moves (`rebuildResponses`) and chosen at answer time from
// the view's lease test with the clock read then (`AgentView.leaseRemaining(at:)`), so
// a request costs no formatting; the one per-request part, the lease time left on the
// node in office, reuses its bytes within a millisecond (`LeaseStampedResponse`).
import AgentDriver
import AgentLogging
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import Posix
import RaftCore

/// Responses are the prepared answers, rebuilt on every change of what an answer
/// says. Every one carries `X-Baton-Term` (the fencing token) and `X-Baton-Leader`
/// when a leader is known; the in-office ones also carry the lease time left,
/// stamped at answer time.
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

extension AgentShell {
    func registerRoutes(on server: HTTPServer) {
        apiState.server = server
        server.setRefusalHeaders(commonHeaders(term: view.term))
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
        registerEngineRoutes(on: server)
        server.holdTimeoutResponder = { [unowned self] held in
            guard let (answer, route) = self.heldRequestTimedOut(held) else { return nil }
            self.countStatus(answer.status, route)
            return answer
        }
    }

    /// counted tallies an answer's status for `baton_http_requests_total` (a held
    /// request is counted when it is answered).
    @inline(__always) func counted(_ route: APIRoute, _ result: HTTPHandlerResult) -> HTTPHandlerResult {
        if case .respond(let r) = result { countStatus(r.status, route) }
        return result
    }

    @inline(__always) func countStatus(_ status: Int, _ route: APIRoute) {
        apiState.metrics.countResponse(status, route: route)
    }

    /// commonHeaders: the fencing token and, when known, the leader.
    func commonHeaders(term: Term) -> [(String, String)] {
        [("X-Baton-Term", "\(term)")] + (view.leader.map { [("X-Baton-Leader", $0)] } ?? [])
    }

    /// sinceJSON is when this node learned of the current leader or office, as wall
    /// time: the view keeps CLOCK_BOOTTIME, converted with both clocks read now.
    func sinceJSON() -> String {
        let bootNow = Int64(Clock.boottime())
        let wall = Clock.realtimeNanoseconds() - (bootNow - view.leaderSince.nanoseconds)
        return AgentLog.json(AgentLog.rfc3339(wall))
    }

    /// rebuildResponses lays out every prepared answer from the view; it runs when the
    /// view's generation moved, and starts a long-poll wave.
    func rebuildResponses() {
        let term = view.term
        let myName = settings.id
        let since = sinceJSON()
        let officeTerm = view.office?.term ?? term
        let officeHeaders: [(String, String)] = [("X-Baton-Term", "\(officeTerm)"), ("X-Baton-Leader", myName)]
        let headers = commonHeaders(term: term)
        // The server's own 404 and 405 carry the term and leader too.
        apiState.server?.setRefusalHeaders(headers)
        responses.inOffice = LeaseStampedResponse(
            status: 200, headers: officeHeaders,
            body: Array("{\"leader\":\(leaderJSON(myName)),\"term\":\(officeTerm),\"self\":true,\"since\":\(since)}\n".utf8))
        let storageError = view.storageError
        let reason = storageError != nil ? "this node's storage is failing" : "no leader in office is known to this node"
        responses.none = PreparedResponse(
            status: 503, headers: headers + [("Retry-After", "1")],
            body: Array("{\"reason\":\(AgentLog.json(reason)),\"term\":\(term)}\n".utf8))
        if let name = view.leader, name != myName {
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
        let notReadyReason: String
        switch view.membership {
        case _ where storageError != nil: notReadyReason = "this node's storage is failing"
        case .waitingToBeAdded:
            notReadyReason = "not a member of the group yet: run 'baton members add \(settings.id) \(settings.peerAdvertise)' on a member"
        case .removed: notReadyReason = "this member was removed from the group"
        case .member: notReadyReason = "this node has not heard from a leader in office within the election timeout"
        }
        responses.notReady = PreparedResponse(
            status: 503, headers: headers + [("Retry-After", "1")],
            body: Array("{\"ready\":false,\"reason\":\(AgentLog.json(notReadyReason)),\"term\":\(term)}\n".utf8))
        let role = view.role.rawValue
        let leaderName = view.leader
        let healthyBody = Array("{\"status\":\"ok\",\"role\":\"\(role)\",\"membership\":\(AgentLog.json(membershipWord)),\"term\":\(term),\"leader\":\(leaderName.map(AgentLog.json) ?? "null"),\"paused\":\(view.pause != nil)}\n".utf8)
        responses.healthy = PreparedResponse(status: 200, headers: headers, body: healthyBody)
        responses.healthyInOffice = LeaseStampedResponse(status: 200, headers: officeHeaders, body: healthyBody)
        responses.unhealthy = storageError.map { error in
            PreparedResponse(status: 503, headers: headers,
                             body: Array("{\"status\":\"unhealthy\",\"failing\":{\"storage\":\(AgentLog.json(error))},\"role\":\"\(role)\",\"membership\":\(AgentLog.json(self.membershipWord)),\"term\":\(term),\"leader\":\(leaderName.map(AgentLog.json) ?? "null")}\n".utf8))
        }
        if role != "leader" { apiState.clearRoundTrips() }
        if apiState.server != nil { scheduleLongPollWave() }
    }

    /// leaseRemainingMs is the view's in-office test (design §2 "Answers check the
    /// clock") in whole milliseconds: non-nil only while the lease holds the margin past
    /// `now` and the disk works.
    @inline(__always) func leaseRemainingMs(at now: Instant) -> Int64? {
        view.leaseRemaining(at: now).map { $0.nanoseconds / 1_000_000 }
    }

    /// leaderAnswer decides "this node is in office" from the lease and the clock at
    /// answer time, never from a cached role.
    func leaderAnswer(at now: Instant) -> PreparedResponse {
        if let ms = leaseRemainingMs(at: now) { return responses.inOffice.response(remainingMs: ms) }
        if view.followerKnowsLeader(at: now) { return responses.follower }
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
        if view.membership == .waitingToBeAdded || view.membership == .removed { return responses.notReady }
        if let ms = leaseRemainingMs(at: now) { return responses.readyInOffice.response(remainingMs: ms) }
        if view.followerKnowsLeader(at: now) { return responses.readyFollower }
        return responses.notReady
    }

    /// heldRequestTimedOut answers a held request whose wait ended: a long-poll gets
    /// the current `/leader` answer; a resignation (answered by the driver within its
    /// bound, so this is only a safety net) a plain 503.
    func heldRequestTimedOut(_ held: HeldRequest) -> (PreparedResponse, APIRoute)? {
        if apiState.longPoll.remove(held) { return (leaderAnswer(at: now()), .leader) }
        return nil
    }
}

extension Agent {
    /// leaderJSON is a member as answers name it: its name, API and peer addresses.
    func leaderJSON(_ name: String) -> String {
        let stored = view.members.first { $0.name == name }
        let api = name == settings.id ? settings.apiAdvertise.description
            : (view.peer(name)?.apiAddress ?? stored.map(\.apiAddress) ?? "")
        let peer = stored?.peerAddress ?? view.peer(name)?.peerAddress ?? ""
        return "{\"id\":\(AgentLog.json(name)),\"api\":\(AgentLog.json(api)),\"peer\":\(AgentLog.json(peer))}"
    }
}
