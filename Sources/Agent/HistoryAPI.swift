// GET /history[?since=TERM&limit=N] (issue 16): the replicated leadership history —
// office changes, the leader's hook outcomes, pauses and resumes — the same list on
// every member (the view's copy of the replicated state), oldest first.
import AgentDriver
import AgentLogging
import HTTPParser
import HTTPServer
import RaftCore

extension Agent {
    func registerHistoryRoutes(on server: HTTPServer) {
        server.route(.get, "/history") { [unowned self] request in self.counted(.history, .respond(self.historyAnswer(request))) }
    }

    func historyAnswer(_ request: borrowing HTTPRequest) -> PreparedResponse {
        var since: Term = 0
        var limit = Int.max
        switch request.queryValue("since") {
        case .absent: break
        case .invalid: return badRequest("since: not valid percent-encoded UTF-8")
        case .value(let text):
            guard let t = UInt64(text) else { return badRequest("since must be a term (a whole number ≥ 0); got '\(text)'") }
            since = t
        }
        switch request.queryValue("limit") {
        case .absent: break
        case .invalid: return badRequest("limit: not valid percent-encoded UTF-8")
        case .value(let text):
            guard let n = Int(text), n >= 1, n <= 100_000 else { return badRequest("limit must be a whole number from 1 to 100000; got '\(text)'") }
            limit = n
        }
        let unfiltered = since == 0 && limit == Int.max
        let key = (view.history.count, view.history.last?.index ?? 0, view.term)
        if unfiltered, let c = historyCache, c.count == key.0, c.last == key.1, c.term == key.2 {
            return PreparedResponse(status: 200, headers: perRequestHeaders(), body: c.body)
        }
        let chosen = view.history.filter { Self.term(of: $0) >= since }.suffix(limit)
        var body = "{\"history\":["
        var first = true
        for e in chosen {
            if !first { body += "," }
            first = false
            body += Self.historyJSON(e)
        }
        body += "],\"count\":\(chosen.count),\"kept_max\":\(ReplicatedStateLimits.historyLimit),\"term\":\(view.term)}\n"
        let bytes = Array(body.utf8)
        if unfiltered { historyCache = (key.0, key.1, key.2, bytes) }
        return PreparedResponse(status: 200, headers: perRequestHeaders(), body: bytes)
    }

    /// term(of:) is the office term a record is about (the entry's term for a pause).
    static func term(of e: HistoryEntry) -> Term {
        switch e.record {
        case .office(let o): o.term
        case .hook(let h): h.term
        case .pause, .resume, .handoverScheduled, .handoverEnded: e.term
        }
    }

    static func historyJSON(_ e: HistoryEntry) -> String {
        func text(_ s: String) -> String { s.isEmpty ? "null" : AgentLog.json(s) }
        func ms(_ v: Int64) -> String { v == 0 ? "null" : "\(v)" }
        let head = "{\"index\":\(e.index),\"term\":\(term(of: e))"
        switch e.record {
        case .office(let o):
            return head + ",\"event\":\"\(o.event.name)\",\"member\":\(AgentLog.json(o.member)),\"previous\":\(text(o.previous))"
                + ",\"reason\":\(text(o.reason)),\"by\":\(text(o.by)),\"unix_ms\":\(ms(o.wallMs)),\"boottime_ns\":\(o.bootNs)}"
        case .hook(let h):
            return head + ",\"event\":\"hook\",\"member\":\(AgentLog.json(h.member)),\"hook\":\(AgentLog.json(h.hook))"
                + ",\"exit_code\":\(h.exitCode.map { "\($0)" } ?? "null"),\"duration_ms\":\(h.durationMs)"
                + ",\"timed_out\":\(h.timedOut),\"result\":\(AgentLog.json(h.summary))}"
        case .pause(let p):
            return head + ",\"event\":\"pause\",\"by\":\(text(p.by)),\"reason\":\(text(p.reason)),\"unix_ms\":\(ms(p.requestedWallMs))"
                + ",\"until_unix_ms\":\(ms(p.untilWallMs)),\"duration_ms\":\(p.duration.nanoseconds / 1_000_000)}"
        case .resume(let r):
            return head + ",\"event\":\"resume\",\"by\":\(text(r.by)),\"reason\":\(text(r.reason)),\"unix_ms\":\(ms(r.wallMs))}"
        case .handoverScheduled(let s):
            return head + ",\"event\":\"handover-scheduled\",\"member\":\(AgentLog.json(s.target)),\"by\":\(text(s.by))"
                + ",\"unix_ms\":\(ms(s.requestedWallMs)),\"at_unix_ms\":\(ms(s.atWallMs)),\"delay_ms\":\(s.delay.nanoseconds / 1_000_000)}"
        case .handoverEnded(let h):
            return head + ",\"event\":\"handover-\(h.outcome.name)\",\"member\":\(AgentLog.json(h.target)),\"reason\":\(text(h.reason))"
                + ",\"by\":\(text(h.by)),\"unix_ms\":\(ms(h.wallMs)),\"scheduled_index\":\(h.scheduleIndex)}"
        }
    }
}
