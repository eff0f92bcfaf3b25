// What the HTTP API keeps beside the Raft core: waiters, per-peer observations, counters.
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import PeerTransport
import Posix
import Prometheus
import RaftCore

/// APIState is the API's own state, owned by the agent and touched on the loop thread
/// only. The core's state stays in `RaftNode`; this holds what the core does not keep:
/// held requests, when each peer was last heard and its round-trip, and counters.
final class APIState {
    var access: AdminAccess
    /// server is the API server once started (nil before `start`).
    var server: HTTPServer?
    var longPoll = LongPollWaiters()
    var resigns: [ResignWaiter] = []
    /// peers: per member name, what this node observed of it.
    var peers: [String: PeerObservation] = [:]
    let metrics: AgentMetrics
    /// What the last `rebuildResponses` saw, to count transitions.
    var lastRole: Role = .follower
    var lastOfficeTerm: Term? = nil
    /// startedNs: CLOCK_BOOTTIME when the agent started (counts as every peer's first contact).
    let startedNs = Int64(Clock.boottime())

    init(settings: AgentSettings) throws(ConfigError) {
        access = try AdminAccess(settings: settings)
        metrics = AgentMetrics(peers: settings.members.map(\.name).filter { $0 != settings.id }, version: Agent.version)
        for m in settings.members where m.name != settings.id { peers[m.name] = PeerObservation() }
    }
}

/// PeerObservation is what this node saw of one peer.
struct PeerObservation {
    /// lastHeardNs: boottime of the last message received from it (0: never).
    var lastHeardNs: Int64 = 0
    /// rttNs: the last round trip of a leader's append to it, from the echoed send time
    /// (0: none measured in this node's current leadership).
    var rttNs: Int64 = 0
}

extension Agent {
    /// noteHeard records a message from `peer`: when it arrived and, on a leader, the
    /// round trip its echo of our send time shows.
    func noteHeard(from peer: String, _ body: Message.Body) {
        let now = Int64(Clock.boottime())
        apiState.peers[peer]?.lastHeardNs = now
        if raft.role == .leader, case .appendResponse(_, _, _, let echo, _) = body,
           echo.nanoseconds > 0, echo.nanoseconds <= now {
            let rtt = now - echo.nanoseconds
            apiState.peers[peer]?.rttNs = rtt
            apiState.metrics.recordRTT(peer: peer, seconds: Double(rtt) / 1e9)
        }
    }

    /// noteTransitions counts elections and office changes since the last call (it runs
    /// on every change of role, term, leader or office).
    func noteTransitions() {
        let role = raft.role
        if role == .candidate && apiState.lastRole != .candidate { apiState.metrics.elections.increment() }
        if role != .leader && apiState.lastRole == .leader {
            for key in Array(apiState.peers.keys) { apiState.peers[key]?.rttNs = 0 }
        }
        apiState.lastRole = role
        apiState.metrics.operatorMetrics.noteLeader(raft.leader)
        let officeTerm = raft.office?.term
        if officeTerm != apiState.lastOfficeTerm {
            // nil → T is one entry, T → nil one departure, T → U (a leave and an entry) two.
            apiState.metrics.officeChanges.increment(by: Int64((officeTerm != nil && apiState.lastOfficeTerm != nil) ? 2 : 1))
            apiState.lastOfficeTerm = officeTerm
        }
    }
}

extension Agent {
    /// apiConnectionsMax: the API's connection cap, sized for thousands of long-poll
    /// waiters (`bench/longpoll` holds 10,000); the descriptor limit is raised to fit.
    static let apiConnectionsMax = 16_384

    /// apiServerConfiguration is the HTTP server's configuration for the agent's API.
    static func apiServerConfiguration() -> HTTPServerConfiguration {
        var http = HTTPServerConfiguration()
        let descriptors = (try? ResourceLimits.raiseOpenFiles(to: UInt64(apiConnectionsMax) + 256)) ?? 1024
        // Leave room for peers (their pre-authentication slots too), storage and the
        // listeners below the descriptor limit.
        let peers = TransportLimits.descriptorsReservedForOthers + TransportLimits().preAuthSlotsMax
        http.connectionsMax = max(64, min(apiConnectionsMax, Int(descriptors) - peers))
        http.heldRequestsMax = http.connectionsMax
        http.holdTimeoutMax = LongPollWaiters.waitMax
        return http
    }
}
