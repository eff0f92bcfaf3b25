// The etcd client against a real etcd 3.4 (every call the election makes), and against
// a canned server for the answers etcd never gives (limits, silence, broken framing).
import EtcdAPI
import EtcdClient
import EventLoop
import Posix
import Testing

/// Collector records replies in arrival order.
final class Collector {
    var replies: [Result<EtcdReply, EtcdFailure>] = []
    var reply: EtcdClient.Reply { { [unowned self] in self.replies.append($0) } }
}

func client(_ loop: EventLoop, _ urls: [String], configure: (inout EtcdClientOptions) -> Void = { _ in }) throws -> EtcdClient {
    var options = EtcdClientOptions(endpoints: try urls.map { try EtcdEndpoint(parsing: $0) })
    configure(&options)
    return try EtcdClient(loop: loop, options: options)
}

/// call(_:_:timeoutMs:) runs one call to its end.
func call(_ c: EtcdClient, _ what: EtcdCall, timeoutMs: Int = 2000) throws -> Result<EtcdReply, EtcdFailure> {
    let got = Collector()
    c.start(what, timeoutMs: timeoutMs, reply: got.reply)
    try runLoop(c.loop, timeoutMs: timeoutMs + 2000) { !got.replies.isEmpty }
    return got.replies[0]
}

@Suite(.serialized) struct EtcdClientRealEtcdTests {
    @Test func everyElectionCallAgainstARealEtcd() throws {
        let etcd = try EtcdProcess.single()
        defer { etcd.stop(); etcd.removeData() }
        let loop = try EventLoop()
        let c = try client(loop, [etcd.url])

        guard case .success(.leaseGrant(let g)) = try call(c, .leaseGrant(ttlSeconds: 1)) else { Issue.record("grant"); return }
        #expect(g.id != 0)
        #expect(g.ttlSeconds == 2, "etcd 3.4 raises a TTL below its minimum to 2 s")

        let prefix = Array("/baton/t/election/".utf8)
        let key = prefix + Array("a".utf8)
        let txn = TxnRequest(compare: [Compare(key: key, .equal, .createRevision(0))],
                             success: [.put(PutRequest(key: key, value: Array("v".utf8), lease: g.id)),
                                       .range(RangeRequest(key: prefix, rangeEnd: prefixEnd(prefix), sortOrder: .ascend, sortTarget: .create))],
                             failure: [.range(RangeRequest(key: key)), .range(RangeRequest(key: prefix, rangeEnd: prefixEnd(prefix)))])
        guard case .success(.txn(let created)) = try call(c, .txn(txn)) else { Issue.record("txn"); return }
        #expect(created.succeeded)
        guard case .range(let line) = created.responses[1] else { Issue.record("txn range"); return }
        #expect(line.kvs.map(\.key) == [key] && line.kvs[0].createRevision == created.header.revision && line.kvs[0].lease == g.id)

        guard case .success(.txn(let again)) = try call(c, .txn(txn)) else { Issue.record("txn 2"); return }
        #expect(!again.succeeded, "the key exists: create_revision is no longer 0")
        guard case .range(let mine) = again.responses[0] else { Issue.record("txn 2 range"); return }
        #expect(mine.kvs.first?.lease == g.id)

        // A watch from the next revision sees the delete when the lease is revoked.
        let events = Collector()
        let watch = c.start(.watch(WatchCreateRequest(key: prefix, rangeEnd: prefixEnd(prefix), startRevision: created.header.revision + 1, prevKV: true)),
                            timeoutMs: 2000, reply: events.reply)
        try runLoop(loop, timeoutMs: 3000) { !events.replies.isEmpty }
        guard case .success(.watch(let w)) = events.replies[0] else { Issue.record("watch: \(events.replies)"); return }
        #expect(w.created)

        guard case .success(.leaseKeepAlive(let k)) = try call(c, .leaseKeepAlive(g.id)) else { Issue.record("keepalive"); return }
        #expect(k.ttlSeconds == 2 && k.id == g.id)
        // Many renewals reuse the connection (HTTP keep-alive after the chunked answer).
        let opened = c.stats.connectionsOpened
        for _ in 0..<20 { guard case .success(.leaseKeepAlive) = try call(c, .leaseKeepAlive(g.id)) else { Issue.record("keepalive n"); return } }
        #expect(c.stats.connectionsOpened == opened)

        guard case .success(.leaseRevoke) = try call(c, .leaseRevoke(g.id)) else { Issue.record("revoke"); return }
        try runLoop(loop, timeoutMs: 3000) { events.replies.count >= 2 }
        guard case .success(.watch(let deleted)) = events.replies[1] else { Issue.record("watch event: \(events.replies)"); return }
        #expect(deleted.events.map(\.kind) == [.delete] && deleted.events[0].prevKV?.lease == g.id)

        // The revoked lease: renewal says TTL 0, a second revoke says not found.
        guard case .success(.leaseKeepAlive(let gone)) = try call(c, .leaseKeepAlive(g.id)) else { Issue.record("keepalive gone"); return }
        #expect(gone.ttlSeconds == 0)
        #expect(try call(c, .leaseRevoke(g.id)) == .failure(.server(code: 5, message: "etcdserver: requested lease not found")))
        guard case .success(.deleteRange(let d)) = try call(c, .deleteRange(DeleteRangeRequest(key: key))) else { Issue.record("delete"); return }
        #expect(d.deleted == 0)

        // Stopping etcd ends the watch with a failure (unreachable, or etcd's own "server
        // stopped" cancel when it shuts down cleanly), reported once.
        c.cancel(watch)
        let events2 = Collector()
        c.start(.watch(WatchCreateRequest(key: prefix, rangeEnd: prefixEnd(prefix))), timeoutMs: 2000, reply: events2.reply)
        try runLoop(loop, timeoutMs: 3000) { !events2.replies.isEmpty }
        etcd.stop()
        try runLoop(loop, timeoutMs: 3000) { events2.replies.count >= 2 }
        guard case .failure = events2.replies[1] else { Issue.record("watch end: \(events2.replies)"); return }
        let until = Clock.boottime() + 300_000_000
        while Clock.boottime() < until { try loop.pollOnce(timeoutMs: 20) }
        #expect(events2.replies.count == 2, "the end is reported once")
        #expect(events.replies.count == 2, "a cancelled watch reports nothing more")
    }

    @Test func failsOverToTheNextEndpointAndBacksOffADeadOne() throws {
        let etcd = try EtcdProcess.single()
        defer { etcd.stop(); etcd.removeData() }
        let loop = try EventLoop()
        let dead = "http://127.0.0.1:\(try freePort())"
        let c = try client(loop, [dead, etcd.url])
        let started = Clock.boottime()
        guard case .success(.range) = try call(c, .range(RangeRequest(key: [0x61]))) else { Issue.record("range via failover"); return }
        #expect(Clock.boottime() - started < 500_000_000, "refused connections fail over at once")
        #expect(c.currentEndpoint.description == etcd.url)
        #expect(c.stats.endpointSwitches == 1)
        // Stays on the live endpoint.
        for _ in 0..<5 { guard case .success = try call(c, .range(RangeRequest(key: [0x61]))) else { Issue.record("range"); return } }
        #expect(c.stats.endpointSwitches == 1)
    }

    @Test func everyEndpointDownFailsFastThenBacksOff() throws {
        let loop = try EventLoop()
        let c = try client(loop, ["http://127.0.0.1:\(try freePort())", "http://127.0.0.1:\(try freePort())"]) { $0.backoffInitialMs = 300 }
        let started = Clock.boottime()
        guard case .failure(.unreachable) = try call(c, .range(RangeRequest(key: [0x61]))) else { Issue.record("not unreachable"); return }
        #expect(Clock.boottime() - started < 300_000_000)
        // Within the back-off nothing is dialled: the call fails without a connection.
        let opened = c.stats.connectionsOpened
        guard case .failure(.unreachable) = try call(c, .range(RangeRequest(key: [0x61]))) else { Issue.record("not unreachable 2"); return }
        #expect(c.stats.connectionsOpened == opened)
        try PosixThread.sleepMs(350)
        _ = try call(c, .range(RangeRequest(key: [0x61])))
        #expect(c.stats.connectionsOpened > opened, "dialled again after the back-off")
    }

    @Test func etcdRestartedFromItsDataServesAgainAfterTheBackoff() throws {
        let etcd = try EtcdProcess.single()
        defer { etcd.stop(); etcd.removeData() }
        let loop = try EventLoop()
        let c = try client(loop, [etcd.url])
        guard case .success(.leaseGrant(let g)) = try call(c, .leaseGrant(ttlSeconds: 5)) else { Issue.record("grant"); return }
        etcd.stop()
        guard case .failure = try call(c, .leaseKeepAlive(g.id)) else { Issue.record("keepalive with etcd down"); return }
        try etcd.start()
        try etcd.waitHealthy()
        try PosixThread.sleepMs(300)
        // etcd 3.4 restores leases from its data with a fresh TTL.
        guard case .success(.leaseKeepAlive(let k)) = try call(c, .leaseKeepAlive(g.id)) else { Issue.record("keepalive after restart"); return }
        #expect(k.ttlSeconds == 5)
    }
}

@Suite struct EtcdClientLimitTests {
    func canned(_ answer: String, _ configure: (inout EtcdClientOptions) -> Void = { _ in }) throws -> (EventLoop, CannedServer, EtcdClient) {
        let loop = try EventLoop()
        let server = try CannedServer(loop: loop, answer: answer)
        let c = try client(loop, ["http://127.0.0.1:\(server.port)"], configure: configure)
        return (loop, server, c)
    }

    @Test func silentServerTimesOutAndTheConnectionIsNotReused() throws {
        let (_, server, c) = try canned("")
        server.silent = true
        let started = Clock.boottime()
        #expect(try call(c, .range(RangeRequest(key: [1])), timeoutMs: 200) == .failure(.timedOut))
        let took = Clock.boottime() - started
        #expect(took >= 190_000_000 && took < 600_000_000)
        #expect(c.openConnectionCount == 0)
    }

    @Test func oversizedAnswerIsRefused() throws {
        let (_, _, c) = try canned("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n") { $0.answerBytesMax = 4096 }
        guard case .failure(.unreachable(let why)) = try call(c, .range(RangeRequest(key: [1]))) else { Issue.record("accepted"); return }
        #expect(why.contains("over the limit"))
        let (_, _, c2) = try canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n") { $0.answerBytesMax = 4096 }
        guard case .failure = try call(c2, .range(RangeRequest(key: [1]))) else { Issue.record("chunk accepted"); return }
        let (_, _, c3) = try canned("HTTP/1.1 200 OK\r\n" + String(repeating: "X-Pad: 0123456789\r\n", count: 2000))
        guard case .failure(.unreachable(let head)) = try call(c3, .range(RangeRequest(key: [1]))) else { Issue.record("head accepted"); return }
        #expect(head.contains("head"))
    }

    @Test func answerThatIsNotJSONOrNotEtcdsIsABadAnswer() throws {
        let (_, _, c) = try canned("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        guard case .failure(.unreachable(let why)) = try call(c, .range(RangeRequest(key: [1]))) else { Issue.record("accepted"); return }
        #expect(why.contains("not JSON"))
        let (_, _, c2) = try canned("HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"count\":\"x1\"}")
        guard case .failure(.badAnswer) = try call(c2, .range(RangeRequest(key: [1]))) else { Issue.record("accepted 2"); return }
    }

    @Test func queueAndWatchCapsRefuseAtOnce() throws {
        let (loop, server, c) = try canned("") { $0.queuedCallCountMax = 2; $0.connectionCountMax = 1; $0.watchCountMax = 1 }
        server.silent = true
        let got = Collector()
        for _ in 0..<4 { c.start(.range(RangeRequest(key: [1])), timeoutMs: 5000, reply: got.reply) }
        try runLoop(loop, timeoutMs: 1000) { got.replies.count >= 1 }
        #expect(got.replies.allSatisfy { if case .failure(.refused) = $0 { true } else { false } })
        let w = Collector()
        c.start(.watch(WatchCreateRequest(key: [1])), timeoutMs: 5000, reply: w.reply)
        c.start(.watch(WatchCreateRequest(key: [2])), timeoutMs: 5000, reply: w.reply)
        try runLoop(loop, timeoutMs: 1000) { w.replies.count >= 1 }
        guard case .failure(.refused) = w.replies[0] else { Issue.record("second watch accepted"); return }
        c.close()
    }

    @Test func endpointParsing() throws {
        #expect(try EtcdEndpoint(parsing: "http://127.0.0.1:2379").hostHeader == "127.0.0.1:2379")
        #expect(try EtcdEndpoint(parsing: "http://[::1]:2379/").address.isIPv6)
        #expect(try EtcdEndpoint(parsing: "http://localhost:2379").hostHeader == "localhost:2379")
        #expect(try EtcdEndpoint.parseList("http://127.0.0.1:1, http://127.0.0.1:2").count == 2)
        for bad in ["https://127.0.0.1:2379", "127.0.0.1:2379", "http://127.0.0.1", "http://127.0.0.1:2379/v3", "http://u@h:1", "http://"] {
            #expect(throws: EtcdEndpoint.ParseError.self) { try EtcdEndpoint(parsing: bad) }
        }
        #expect(throws: EtcdEndpoint.ParseError.self) { try EtcdEndpoint.parseList("http://127.0.0.1:1,,http://127.0.0.1:2") }
        let tls = try? EtcdEndpoint(parsing: "https://127.0.0.1:2379")
        #expect(tls == nil)
    }
}
