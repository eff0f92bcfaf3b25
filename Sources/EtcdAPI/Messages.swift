// The part of etcd's v3 API an election needs (etcd api/etcdserverpb/rpc.proto and
// mvccpb/kv.proto), as plain values. Field names follow the proto; units go last.

/// LeaseID names an etcd lease (int64 in the proto; never 0 for a granted lease).
public typealias LeaseID = Int64
/// Revision is etcd's store revision, which every change increments cluster-wide.
public typealias Revision = Int64

/// ResponseHeader is the header of every answer.
public struct ResponseHeader: Hashable, Sendable {
    public var clusterID: UInt64 = 0
    public var memberID: UInt64 = 0
    /// revision is the store revision when the request was served.
    public var revision: Revision = 0
    public var raftTerm: UInt64 = 0
    public init(clusterID: UInt64 = 0, memberID: UInt64 = 0, revision: Revision = 0, raftTerm: UInt64 = 0) {
        self.clusterID = clusterID; self.memberID = memberID; self.revision = revision; self.raftTerm = raftTerm
    }
}

/// KeyValue is one stored key (mvccpb.KeyValue).
public struct KeyValue: Hashable, Sendable {
    public var key: [UInt8]
    /// createRevision is the revision of the key's creation; 0 for a key that does not exist.
    public var createRevision: Revision = 0
    public var modRevision: Revision = 0
    public var version: Int64 = 0
    public var value: [UInt8] = []
    /// lease is the lease the key is bound to, 0 for none.
    public var lease: LeaseID = 0
    public init(key: [UInt8], createRevision: Revision = 0, modRevision: Revision = 0, version: Int64 = 0,
                value: [UInt8] = [], lease: LeaseID = 0) {
        self.key = key; self.createRevision = createRevision; self.modRevision = modRevision
        self.version = version; self.value = value; self.lease = lease
    }
}

/// RangeRequest reads the keys in `[key, rangeEnd)` (just `key` when rangeEnd is empty).
public struct RangeRequest: Hashable, Sendable {
    public enum SortOrder: String, Hashable, Sendable { case none = "NONE", ascend = "ASCEND", descend = "DESCEND" }
    public enum SortTarget: String, Hashable, Sendable { case key = "KEY", version = "VERSION", create = "CREATE", mod = "MOD", value = "VALUE" }
    public var key: [UInt8]
    public var rangeEnd: [UInt8] = []
    /// limit caps the keys returned (0: no cap); `more` in the answer says some were left.
    public var limit: Int64 = 0
    public var sortOrder: SortOrder = .none
    public var sortTarget: SortTarget = .key
    public var countOnly = false
    public init(key: [UInt8], rangeEnd: [UInt8] = [], limit: Int64 = 0, sortOrder: SortOrder = .none,
                sortTarget: SortTarget = .key, countOnly: Bool = false) {
        self.key = key; self.rangeEnd = rangeEnd; self.limit = limit
        self.sortOrder = sortOrder; self.sortTarget = sortTarget; self.countOnly = countOnly
    }
}

/// RangeResponse is the answer to a range.
public struct RangeResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var kvs: [KeyValue] = []
    /// more: keys beyond `limit` exist.
    public var more = false
    /// count is how many keys the range held (before the limit).
    public var count: Int64 = 0
    public init(header: ResponseHeader = ResponseHeader(), kvs: [KeyValue] = [], more: Bool = false, count: Int64 = 0) {
        self.header = header; self.kvs = kvs; self.more = more; self.count = count
    }
}

/// PutRequest stores `value` at `key`, bound to `lease` when it is not 0.
public struct PutRequest: Hashable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var lease: LeaseID = 0
    public init(key: [UInt8], value: [UInt8], lease: LeaseID = 0) { self.key = key; self.value = value; self.lease = lease }
}

/// DeleteRangeRequest deletes the keys in `[key, rangeEnd)` (just `key` when empty).
public struct DeleteRangeRequest: Hashable, Sendable {
    public var key: [UInt8]
    public var rangeEnd: [UInt8] = []
    public init(key: [UInt8], rangeEnd: [UInt8] = []) { self.key = key; self.rangeEnd = rangeEnd }
}

/// DeleteRangeResponse says how many keys a delete removed.
public struct DeleteRangeResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var deleted: Int64 = 0
    public init(header: ResponseHeader = ResponseHeader(), deleted: Int64 = 0) { self.header = header; self.deleted = deleted }
}

/// Compare is one condition of a transaction.
public struct Compare: Hashable, Sendable {
    public enum Result: String, Hashable, Sendable { case equal = "EQUAL", greater = "GREATER", less = "LESS", notEqual = "NOT_EQUAL" }
    public enum Target: Hashable, Sendable {
        case version(Int64)
        case createRevision(Revision)
        case modRevision(Revision)
        case value([UInt8])
        case lease(LeaseID)
    }
    public var key: [UInt8]
    public var result: Result
    public var target: Target
    public init(key: [UInt8], _ result: Result, _ target: Target) { self.key = key; self.result = result; self.target = target }
}

/// RequestOp is one operation of a transaction branch.
public enum RequestOp: Hashable, Sendable {
    case range(RangeRequest)
    case put(PutRequest)
    case deleteRange(DeleteRangeRequest)
}

/// ResponseOp is the answer to one RequestOp, in the same position.
public enum ResponseOp: Hashable, Sendable {
    case range(RangeResponse)
    case put(ResponseHeader)
    case deleteRange(DeleteRangeResponse)
}

/// TxnRequest runs `success` when every compare holds, else `failure`, atomically.
public struct TxnRequest: Hashable, Sendable {
    public var compare: [Compare]
    public var success: [RequestOp]
    public var failure: [RequestOp]
    public init(compare: [Compare], success: [RequestOp], failure: [RequestOp]) {
        self.compare = compare; self.success = success; self.failure = failure
    }
}

/// TxnResponse is the answer to a transaction.
public struct TxnResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var succeeded = false
    public var responses: [ResponseOp] = []
    public init(header: ResponseHeader = ResponseHeader(), succeeded: Bool = false, responses: [ResponseOp] = []) {
        self.header = header; self.succeeded = succeeded; self.responses = responses
    }
}

/// LeaseGrantResponse is a new lease and the TTL etcd applied (it raises a TTL below
/// its minimum, 1.5 × its election timeout rounded up to whole seconds).
public struct LeaseGrantResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var id: LeaseID = 0
    public var ttlSeconds: Int64 = 0
    public init(header: ResponseHeader = ResponseHeader(), id: LeaseID = 0, ttlSeconds: Int64 = 0) {
        self.header = header; self.id = id; self.ttlSeconds = ttlSeconds
    }
}

/// LeaseKeepAliveResponse is the answer to one keep-alive: `ttlSeconds` is the TTL the
/// lease was renewed for, and 0 when etcd no longer has the lease (it expired or was revoked).
public struct LeaseKeepAliveResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var id: LeaseID = 0
    public var ttlSeconds: Int64 = 0
    public init(header: ResponseHeader = ResponseHeader(), id: LeaseID = 0, ttlSeconds: Int64 = 0) {
        self.header = header; self.id = id; self.ttlSeconds = ttlSeconds
    }
}

/// WatchCreateRequest watches `[key, rangeEnd)` from `startRevision` on (0: from now).
public struct WatchCreateRequest: Hashable, Sendable {
    public var key: [UInt8]
    public var rangeEnd: [UInt8] = []
    public var startRevision: Revision = 0
    /// prevKV asks for the key's previous value with each event (deletes then say
    /// which lease and create revision the deleted key had).
    public var prevKV = false
    public init(key: [UInt8], rangeEnd: [UInt8] = [], startRevision: Revision = 0, prevKV: Bool = false) {
        self.key = key; self.rangeEnd = rangeEnd; self.startRevision = startRevision; self.prevKV = prevKV
    }
}

/// WatchEvent is one change of a watched key.
public struct WatchEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable { case put, delete }
    public var kind: Kind
    /// kv is the key after the change; for a delete only key and modRevision (the
    /// revision of the delete) are set.
    public var kv: KeyValue
    public var prevKV: KeyValue?
    public init(kind: Kind, kv: KeyValue, prevKV: KeyValue? = nil) { self.kind = kind; self.kv = kv; self.prevKV = prevKV }
}

/// WatchResponse is one message of a watch stream.
public struct WatchResponse: Hashable, Sendable {
    public var header = ResponseHeader()
    public var watchID: Int64 = 0
    /// created: the watch was set up (the first message of a stream).
    public var created = false
    /// canceled: the watch ended; `compactRevision` > 0 when its start was compacted away.
    public var canceled = false
    public var compactRevision: Revision = 0
    public var cancelReason = ""
    public var events: [WatchEvent] = []
    public init(header: ResponseHeader = ResponseHeader(), watchID: Int64 = 0, created: Bool = false, canceled: Bool = false,
                compactRevision: Revision = 0, cancelReason: String = "", events: [WatchEvent] = []) {
        self.header = header; self.watchID = watchID; self.created = created; self.canceled = canceled
        self.compactRevision = compactRevision; self.cancelReason = cancelReason; self.events = events
    }
}

/// prefixEnd(_:) is the range end that covers every key starting with `prefix` (etcd's
/// clientv3.GetPrefixRangeEnd): the prefix with its last byte below 0xFF incremented
/// and the rest dropped; `[0]` ("to the end of the keyspace") when there is none.
public func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
    var end = prefix
    while let last = end.last {
        if last < 0xFF {
            end[end.count - 1] = last + 1
            return end
        }
        end.removeLast()
    }
    return [0]
}
