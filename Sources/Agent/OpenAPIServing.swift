// GET /openapi.json: the repository's API document (api/openapi.json), embedded at
// build time by scripts/embed-openapi.
import AgentConfig
import AgentDriver
import EventLoop
import HTTPParser
import HTTPServer
import PeerTransport
import Posix
import RaftCore

extension AgentShell {
    /// openAPIAnswer is built per request: the endpoint is for tools, not probes.
    func openAPIAnswer() -> PreparedResponse {
        let bytes = Array(UnsafeBufferPointer(start: openAPIDocument.utf8Start, count: openAPIDocument.utf8CodeUnitCount))
        return PreparedResponse(status: 200, headers: perRequestHeaders(), body: bytes + [0x0a])
    }

    /// perRequestHeaders are the headers every answer carries, for answers built per
    /// request: the term, the leader when known, and the lease left on the node in office.
    func perRequestHeaders() -> [(String, String)] {
        if let ms = leaseRemainingMs(at: now()) {
            return [("X-Baton-Term", "\(view.office?.term ?? view.term)"), ("X-Baton-Leader", settings.id),
                    ("X-Baton-Lease-Remaining-Ms", "\(ms)")]
        }
        return commonHeaders(term: view.term)
    }
}
