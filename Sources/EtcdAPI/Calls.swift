// One etcd call and its answer as values, so a pure state machine can ask for calls and
// be handed answers, and the client that carries them needs to know nothing about
// elections. The encoding is etcd's JSON gateway (grpc-gateway over the v3 gRPC
// service): proto3's JSON mapping, int64 as strings, bytes as base64, fields holding
// their default value (0, false, "", empty) left out. Facts checked on etcd 3.4.23
// (Debian 12's etcd-server): it serves `/v3/` (and `/v3beta/`, its 3.3 alias; not
// `/v3alpha/`); keep-alive and watch answers are streams whose messages are each
// wrapped as `{"result":…}` (or `{"error":…}`) on a line of their own.

/// EtcdCall is one request to etcd's v3 API.
public enum EtcdCall: Hashable, Sendable {
    case leaseGrant(ttlSeconds: Int64)
    /// One renewal of a lease (one message of the LeaseKeepAlive stream; the gateway of
    /// 3.4 cannot keep the request side of a stream open, so each renewal is a request).
    case leaseKeepAlive(LeaseID)
    case leaseRevoke(LeaseID)
    case range(RangeRequest)
    case txn(TxnRequest)
    case deleteRange(DeleteRangeRequest)
    /// A watch: the answer is a stream of WatchResponse messages that lasts until the
    /// watch is cancelled or the connection closes.
    case watch(WatchCreateRequest)

    /// apiPrefix is the gateway's path prefix on etcd 3.4 and later.
    public static let apiPrefix = "/v3"

    /// path is the gateway's URL path for the call.
    public var path: String {
        switch self {
        case .leaseGrant: Self.apiPrefix + "/lease/grant"
        case .leaseKeepAlive: Self.apiPrefix + "/lease/keepalive"
        case .leaseRevoke: Self.apiPrefix + "/lease/revoke"
        case .range: Self.apiPrefix + "/kv/range"
        case .txn: Self.apiPrefix + "/kv/txn"
        case .deleteRange: Self.apiPrefix + "/kv/deleterange"
        case .watch: Self.apiPrefix + "/watch"
        }
    }

    /// isStream: the answer's messages are wrapped in `{"result":…}` lines.
    public var isStream: Bool {
        switch self {
        case .leaseKeepAlive, .watch: true
        default: false
        }
    }

    /// isWatch: the answer never ends by itself.
    public var isWatch: Bool { if case .watch = self { true } else { false } }

    /// name is a short label for logs and metrics.
    public var name: String {
        switch self {
        case .leaseGrant: "lease-grant"
        case .leaseKeepAlive: "lease-keepalive"
        case .leaseRevoke: "lease-revoke"
        case .range: "range"
        case .txn: "txn"
        case .deleteRange: "delete-range"
        case .watch: "watch"
        }
    }
}

/// EtcdReply is the decoded answer to an EtcdCall (one message of it, for a watch).
public enum EtcdReply: Hashable, Sendable {
    case leaseGrant(LeaseGrantResponse)
    case leaseKeepAlive(LeaseKeepAliveResponse)
    case leaseRevoke(ResponseHeader)
    case range(RangeResponse)
    case txn(TxnResponse)
    case deleteRange(DeleteRangeResponse)
    case watch(WatchResponse)
}

/// EtcdFailure is why a call brought no answer. Every case is a value the election
/// handles; none is fatal.
public enum EtcdFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// etcd answered with an error (gRPC `code`, e.g. 5 not found, 11 out of range,
    /// 14 unavailable) and its message.
    case server(code: Int, message: String)
    /// No endpoint could be reached, or the connection broke before the answer.
    case unreachable(String)
    /// No answer within the call's timeout.
    case timedOut
    /// The answer broke the protocol or a size limit (the connection is dropped).
    case badAnswer(String)
    /// The client refused the call: too many calls queued, or the client is closed.
    case refused(String)

    public var description: String {
        switch self {
        case .server(let code, let message): "etcd error \(code): \(message)"
        case .unreachable(let why): "etcd unreachable: \(why)"
        case .timedOut: "etcd call timed out"
        case .badAnswer(let why): "bad answer from etcd: \(why)"
        case .refused(let why): "etcd call refused: \(why)"
        }
    }

    /// grpcNotFound is gRPC's NOT_FOUND code (etcd: "requested lease not found").
    public static let grpcNotFound = 5
    /// grpcOutOfRange is gRPC's OUT_OF_RANGE code (etcd: compacted or future revision).
    public static let grpcOutOfRange = 11
}
