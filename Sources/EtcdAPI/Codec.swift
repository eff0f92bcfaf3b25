// EtcdCall → request body, and gateway JSON → EtcdReply or EtcdFailure (proto3 JSON
// mapping: int64 as strings, bytes as base64, default-valued fields left out).
public import JSON

extension EtcdCall {
    /// body is the JSON request body.
    public var body: String {
        switch self {
        case .leaseGrant(let ttl):
            return JSONValue.object([.init("TTL", jsonInt(ttl))]).serialized()
        case .leaseKeepAlive(let id), .leaseRevoke(let id):
            return JSONValue.object([.init("ID", jsonInt(id))]).serialized()
        case .range(let r):
            return Self.encode(r).serialized()
        case .txn(let t):
            return JSONValue.object([
                .init("compare", .array(t.compare.map(Self.encode))),
                .init("success", .array(t.success.map(Self.encode))),
                .init("failure", .array(t.failure.map(Self.encode))),
            ]).serialized()
        case .deleteRange(let d):
            return Self.encode(d).serialized()
        case .watch(let w):
            var members: [JSONValue.Member] = [.init("key", jsonBytes(w.key))]
            if !w.rangeEnd.isEmpty { members.append(.init("range_end", jsonBytes(w.rangeEnd))) }
            if w.startRevision != 0 { members.append(.init("start_revision", jsonInt(w.startRevision))) }
            if w.prevKV { members.append(.init("prev_kv", .bool(true))) }
            return JSONValue.object([.init("create_request", .object(members))]).serialized()
        }
    }

    static func encode(_ r: RangeRequest) -> JSONValue {
        var members: [JSONValue.Member] = [.init("key", jsonBytes(r.key))]
        if !r.rangeEnd.isEmpty { members.append(.init("range_end", jsonBytes(r.rangeEnd))) }
        if r.limit != 0 { members.append(.init("limit", jsonInt(r.limit))) }
        if r.sortOrder != .none { members.append(.init("sort_order", .string(r.sortOrder.rawValue))) }
        if r.sortTarget != .key { members.append(.init("sort_target", .string(r.sortTarget.rawValue))) }
        if r.countOnly { members.append(.init("count_only", .bool(true))) }
        return .object(members)
    }

    static func encode(_ d: DeleteRangeRequest) -> JSONValue {
        var members: [JSONValue.Member] = [.init("key", jsonBytes(d.key))]
        if !d.rangeEnd.isEmpty { members.append(.init("range_end", jsonBytes(d.rangeEnd))) }
        return .object(members)
    }

    static func encode(_ c: Compare) -> JSONValue {
        var members: [JSONValue.Member] = [.init("key", jsonBytes(c.key)), .init("result", .string(c.result.rawValue))]
        switch c.target {
        case .version(let v): members += [.init("target", .string("VERSION")), .init("version", jsonInt(v))]
        case .createRevision(let r): members += [.init("target", .string("CREATE")), .init("create_revision", jsonInt(r))]
        case .modRevision(let r): members += [.init("target", .string("MOD")), .init("mod_revision", jsonInt(r))]
        case .value(let v): members += [.init("target", .string("VALUE")), .init("value", jsonBytes(v))]
        case .lease(let l): members += [.init("target", .string("LEASE")), .init("lease", jsonInt(l))]
        }
        return .object(members)
    }

    static func encode(_ op: RequestOp) -> JSONValue {
        switch op {
        case .range(let r): return .object([.init("request_range", encode(r))])
        case .put(let p):
            var members: [JSONValue.Member] = [.init("key", jsonBytes(p.key)), .init("value", jsonBytes(p.value))]
            if p.lease != 0 { members.append(.init("lease", jsonInt(p.lease))) }
            return .object([.init("request_put", .object(members))])
        case .deleteRange(let d): return .object([.init("request_delete_range", encode(d))])
        }
    }

    /// decodeAnswer(status:body:) turns one answer (a unary body, or one line of a
    /// stream) into a reply, or the failure it reports.
    public func decodeAnswer(status: Int, body: JSONValue) -> Result<EtcdReply, EtcdFailure> {
        // A failed call: a non-200 status, or a stream message `{"error":{…}}`.
        if status != 200 || (isStream && body.has("error")) {
            let error = isStream && body["error"].members != nil ? body["error"] : body
            let code = error["code"].int64.map(Int.init) ?? (error["grpc_code"].int64.map(Int.init) ?? -1)
            let message = error["message"].string ?? error["error"].string ?? "HTTP status \(status)"
            return .failure(.server(code: code, message: message))
        }
        let message = isStream ? body["result"] : body
        guard message.members != nil else {
            return .failure(.badAnswer(isStream ? "stream message without \"result\"" : "answer is not a JSON object"))
        }
        do throws(EtcdFailure) {
            return .success(try decodeMessage(message))
        } catch {
            return .failure(error)
        }
    }

    func decodeMessage(_ m: JSONValue) throws(EtcdFailure) -> EtcdReply {
        let header = try Self.header(m["header"])
        switch self {
        case .leaseGrant:
            if let error = m["error"].string, !error.isEmpty { throw .server(code: -1, message: error) }
            return .leaseGrant(LeaseGrantResponse(header: header, id: try Self.int(m, "ID"), ttlSeconds: try Self.int(m, "TTL")))
        case .leaseKeepAlive:
            return .leaseKeepAlive(LeaseKeepAliveResponse(header: header, id: try Self.int(m, "ID"), ttlSeconds: try Self.int(m, "TTL")))
        case .leaseRevoke:
            return .leaseRevoke(header)
        case .range:
            return .range(try Self.range(m, header: header))
        case .deleteRange:
            return .deleteRange(DeleteRangeResponse(header: header, deleted: try Self.int(m, "deleted")))
        case .txn(let request):
            let ops = m["responses"].isNull ? [] : (m["responses"].array ?? [])
            let succeeded = m["succeeded"].bool ?? false
            let branch = succeeded ? request.success : request.failure
            guard ops.count == branch.count else { throw .badAnswer("txn answered \(ops.count) operations for \(branch.count)") }
            var responses: [ResponseOp] = []
            for (op, asked) in zip(ops, branch) {
                switch asked {
                case .range: responses.append(.range(try Self.range(op["response_range"], header: try Self.header(op["response_range"]["header"]))))
                case .put: responses.append(.put(try Self.header(op["response_put"]["header"])))
                case .deleteRange:
                    let d = op["response_delete_range"]
                    responses.append(.deleteRange(DeleteRangeResponse(header: try Self.header(d["header"]), deleted: try Self.int(d, "deleted"))))
                }
            }
            return .txn(TxnResponse(header: header, succeeded: succeeded, responses: responses))
        case .watch:
            var events: [WatchEvent] = []
            for e in m["events"].array ?? [] {
                let kind: WatchEvent.Kind
                switch e["type"].string ?? "PUT" {
                case "PUT": kind = .put
                case "DELETE": kind = .delete
                case let other: throw .badAnswer("unknown watch event type \(other)")
                }
                let prev = e.has("prev_kv") ? try Self.keyValue(e["prev_kv"]) : nil
                events.append(WatchEvent(kind: kind, kv: try Self.keyValue(e["kv"]), prevKV: prev))
            }
            return .watch(WatchResponse(header: header, watchID: try Self.int(m, "watch_id"), created: m["created"].bool ?? false,
                                        canceled: m["canceled"].bool ?? false, compactRevision: try Self.int(m, "compact_revision"),
                                        cancelReason: m["cancel_reason"].string ?? "", events: events))
        }
    }

    static func range(_ m: JSONValue, header: ResponseHeader) throws(EtcdFailure) -> RangeResponse {
        var kvs: [KeyValue] = []
        for kv in m["kvs"].array ?? [] { kvs.append(try keyValue(kv)) }
        return RangeResponse(header: header, kvs: kvs, more: m["more"].bool ?? false, count: try int(m, "count"))
    }

    static func keyValue(_ m: JSONValue) throws(EtcdFailure) -> KeyValue {
        guard m.members != nil else { throw .badAnswer("key-value is not an object") }
        return KeyValue(key: try bytes(m, "key"), createRevision: try int(m, "create_revision"), modRevision: try int(m, "mod_revision"),
                        version: try int(m, "version"), value: try bytes(m, "value"), lease: try int(m, "lease"))
    }

    static func header(_ m: JSONValue) throws(EtcdFailure) -> ResponseHeader {
        if m.isNull { return ResponseHeader() }
        return ResponseHeader(clusterID: UInt64(bitPattern: try int(m, "cluster_id", unsigned: true)),
                              memberID: UInt64(bitPattern: try int(m, "member_id", unsigned: true)),
                              revision: try int(m, "revision"), raftTerm: UInt64(bitPattern: try int(m, "raft_term", unsigned: true)))
    }

    /// jsonInt(_:_:unsigned:) reads an int64 (or uint64) field written as a string or a number; absent is 0.
    static func int(_ m: JSONValue, _ name: String, unsigned: Bool = false) throws(EtcdFailure) -> Int64 {
        let v = m[name]
        if v.isNull { return 0 }
        let text: String
        switch v {
        case .string(let s): text = s
        case .number(let s): text = s
        default: throw .badAnswer("field \(name) is not an integer")
        }
        if unsigned, let u = UInt64(text) { return Int64(bitPattern: u) }
        guard let n = Int64(text) else { throw .badAnswer("field \(name) is not an integer: \(text)") }
        return n
    }

    static func bytes(_ m: JSONValue, _ name: String) throws(EtcdFailure) -> [UInt8] {
        let v = m[name]
        if v.isNull { return [] }
        guard let text = v.string, let decoded = Base64.decode(text) else { throw .badAnswer("field \(name) is not base64") }
        return decoded
    }
}

private func jsonInt(_ value: Int64) -> JSONValue { .string(String(value)) }
private func jsonBytes(_ value: [UInt8]) -> JSONValue { .string(Base64.encode(value)) }
