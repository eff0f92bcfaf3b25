// What the HTTP API keeps beside the driver's view: waiters, per-peer observations, counters.
import AgentConfig
import AgentDriver
import EventLoop
import HTTPParser
import HTTPServer
import PeerTransport
import Posix
import Prometheus
import RaftCore

/// APIState is the API's own state, owned by the agent and touched on the loop thread
/// only. The agent's state is the driver's view; this holds what only the HTTP side
/// has: held requests, when each peer was last heard and its round-trip, and counters.
final class APIState {
    var access: AdminAccess
    /// server is the API server once started (nil before `start`).
    var server: HTTPServer?
    var longPoll = LongPollWaiters()
    /// heldActions: admin requests (`POST /resign`, membership changes) the driver owes
    /// an answer, by request id, with their route for the metrics.
    var heldActions: [RequestID: (HeldRequest, APIRoute)] = [:]
    var nextRequest: RequestID = 1
    /// peers: per member name, what this node observed of it.
    var peers: [String: PeerObservation] = [:]
    /// forwarding: this follower's own hook outcomes on their way to the leader.
    var forwarding = HookOutcomeForwarding()
    let metrics: AgentMetrics
    /// startedNs: CLOCK_BOOTTIME when the agent started (counts as every peer's first contact).
    let startedNs = Int64(Clock.boottime())

    init(settings: AgentSettings) throws(ConfigError) {
        access = try AdminAccess(settings: settings)
        metrics = AgentMetrics(peers: settings.members.map(\.name).filter { $0 != settings.id }, version: Agent.version)
        for m in settings.members where m.name != settings.id { peers[m.name] = PeerObservation() }
    }

    /// clearRoundTrips forgets the round trips measured while this node led.
    func clearRoundTrips() {
        for key in Array(peers.keys) where peers[key]?.rttNs != 0 { peers[key]?.rttNs = 0 }
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
        if view.role == .leader, case .appendResponse(_, _, _, let echo, _) = body,
           echo.nanoseconds > 0, echo.nanoseconds <= now {
            let rtt = now - echo.nanoseconds
            apiState.peers[peer]?.rttNs = rtt
            apiState.metrics.recordRTT(peer: peer, seconds: Double(rtt) / 1e9)
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
