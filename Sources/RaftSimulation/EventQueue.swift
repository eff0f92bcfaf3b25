/// EventQueue is the simulator's agenda: a binary min-heap of small plain values ordered
/// by simulated real time, then by insertion order, so that two events at the same
/// instant always pop in the same order and a seed replays exactly. Time jumps from
/// event to event; nothing ticks at a fixed rate (the idea of TigerBeetle's VOPR and
/// FoundationDB's simulator). Payloads that own memory (messages) live in a slab beside
/// the heap, so sifting moves only 24-byte values and allocates nothing. `Kind` is the
/// layer's own list of event kinds (the core layer's `EventKind`, the agent layer's
/// `AgentEventKind`).
struct EventQueue<Kind> {
    /// ScheduledEvent is one entry of the heap: when, a tie-breaking sequence number,
    /// and what (kind, node, and a payload word whose meaning depends on the kind).
    struct ScheduledEvent {
        var timeNs: Int64
        var sequence: UInt64
        var payload: UInt64
        /// life is the process life of `node` the event belongs to (stale ones are dropped).
        var life: UInt32
        var kind: Kind
        var node: UInt8
    }

    private(set) var heap: [ScheduledEvent] = []
    private var nextSequence: UInt64 = 0
    /// capacity is the most events that may be pending at once; past it the run stops
    /// with a simulator error instead of eating memory (style rule 11).
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        heap.reserveCapacity(min(capacity, 4096))
    }

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var isFull: Bool { heap.count >= capacity }

    /// push adds an event; returns false when the queue is full.
    @discardableResult
    mutating func push(timeNs: Int64, kind: Kind, node: Int, payload: UInt64 = 0, life: UInt32 = 0) -> Bool {
        guard heap.count < capacity else { return false }
        let event = ScheduledEvent(timeNs: timeNs, sequence: nextSequence, payload: payload, life: life,
                                   kind: kind, node: UInt8(truncatingIfNeeded: node))
        return push(event)
    }

    /// push re-queues an event (kept from a paused node) with a fresh sequence number.
    @discardableResult
    mutating func push(_ e: ScheduledEvent) -> Bool {
        guard heap.count < capacity else { return false }
        var event = e
        event.sequence = nextSequence
        nextSequence &+= 1
        heap.append(event)
        siftUp(heap.count - 1)
        return true
    }

    /// peekTimeNs is the time of the earliest event, if any.
    var peekTimeNs: Int64? { heap.first?.timeNs }

    mutating func pop() -> ScheduledEvent? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return top
    }

    @inline(__always)
    private static func before(_ a: ScheduledEvent, _ b: ScheduledEvent) -> Bool {
        a.timeNs < b.timeNs || (a.timeNs == b.timeNs && a.sequence < b.sequence)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        let item = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            if !Self.before(item, heap[parent]) { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = item
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = heap.count
        let item = heap[parent]
        while true {
            var child = 2 * parent + 1
            if child >= count { break }
            if child + 1 < count && Self.before(heap[child + 1], heap[child]) { child += 1 }
            if !Self.before(heap[child], item) { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = item
    }
}

extension EventQueue where Kind: RawRepresentable, Kind.RawValue == UInt8 {
    /// popFolding takes the earliest event and folds its time, kind and node into
    /// `digest`, so that equal digests mean equal histories.
    mutating func popFolding(into digest: inout UInt64) -> ScheduledEvent? {
        guard let e = pop() else { return nil }
        digest = mix(digest, mix(UInt64(bitPattern: e.timeNs), UInt64(e.kind.rawValue) << 8 | UInt64(e.node)))
        return e
    }
}

/// EventKind says what a scheduled event does; the payload word of the event is
/// interpreted per kind (a message slot, a timer token, a term, ...).
enum EventKind: UInt8 {
    /// Deliver the message in slab slot `payload` to `node`.
    case deliver
    /// The node's timer fires; `payload` is the timer token (stale tokens are ignored).
    case tick
    /// The oldest pending write of `node` becomes durable; `payload` is the node's life.
    case fsyncDone
    /// The transport tells `node` its connection to the leader dropped; `payload` is its life.
    case connectionLost
    /// The demote hook of `node` finished for the office of term `payload`.
    case demoteFinished
    /// The process of `node` dies (kill -9): everything not yet durable is lost.
    case crash
    /// The data dir of `node` is deleted; it restarts `payload` ns later with --bootstrap.
    case wipe
    /// The process of `node` starts again from its durable state.
    case restart
    /// The fault generator acts (random schedule).
    case chaos
    /// Step `payload` of a targeted scenario.
    case scenarioStep
    /// The application proposes a command to whoever it believes leads.
    case propose
    /// The driver lets `node` campaign again (its check recovered); `payload` is its life.
    case releaseCampaign
    /// The safety phase ends: heal a majority.
    case heal
    /// An HTTP-like probe asks `node` whether it is in office (checks `isInOffice`).
    case probe
    /// A paused node (SIGSTOP) continues (SIGCONT); `payload` is its pause token.
    case resume
    /// The run ends.
    case end
}
