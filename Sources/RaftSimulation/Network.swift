import RaftCore

/// LinkProfile is how one direction of one link behaves: loss and duplication odds in
/// parts per million, and a delay drawn uniformly from `[delayMinNs, delayMaxNs]`,
/// except that `tailPpm` of messages take up to `tailMaxNs` (a slow retransmit).
/// Independent delays reorder messages, as a real network's retransmits can.
struct LinkProfile {
    var lossPpm: UInt64 = 0
    var duplicatePpm: UInt64 = 0
    var delayMinNs: Int64 = 100_000
    var delayMaxNs: Int64 = 1_000_000
    var tailPpm: UInt64 = 0
    var tailMaxNs: Int64 = 0
}

/// Network is the simulated wire between nodes: a directed link per ordered pair, each
/// with its own profile, its own seeded generator (so one link's traffic does not shift
/// another's draws), and a blocked flag for partitions (symmetric: both directions;
/// asymmetric: one). A message is dropped if its link is blocked when it would arrive,
/// as a broken TCP connection loses what was in flight.
struct Network {
    let nodeCount: Int
    var profiles: [LinkProfile]
    var blocked: [Bool]
    var generators: [SeededGenerator]
    /// dropTimeoutNow loses every TimeoutNow (targeted scenario: transfers never complete).
    var dropTimeoutNow = false

    /// slab holds messages in flight; events carry the slot number.
    private(set) var slab: [Message?] = []
    private var freeSlots: [Int32] = []
    let slabLimit: Int
    private(set) var inFlight = 0

    init(nodeCount: Int, generator: inout SeededGenerator, slabLimit: Int) {
        self.nodeCount = nodeCount
        self.slabLimit = slabLimit
        profiles = Array(repeating: LinkProfile(), count: nodeCount * nodeCount)
        blocked = Array(repeating: false, count: nodeCount * nodeCount)
        generators = (0..<(nodeCount * nodeCount)).map { _ in generator.fork() }
        slab.reserveCapacity(1024)
    }

    @inline(__always) func link(_ from: Int, _ to: Int) -> Int { from * nodeCount + to }

    func isBlocked(from: Int, to: Int) -> Bool { blocked[link(from, to)] }

    mutating func setBlocked(from: Int, to: Int, _ value: Bool) { blocked[link(from, to)] = value }

    /// isolate blocks or unblocks every link of `node`, both ways.
    mutating func isolate(_ node: Int, _ value: Bool) {
        for other in 0..<nodeCount where other != node {
            blocked[link(node, other)] = value
            blocked[link(other, node)] = value
        }
    }

    /// heal(majority:) reconnects the healed nodes among themselves with delay at most
    /// `deltaNs` and no loss (the liveness phase), and cuts them off from the rest.
    mutating func heal(majority healed: [Bool], deltaNs: Int64) {
        for from in 0..<nodeCount {
            for to in 0..<nodeCount where from != to {
                let inside = healed[from] && healed[to]
                setBlocked(from: from, to: to, !inside)
                if inside {
                    profiles[link(from, to)] = LinkProfile(
                        lossPpm: 0, duplicatePpm: profiles[link(from, to)].duplicatePpm,
                        delayMinNs: min(50_000, deltaNs), delayMaxNs: deltaNs, tailPpm: 0, tailMaxNs: 0)
                }
            }
        }
    }

    mutating func healAll() {
        for i in blocked.indices { blocked[i] = false }
    }

    /// store puts a message in the slab; nil when the slab is full (the run fails).
    mutating func store(_ message: Message) -> Int32? {
        if let slot = freeSlots.popLast() {
            slab[Int(slot)] = message
            inFlight += 1
            return slot
        }
        guard slab.count < slabLimit else { return nil }
        slab.append(message)
        inFlight += 1
        return Int32(slab.count - 1)
    }

    mutating func take(_ slot: Int32) -> Message {
        let message = slab[Int(slot)]!
        slab[Int(slot)] = nil
        freeSlots.append(slot)
        inFlight -= 1
        return message
    }

    /// Copies is how many copies of one send arrive and after which delays: zero (lost),
    /// one, or two (duplicated).
    struct Copies {
        var count = 0
        var firstDelayNs: Int64 = 0
        var secondDelayNs: Int64 = 0
    }

    /// draw decides the fate of one message sent on link from→to.
    mutating func draw(from: Int, to: Int) -> Copies {
        let l = link(from, to)
        let p = profiles[l]
        var copies = Copies()
        if p.lossPpm > 0 && generators[l].next() % 1_000_000 < p.lossPpm { return copies }
        copies.count = 1
        copies.firstDelayNs = sampleDelay(p, &generators[l])
        if p.duplicatePpm > 0 && generators[l].next() % 1_000_000 < p.duplicatePpm {
            copies.count = 2
            copies.secondDelayNs = sampleDelay(p, &generators[l])
        }
        return copies
    }

    private func sampleDelay(_ p: LinkProfile, _ g: inout SeededGenerator) -> Int64 {
        if p.tailPpm > 0 && g.next() % 1_000_000 < p.tailPpm && p.tailMaxNs > p.delayMaxNs {
            return p.delayMaxNs + Int64(g.next() % UInt64(p.tailMaxNs - p.delayMaxNs))
        }
        let span = p.delayMaxNs - p.delayMinNs
        return p.delayMinNs + (span > 0 ? Int64(g.next() % UInt64(span + 1)) : 0)
    }
}

extension SeededGenerator {
    /// uniform is a draw in `[low, high]` (inclusive), for simulator choices.
    @inline(__always)
    mutating func uniform(_ low: Int64, _ high: Int64) -> Int64 {
        if high <= low { return low }
        return low + Int64(next() % UInt64(high - low + 1))
    }

    /// chance is true with probability `ppm` / 1,000,000.
    @inline(__always)
    mutating func chance(ppm: UInt64) -> Bool { next() % 1_000_000 < ppm }

    @inline(__always)
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
