// POST /pause and POST /resume (issue 16): the maintenance pause, an admin request the
// driver logs through the leader and answers once committed; the pause as /status,
// /health, /metrics and sd_notify show it.
import AgentConfig
import AgentDriver
import AgentLogging
import HTTPParser
import HTTPServer
import JSON
import Posix
import Glibc
import EventLoop
import RaftCore

extension Agent {
    func registerPauseRoutes(on server: HTTPServer) {
        server.route(.post, "/pause") { [unowned self] request in self.counted(.pause, self.pause(request)) }
        server.route(.post, "/resume") { [unowned self] request in self.counted(.resume, self.resume(request)) }
        registerHistoryRoutes(on: server)
        registerHookOutcomeRoute(on: server)
    }

    /// pauseBodyBytesMax bounds a pause request's body (a duration and a reason).
    static let pauseBodyBytesMax = 2_048

    /// pause: `POST /pause` with an optional `{"for": "30m", "reason": "TEXT"}`.
    func pause(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        guard request.body.count <= Self.pauseBodyBytesMax else {
            return .respond(badRequest("the body is over \(Self.pauseBodyBytesMax) bytes"))
        }
        var duration: Interval? = nil
        var reason = ""
        if !request.body.isEmpty {
            let body: JSONValue
            do { body = try JSONValue.parse(request.body, limits: JSONLimits(documentBytesMax: Self.pauseBodyBytesMax, depthMax: 2)) }
            catch { return .respond(badRequest("the body must be a JSON object: \(error)")) }
            guard let fields = body.members else { return .respond(badRequest("the body must be a JSON object with 'for' and 'reason'")) }
            if let extra = fields.first(where: { $0.name != "for" && $0.name != "reason" }) {
                return .respond(badRequest("unknown field '\(extra.name)' (fields: for, reason)"))
            }
            if body.has("for") {
                guard let text = body["for"].string else { return .respond(badRequest("for must be a duration string such as \"30m\" or \"2h\"")) }
                do { duration = try parseDuration(text, flag: "for") } catch { return .respond(badRequest(error.message)) }
            }
            if body.has("reason") {
                guard let text = body["reason"].string else { return .respond(badRequest("reason must be a string")) }
                reason = text
            }
        }
        let client = request.clientDescription
        return holdControl(request, .pause) { id in .pause(id, duration: duration, reason: reason, client: client) }
    }

    /// resume: `POST /resume` — on any member.
    func resume(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        let client = request.clientDescription
        return holdControl(request, .resume) { id in .resume(id, client: client) }
    }

    /// holdControl holds an admin request the driver answers once its entry commits.
    func holdControl(_ request: borrowing HTTPRequest, _ route: APIRoute,
                             _ input: @escaping (RequestID) -> DriverInput) -> HTTPHandlerResult {
        let id = apiState.nextRequest
        apiState.nextRequest += 1
        apiState.heldActions[id] = (request.held, route)
        loop.schedule(after: .zero) { [unowned self] _ in self.deliver(input(id)) }
        let term = view.term
        return .hold(timeout: driver.settings.membershipChangeWait + .seconds(5), onTimeout: PreparedResponse(
            status: 503, headers: commonHeaders(term: term),
            body: Array("{\"changed\":null,\"reason\":\"the agent did not answer in time\",\"term\":\(term)}\n".utf8)))
    }

    /// pauseJSON is the `pause` object of /status: null when not paused.
    func pauseJSON(at now: Instant) -> String {
        guard let p = view.pause else { return "null" }
        return "{\"paused\":true,\"committed\":\(p.committed),\"index\":\(p.index),\"by\":\(AgentLog.json(p.by))"
            + ",\"reason\":\(AgentLog.json(p.reason)),\"since_unix_ms\":\(p.requestedWallMs == 0 ? "null" : "\(p.requestedWallMs)")"
            + ",\"until_unix_ms\":\(p.untilWallMs == 0 ? "null" : "\(p.untilWallMs)")"
            + ",\"remaining_ms\":\(max(0, (p.endsAt - now).nanoseconds / 1_000_000))}"
    }

    /// wallClockMs is the wall clock for what the log records (a pause's end).
    static func wallClockMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
