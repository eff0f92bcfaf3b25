// The one header that changes between two requests without a state change: the lease
// time left, on the node in office.
import HTTPServer

/// LeaseStampedResponse is an in-office answer that must carry
/// `X-Baton-Lease-Remaining-Ms`, computed from the lease at answer time. The bytes are
/// laid out again only when the whole-millisecond value changes, so under load most
/// requests reuse the last copy and allocate nothing; an idle node lays out one copy
/// per request it gets. Rounding down is the safe direction: the header never promises
/// more lease than there is.
final class LeaseStampedResponse {
    let status: Int
    let contentType: String?
    let headers: [(String, String)]
    let body: [UInt8]
    private var stampedMs: Int64 = -1
    private var stamped: PreparedResponse?

    init(status: Int, contentType: String? = "application/json", headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    /// response returns the answer carrying `remainingMs` (≥ 0).
    func response(remainingMs: Int64) -> PreparedResponse {
        if remainingMs == stampedMs, let stamped { return stamped }
        let fresh = PreparedResponse(status: status, contentType: contentType,
                                     headers: headers + [("X-Baton-Lease-Remaining-Ms", String(remainingMs))], body: body)
        stampedMs = remainingMs
        stamped = fresh
        return fresh
    }
}
