// Which inbound connections may wait for their handshake. A flood of connections that
// never authenticate (half-open, idle, garbage) used to share one cap with the members'
// own connections, so 40 idle sockets locked the members out (issue 15). Now:
// - an authenticated member's connection holds no pre-authentication slot at all (one
//   per configured member, a newer one replacing an older one: PeerTransport);
// - unauthenticated connections get a bounded number of slots, at most a few per source
//   address, and each only for a short budget (TransportLimits.handshakeTimeoutMs);
// - when the slots are full, the OLDEST unauthenticated connection (of the same source
//   when that source is over its share, else of any) is evicted rather than the new one
//   refused — and among those, first the ones that have shown nothing: a connection
//   whose hello named this cluster and a member goes only when no other is left. So every connection is guaranteed a lifetime of slots ÷ arrival rate to
//   finish its handshake — at 2,000 connections/s and 32 slots per source, 16 ms, where
//   a handshake takes one round trip — and a flood from one address can only evict its
//   own connections. (The same idea as a SYN queue that drops the oldest half-open entry
//   rather than refusing new ones; see e.g. the "random early drop" discussion in
//   RFC 4987 §3.3 on SYN flooding.)
import Posix

/// InboundGate tracks the unauthenticated inbound connections and says which to evict.
/// Pure bookkeeping on descriptors; the transport closes what it is told to.
struct InboundGate {
    let slotsMax: Int
    let slotsPerSourceMax: Int

    private struct Pending {
        var source: SocketAddress
        var serial: UInt64
        /// The peer sent a well-formed hello naming this cluster and a member: it is
        /// evicted only when no connection that has shown nothing remains.
        var progressed = false
    }
    /// Admission order, oldest first, of connections that have shown nothing yet, and
    /// of those that sent a hello; entries no longer current are skipped lazily.
    private var fresh = FIFO()
    private var helloed = FIFO()
    private var pending: [Int32: Pending] = [:]
    /// Per source, its pending descriptors oldest first (at most slotsPerSourceMax).
    private var bySource: [SocketAddress: [Int32]] = [:]
    private var nextSerial: UInt64 = 0

    init(slotsMax: Int, slotsPerSourceMax: Int) {
        precondition(slotsMax >= 1 && slotsPerSourceMax >= 1, "InboundGate: slots must be positive")
        self.slotsMax = slotsMax
        self.slotsPerSourceMax = min(slotsPerSourceMax, slotsMax)
    }

    var count: Int { pending.count }
    func isPending(_ fd: Int32) -> Bool { pending[fd] != nil }

    /// admit records `fd` from `source` (the address without its port) and returns the
    /// descriptor to evict to make room for it, if any: the oldest connection that has
    /// shown nothing, of the same source when that source is over its share, else of
    /// any; only when there is none, the oldest that sent a hello. The caller closes the
    /// evicted one, which calls `remove` for it.
    mutating func admit(_ fd: Int32, from source: SocketAddress) -> Int32? {
        var victim: Int32? = nil
        if let mine = bySource[source], mine.count >= slotsPerSourceMax {
            victim = mine.first { pending[$0]?.progressed == false } ?? mine.first
        } else if pending.count >= slotsMax {
            victim = oldestFresh() ?? oldestHelloed()
        }
        if let victim { remove(victim) }
        nextSerial += 1
        pending[fd] = Pending(source: source, serial: nextSerial)
        fresh.push(fd, nextSerial)
        bySource[source, default: []].append(fd)
        compact()
        return victim
    }

    /// markHello: `fd` sent a well-formed hello (a stranger flooding the port has not).
    mutating func markHello(_ fd: Int32) {
        guard var entry = pending[fd], !entry.progressed else { return }
        entry.progressed = true
        pending[fd] = entry
        helloed.push(fd, entry.serial)
        compact()
    }

    /// remove forgets `fd` (it authenticated, was refused, timed out or closed).
    mutating func remove(_ fd: Int32) {
        guard let entry = pending.removeValue(forKey: fd) else { return }
        if var fds = bySource[entry.source] {
            fds.removeAll { $0 == fd }
            bySource[entry.source] = fds.isEmpty ? nil : fds
        }
        compact()
    }

    private mutating func oldestFresh() -> Int32? { Self.oldest(in: &fresh, pending, progressed: false) }
    private mutating func oldestHelloed() -> Int32? { Self.oldest(in: &helloed, pending, progressed: true) }

    /// oldest is the queue's first entry still pending in that class, dropping the
    /// stale ones before it.
    private static func oldest(in queue: inout FIFO, _ pending: [Int32: Pending], progressed: Bool) -> Int32? {
        while let (fd, serial) = queue.first {
            if let p = pending[fd], p.serial == serial, p.progressed == progressed { return fd }
            queue.dropFirst()
        }
        return nil
    }

    /// compact drops skipped entries at the heads, and rebuilds a queue whose stale
    /// entries pile up, so both stay bounded by the slots, not by the arrival rate.
    private mutating func compact() {
        _ = oldestFresh()
        _ = oldestHelloed()
        let bound = 4 * slotsMax + 64
        if fresh.count > bound { fresh.rebuild(pending.filter { !$0.value.progressed }.map { ($0.key, $0.value.serial) }) }
        if helloed.count > bound { helloed.rebuild(pending.filter { $0.value.progressed }.map { ($0.key, $0.value.serial) }) }
    }
}

/// FIFO is a queue of (descriptor, admission serial) with a moving head.
private struct FIFO {
    private var items: [(fd: Int32, serial: UInt64)] = []
    private var head = 0
    var count: Int { items.count - head }
    var first: (Int32, UInt64)? { head < items.count ? (items[head].fd, items[head].serial) : nil }
    mutating func push(_ fd: Int32, _ serial: UInt64) { items.append((fd, serial)) }
    mutating func dropFirst() {
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        else if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
    }
    mutating func rebuild(_ entries: [(Int32, UInt64)]) {
        items = entries.sorted { $0.1 < $1.1 }.map { (fd: $0.0, serial: $0.1) }
        head = 0
    }
}
