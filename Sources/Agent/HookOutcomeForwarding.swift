// A member's own hook outcomes in the history (issue 16): `POST /history/hooks` on the
// leader takes another member's outcomes (its demote run, after it left office) for the
// driver to log; a follower sends the ones the history does not hold yet
// (`view.hookOutcomesToForward`) to the leader it knows, one request at a time on a
// thread of its own (the send resolves and blocks), again every second until the
// history shows them. The leader skips what it holds, so a retry never duplicates.
// The request is an admin request: it carries this node's admin token when it has one;
// without one it is accepted only by a leader whose API listens on loopback.
import AgentConfig
import AgentDriver
import AgentLogging
import BlockingHTTP
import EventLoop
import HTTPParser
import HTTPServer
import JSON
import Posix
import RaftCore

/// HookOutcomeForwarding is where this member's forwarding stands.
struct HookOutcomeForwarding {
    var inFlight = false
    var nextAt: Instant = .distantPast
    var retryTimer: TimerID? = nil
    /// lastFailure: the last failure logged, so a leader that keeps refusing is logged once.
    var lastFailure = ""
    /// failingSince: when sends began to fail (nil after a success, a new leader or new
    /// outcomes); past `giveUpAfter` this member stops sending until one of those.
    var failingSince: Instant? = nil
    var failingFor: (leader: String, count: Int) = ("", 0)
    /// giveUpAfter bounds the retries: a leader that refuses for this long (an older
    /// release without the endpoint answers 404; a token that differs, 401) will not
    /// take them, and sending every second for ever would only load it.
    static let giveUpAfter = Interval.seconds(300)
    /// retryEvery: the pause between sends (the history shows a record within a few
    /// heartbeats; sending it again sooner would only be skipped).
    static let retryEvery = Interval.seconds(1)
    static let timeoutMs = 2_000
}

extension Agent {
    func registerHookOutcomeRoute(on server: HTTPServer) {
        server.route(.post, "/history/hooks") { [unowned self] request in self.counted(.historyHooks, self.hookOutcomes(request)) }
    }

    /// hookOutcomesBodyBytesMax bounds the body: 16 outcomes with 512-byte texts fit.
    static let hookOutcomesBodyBytesMax = 32 * 1024

    /// hookOutcomes: `POST /history/hooks` with `{"outcomes": [{"term", "member", "hook",
    /// "exit_code", "duration_ms", "timed_out", "result"}, …]}`.
    func hookOutcomes(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        if let refusal = adminRefusal(request) { return .respond(refusal) }
        let max = Self.hookOutcomesBodyBytesMax
        guard request.body.count <= max else { return .respond(badRequest("the body is over \(max) bytes")) }
        let body: JSONValue
        do { body = try JSONValue.parse(request.body, limits: JSONLimits(documentBytesMax: max, depthMax: 3)) }
        catch { return .respond(badRequest("the body must be a JSON object {\"outcomes\": [...]}: \(error)")) }
        guard let items = body["outcomes"].array, body.members?.count == 1 else {
            return .respond(badRequest("the body must be a JSON object with one field, 'outcomes' (a list)"))
        }
        guard (1...HookOutcomeLimits.perRequest).contains(items.count) else {
            return .respond(badRequest("outcomes: 1 to \(HookOutcomeLimits.perRequest) records; got \(items.count)"))
        }
        var records: [HookRecord] = []
        for (i, o) in items.enumerated() {
            guard let term = o["term"].uint64, term >= 1, let member = o["member"].string, !member.isEmpty,
                  let hook = o["hook"].string, HookOutcomeLimits.hooks.contains(hook),
                  let ms = o["duration_ms"].int64, ms >= 0, let timedOut = o["timed_out"].bool, let result = o["result"].string,
                  o.has("exit_code"), o["exit_code"] == .null || o["exit_code"].int64 != nil else {
                return .respond(badRequest("outcomes[\(i)]: needs term (≥ 1), member, hook (\(HookOutcomeLimits.hooks.sorted().joined(separator: ", "))), exit_code (a number or null), duration_ms, timed_out and result"))
            }
            records.append(HookRecord(term: term, member: member, hook: hook, exitCode: o["exit_code"].int64,
                                      durationMs: ms, timedOut: timedOut, summary: result))
        }
        let client = request.clientDescription
        return holdControl(request, .historyHooks) { id in .hookOutcomes(id, records, client: client) }
    }

    /// forwardHookOutcomesIfDue sends this member's outcomes the history lacks to the
    /// leader, unless a send is under way or the last one was under a second ago.
    func forwardHookOutcomesIfDue() {
        let outcomes = view.hookOutcomesToForward
        guard !outcomes.isEmpty, !apiState.forwarding.inFlight else { return }
        let now = now()
        if let leader = view.leader, gaveUp(leader: leader, count: outcomes.count, now: now) { return }
        guard now >= apiState.forwarding.nextAt,
              let leader = view.leader, leader != settings.id,
              let api = view.peer(leader)?.apiAddress ?? view.members.first(where: { $0.name == leader })?.apiAddress,
              let target = try? HostPort(parsing: api, flag: "api") else {
            return scheduleForwardRetry()
        }
        apiState.forwarding.inFlight = true
        let body = Array(JSONValue.object([JSONValue.Member("outcomes", .array(outcomes.map(Self.outcomeJSON)))]).serialized().utf8)
        let headers = [("Content-Type", "application/json")]
            + (apiState.access.token.map { [("Authorization", "Bearer " + String(decoding: $0, as: UTF8.self))] } ?? [])
        let remote = loop.remote
        nonisolated(unsafe) let agent = self
        do {
            _ = try PosixThread.spawn {
                let result = BlockingHTTP.request("POST", "/history/hooks", host: target.host, port: target.port, headers: headers,
                                                  body: body, timeoutMs: HookOutcomeForwarding.timeoutMs, userAgent: "baton-agent")
                remote.post { _ in agent.hookOutcomesSent(result, to: leader, count: outcomes.count) }
            }
        } catch {
            hookOutcomesSent(.failure(BlockingHTTPError(message: "cannot start a thread: \(error)")), to: leader, count: outcomes.count)
        }
    }

    private func hookOutcomesSent(_ result: Result<HTTPClientMessage.Answer, BlockingHTTPError>, to leader: String, count: Int) {
        apiState.forwarding.inFlight = false
        apiState.forwarding.nextAt = now() + HookOutcomeForwarding.retryEvery
        let failure: String
        switch result {
        case .success(let a) where a.status == 200:
            failure = ""
            log.event("hook-outcomes-sent", .info, "sent \(count) hook outcome(s) of this node to the leader \(leader) for the history",
                      [("leader", .string(leader)), ("count", .number(count))])
        case .success(let a):
            failure = "\(a.status): \((try? JSONValue.parse(a.bodyText))?["reason"].string ?? a.bodyText)"
        case .failure(let e):
            failure = e.message
        }
        if failure.isEmpty {
            apiState.forwarding.failingSince = nil
        } else if apiState.forwarding.failingSince == nil {
            apiState.forwarding.failingSince = now()
            apiState.forwarding.failingFor = (leader, count)
        }
        if !failure.isEmpty && failure != apiState.forwarding.lastFailure {
            log.event("hook-outcomes-not-sent", .warning, "the leader \(leader) did not take this node's hook outcomes for the history (retrying every second): \(failure)",
                      [("leader", .string(leader)), ("failure", .string(failure))], .always)
        }
        apiState.forwarding.lastFailure = failure
        scheduleForwardRetry()
    }

    /// gaveUp: sends to this leader have failed for `giveUpAfter` with the same
    /// outcomes waiting (logged once); a new leader or a new outcome starts again.
    private func gaveUp(leader: String, count: Int, now: Instant) -> Bool {
        guard let since = apiState.forwarding.failingSince else { return false }
        guard apiState.forwarding.failingFor == (leader, count) else {
            apiState.forwarding.failingSince = nil
            return false
        }
        guard now >= since + HookOutcomeForwarding.giveUpAfter else { return false }
        if apiState.forwarding.lastFailure != "gave up" {
            apiState.forwarding.lastFailure = "gave up"
            log.event("hook-outcomes-given-up", .warning, "the leader \(leader) has not taken this node's \(count) hook outcome(s) for \(HookOutcomeForwarding.giveUpAfter.formatted): no longer sending them until the leader changes or another outcome comes",
                      [("leader", .string(leader)), ("count", .number(count))], .always)
        }
        return true
    }

    private func scheduleForwardRetry() {
        guard apiState.forwarding.retryTimer == nil, !view.hookOutcomesToForward.isEmpty else { return }
        apiState.forwarding.retryTimer = loop.schedule(after: HookOutcomeForwarding.retryEvery) { [unowned self] _ in
            self.apiState.forwarding.retryTimer = nil
            self.forwardHookOutcomesIfDue()
        }
    }

    static func outcomeJSON(_ r: HookRecord) -> JSONValue {
        .object([JSONValue.Member("term", .number("\(r.term)")), JSONValue.Member("member", .string(r.member)),
                 JSONValue.Member("hook", .string(r.hook)), JSONValue.Member("exit_code", r.exitCode.map { .number("\($0)") } ?? .null),
                 JSONValue.Member("duration_ms", .number("\(r.durationMs)")), JSONValue.Member("timed_out", .bool(r.timedOut)),
                 JSONValue.Member("result", .string(r.summary))])
    }
}
