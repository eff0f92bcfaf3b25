import RaftCore
import Testing
@testable import RaftSimulation

/// CheckerTests feed the checkers hand-made histories, to show each one can fail and
/// stays quiet on a legal history (style rule 11: assert the negative space too).
@Suite struct CheckerTests {
    let clock = SimClock(offsetNs: 1_000_000, ratePpm: 1_000_000)

    @Test func overlappingOfficesAreS2() {
        var c = InvariantChecker(nodeCount: 3)
        #expect(c.enterOffice(0, term: 1, deadline: Instant(nanoseconds: 101_000_000), realNs: 0, clock: clock, isWitness: false) == nil)
        // n2 enters at 50 ms real while n1's lease runs to 100 ms real.
        let v = c.enterOffice(1, term: 2, deadline: Instant(nanoseconds: 200_000_000), realNs: 50_000_000, clock: clock, isWitness: false)
        #expect(v?.property == "S2")
    }

    @Test func officesAfterTheLeaseAreFine() {
        var c = InvariantChecker(nodeCount: 3)
        #expect(c.enterOffice(0, term: 1, deadline: Instant(nanoseconds: 101_000_000), realNs: 0, clock: clock, isWitness: false) == nil)
        #expect(c.enterOffice(1, term: 2, deadline: Instant(nanoseconds: 300_000_000), realNs: 100_000_000, clock: clock, isWitness: false) == nil)
        #expect(c.isInOffice(1, atReal: 150_000_000))
        #expect(!c.isInOffice(0, atReal: 150_000_000))
    }

    @Test func fencingTokenMustIncreaseAndNeverResume() {
        var c = InvariantChecker(nodeCount: 3)
        #expect(c.enterOffice(0, term: 5, deadline: Instant(nanoseconds: 2_000_000), realNs: 0, clock: clock, isWitness: false) == nil)
        #expect(c.enterOffice(1, term: 4, deadline: Instant(nanoseconds: 900_000_000), realNs: 500_000_000, clock: clock, isWitness: false)?.property == "S3")
        var d = InvariantChecker(nodeCount: 3)
        #expect(d.enterOffice(0, term: 5, deadline: Instant(nanoseconds: 2_000_000), realNs: 0, clock: clock, isWitness: false) == nil)
        d.offices[0].open = false
        #expect(d.enterOffice(0, term: 5, deadline: Instant(nanoseconds: 900_000_000), realNs: 500_000_000, clock: clock, isWitness: false)?.property == "S3")
    }

    @Test func witnessNeverEntersOffice() {
        var c = InvariantChecker(nodeCount: 3)
        #expect(c.enterOffice(2, term: 1, deadline: Instant(nanoseconds: 9_000_000), realNs: 0, clock: clock, isWitness: true)?.property == "witness")
    }

    @Test func voteSentBeforeItIsDurableIsS5() {
        var c = InvariantChecker(nodeCount: 3)
        var disk = SimDisk()
        disk.hardState = HardState(term: 3, votedFor: nil, commitIndex: 0)
        let grant = Message(from: NodeID(1), to: NodeID(2), term: 3, body: .voteResponse(granted: true))
        #expect(c.send(node: 0, message: grant, disk: disk, realNs: 0)?.property == "S5")
        disk.hardState.votedFor = NodeID(2)
        #expect(c.send(node: 0, message: grant, disk: disk, realNs: 0) == nil)
        // A second candidate in the same term.
        disk.hardState.votedFor = NodeID(3)
        let other = Message(from: NodeID(1), to: NodeID(3), term: 3, body: .voteResponse(granted: true))
        #expect(c.send(node: 0, message: other, disk: disk, realNs: 0)?.property == "S5")
    }

    @Test func durableVoteNeverChangesWithinATerm() {
        var c = InvariantChecker(nodeCount: 3)
        var disk = SimDisk()
        let w1 = PendingWrite(hardState: HardState(term: 2, votedFor: NodeID(1)), truncateFrom: nil, entries: [], messages: [], completeAtNs: 0)
        #expect(c.durableWrite(node: 0, disk: &disk, write: w1, realNs: 0) == nil)
        let w2 = PendingWrite(hardState: HardState(term: 2, votedFor: NodeID(3)), truncateFrom: nil, entries: [], messages: [], completeAtNs: 0)
        #expect(c.durableWrite(node: 0, disk: &disk, write: w2, realNs: 0)?.property == "S5")
        let back = PendingWrite(hardState: HardState(term: 1), truncateFrom: nil, entries: [], messages: [], completeAtNs: 0)
        #expect(c.durableWrite(node: 0, disk: &disk, write: back, realNs: 0)?.property == "S5")
    }

    @Test func logMatchingAcrossNodes() {
        var c = InvariantChecker(nodeCount: 2)
        var a = SimDisk(), b = SimDisk()
        let e1 = Entry(index: 1, term: 1, payload: .noop)
        let e2a = Entry(index: 2, term: 2, payload: .data([1]))
        let e2b = Entry(index: 2, term: 2, payload: .data([2]))
        #expect(c.durableWrite(node: 0, disk: &a, write: PendingWrite(hardState: nil, truncateFrom: nil, entries: [e1, e2a], messages: [], completeAtNs: 0), realNs: 0) == nil)
        #expect(c.durableWrite(node: 1, disk: &b, write: PendingWrite(hardState: nil, truncateFrom: nil, entries: [e1], messages: [], completeAtNs: 0), realNs: 0) == nil)
        #expect(c.durableWrite(node: 1, disk: &b, write: PendingWrite(hardState: nil, truncateFrom: nil, entries: [e2b], messages: [], completeAtNs: 0), realNs: 0)?.property == "LogMatching")
    }

    @Test func committedPrefixIsNeverRewritten() {
        var c = InvariantChecker(nodeCount: 1)
        var disk = SimDisk()
        let es = [Entry(index: 1, term: 1, payload: .noop), Entry(index: 2, term: 1, payload: .data([7]))]
        #expect(c.durableWrite(node: 0, disk: &disk, write: PendingWrite(hardState: HardState(term: 1, commitIndex: 2), truncateFrom: nil, entries: es, messages: [], completeAtNs: 0), realNs: 0) == nil)
        // Rewriting identical entries is legal; replacing a committed one is not.
        #expect(c.durableWrite(node: 0, disk: &disk, write: PendingWrite(hardState: nil, truncateFrom: 2, entries: [es[1]], messages: [], completeAtNs: 0), realNs: 0) == nil)
        #expect(c.durableWrite(node: 0, disk: &disk, write: PendingWrite(hardState: HardState(term: 2, commitIndex: 2), truncateFrom: 2, entries: [Entry(index: 2, term: 2, payload: .noop)], messages: [], completeAtNs: 0), realNs: 0)?.property == "StateMachineSafety")
    }

    @Test func clockConvertsBothWays() {
        let drifted = SimClock(offsetNs: 123_456_789, ratePpm: 950_000)
        for real: Int64 in [0, 1, 999, 1_000_000_007, 30_000_000_000] {
            let local = drifted.reading(atReal: real)
            let back = drifted.realTime(reaching: local)
            #expect(back <= real)
            #expect(drifted.reading(atReal: back) >= local)
        }
        #expect(drifted.realTime(reaching: .distantFuture) == SimClock.neverRealNs)
    }

    @Test func eventQueueOrdersByTimeThenInsertion() {
        var q = EventQueue<EventKind>(capacity: 8)
        q.push(timeNs: 5, kind: .tick, node: 0, payload: 1)
        q.push(timeNs: 3, kind: .tick, node: 0, payload: 2)
        q.push(timeNs: 5, kind: .tick, node: 0, payload: 3)
        q.push(timeNs: 1, kind: .tick, node: 0, payload: 4)
        #expect([q.pop(), q.pop(), q.pop(), q.pop()].map { $0!.payload } == [4, 2, 1, 3])
        for k in 0..<8 { #expect(q.push(timeNs: Int64(k), kind: .tick, node: 0) == true) }
        #expect(q.push(timeNs: 0, kind: .tick, node: 0) == false)
    }
}

@Suite struct HistogramTests {
    @Test func percentilesByNearestRank() {
        var h = Histogram(limit: 1000)
        for v: Int64 in 1...100 { h.add(v) }
        #expect(h.percentile(50) == 50)
        #expect(h.percentile(99) == 99)
        #expect(h.maxNs == 100)
        #expect(h.count == 100)
    }

    @Test func staysBoundedAndKeepsTheMax() {
        var h = Histogram(limit: 64)
        for v: Int64 in 1...10_000 { h.add(v) }
        #expect(h.samples.count < 64)
        #expect(h.maxNs == 10_000)
        let p50 = h.percentile(50)
        #expect(p50 > 4_000 && p50 < 6_000)
    }
}
