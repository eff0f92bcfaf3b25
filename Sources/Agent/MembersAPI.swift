// GET /members, POST /members, PATCH and DELETE /members/NAME (issue 14): the membership
// as this node knows it, and the operator's changes, which only the leader makes. A
// change is held until it commits (or is refused, with why) and answered by the driver.
import AgentConfig
import AgentDriver
import AgentLogging
import HTTPParser
import EventLoop
import HTTPServer
import JSON
import Membership
import PeerTransport
import Posix
import RaftCore

extension Agent {
    func registerMemberRoutes(on server: HTTPServer) {
        server.route(.get, "/members") { [unowned self] _ in self.counted(.members, .respond(self.membersAnswer())) }
        server.route(.post, "/members") { [unowned self] request in self.counted(.members, self.addMember(request)) }
        server.route(.delete, "/members/*") { [unowned self] request in self.counted(.members, self.removeMember(request)) }
        server.route(.patch, "/members/*") { [unowned self] request in self.counted(.members, self.setMember(request)) }
    }

    /// membersAnswer: every member of the configuration in force, with what this node
    /// knows of each (reachable, last contact; caught up on the leader).
    func membersAnswer() -> PreparedResponse {
        let nowNs = Int64(Clock.boottime())
        var items: [String] = []
        for m in view.members.sorted(by: { $0.name < $1.name }) {
            let isSelf = m.name == settings.id
            let seen = apiState.peers[m.name]
            let peer = view.peer(m.name)
            let reachable = isSelf ? "true" : "\(transport.stats[m.name]?.connected ?? false)"
            let lastContact = seen.map { $0.lastHeardNs > 0 ? "\((nowNs - $0.lastHeardNs) / 1_000_000)" : "null" } ?? "null"
            let caughtUp = peer?.matchIndex.map { "\($0 >= view.commitIndex)" } ?? (isSelf && view.role == .leader ? "true" : "null")
            items.append("{\"name\":\(AgentLog.json(m.name)),\"role\":\"\(m.role)\""
                + ",\"promotes_to\":\(m.promotesTo.map { "\"\($0)\"" } ?? "null"),\"priority\":\(m.priority)"
                + ",\"incarnation\":\(m.incarnation == 0 ? "null" : AgentLog.json(hex(m.incarnation)))"
                + ",\"peer\":\(AgentLog.json(m.peerAddress)),\"api\":\(AgentLog.json(isSelf ? settings.apiAdvertise.description : (peer?.apiAddress ?? m.apiAddress)))"
                + ",\"self\":\(isSelf),\"reachable\":\(reachable),\"last_contact_ms_ago\":\(isSelf ? "0" : lastContact)"
                + ",\"caught_up\":\(caughtUp)}")
        }
        let body = "{\"members\":[\(items.joined(separator: ","))],\"membership\":\(AgentLog.json(membershipWord))"
            + ",\"configuration_index\":\(view.configurationIndex),\"change_in_progress\":\(view.changeInProgress)"
            + ",\"leader\":\(view.leader.map(AgentLog.json) ?? "null"),\"term\":\(view.term)}\n"
        return PreparedResponse(status: 200, headers: commonHeaders(term: view.term), body: Array(body.utf8))
    }

    /// membershipWord says what this node is to the group, in one word.
    var membershipWord: String {
        switch view.membership {
        case .member(let role): "\(role)"
        case .waitingToBeAdded: "waiting-to-be-added"
        case .removed: "removed"
        }
    }

    /// membersBodyBytesMax bounds a membership request's body (it names one member).
    static let membersBodyBytesMax = 2_048

    /// addMember: `POST /members` with `{"name", "peer", "api"?, "role"?, "priority"?}`.
    func addMember(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        guard request.body.count <= Self.membersBodyBytesMax else {
            return .respond(badRequest("the body is over \(Self.membersBodyBytesMax) bytes; it names one member"))
        }
        let body: JSONValue
        do { body = try JSONValue.parse(request.body, limits: JSONLimits(documentBytesMax: Self.membersBodyBytesMax, depthMax: 4)) }
        catch { return .respond(badRequest("the body must be a JSON object: \(error)")) }
        guard body.members != nil else { return .respond(badRequest("the body must be a JSON object with name and peer")) }
        let known: Set<String> = ["name", "peer", "api", "role", "priority"]
        if let extra = body.members?.first(where: { !known.contains($0.name) }) {
            return .respond(badRequest("unknown field '\(extra.name)' (fields: name, peer, api, role, priority)"))
        }
        guard let name = body["name"].string, let peer = body["peer"].string else {
            return .respond(badRequest("name and peer (HOST:PORT) are required strings"))
        }
        let api = body["api"].string ?? ""
        if body.has("api") && body["api"].string == nil { return .respond(badRequest("api must be a string HOST:PORT")) }
        let roleText = body["role"].string ?? "voter"
        let role: MemberRole
        switch roleText {
        case "voter": role = .voter
        case "witness": role = .witness
        case "observer": role = .observer
        default: return .respond(badRequest("role must be voter, witness or observer; got '\(roleText)'"))
        }
        var priority = Member.defaultPriority
        if body.has("priority") {
            guard let p = body["priority"].int64, p >= 0, p <= Int64(UInt16.max) else {
                return .respond(badRequest("priority must be a whole number in 0...65535 (0: never leads)"))
            }
            priority = UInt16(p)
        }
        return hold(request, .add(name: name, peerAddress: peer, apiAddress: api, role: role, priority: priority))
    }

    /// removeMember: `DELETE /members/NAME`.
    func removeMember(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        guard let name = memberName(request) else { return .respond(badRequest("the path must be /members/NAME with a member name")) }
        return hold(request, .remove(name: name))
    }

    /// setMember: `PATCH /members/NAME` with `{"priority": N}`.
    func setMember(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        guard let name = memberName(request) else { return .respond(badRequest("the path must be /members/NAME with a member name")) }
        guard request.body.count <= Self.membersBodyBytesMax,
              let body = try? JSONValue.parse(request.body, limits: JSONLimits(documentBytesMax: Self.membersBodyBytesMax, depthMax: 4)),
              body.members?.count == 1, let p = body["priority"].int64, p >= 0, p <= Int64(UInt16.max) else {
            return .respond(badRequest("the body must be {\"priority\": N} with N in 0...65535 (0: never leads)"))
        }
        return hold(request, .setPriority(name: name, priority: UInt16(p)))
    }

    /// memberName is NAME of `/members/NAME` (percent-decoded), if it is a valid name.
    private func memberName(_ request: borrowing HTTPRequest) -> String? {
        let path = request.pathString
        let prefix = "/members/"
        guard path.hasPrefix(prefix) else { return nil }
        let name = String(path.dropFirst(prefix.count))
        return Membership.isValidMemberName(name) ? name : nil
    }

    /// hold hands the change to the driver on the next loop turn and holds the request
    /// for its answer (the driver answers within `membershipChangeWait`; this is a net).
    private func hold(_ request: borrowing HTTPRequest, _ change: MembershipRequest) -> HTTPHandlerResult {
        let id = apiState.nextRequest
        apiState.nextRequest += 1
        apiState.heldActions[id] = (request.held, .members)
        let client = request.clientDescription
        loop.schedule(after: .zero) { [unowned self] _ in self.deliver(.membership(id, change, client: client)) }
        let term = view.term
        return .hold(timeout: driver.settings.membershipChangeWait + .seconds(5), onTimeout: PreparedResponse(
            status: 503, headers: commonHeaders(term: term),
            body: Array("{\"changed\":null,\"reason\":\"the agent did not answer in time\",\"term\":\(term)}\n".utf8)))
    }
}
