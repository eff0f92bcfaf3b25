// GET /status: everything an operator needs in one JSON object (snake_case keys).
import AgentLogging
import AgentConfig
import AgentDriver
import EventLoop
import HTTPParser
import HTTPServer
import Hooks
import PeerTransport
import Posix
import RaftCore

extension Agent {
    /// version is this build's version, reported by /status.
    public static let version = "0.1.0-dev"

    /// statusAnswer is built per request (an operator's request, not a probe's): it
    /// reads the view, the transport and the API's own observations.
    func statusAnswer() -> PreparedResponse {
        let now = now()
        let nowNs = now.nanoseconds
        let lease = leaseRemainingMs(at: now)
        let term = view.term
        func ms(_ interval: Interval) -> Int64 { interval.nanoseconds / 1_000_000 }
        func millis(_ ns: Int64) -> String {
            let us = ns / 1000
            return "\(us / 1000).\(String(us % 1000 + 1000).dropFirst())"
        }
        // The members are those of the stored configuration (issue 14), not --peers,
        // which is only a contact list; a node not yet added lists its contacts.
        let stored = view.members.filter { $0.name != settings.id }
        let listed: [(name: String, peer: String, role: String?)] = view.members.isEmpty
            ? settings.members.filter { $0.name != settings.id }.map { ($0.name, $0.peerAddress.description, nil) }
            : stored.sorted { $0.name < $1.name }.map { ($0.name, $0.peerAddress, "\($0.role)") }
        var peers: [String] = []
        for member in listed {
            let seen = apiState.peers[member.name] ?? PeerObservation()
            let stats = transport.stats[member.name]
            let known = view.peer(member.name)
            peers.append("{\"id\":\(AgentLog.json(member.name)),\"peer\":\(AgentLog.json(member.peer))"
                + ",\"role\":\(member.role.map(AgentLog.json) ?? "null")"
                + ",\"api\":\(known?.apiAddress.map(AgentLog.json) ?? "null")"
                + ",\"reachable\":\(stats?.connected ?? false)"
                + ",\"last_contact_ms_ago\":\(seen.lastHeardNs > 0 ? "\((nowNs - seen.lastHeardNs) / 1_000_000)" : "null")"
                + ",\"rtt_ms\":\(seen.rttNs > 0 && view.role == .leader ? millis(seen.rttNs) : "null")"
                + ",\"match_index\":\(known?.matchIndex.map { "\($0)" } ?? "null")"
                + ",\"can_lead\":\(known?.canLead.map { "\($0)" } ?? "null")}")
        }
        let leader = view.leader
        let officeSince = leader != nil ? sinceJSON() : "null"
        let o = settings.raft
        var body = "{\"id\":\(AgentLog.json(settings.id)),\"role\":\"\(view.role.rawValue)\",\"term\":\(term)"
        body += ",\"in_office\":\(lease != nil)"
        body += ",\"leader\":\(leader.map { leaderJSON($0) } ?? "null")"
        body += ",\"office_since\":\(officeSince)"
        body += ",\"lease_remaining_ms\":\(lease.map { "\($0)" } ?? "null")"
        body += ",\"commit_index\":\(view.commitIndex),\"last_log_index\":\(view.lastLogIndex)"
        body += ",\"witness\":\(settings.witness)"
        body += ",\"membership\":\(AgentLog.json(membershipWord)),\"configuration_index\":\(view.configurationIndex)"
        body += ",\"membership_change_in_progress\":\(view.changeInProgress)"
        body += ",\"storage\":{\"ok\":\(view.storageError == nil),\"error\":\(view.storageError.map(AgentLog.json) ?? "null")}"
        body += ",\"peers\":[\(peers.joined(separator: ","))]"
        body += ",\"long_poll_waiters\":\(apiState.longPoll.count)"
        body += ",\"version\":\(AgentLog.json(Self.version))"
        let memberNames = view.members.isEmpty ? settings.members.map(\.name) : view.members.map(\.name).sorted()
        body += ",\"config\":{\"members\":[\(memberNames.map { AgentLog.json($0) }.joined(separator: ","))]"
        body += ",\"election_timeout_ms\":[\(ms(o.electionTimeoutMin)),\(ms(o.electionTimeoutMax))]"
        body += ",\"heartbeat_ms\":\(ms(o.heartbeatInterval)),\"max_drift\":\(o.maxDrift)}"
        for (key, json) in statusSections() + [("limits", limitsStatus()), ("pause", pauseJSON(at: now)), ("handover", handoverJSON(at: now))] { body += ",\(AgentLog.json(key)):\(json)" }
        body += "}\n"
        return PreparedResponse(status: 200, headers: perRequestHeaders(), body: Array(body.utf8))
    }

}

extension AgentShell {
    /// statusSections are further top-level objects of /status, as (key, JSON): the
    /// hooks, the application check and whether this node may campaign (every engine).
    func statusSections() -> [(String, String)] {
        let h = view.hooks
        var last: [String] = []
        for name in h.last.keys.sorted() {
            let r = h.last[name]!
            last.append("\(AgentLog.json(name)):{\"event\":\(AgentLog.json(r.event.rawValue)),\"term\":\(r.term),"
                + "\"running\":\(r.running),\"result\":\(r.running ? "null" : AgentLog.json(r.result)),"
                + "\"exit_code\":\(r.exitCode.map { "\($0)" } ?? "null"),\"duration_ms\":\(r.running ? "null" : "\(r.duration.wholeMilliseconds)")}")
        }
        let hooks = "{\"runs\":\(h.runs),\"failures\":\(h.failures),\"timeouts\":\(h.timeouts),"
            + "\"skipped_pairs\":\(h.skippedPairs),\"startup_finished\":\(view.startupFinished),\"last\":{\(last.joined(separator: ","))}}"
        let check = view.check.map { c in
            "{\"healthy\":\(c.healthy),\"consecutive_failures\":\(c.consecutiveFailures),\"passes\":\(c.passes),"
                + "\"failures\":\(c.failures),\"last_detail\":\(AgentLog.json(c.lastDetail)),\"last_duration_ms\":\(c.lastDuration.wholeMilliseconds)}"
        } ?? "null"
        return [("hooks", hooks), ("check", check), ("campaign_allowed", "\(view.campaignAllowed)"),
                ("campaign_held_by", "[" + view.campaignHeldBy.map(AgentLog.json).joined(separator: ",") + "]")]
    }

    /// httpLimitsJSON: the API's limits hit (baton_http_limited_total), by limit.
    func httpLimitsJSON() -> String {
        apiState.server.map { server in
            let v = LimitMetrics.httpValues(server.statistics)
            return LimitMetrics.httpLimits.map { "\(AgentLog.json($0)):\(v[$0] ?? 0)" }.joined(separator: ",")
        } ?? ""
    }
}

extension Agent {

    /// limitsStatus: refused peer connections by reason and the API's limits hit (the
    /// same counters as /metrics' baton_peer_rejected_total and baton_http_limited_total).
    func limitsStatus() -> String {
        let peer = RejectionKind.allCases.map { "\(AgentLog.json($0.rawValue)):\(transport.rejectionsByKind[$0] ?? 0)" }
        let http = httpLimitsJSON()
        return "{\"peer_rejected\":{\(peer.joined(separator: ","))},"
            + "\"peer_unauthenticated_connections\":\(transport.preAuthConnections),\"http_limited\":{\(http)}}"
    }
}
