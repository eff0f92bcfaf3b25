// POST /resign[?to=ID]: a planned hand-over through leadership transfer. The handler
// checks who may ask, then holds the request and hands the driver a `resign` input on
// the next loop turn (never from inside the handler); the driver answers through its
// responder port once the successor is known, the core refused, or the wait ran out.
import AgentDriver
import AgentLogging
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import RaftCore

extension AgentShell {
    /// adminRefusal is the answer to an admin request its caller may not make (401 no or
    /// a wrong token, 403 cross-site or beyond loopback without a token), nil when allowed.
    func adminRefusal(_ request: borrowing HTTPRequest) -> PreparedResponse? {
        let term = view.term
        switch apiState.access.decide(request) {
        case .allowed: return nil
        case .unauthorized:
            return PreparedResponse(
                status: 401, headers: commonHeaders(term: term) + [("WWW-Authenticate", "Bearer realm=\"baton\"")],
                body: Array("{\"reason\":\"admin endpoints need 'Authorization: Bearer TOKEN' with the token of --admin-token-file\",\"term\":\(term)}\n".utf8))
        case .crossSite(let why):
            return PreparedResponse(
                status: 403, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\(AgentLog.json("refused as a possible cross-site request: " + why)),\"term\":\(term)}\n".utf8))
        case .forbidden:
            return PreparedResponse(
                status: 403, headers: commonHeaders(term: term),
                body: Array("{\"reason\":\"the API listens beyond loopback and no --admin-token-file is set, so admin endpoints are refused; set --admin-token-file or listen on 127.0.0.1\",\"term\":\(term)}\n".utf8))
        }
    }

    func resign(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        let term = view.term
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        if request.queryValue("to") == .invalid {
            return .respond(badRequest("to: not a valid percent-encoded UTF-8 member name"))
        }
        let id = apiState.nextRequest
        apiState.nextRequest += 1
        apiState.heldActions[id] = (request.held, .resign)
        let to = request.queryParameter("to")
        let client = request.clientDescription
        loop.schedule(after: .zero) { [unowned self] _ in self.deliver(.resign(id, to: to, client: client)) }
        // The driver answers within its own bound; the hold's timeout is only a net.
        let wait = min(resignWait + .seconds(5), LongPollWaiters.waitMax)
        return .hold(timeout: wait, onTimeout: PreparedResponse(
            status: 503, headers: commonHeaders(term: term),
            body: Array("{\"resigned\":false,\"successor\":null,\"reason\":\"the agent did not answer in time\",\"term\":\(term)}\n".utf8)))
    }

    /// answerHeld queues the driver's answer; it is written once the driver's input is
    /// done and the view is current (its headers name the term and leader then).
    func answerHeld(_ request: RequestID, _ answer: ApiAnswer) {
        pendingAnswers.append((request, answer))
    }

    /// completeAnswers writes the queued answers to their held requests.
    func completeAnswers() {
        guard !pendingAnswers.isEmpty else { return }
        let answers = pendingAnswers
        pendingAnswers.removeAll()
        for (request, answer) in answers {
            guard let (held, route) = apiState.heldActions.removeValue(forKey: request), let server = apiState.server else { continue }
            let response = PreparedResponse(status: answer.status, headers: commonHeaders(term: view.term), body: Array(json(answer).utf8))
            if server.complete(held, with: response) { countStatus(answer.status, route) }
        }
    }

    /// json writes an answer's fields as one JSON object and a newline.
    func json(_ answer: ApiAnswer) -> String {
        var out = "{"
        for (i, f) in answer.fields.enumerated() {
            if i > 0 { out += "," }
            out += AgentLog.json(f.key) + ":"
            switch f.value {
            case .string(let s): out += AgentLog.json(s)
            case .int(let n): out += "\(n)"
            case .bool(let b): out += b ? "true" : "false"
            case .null: out += "null"
            case .member(let name): out += leaderJSON(name)
            }
        }
        return out + "}\n"
    }
}
