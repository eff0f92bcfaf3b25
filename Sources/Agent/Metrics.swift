// GET /metrics: Prometheus text exposition (format 0.0.4) through swift-prometheus.
// Names and types follow Prometheus conventions: base units (seconds), `_total` for
// counters, one metric per meaning with labels for the dimension.
import AgentLogging
import AgentDriver
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
    /// heartbeatRTT: per peer (made on first use, one per member at most).
    private var heartbeatRTT: [String: ValueHistogram] = [:]
    let longPollWaiters: Gauge
    let storageOK: Gauge
    private(set) var peerReachable: [String: Gauge] = [:]
    /// requests by route and status code, made on first use (a handful of each exist):
    /// keyed `route << 16 | status` so the hot path hashes an Int, not strings.
    private var requests: [Int: Counter] = [:]
    /// The standard-alert metrics (issue 17 point 8), in their own block below.
    let operatorMetrics: OperatorMetrics
    private var buffer: [UInt8] = []

    /// Hook metrics by hook name (on-promote, on-demote, on-change, leader-unit), made
    /// on a hook's first run; the check's metrics only when a check is configured.
    private var hookRuns: [String: Counter] = [:]
    private var hookFailures: [String: Counter] = [:]
    private var hookDuration: [String: ValueHistogram] = [:]
    private var checkHealthy: Gauge?
    private var checkFailures: Counter?
    private var checkFailuresSeen: UInt64 = 0
    private var electionsSeen: UInt64 = 0
    private var officeChangesSeen: UInt64 = 0
    /// Refused peer connections and HTTP limits (the block at the end of this file).
    private(set) lazy var limits = LimitMetrics(registry: registry)
    private(set) lazy var membership = MembershipMetrics(registry: registry)

    // The log (issue 15 item 3, issue 17 point 4): lines lost to a stalled standard
    // error, and lines held back by the rate limit; counted by the log, copied at scrape.
    let logLinesDropped: Counter
    let logLinesSuppressed: Counter
    private var logDroppedSeen: UInt64 = 0
    private var logSuppressedSeen: UInt64 = 0

    init(peers: [String], version: String) {
        operatorMetrics = OperatorMetrics(registry: registry, peers: peers, version: version)
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        isLeader = registry.makeGauge(descriptor: name("is_leader", "", "1 while this node is in office (lease checked at scrape time), else 0."))
        term = registry.makeGauge(descriptor: name("term", "", "The current Raft term: the fencing token."))
        elections = registry.makeCounter(descriptor: name("elections", "total", "Elections this node started (became candidate)."))
        officeChanges = registry.makeCounter(descriptor: name("office_changes", "total", "Times this node entered or left office."))
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

    func countResponse(_ status: Int, route: APIRoute) {
        let key = route.rawValue << 16 | status
        if let c = requests[key] { c.increment(); return }
        let c = registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "baton", metricName: "http_requests", unitName: "total",
                                             helpText: "HTTP answers of the agent's API, by path and status code."),
            labels: [("path", route.path), ("code", "\(status)")])
        requests[key] = c
        c.increment()
    }

    /// recordRTT adds one heartbeat round trip to `peer`'s histogram.
    func recordRTT(peer: String, seconds: Double) {
        if let h = heartbeatRTT[peer] { h.record(seconds); return }
        let h = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(namespace: "baton", metricName: "heartbeat_rtt", unitName: "seconds",
                                             helpText: "Round trip of the leader's heartbeats to each peer, from the echoed send time."),
            labels: [("peer", peer)], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
        heartbeatRTT[peer] = h
        h.record(seconds)
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

    /// updateTransitions copies the driver's transition counters (at scrape time).
    func updateTransitions(_ c: AgentView.Counters) {
        if c.elections > electionsSeen { elections.increment(by: Int64(c.elections - electionsSeen)); electionsSeen = c.elections }
        if c.officeChanges > officeChangesSeen {
            officeChanges.increment(by: Int64(c.officeChanges - officeChangesSeen)); officeChangesSeen = c.officeChanges
        }
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

extension AgentShell {
    /// updateSharedMetrics sets what every engine's agent reports (at scrape time).
    func updateSharedMetrics() {
        let m = apiState.metrics
        m.isLeader.set(Int64(view.isInOffice(at: now()) ? 1 : 0))
        m.term.set(Int64(view.term))
        m.longPollWaiters.set(Int64(apiState.longPoll.count))
        m.storageOK.set(Int64(view.storageError == nil ? 1 : 0))
        m.updateTransitions(view.counters)
        if let c = view.check { m.updateCheck(healthy: c.healthy, failures: c.failures) }
        m.updateLog(log)
        m.operatorMetrics.update(self)
    }

    /// renderedMetrics is the exposition after the gauges were set.
    func renderedMetrics() -> PreparedResponse {
        PreparedResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                         headers: perRequestHeaders(), body: apiState.metrics.render())
    }
}

extension Agent {
    func metricsAnswer() -> PreparedResponse {
        updateSharedMetrics()
        let m = apiState.metrics
        m.membership.update(view)
        for (peer, gauge) in m.peerReachable { gauge.set(Int64(transport.stats[peer]?.connected == true ? 1 : 0)) }
        m.limits.update(transport: transport, server: apiState.server,
                        leaderlessAfterPromoteFailure: leaderlessAfterPromoteFailure != nil)
        return renderedMetrics()
    }
}

/// APIRoute names the API's paths for `baton_http_requests_total{path}` (a fixed set, so
/// the label cannot grow with what clients send).
enum APIRoute: Int {
    case leader, isLeader, health, ready, status, resign, metrics, openAPI, members, pause, resume, history, handover, historyHooks

    var path: String {
        switch self {
        case .leader: "/leader"
        case .isLeader: "/is-leader"
        case .health: "/health"
        case .ready: "/ready"
        case .status: "/status"
        case .resign: "/resign"
        case .metrics: "/metrics"
        case .openAPI: "/openapi.json"
        case .members: "/members"
        case .pause: "/pause"
        case .resume: "/resume"
        case .history: "/history"
        case .handover: "/handover"
        case .historyHooks: "/history/hooks"
        }
    }
}

/// OperatorMetrics are what standard alerts and dashboards expect (issue 17 point 8):
/// build info, the process_* family as Prometheus' client libraries name it, whether a
/// leader is known and how often it changed (etcd's has_leader and
/// leader_changes_seen_total), each peer's last round trip and time since last contact,
/// and the lease's remaining time. Gauges are set at scrape time from the state.
final class OperatorMetrics {
    let hasLeader: Gauge
    let paused: Gauge
    let leaderChanges: Counter
    let leaseRemaining: Gauge
    let residentMemory: Gauge
    let virtualMemory: Gauge
    let openFDs: Gauge
    let maxFDs: Gauge
    let startTime: Gauge
    let cpuSeconds: Counter
    private var cpuSecondsSeen = 0.0
    private var peerRTT: [String: Gauge] = [:]
    private var peerLastContact: [String: Gauge] = [:]
    /// lastLeader: the last leader seen, to count changes (a leader lost and found again
    /// is not a change).
    private var lastLeader: String? = nil

    init(registry: PrometheusCollectorRegistry, peers: [String], version: String) {
        func baton(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        func process(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "process", metricName: metric, unitName: unit, helpText: help)
        }
        registry.makeGauge(descriptor: baton("build_info", "", "Always 1; the labels say which build runs."),
                           labels: [("version", version)]).set(Int64(1))
        paused = registry.makeGauge(descriptor: baton("paused", "", "1 while the group is paused (baton pause: no campaigns, no hand-over on a failing check), else 0."))
        hasLeader = registry.makeGauge(descriptor: baton("has_leader", "", "1 while this node knows a leader in office, else 0."))
        leaderChanges = registry.makeCounter(descriptor: baton("leader_changes_seen", "total", "Times this node saw the leader change (to another member)."))
        leaseRemaining = registry.makeGauge(descriptor: baton("lease_remaining", "seconds", "On the node in office, how long its lease still runs (at scrape time); 0 elsewhere."))
        residentMemory = registry.makeGauge(descriptor: process("resident_memory", "bytes", "Resident memory size in bytes."))
        virtualMemory = registry.makeGauge(descriptor: process("virtual_memory", "bytes", "Virtual memory size in bytes."))
        openFDs = registry.makeGauge(descriptor: process("open_fds", "", "Number of open file descriptors."))
        maxFDs = registry.makeGauge(descriptor: process("max_fds", "", "Maximum number of open file descriptors."))
        startTime = registry.makeGauge(descriptor: process("start_time", "seconds", "Start time of the process since unix epoch in seconds."))
        cpuSeconds = registry.makeCounter(descriptor: process("cpu_seconds", "total", "Total user and system CPU time spent in seconds."))
        for p in peers {
            peerRTT[p] = registry.makeGauge(
                descriptor: baton("peer_rtt", "seconds", "The last heartbeat round trip to the peer, measured on the leader (0 when none was)."),
                labels: [("peer", p)])
            peerLastContact[p] = registry.makeGauge(
                descriptor: baton("peer_last_contact", "seconds", "Seconds since this node last heard from the peer (since start when never)."),
                labels: [("peer", p)])
        }
    }

    /// noteLeader counts a change of leader (called on every change of the view).
    func noteLeader(_ leader: String?) {
        guard let leader, leader != lastLeader else { return }
        lastLeader = leader
        leaderChanges.increment()
    }

    /// update sets the gauges from the agent's state and /proc, at scrape time.
    func update(_ agent: some AgentShell) {
        let now = agent.now()
        hasLeader.set(Int64(agent.view.leader != nil ? 1 : 0))
        paused.set(Int64(agent.view.pause != nil ? 1 : 0))
        leaseRemaining.set(Double(agent.leaseRemainingMs(at: now) ?? 0) / 1000)
        let bootNs = Int64(Clock.boottime())
        for (peer, gauge) in peerRTT { gauge.set(Double(agent.apiState.peers[peer]?.rttNs ?? 0) / 1e9) }
        for (peer, gauge) in peerLastContact {
            let heard = max(agent.apiState.peers[peer]?.lastHeardNs ?? 0, agent.apiState.startedNs)
            gauge.set(Double(max(0, bootNs - heard)) / 1e9)
        }
        let p = ProcessStats.read()
        residentMemory.set(Double(p.residentBytes))
        virtualMemory.set(Double(p.virtualBytes))
        openFDs.set(Int64(p.openDescriptors))
        maxFDs.set(Double(p.maxDescriptors))
        startTime.set(p.startTimeSeconds)
        if p.cpuSeconds > cpuSecondsSeen { cpuSeconds.increment(by: p.cpuSeconds - cpuSecondsSeen); cpuSecondsSeen = p.cpuSeconds }
    }
}

// MARK: - Refused peer connections and HTTP server limits (issue 15, hardening)
//
// Kept apart from the metrics above so the agent's rewrite can carry it whole. The
// transport and the HTTP server keep plain counters; each scrape adds what they grew by
// since the last one to Prometheus counters (which only increment).

/// LimitMetrics mirrors PeerTransport.rejectionsByKind and HTTPServerStatistics.
final class LimitMetrics {
    private var peerRejected: [RejectionKind: (counter: Counter, seen: UInt64)] = [:]
    private var http: [String: (counter: Counter, seen: Int)] = [:]
    private let preAuth: Gauge
    private let leaderless: Gauge

    init(registry: PrometheusCollectorRegistry) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: unit, helpText: help)
        }
        for kind in RejectionKind.allCases {
            let c = registry.makeCounter(
                descriptor: name("peer_rejected", "total", "Peer connections refused, by reason (slots-full: evicted unauthenticated during a flood)."),
                labels: [("reason", kind.rawValue)])
            peerRejected[kind] = (c, 0)
        }
        for what in Self.httpLimits {
            let c = registry.makeCounter(
                descriptor: name("http_limited", "total", "API connections refused or closed by a limit, by limit."),
                labels: [("limit", what)])
            http[what] = (c, 0)
        }
        preAuth = registry.makeGauge(descriptor: name("peer_unauthenticated_connections", "",
                                                      "Inbound peer connections still in their handshake."))
        leaderless = registry.makeGauge(descriptor: name("leaderless_after_promote_failure", "",
            "1 while no leader is in office and this node recently resigned for a failed promote hook (LeaderlessWarning.swift)."))
    }

    static let httpLimits = ["connections-max", "header-timeout", "idle-timeout", "body-timeout",
                             "write-timeout", "hold-timeout", "holds-max", "parse-error"]

    static func httpValues(_ s: HTTPServerStatistics) -> [String: Int] {
        ["connections-max": s.connectionsRejected, "header-timeout": s.headerTimeouts, "idle-timeout": s.idleTimeouts,
         "body-timeout": s.bodyTimeouts, "write-timeout": s.writeTimeouts, "hold-timeout": s.holdTimeouts,
         "holds-max": s.holdsRefused, "parse-error": s.parseErrors]
    }

    /// update brings the counters up to the sources' values (called at each scrape).
    func update(transport: PeerTransport, server: HTTPServer?, leaderlessAfterPromoteFailure: Bool) {
        leaderless.set(Int64(leaderlessAfterPromoteFailure ? 1 : 0))
        let totals = transport.rejectionsByKind
        for (kind, entry) in peerRejected {
            let now = totals[kind] ?? 0
            if now > entry.seen { entry.counter.increment(by: Int64(now - entry.seen)); peerRejected[kind]?.seen = now }
        }
        preAuth.set(Int64(transport.preAuthConnections))
        guard let server else { return }
        for (what, now) in Self.httpValues(server.statistics) {
            guard let entry = http[what], now > entry.seen else { continue }
            entry.counter.increment(by: Int64(now - entry.seen))
            http[what]?.seen = now
        }
    }
}
