// POST /resign[?to=ID]: a planned hand-over through leadership transfer, answered once
// the successor is known (a leader of a higher term is heard) or the transfer failed.
import AgentLogging
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import Hooks
import PeerTransport
import Posix
import RaftCore

/// ResignWaiter is a held `POST /resign` waiting for its successor.
struct ResignWaiter {
    var held: HeldRequest
    /// term is the term of the office this node left.
    var term: Term
    var start: Instant
}

extension Agent {
    /// resignWait bounds the wait for a successor: the demote hook runs first (up to
    /// its timeout and kill grace), then the core gives the transfer one election
    /// timeout (max) before it steps down, and an ordinary election may take about one more.
    var resignWait: Interval {
        settings.raft.electionTimeoutMax * 2 + .milliseconds(100) + settings.hooks.hookTimeout + HookProcess.defaultKillGrace
    }

    func resign(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        let term = raft.term
        switch apiState.access.decide(request) {
        case .allowed: break
        case .unauthorized:
            return .respond(PreparedResponse(
                status: 401, headers: commonHeaders(term: term) + [("WWW-Authenticate", "Bearer realm=\"baton\"")],
                body: Array("{\"reason\":\"admin endpoints need 'Authorization: Bearer TOKEN' with the token of --admin-token-file\",\"term\":\(term)}\n".utf8)))
        case .crossSite(let why):
            return .respond(PreparedResponse(
                status: 403, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\(AgentLog.json("refused as a possible cross-site request: " + why)),\"term\":\(term)}\n".utf8)))
        case .forbidden:
            return .respond(PreparedResponse(
                status: 403, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\"the API listens beyond loopback and no --admin-token-file is set, so admin endpoints are refused; set --admin-token-file or listen on 127.0.0.1\",\"term\":\(term)}\n".utf8)))
        }
        var target: NodeID? = nil
        if request.queryValue("to") == .invalid {
            return .respond(badRequest("to: not a valid percent-encoded UTF-8 member name"))
        }
        if let to = request.queryParameter("to") {
            guard let id = idOf[to] else {
                return .respond(badRequest("to: '\(to)' is not a member (\(settings.members.map(\.name).joined(separator: ", ")))"))
            }
            guard id != me else { return .respond(badRequest("to: '\(to)' is this node; name another member or leave 'to' out")) }
            target = id
        }
        guard isInOffice(at: now()) else {
            let leader = raft.leader.flatMap { $0 == me ? nil : nameOf[$0] }
            return .respond(PreparedResponse(
                status: 409, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\"this node is not in office; ask the leader\",\"leader\":\(leader.map { leaderJSON($0) } ?? "null"),\"term\":\(term)}\n".utf8)))
        }
        guard settings.members.count > 1 else {
            return .respond(PreparedResponse(
                status: 409, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\"this is the only member: there is nobody to hand over to\",\"term\":\(term)}\n".utf8)))
        }
        let officeTerm = raft.office?.term ?? term
        let toName = target.flatMap { nameOf[$0] } ?? "most up-to-date member"
        log.event("resign-requested", .notice, "hand-over requested by \(request.clientDescription) (to \(toName))",
                  [("to", .string(toName)), ("client", .string(request.clientDescription))], .always, term: officeTerm)
        // The demote hook runs now (AgentHooks); TimeoutNow follows its end.
        step(.transferLeadership(to: target, reason: .transfer))
        if isInOffice(at: now()) {
            // The core refused: nobody would take over, and nothing changed.
            let who = target.flatMap { nameOf[$0] }.map { "'\($0)' cannot" } ?? "no other member can"
            log.event("resign-refused", .warning, "hand-over refused: \(who) take over now",
                      [("to", .string(target.flatMap { nameOf[$0] } ?? "any")), ("client", .string(request.clientDescription))], .always, term: officeTerm)
            return .respond(PreparedResponse(
                status: 409, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\"\(who) take over now: a witness never leads, and a member whose start-up hook is running or whose check fails holds back (see can_lead in GET /status); this node stays leader\",\"term\":\(term)}\n".utf8)))
        }
        if let answer = resignOutcome(term: officeTerm) { return .respond(answer) }
        apiState.resigns.append(ResignWaiter(held: request.held, term: officeTerm, start: Clock.now()))
        return .hold(timeout: resignWait, onTimeout: responses.none)
    }

    /// resignOutcome is the answer once a leader of a term above `term` is known, else nil.
    func resignOutcome(term: Term) -> PreparedResponse? {
        guard raft.term > term, let successor = raft.leader else { return nil }
        if successor == me {
            return PreparedResponse(
                status: 503, headers: commonHeaders(term: raft.term),
                body: Array("{\"resigned\":false,\"term\":\(term),\"successor\":\(AgentLog.json(settings.id)),\"reason\":\"the hand-over failed and this node was elected again\"}\n".utf8))
        }
        return PreparedResponse(
            status: 200, headers: commonHeaders(term: raft.term),
            body: Array("{\"resigned\":true,\"term\":\(term),\"successor\":\(AgentLog.json(nameOf[successor] ?? "")),\"successor_term\":\(raft.term)}\n".utf8))
    }

    func resignFailed(_ waiter: ResignWaiter, reason: String) -> PreparedResponse {
        let inOffice = isInOffice(at: now())
        return PreparedResponse(
            status: 503, headers: commonHeaders(term: raft.term),
            body: Array("{\"resigned\":\(!inOffice),\"term\":\(waiter.term),\"successor\":null,\"reason\":\(AgentLog.json(reason))}\n".utf8))
    }

    /// answerResignWaiters completes held resignations whose successor is now known.
    func answerResignWaiters() {
        guard !apiState.resigns.isEmpty, let server = apiState.server else { return }
        var i = 0
        while i < apiState.resigns.count {
            let w = apiState.resigns[i]
            if let answer = resignOutcome(term: w.term) {
                apiState.resigns.remove(at: i)
                if server.complete(w.held, with: answer) {
                    countStatus(answer.status, .resign)
                    let ms = (Clock.now() - w.start).wholeMilliseconds
                    log.event("resign-answered", .info, "answered the hand-over request: \(answer.status) after \(ms) ms",
                              [("status", .number(answer.status)), ("after_ms", .number(ms))], .always)
                }
            } else {
                i += 1
            }
        }
    }
}
