// GET /metrics: Prometheus text exposition (format 0.0.4) through swift-prometheus.
// Names and types follow Prometheus conventions: base units (seconds), `_total` for
// counters, one metric per meaning with labels for the dimension.
import AgentLogging
import HTTPServer
import PeerTransport
import Posix
import Prometheus
import RaftCore

/// AgentMetrics owns the registry and the metrics updated as things happen; gauges of
/// state (in office, term, reachability) are set when scraped, from the state itself.
final class AgentMetrics {
    let registry = PrometheusCollectorRegistry()
    let isLeader: Gauge
    let term: Gauge
    let elections: Counter
    let officeChanges: Counter
    let heartbeatRTT: ValueHistogram
    let longPollWaiters: Gauge
    let storageOK: Gauge
    private(set) var peerReachable: [String: Gauge] = [:]
    /// requests by status code, made on first use (a handful of codes exist).
    private var requests: [Int: Counter] = [:]
    private var buffer: [UInt8] = []

    /// Hook metrics by hook name (on-promote, on-demote, on-change, leader-unit), made
    /// on a hook's first run; the check's metrics only when a check is configured.
    private var hookRuns: [String: Counter] = [:]
    private var hookFailures: [String: Counter] = [:]
    private var hookDuration: [String: ValueHistogram] = [:]
    private var checkHealthy: Gauge?
    private var checkFailures: Counter?
    private var checkFailuresSeen: UInt64 = 0

    // The log (issue 15 item 3, issue 17 point 4): lines lost to a stalled standard
    // error, and lines held back by the rate limit; counted by the log, copied at scrape.
    let logLinesDropped: Counter
    let logLinesSuppressed: Counter
    private var logDroppedSeen: UInt64 = 0
    private var logSuppressedSeen: UInt64 = 0

    init(peers: [String]) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        isLeader = registry.makeGauge(descriptor: name("is_leader", "", "1 while this node is in office (lease checked at scrape time), else 0."))
        term = registry.makeGauge(descriptor: name("term", "", "The current Raft term: the fencing token."))
        elections = registry.makeCounter(descriptor: name("elections", "total", "Elections this node started (became candidate)."))
        officeChanges = registry.makeCounter(descriptor: name("office_changes", "total", "Times this node entered or left office."))
        heartbeatRTT = registry.makeValueHistogram(
            descriptor: name("heartbeat_rtt", "seconds", "Round trip of the leader's heartbeats to each peer, from the echoed send time."),
            buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
        longPollWaiters = registry.makeGauge(descriptor: name("long_poll_waiters", "", "GET /leader long-polls currently held."))
        storageOK = registry.makeGauge(descriptor: name("storage_ok", "", "1 while the data dir accepts durable writes, else 0."))
        logLinesDropped = registry.makeCounter(descriptor: name(
            "log_lines_dropped", "total", "Log lines dropped because standard error did not take them (a stalled journald or pipe)."))
        logLinesSuppressed = registry.makeCounter(descriptor: name(
            "log_lines_suppressed", "total", "Log lines held back by the per-cause rate limit (each counted in a 'repeated' line)."))
        for p in peers {
            peerReachable[p] = registry.makeGauge(
                descriptor: name("peer_reachable", "", "1 while an authenticated connection to the peer is up, else 0."),
                labels: [("peer", p)])
        }
    }

    func countResponse(_ status: Int) {
        if let c = requests[status] { c.increment(); return }
        let c = registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "baton", metricName: "http_requests", unitName: "total",
                                             helpText: "HTTP answers of the agent's API, by status code."),
            labels: [("code", "\(status)")])
        requests[status] = c
        c.increment()
    }

    /// recordHook counts one finished hook run (a unit job counts as the `leader-unit` hook).
    func recordHook(_ hook: String, succeeded: Bool, duration: Interval) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        if hookRuns[hook] == nil {
            hookRuns[hook] = registry.makeCounter(descriptor: name("hook_runs", "total", "Hook runs that finished, by hook."), labels: [("hook", hook)])
            hookFailures[hook] = registry.makeCounter(
                descriptor: name("hook_failures", "total", "Hook runs that failed (non-zero exit, signal, timeout, not started), by hook."),
                labels: [("hook", hook)])
            hookDuration[hook] = registry.makeValueHistogram(
                descriptor: name("hook_duration", "seconds", "How long hook runs took, by hook."),
                labels: [("hook", hook)], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120])
        }
        hookRuns[hook]!.increment()
        if !succeeded { hookFailures[hook]!.increment() }
        hookDuration[hook]!.record(Double(duration.nanoseconds) / 1e9)
    }

    /// updateCheck sets the check's gauges from its state (at scrape time).
    func updateCheck(healthy: Bool, failures: UInt64) {
        if checkHealthy == nil {
            checkHealthy = registry.makeGauge(descriptor: MetricNameDescriptor(
                namespace: "baton", metricName: "check_healthy", unitName: "", helpText: "1 while the application check passes, else 0."))
            checkFailures = registry.makeCounter(descriptor: MetricNameDescriptor(
                namespace: "baton", metricName: "check_failures", unitName: "total", helpText: "Application check runs that failed."))
        }
        checkHealthy!.set(Int64(healthy ? 1 : 0))
        if failures > checkFailuresSeen { checkFailures!.increment(by: Int64(failures - checkFailuresSeen)); checkFailuresSeen = failures }
    }

    /// updateLog copies the log's counters.
    func updateLog(_ log: AgentLog) {
        if log.droppedLines > logDroppedSeen { logLinesDropped.increment(by: Int64(log.droppedLines - logDroppedSeen)); logDroppedSeen = log.droppedLines }
        if log.suppressedLines > logSuppressedSeen {
            logLinesSuppressed.increment(by: Int64(log.suppressedLines - logSuppressedSeen)); logSuppressedSeen = log.suppressedLines
        }
    }

    /// render writes the exposition text.
    func render() -> [UInt8] {
        buffer.removeAll(keepingCapacity: true)
        registry.emit(into: &buffer)
        return buffer
    }
}

extension Agent {
    func metricsAnswer() -> PreparedResponse {
        let m = apiState.metrics
        m.isLeader.set(Int64(isInOffice(at: now()) ? 1 : 0))
        m.term.set(Int64(raft.term))
        m.longPollWaiters.set(Int64(apiState.longPoll.count))
        m.storageOK.set(Int64(storageError == nil ? 1 : 0))
        if let c = checkStatus { m.updateCheck(healthy: c.healthy, failures: c.failures) }
        m.updateLog(log)
        for (peer, gauge) in m.peerReachable { gauge.set(Int64(transport.stats[peer]?.connected == true ? 1 : 0)) }
        return PreparedResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                headers: perRequestHeaders(), body: m.render())
    }
}
