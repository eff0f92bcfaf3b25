// POST /handover and DELETE /handover (issue 16): schedule a hand-over to a member at a
// moment (`baton resign --to NAME --at TIME | --in DURATION`) or cancel it (`baton
// resign --cancel`); admin requests the driver logs through the leader and answers once
// committed (AgentDriver/ScheduledHandover.swift). The schedule as /status shows it.
import AgentConfig
import AgentDriver
import AgentLogging
import EventLoop
import HTTPParser
import HTTPServer
import JSON
import RaftCore

extension Agent {
    func registerHandoverRoutes(on server: HTTPServer) {
        server.route(.post, "/handover") { [unowned self] request in self.counted(.handover, self.scheduleHandover(request)) }
        server.route(.delete, "/handover") { [unowned self] request in self.counted(.handover, self.cancelHandover(request)) }
    }

    /// handoverBodyBytesMax bounds a schedule request's body (a name and a time).
    static let handoverBodyBytesMax = 1_024

    /// scheduleHandover: `POST /handover` with `{"to": NAME, "at": RFC 3339}` or
    /// `{"to": NAME, "in": DURATION}`.
    func scheduleHandover(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        guard request.body.count <= Self.handoverBodyBytesMax else {
            return .respond(badRequest("the body is over \(Self.handoverBodyBytesMax) bytes"))
        }
        let body: JSONValue
        do { body = try JSONValue.parse(request.body, limits: JSONLimits(documentBytesMax: Self.handoverBodyBytesMax, depthMax: 2)) }
        catch { return .respond(badRequest("the body must be a JSON object with 'to' and one of 'at' or 'in': \(error)")) }
        guard let fields = body.members else { return .respond(badRequest("the body must be a JSON object with 'to' and one of 'at' or 'in'")) }
        if let extra = fields.first(where: { !["to", "at", "in"].contains($0.name) }) {
            return .respond(badRequest("unknown field '\(extra.name)' (fields: to, at, in)"))
        }
        guard let to = body["to"].string, !to.isEmpty else { return .respond(badRequest("to: the member to hand over to is required (a name)")) }
        let moment: HandoverMoment
        switch (body.has("at"), body.has("in")) {
        case (true, true): return .respond(badRequest("give one of 'at' (a time) and 'in' (a duration), not both"))
        case (false, false): return .respond(badRequest("give when: 'at' (RFC 3339, e.g. 2026-12-07T19:00:00Z) or 'in' (a duration, e.g. 10m)"))
        case (true, false):
            guard let text = body["at"].string else { return .respond(badRequest("at must be a string: an RFC 3339 time such as \"2026-12-07T19:00:00Z\"")) }
            do { moment = .at(wallMs: try parseWallTime(text, flag: "at")) } catch { return .respond(badRequest(error.description)) }
        case (false, true):
            guard let text = body["in"].string else { return .respond(badRequest("in must be a duration string such as \"30s\" or \"2h\"")) }
            do { moment = .after(try parseDuration(text, flag: "in")) } catch { return .respond(badRequest(error.description)) }
        }
        let client = request.clientDescription
        return holdControl(request, .handover) { id in .scheduleHandover(id, to: to, at: moment, client: client) }
    }

    /// cancelHandover: `DELETE /handover`.
    func cancelHandover(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        let client = request.clientDescription
        return holdControl(request, .handover) { id in .cancelHandover(id, client: client) }
    }

    /// handoverJSON is the `handover` object of /status: null when none is scheduled.
    func handoverJSON(at now: Instant) -> String {
        guard let h = view.scheduledHandover else { return "null" }
        func ms(_ v: Int64) -> String { v == 0 ? "null" : "\(v)" }
        return "{\"to\":\(AgentLog.json(h.target)),\"index\":\(h.index),\"by\":\(AgentLog.json(h.by))"
            + ",\"requested_unix_ms\":\(ms(h.requestedWallMs)),\"at_unix_ms\":\(ms(h.atWallMs))"
            + ",\"remaining_ms\":\(max(0, (h.dueAt - now).nanoseconds / 1_000_000))}"
    }
}
