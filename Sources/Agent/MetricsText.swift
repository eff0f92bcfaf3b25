// GET /metrics placeholder until item 5.
import AgentConfig
import EventLoop
import HTTPParser
import HTTPServer
import PeerTransport
import Posix
import RaftCore
extension Agent {
    func metricsAnswer() -> PreparedResponse { PreparedResponse(status: 200, contentType: "text/plain; version=0.0.4", headers: perRequestHeaders(), body: []) }
}
