// The election stepped by hand: settings that are refused, and the ordering rules a
// scenario cannot pin down (a late renewal never revives an office; a revoke waits for
// the demote; every request has a bounded timeout).
import EtcdAPI
import EtcdElection
import Testing
import Time

@Suite struct EtcdElectionOptionTests {
    static func options(_ change: (inout EtcdElectionOptions) -> Void) -> EtcdElectionOptions {
        var o = EtcdElectionOptions(candidate: CandidateInfo(name: "n1", apiAddress: "127.0.0.1:8080"), prefix: "/baton/main")
        change(&o)
        return o
    }

    @Test func defaultsAreValidAndFollowTheLeaseRule() throws {
        let o = Self.options { _ in }
        try o.validate()
        // 0.49 × (2 s × 0.95/1.05 − 50 ms) = 862.2 ms; a third of it per call.
        #expect(abs(o.effectiveKeepAliveInterval.nanoseconds - 862_166_666) < 1000)
        #expect(abs(o.effectiveCallTimeout.nanoseconds - 287_388_888) < 1000)
        // 2 × 500 ms + 50 ms < 2 s × 0.95/1.05 = 1.809 s
        #expect(o.effectiveKeepAliveInterval * 2 + o.margin < o.leaseTTL.scaled(by: o.officeFraction))
    }

    @Test(arguments: [
        "name", "prefix-slash", "prefix-trailing", "ttl-fraction", "ttl-zero", "ttl-huge", "drift", "margin",
        "interval-long", "interval-tiny", "timeout", "retry", "count", "value",
    ])
    func refusesBadSettings(_ which: String) {
        let o = Self.options { o in
            switch which {
            case "name": o.candidate.name = ""
            case "prefix-slash": o.prefix = "baton/main"
            case "prefix-trailing": o.prefix = "/baton/main/"
            case "ttl-fraction": o.leaseTTL = .milliseconds(2500)
            case "ttl-zero": o.leaseTTL = .zero
            case "ttl-huge": o.leaseTTL = .seconds(3601)
            case "drift": o.maxDrift = 0.5
            case "margin": o.margin = .milliseconds(-1)
            case "interval-long": o.keepAliveInterval = .milliseconds(900)   // 2 × 900 + 50 > 1809
            case "interval-tiny": o.keepAliveInterval = .milliseconds(5)
            case "timeout": o.callTimeout = .seconds(2)
            case "retry": o.retryMax = .milliseconds(10)
            case "count": o.candidateCountMax = 0
            case "value": o.candidate.apiAddress = String(repeating: "x", count: 2000)
            default: break
            }
        }
        #expect(throws: EtcdElectionOptions.OptionError.self) { try o.validate() }
        #expect(throws: EtcdElectionOptions.OptionError.self) { try EtcdElection(options: o) }
    }

    @Test func theBoundaryIntervalIsAccepted() throws {
        // 2 × 879 + 50 = 1808 < 1809.5: just inside.
        try Self.options { $0.keepAliveInterval = .milliseconds(879) }.validate()
    }
}

/// Steps one election by hand against scripted answers.
struct Hand {
    var e: EtcdElection
    var now = Instant(nanoseconds: 10_000_000_000)
    var last = EtcdElectionReady()
    var revision: Revision = 10
    let lease: LeaseID = 0x77

    init() throws {
        e = try EtcdElection(options: EtcdElectionOptionTests.options { _ in })
        last = e.start(now: now)
    }

    func request(_ matching: (EtcdCall) -> Bool) -> EtcdRequest? { last.requests.first { matching($0.call) } }

    mutating func step(_ event: EtcdElectionEvent, after: Interval = .zero) {
        now = now + after
        last = e.handle(event, now: now)
    }

    func key() -> [UInt8] { Array("/baton/main/election/0000000000000077".utf8) }
}

@Suite struct EtcdElectionOrderingTests {
    /// start answers the first read and the grant, then the campaign: in office.
    func elected() throws -> Hand {
        var h = try Hand()
        let read = h.request { if case .range = $0 { true } else { false } }!
        let grant = h.request { if case .leaseGrant = $0 { true } else { false } }!
        #expect(grant.timeout == h.e.options.effectiveCallTimeout && grant.timeout < .seconds(1), "every call has a bounded timeout")
        h.step(.reply(read.id, .success(.range(RangeResponse(header: ResponseHeader(revision: 10))))), after: .milliseconds(1))
        h.step(.reply(grant.id, .success(.leaseGrant(LeaseGrantResponse(id: h.lease, ttlSeconds: 2)))), after: .milliseconds(1))
        let campaign = h.request { if case .txn = $0 { true } else { false } }!
        let mine = KeyValue(key: h.key(), createRevision: 11, modRevision: 11, version: 1, value: Array(#"{"name":"n1"}"#.utf8), lease: h.lease)
        h.step(.reply(campaign.id, .success(.txn(TxnResponse(header: ResponseHeader(revision: 11), succeeded: true,
                                                             responses: [.put(ResponseHeader(revision: 11)), .range(RangeResponse(header: ResponseHeader(revision: 11), kvs: [mine], count: 1))])))),
               after: .milliseconds(1))
        #expect(h.last.officeChanges.count == 1)
        guard case .enter(let token, let deadline, .firstInLine) = h.last.officeChanges[0] else { Issue.record("\(h.last)"); return h }
        #expect(token == 11)
        // The grant was sent at 10 s: office until 10 s + 2 s·0.95/1.05 − 50 ms.
        #expect(deadline == Instant(nanoseconds: 10_000_000_000) + Interval.seconds(2).scaled(by: 0.95 / 1.05) - .milliseconds(50))
        return h
    }

    @Test func aRenewalThatArrivesAfterTheOfficeLapsedDoesNotReviveIt() throws {
        var h = try elected()
        let deadline = h.e.office!.leaseDeadline
        h.step(.tick, after: h.e.options.effectiveKeepAliveInterval)
        let renewal = h.request { if case .leaseKeepAlive = $0 { true } else { false } }!
        // No answer until after the deadline: the office ends at the deadline.
        h.now = deadline
        h.step(.tick)
        #expect(h.last.officeChanges == [.leave(token: 11, reason: .leaseLost)])
        #expect(!h.e.isInOffice(at: h.now))
        // The late success changes nothing: the lease was abandoned with the office.
        h.step(.reply(renewal.id, .success(.leaseKeepAlive(LeaseKeepAliveResponse(id: h.lease, ttlSeconds: 2)))), after: .milliseconds(1))
        #expect(h.last.officeChanges.isEmpty && h.e.office == nil)
        #expect(h.e.lease == nil && h.e.myKey == nil)
        // It contends afresh with a new lease; the old one is revoked once the demote ended.
        #expect(h.e.abandonedLeaseCount == 1)
        h.step(.demoteFinished(token: 11))
        #expect(h.last.requests.contains { $0.call == .leaseRevoke(h.lease) })
    }

    @Test func resignLeavesFirstAndRevokesOnlyAfterTheDemote() throws {
        var h = try elected()
        h.step(.resign(.transfer), after: .milliseconds(100))
        #expect(h.last.officeChanges == [.leave(token: 11, reason: .transfer)])
        #expect(!h.last.requests.contains { if case .leaseRevoke = $0.call { true } else { false } })
        #expect(h.last.requests.contains { if case .leaseGrant = $0.call { true } else { false } }, "back in line at once")
        h.step(.demoteFinished(token: 10))
        #expect(!h.last.requests.contains { if case .leaseRevoke = $0.call { true } else { false } }, "another office's demote")
        h.step(.demoteFinished(token: 11))
        #expect(h.last.requests.contains { $0.call == .leaseRevoke(h.lease) })
    }

    @Test func renewalsMoveTheDeadlineBySendTimeNotAnswerTime() throws {
        var h = try elected()
        h.step(.tick, after: h.e.options.effectiveKeepAliveInterval)
        let renewal = h.request { if case .leaseKeepAlive = $0 { true } else { false } }!
        let sentAt = h.now
        h.step(.reply(renewal.id, .success(.leaseKeepAlive(LeaseKeepAliveResponse(id: h.lease, ttlSeconds: 2)))), after: .milliseconds(300))
        #expect(h.e.office?.leaseDeadline == sentAt + Interval.seconds(2).scaled(by: 0.95 / 1.05) - .milliseconds(50))
    }

    @Test func etcdSayingTheLeaseIsGoneEndsTheOfficeAtOnce() throws {
        var h = try elected()
        h.step(.tick, after: h.e.options.effectiveKeepAliveInterval)
        let renewal = h.request { if case .leaseKeepAlive = $0 { true } else { false } }!
        h.step(.reply(renewal.id, .success(.leaseKeepAlive(LeaseKeepAliveResponse(id: h.lease, ttlSeconds: 0)))), after: .milliseconds(1))
        #expect(h.last.officeChanges == [.leave(token: 11, reason: .leaseLost)])
    }

    @Test func unansweredRequestsExpireSoTheMachineStaysLive() throws {
        var h = try elected()
        h.step(.tick, after: h.e.options.effectiveKeepAliveInterval)
        #expect(h.request { if case .leaseKeepAlive = $0 { true } else { false } } != nil)
        // The client never answers: after twice the timeout the machine counts it as failed
        // and renews again.
        h.step(.tick, after: h.e.options.effectiveCallTimeout * 2 + .milliseconds(1))
        h.step(.tick, after: .milliseconds(101))
        #expect(h.request { if case .leaseKeepAlive = $0 { true } else { false } } != nil)
    }
}
