// The gateway encoding: bodies as etcd 3.4 reads them, and answers captured from a real
// etcd 3.4.23 decoded (int64 as strings, base64 bytes, default fields left out).
import EtcdAPI
import JSON
import Testing

@Suite struct Base64Tests {
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                      ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"), ("/baton/t/a", "L2JhdG9uL3QvYQ==")])
    func rfc4648Vectors(plain: String, coded: String) {
        #expect(Base64.encode(plain) == coded)
        #expect(Base64.decode(coded) == Array(plain.utf8))
    }

    @Test func roundTripsEveryByte() {
        for n in 0..<260 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }

    @Test(arguments: ["Zg=", "Zg", "Z===", "Zh==", "Zm9=", "!!!!", "Zg==Zg==", "=Zg="])
    func refusesMalformed(text: String) { #expect(Base64.decode(text) == nil) }
}

@Suite struct CodecTests {
    @Test func bodiesAreWhatTheGatewayReads() {
        let k = Array("/baton/t/election/a".utf8)
        #expect(EtcdCall.leaseGrant(ttlSeconds: 2).body == #"{"TTL":"2"}"#)
        #expect(EtcdCall.leaseKeepAlive(5986869746381060617).body == #"{"ID":"5986869746381060617"}"#)
        let txn = TxnRequest(compare: [Compare(key: k, .equal, .createRevision(0))],
                             success: [.put(PutRequest(key: k, value: [0x68, 0x69], lease: 7))],
                             failure: [.range(RangeRequest(key: k, rangeEnd: prefixEnd(k), limit: 10, sortOrder: .ascend, sortTarget: .create))])
        let kb = Base64.encode(k), eb = Base64.encode(prefixEnd(k))
        #expect(EtcdCall.txn(txn).body == #"{"compare":[{"key":"\#(kb)","result":"EQUAL","target":"CREATE","create_revision":"0"}],"success":[{"request_put":{"key":"\#(kb)","value":"aGk=","lease":"7"}}],"failure":[{"request_range":{"key":"\#(kb)","range_end":"\#(eb)","limit":"10","sort_order":"ASCEND","sort_target":"CREATE"}}]}"#)
        #expect(EtcdCall.watch(WatchCreateRequest(key: k, startRevision: 3, prevKV: true)).body
                == #"{"create_request":{"key":"\#(kb)","start_revision":"3","prev_kv":true}}"#)
        #expect(EtcdCall.txn(txn).path == "/v3/kv/txn" && EtcdCall.watch(WatchCreateRequest(key: k)).path == "/v3/watch")
    }

    @Test func prefixEndIncrementsTheLastByteBelow0xFF() {
        #expect(prefixEnd(Array("/a/".utf8)) == Array("/a0".utf8))
        #expect(prefixEnd([0x61, 0xFF, 0xFF]) == [0x62])
        #expect(prefixEnd([0xFF]) == [0])
    }

    func decode(_ call: EtcdCall, _ text: String, status: Int = 200) throws -> Result<EtcdReply, EtcdFailure> {
        call.decodeAnswer(status: status, body: try JSONValue.parse(text))
    }

    @Test func decodesCapturedAnswers() throws {
        let grant = try decode(.leaseGrant(ttlSeconds: 1), #"{"header":{"cluster_id":"6001611773266757492","member_id":"13049071153751544597","revision":"5","raft_term":"2"},"ID":"5986869746381060629","TTL":"2"}"#)
        #expect(grant == .success(.leaseGrant(LeaseGrantResponse(header: ResponseHeader(clusterID: 6001611773266757492, memberID: 13049071153751544597, revision: 5, raftTerm: 2), id: 5986869746381060629, ttlSeconds: 2))))
        // A renewal of a lease etcd does not have: TTL left out, i.e. 0.
        let gone = try decode(.leaseKeepAlive(123), #"{"result":{"header":{"revision":"2"},"ID":"123"}}"#)
        #expect(gone == .success(.leaseKeepAlive(LeaseKeepAliveResponse(header: ResponseHeader(revision: 2), id: 123, ttlSeconds: 0))))
        let k = Array("/baton/t/a".utf8)
        let txn = TxnRequest(compare: [Compare(key: k, .equal, .createRevision(0))], success: [.put(PutRequest(key: k, value: []))],
                             failure: [.range(RangeRequest(key: k))])
        let failed = try decode(.txn(txn), #"{"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L2JhdG9uL3QvYQ==","create_revision":"2","mod_revision":"2","version":"1","value":"aGVsbG8=","lease":"5986869746381060617"}],"count":"1"}}]}"#)
        guard case .success(.txn(let t)) = failed, case .range(let r) = t.responses.first else { Issue.record("\(failed)"); return }
        #expect(!t.succeeded && r.kvs == [KeyValue(key: k, createRevision: 2, modRevision: 2, version: 1, value: Array("hello".utf8), lease: 5986869746381060617)])
        let ok = try decode(.txn(txn), #"{"header":{"revision":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"2"}}}]}"#)
        #expect(ok == .success(.txn(TxnResponse(header: ResponseHeader(revision: 2), succeeded: true, responses: [.put(ResponseHeader(revision: 2))]))))
        let w = WatchCreateRequest(key: k)
        let events = try decode(.watch(w), #"{"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L2JhdG9uL3QvYQ==","create_revision":"2","mod_revision":"2","version":"1","value":"aGVsbG8="}},{"type":"DELETE","kv":{"key":"L2JhdG9uL3QvYQ==","mod_revision":"3"},"prev_kv":{"key":"L2JhdG9uL3QvYQ==","create_revision":"2","mod_revision":"2","version":"1"}}]}}"#)
        guard case .success(.watch(let wr)) = events else { Issue.record("\(events)"); return }
        #expect(wr.events.map(\.kind) == [.put, .delete])
        #expect(wr.events[1].kv.modRevision == 3 && wr.events[1].prevKV?.createRevision == 2)
        let compacted = try decode(.watch(w), #"{"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"4"}}"#)
        #expect(compacted == .success(.watch(WatchResponse(header: ResponseHeader(raftTerm: 2), canceled: true, compactRevision: 4))))
    }

    @Test func decodesErrors() throws {
        let notFound = try decode(.leaseRevoke(1), #"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#, status: 404)
        #expect(notFound == .failure(.server(code: 5, message: "etcdserver: requested lease not found")))
        let streamError = try decode(.leaseKeepAlive(1), #"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#)
        #expect(streamError == .failure(.server(code: 14, message: "etcdserver: no leader")))
        guard case .failure(.badAnswer) = try decode(.range(RangeRequest(key: [1])), #"{"kvs":[{"key":"!!"}]}"#) else { Issue.record("bad base64 accepted"); return }
        guard case .failure(.badAnswer) = try decode(.range(RangeRequest(key: [1])), #"{"count":"x"}"#) else { Issue.record("bad int accepted"); return }
        guard case .failure(.badAnswer) = try decode(.leaseKeepAlive(1), #"{"ID":"1"}"#) else { Issue.record("stream without result accepted"); return }
        guard case .failure(.badAnswer) = try decode(.txn(TxnRequest(compare: [], success: [.put(PutRequest(key: [1], value: []))], failure: [])), #"{"succeeded":true}"#) else { Issue.record("short txn accepted"); return }
    }
}
