// A small model of etcd's v3 semantics that matter to the election: a revision that
// every change increments, leases that expire on etcd's clock (checked every 500 ms, as
// etcd's lessor does), keys bound to leases, transactions, ranges sorted by create
// revision, and watches that replay history from a start revision. It answers the same
// EtcdCall values the real client carries, so the election under test cannot tell.
import EtcdAPI
import Time

struct SimEtcd {
    struct LeaseRecord { var ttlSeconds: Int64; var expiresAt: Instant }
    var revision: Revision = 1
    var nextLease: LeaseID = 0x1000
    var leases: [LeaseID: LeaseRecord] = [:]
    var kvs: [[UInt8]: KeyValue] = [:]
    /// history holds every event with its revision, for watches that start in the past.
    var history: [WatchEvent] = []
    var compactedBelow: Revision = 0
    /// minTTL: etcd raises smaller TTLs to this (2 s with default timing).
    var minTTLSeconds: Int64 = 2

    var header: ResponseHeader { ResponseHeader(clusterID: 1, memberID: 1, revision: revision, raftTerm: 1) }

    /// expire(now:) revokes every lease past its expiry (each revoke is one revision).
    mutating func expire(now: Instant) {
        for (id, l) in leases.sorted(by: { $0.key < $1.key }) where l.expiresAt <= now {
            revoke(id)
        }
    }

    mutating func revoke(_ id: LeaseID) {
        leases[id] = nil
        let doomed = kvs.values.filter { $0.lease == id }.sorted { $0.createRevision < $1.createRevision }
        guard !doomed.isEmpty else { return }
        revision += 1
        for kv in doomed {
            kvs[kv.key] = nil
            history.append(WatchEvent(kind: .delete, kv: KeyValue(key: kv.key, modRevision: revision), prevKV: kv))
        }
    }

    func inRange(_ key: [UInt8], _ start: [UInt8], _ end: [UInt8]) -> Bool {
        if end.isEmpty { return key == start }
        return key.lexicographicallyPrecedes(end) && !key.lexicographicallyPrecedes(start)
    }

    func range(_ r: RangeRequest) -> RangeResponse {
        var all = kvs.values.filter { inRange($0.key, r.key, r.rangeEnd) }
        if r.sortTarget == .create { all.sort { $0.createRevision < $1.createRevision } } else { all.sort { $0.key.lexicographicallyPrecedes($1.key) } }
        if r.sortOrder == .descend { all.reverse() }
        let limited = r.limit > 0 ? Array(all.prefix(Int(r.limit))) : all
        return RangeResponse(header: header, kvs: limited, more: limited.count < all.count, count: Int64(all.count))
    }

    mutating func put(_ p: PutRequest) -> EtcdFailure? {
        if p.lease != 0 && leases[p.lease] == nil { return .server(code: 5, message: "etcdserver: requested lease not found") }
        let old = kvs[p.key]
        let kv = KeyValue(key: p.key, createRevision: old?.createRevision ?? revision, modRevision: revision,
                          version: (old?.version ?? 0) + 1, value: p.value, lease: p.lease)
        kvs[p.key] = kv
        history.append(WatchEvent(kind: .put, kv: kv, prevKV: old))
        return nil
    }

    func holds(_ c: Compare) -> Bool {
        let kv = kvs[c.key]
        let lhs: Int64, rhs: Int64
        switch c.target {
        case .createRevision(let r): lhs = kv?.createRevision ?? 0; rhs = r
        case .modRevision(let r): lhs = kv?.modRevision ?? 0; rhs = r
        case .version(let v): lhs = kv?.version ?? 0; rhs = v
        case .lease(let l): lhs = kv?.lease ?? 0; rhs = l
        case .value(let v): return (kv?.value ?? []) == v
        }
        switch c.result {
        case .equal: return lhs == rhs
        case .notEqual: return lhs != rhs
        case .greater: return lhs > rhs
        case .less: return lhs < rhs
        }
    }

    /// apply(_:now:) serves one unary call at `now` (etcd's clock).
    mutating func apply(_ call: EtcdCall, now: Instant) -> Result<EtcdReply, EtcdFailure> {
        switch call {
        case .leaseGrant(let ttl):
            nextLease += 1
            let t = max(ttl, minTTLSeconds)
            leases[nextLease] = LeaseRecord(ttlSeconds: t, expiresAt: now + .seconds(t))
            return .success(.leaseGrant(LeaseGrantResponse(header: header, id: nextLease, ttlSeconds: t)))
        case .leaseKeepAlive(let id):
            guard var l = leases[id] else { return .success(.leaseKeepAlive(LeaseKeepAliveResponse(header: header, id: id, ttlSeconds: 0))) }
            l.expiresAt = now + .seconds(l.ttlSeconds)
            leases[id] = l
            return .success(.leaseKeepAlive(LeaseKeepAliveResponse(header: header, id: id, ttlSeconds: l.ttlSeconds)))
        case .leaseRevoke(let id):
            guard leases[id] != nil else { return .failure(.server(code: 5, message: "etcdserver: requested lease not found")) }
            revoke(id)
            return .success(.leaseRevoke(header))
        case .range(let r):
            return .success(.range(range(r)))
        case .deleteRange(let d):
            let doomed = kvs.values.filter { inRange($0.key, d.key, d.rangeEnd) }
            if !doomed.isEmpty {
                revision += 1
                for kv in doomed {
                    kvs[kv.key] = nil
                    history.append(WatchEvent(kind: .delete, kv: KeyValue(key: kv.key, modRevision: revision), prevKV: kv))
                }
            }
            return .success(.deleteRange(DeleteRangeResponse(header: header, deleted: Int64(doomed.count))))
        case .txn(let t):
            let ok = t.compare.allSatisfy(holds)
            let ops = ok ? t.success : t.failure
            let writes = ops.contains { if case .range = $0 { false } else { true } }
            if writes { revision += 1 }
            var responses: [ResponseOp] = []
            for op in ops {
                switch op {
                case .range(let r): responses.append(.range(range(r)))
                case .put(let p):
                    if let e = put(p) { revision -= 1; return .failure(e) }
                    responses.append(.put(header))
                case .deleteRange: responses.append(.deleteRange(DeleteRangeResponse(header: header)))
                }
            }
            return .success(.txn(TxnResponse(header: header, succeeded: ok, responses: responses)))
        case .watch:
            preconditionFailure("watches are served by SimCluster")
        }
    }

    /// events(for:after:) is the history of a watched range after `revision`.
    func events(_ w: WatchCreateRequest, after revision: Revision) -> [WatchEvent] {
        history.filter { $0.kv.modRevision > revision && inRange($0.kv.key, w.key, w.rangeEnd) }
    }

    /// compact(_:) forgets history below `revision`.
    mutating func compact(_ rev: Revision) {
        compactedBelow = rev
        history.removeAll { $0.kv.modRevision < rev }
    }
}
