// GET /status and GET /metrics of an agent that elects through etcd: the same answers
// as the Raft agent's where the meaning is the same (role, term = fencing token,
// in_office, leader, lease_remaining_ms, hooks, check), and the engine's own state in
// `etcd`: the endpoints and the one in use, whether etcd answers, the lease's TTL and
// how long etcd is known to keep it, this agent's key and its place in line.
import AgentConfig
import AgentDriver
import AgentLogging
import EtcdClient
import EtcdElection
import EtcdEngine
import HTTPServer
import Posix
import Prometheus
import RaftCore

extension EtcdAgent {
    /// statusAnswer is built per request (an operator's request, not a probe's).
    func statusAnswer() -> PreparedResponse {
        let now = now()
        let lease = view.leaseRemaining(at: now).map { $0.wholeMilliseconds }
        let e = driver.election
        let etcd = settings.etcd!
        func ms(_ i: Interval) -> Int64 { i.wholeMilliseconds }
        func optional(_ v: Int64?) -> String { v.map { "\($0)" } ?? "null" }
        let lastAnswerAgo = e.lastReplyAt.map { ms(now - $0) }
        let reachable = e.lastReplyAt.map { now < $0 + e.options.leaseTTL } ?? false
        let position = e.myKey.flatMap { mine in e.candidates.firstIndex { $0.key == mine.key } }.map { Int64($0 + 1) }
        var engine = "{\"endpoints\":[\(etcd.endpoints.map(AgentLog.json).joined(separator: ","))]"
        engine += ",\"endpoint\":\(AgentLog.json(client.currentEndpoint.description)),\"reachable\":\(reachable)"
        engine += ",\"last_answer_ms_ago\":\(optional(lastAnswerAgo)),\"last_error\":\(e.lastFailure.map(AgentLog.json) ?? "null")"
        engine += ",\"prefix\":\(AgentLog.json(etcd.prefix)),\"lease_ttl_ms\":\(ms(e.lease?.ttl ?? e.options.leaseTTL))"
        engine += ",\"lease_id\":\(e.lease.map { AgentLog.json(String(UInt64(bitPattern: $0.id), radix: 16)) } ?? "null")"
        engine += ",\"lease_confirmed_ms\":\(optional(e.lease.map { max(0, ms($0.confirmedUntil - now)) }))"
        engine += ",\"key\":\(e.myKey.map { AgentLog.json(String(decoding: $0.key, as: UTF8.self)) } ?? "null")"
        engine += ",\"create_revision\":\(optional(e.myKey.map(\.createRevision)))"
        engine += ",\"position_in_line\":\(optional(position)),\"candidates_in_line\":\(e.candidates.count)"
        engine += ",\"calls_in_flight\":\(calls.inFlight),\"calls_started\":\(client.stats.callsStarted)"
        engine += ",\"calls_failed\":\(client.stats.callsFailed),\"endpoint_switches\":\(client.stats.endpointSwitches)}"
        let o = e.options
        var body = "{\"id\":\(AgentLog.json(settings.id)),\"backend\":\"etcd\",\"role\":\"\(view.role.rawValue)\",\"term\":\(view.term)"
        body += ",\"in_office\":\(lease != nil)"
        body += ",\"leader\":\(view.leader.map { leaderJSON($0) } ?? "null")"
        body += ",\"office_since\":\(view.leader != nil ? sinceJSON() : "null")"
        body += ",\"lease_remaining_ms\":\(optional(lease))"
        body += ",\"etcd\":\(engine)"
        body += ",\"long_poll_waiters\":\(apiState.longPoll.count)"
        body += ",\"version\":\(AgentLog.json(Agent.version))"
        body += ",\"config\":{\"backend\":\"etcd\",\"lease_ttl_ms\":\(ms(o.leaseTTL)),\"keepalive_interval_ms\":\(ms(o.effectiveKeepAliveInterval))"
        body += ",\"call_timeout_ms\":\(ms(o.effectiveCallTimeout)),\"max_drift\":\(o.maxDrift),\"margin_ms\":\(ms(o.margin))}"
        for (key, json) in statusSections() { body += ",\(AgentLog.json(key)):\(json)" }
        body += ",\"limits\":{\"http_limited\":{\(httpLimitsJSON())}}"
        body += "}\n"
        return PreparedResponse(status: 200, headers: perRequestHeaders(), body: Array(body.utf8))
    }

    func metricsAnswer() -> PreparedResponse {
        updateSharedMetrics()
        let e = driver.election
        let now = now()
        metrics.update(reachable: e.lastReplyAt.map { now < $0 + e.options.leaseTTL } ?? false, stats: client.stats,
                       candidates: e.candidates.count)
        return renderedMetrics()
    }
}

/// EtcdMetrics are the engine's own metrics, beside the shared ones.
final class EtcdMetrics {
    private let reachable: Gauge
    private let candidates: Gauge
    private let calls: Counter
    private let failures: Counter
    private let switches: Counter
    private var seen: (calls: Int, failures: Int, switches: Int) = (0, 0, 0)

    init(registry: PrometheusCollectorRegistry) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        reachable = registry.makeGauge(descriptor: name("etcd_reachable", "", "1 while etcd answered within a lease TTL, else 0."))
        candidates = registry.makeGauge(descriptor: name("etcd_candidates", "", "Candidates in line for office under the prefix, as this agent knows them."))
        calls = registry.makeCounter(descriptor: name("etcd_calls", "total", "Calls made to etcd (each renewal, read, campaign, watch, revoke)."))
        failures = registry.makeCounter(descriptor: name("etcd_call_failures", "total", "Calls to etcd that failed or timed out."))
        switches = registry.makeCounter(descriptor: name("etcd_endpoint_switches", "total", "Times the client moved to another etcd endpoint."))
    }

    func update(reachable isReachable: Bool, stats: EtcdClient.Stats, candidates count: Int) {
        reachable.set(Int64(isReachable ? 1 : 0))
        candidates.set(Int64(count))
        if stats.callsStarted > seen.calls { calls.increment(by: Int64(stats.callsStarted - seen.calls)) }
        if stats.callsFailed > seen.failures { failures.increment(by: Int64(stats.callsFailed - seen.failures)) }
        if stats.endpointSwitches > seen.switches { switches.increment(by: Int64(stats.endpointSwitches - seen.switches)) }
        seen = (stats.callsStarted, stats.callsFailed, stats.endpointSwitches)
    }
}
