// Which inbound connections may wait for their handshake. A flood of connections that
// never authenticate (half-open, idle, garbage) used to share one cap with the members'
// own connections, so 40 idle sockets locked the members out (issue 15). Now:
// - an authenticated member's connection holds no pre-authentication slot at all (one
//   per configured member, a newer one replacing an older one: PeerTransport);
// - unauthenticated connections get a bounded number of slots, at most a few per source
//   address, and each only for a short budget (TransportLimits.handshakeTimeoutMs);
// - when the slots are full, the OLDEST unauthenticated connection (of the same source
//   when that source is over its share, else of any) is evicted rather than the new one
//   refused. So every connection is guaranteed a lifetime of slots ÷ arrival rate to
//   finish its handshake — at 2,000 connections/s and 32 slots per source, 16 ms, where
//   a handshake takes one round trip — and a flood from one address can only evict its
//   own connections. (The same idea as a SYN queue that drops the oldest half-open entry
//   rather than refusing new ones; see e.g. the "random early drop" discussion in
//   RFC 4987 §3.3 on SYN flooding.)
public import Posix

/// InboundGate tracks the unauthenticated inbound connections and says which to evict.
/// Pure bookkeeping on descriptors; the transport closes what it is told to.
struct InboundGate {
    let slotsMax: Int
    let slotsPerSourceMax: Int
    /// Admission order, oldest first; entries of descriptors no longer pending are
    /// skipped lazily (`pending[fd]?.serial` no longer matches).
    private var order: [(fd: Int32, serial: UInt64)] = []
    private var orderHead = 0
    private var pending: [Int32: (source: SocketAddress, serial: UInt64)] = [:]
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
    /// descriptor to evict to make room for it, if any. The caller closes that one,
    /// which calls `remove` for it.
    mutating func admit(_ fd: Int32, from source: SocketAddress) -> Int32? {
        var victim: Int32? = nil
        if let mine = bySource[source], mine.count >= slotsPerSourceMax {
            victim = mine.first
        } else if pending.count >= slotsMax {
            victim = oldest()
        }
        if let victim { remove(victim) }
        nextSerial += 1
        pending[fd] = (source, nextSerial)
        order.append((fd, nextSerial))
        bySource[source, default: []].append(fd)
        return victim
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

    private mutating func oldest() -> Int32? {
        while orderHead < order.count {
            let e = order[orderHead]
            if pending[e.fd]?.serial == e.serial { return e.fd }
            orderHead += 1
        }
        return nil
    }

    /// compact drops skipped entries once they are most of the array, so `order` stays
    /// within a small multiple of the pending count.
    private mutating func compact() {
        while orderHead < order.count, pending[order[orderHead].fd]?.serial != order[orderHead].serial { orderHead += 1 }
        if orderHead > 64 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
        if pending.isEmpty { order.removeAll(keepingCapacity: true); orderHead = 0 }
        // Entries removed out of order stay until the head passes them: rebuild when
        // they pile up, so the array is bounded by the slots, not by the arrival rate.
        if order.count - orderHead > 4 * slotsMax + 64 {
            order = pending.map { (fd: $0.key, serial: $0.value.serial) }.sorted { $0.serial < $1.serial }
            orderHead = 0
        }
    }
}
