// The event loop (style rule 14, after redis ae.c's aeMain and swift-nio's
// SelectorEpoll): one thread, one epoll set with a preallocated event buffer, one
// timerfd armed for the nearest timer, one eventfd for work posted by other threads.
public import Posix
public import Time

/// EventHandler receives readiness for the descriptors it registered. Called on the
/// loop thread only; it must not block.
public protocol EventHandler: AnyObject {
    /// handleEvents is called when `descriptor` is ready for `events`.
    func handleEvents(_ events: EpollEvents, descriptor: Int32)
}

/// EventLoop runs handlers, timers and posted work on one thread. It is deliberately
/// not Sendable: everything except `remote` must be used from the thread that runs
/// it, which is what lets handlers use plain mutable state without locks.
public final class EventLoop {
    private struct Registration {
        var handler: (any EventHandler)?
        /// generation changes each time the descriptor number is registered again, so
        /// an event queued for a closed descriptor is not delivered to its successor.
        var generation: UInt32 = 0
    }

    private struct TimerRecord {
        var body: (EventLoop) -> Void
        var intervalNs: UInt64      // 0: one-shot
        var sequence: UInt64        // matches the live heap entry
    }

    private static let timerTag: UInt64 = .max
    private static let wakeTag: UInt64 = .max - 1

    private let epoll: Epoll
    private let timerFD: TimerFD
    /// remote is the thread-safe side of the loop: post work, stop.
    public let remote: EventLoopRemote

    private var registrations: [Registration] = []
    private var nextGeneration: UInt32 = 1
    private var heap = TimerHeap()
    private var timers: [UInt64: TimerRecord] = [:]
    private var nextTimerID: UInt64 = 1
    private var nextSequence: UInt64 = 1
    private var armedDeadlineNs: UInt64 = .max
    private var posted: [EventLoopRemote.Work] = []
    private var stopped = false

    /// nowNs is `Clock.boottime()` read when the loop last woke up.
    private var nowNs: UInt64

    /// now is the clock (`Clock.now()`) read when the loop last woke up, so handlers
    /// running in one batch agree on the time without each reading the clock.
    public var now: Instant { Instant(nanoseconds: Int64(nowNs)) }

    /// init creates the loop; `eventCapacity` bounds how many ready descriptors one
    /// wake-up handles (the rest are returned by the next `epoll_wait`).
    public init(eventCapacity: Int = 256) throws(Errno) {
        epoll = try Epoll(capacity: eventCapacity)
        timerFD = try TimerFD()
        remote = try EventLoopRemote()
        nowNs = Clock.boottime()
        try epoll.add(timerFD.descriptor.rawValue, interest: .readable, tag: Self.timerTag)
        try epoll.add(remote.wakeDescriptor, interest: .readable, tag: Self.wakeTag)
    }

    // MARK: descriptors

    /// register starts delivering `interest` events of `descriptor` to `handler`.
    /// The caller keeps owning the descriptor and must `unregister` before closing it.
    public func register(_ descriptor: Int32, interest: EpollEvents, handler: any EventHandler) throws(Errno) {
        precondition(descriptor >= 0)
        let index = Int(descriptor)
        if index >= registrations.count {
            registrations.append(contentsOf: repeatElement(Registration(), count: max(index + 1, registrations.count * 2) - registrations.count))
        }
        precondition(registrations[index].handler == nil, "descriptor \(descriptor) registered twice")
        let generation = nextGeneration
        nextGeneration = nextGeneration == .max ? 1 : nextGeneration + 1
        try epoll.add(descriptor, interest: interest, tag: Self.tag(descriptor, generation))
        registrations[index] = Registration(handler: handler, generation: generation)
    }

    /// modify changes which events of a registered descriptor are delivered.
    public func modify(_ descriptor: Int32, interest: EpollEvents) throws(Errno) {
        let registration = registrations[Int(descriptor)]
        precondition(registration.handler != nil, "modify of unregistered descriptor \(descriptor)")
        try epoll.modify(descriptor, interest: interest, tag: Self.tag(descriptor, registration.generation))
    }

    /// unregister stops delivery for `descriptor`; events already fetched in this
    /// batch are dropped too.
    public func unregister(_ descriptor: Int32) {
        let index = Int(descriptor)
        guard index < registrations.count, registrations[index].handler != nil else { return }
        registrations[index] = Registration()
        try? epoll.remove(descriptor)
    }

    private static func tag(_ descriptor: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: descriptor))
    }

    // MARK: timers

    /// schedule runs `body` once at `deadline` (a `Clock.now()` reading), or every
    /// `repeatingEvery` from then on when that is above zero.
    @discardableResult
    public func schedule(at deadline: Instant, repeatingEvery interval: Interval = .zero,
                         _ body: @escaping (EventLoop) -> Void) -> TimerID {
        precondition(interval >= .zero, "a repeating interval cannot be negative")
        let id = nextTimerID
        nextTimerID += 1
        let sequence = nextSequence
        nextSequence += 1
        timers[id] = TimerRecord(body: body, intervalNs: UInt64(interval.nanoseconds), sequence: sequence)
        heap.push(.init(deadlineNs: Self.ns(deadline), sequence: sequence, id: id))
        armTimerFD()
        return TimerID(raw: id)
    }

    /// schedule(after:) runs `body` `delay` from now (and every `repeatingEvery`).
    @discardableResult
    public func schedule(after delay: Interval, repeatingEvery interval: Interval = .zero,
                         _ body: @escaping (EventLoop) -> Void) -> TimerID {
        precondition(delay >= .zero, "a delay cannot be negative")
        return schedule(at: Clock.now() + delay, repeatingEvery: interval, body)
    }

    /// reschedule moves a pending timer to a new deadline without re-creating it (no
    /// allocation); returns false when the timer already fired (one-shot) or was cancelled.
    @discardableResult
    public func reschedule(_ timer: TimerID, at deadline: Instant) -> Bool {
        guard timers[timer.raw] != nil else { return false }
        let sequence = nextSequence
        nextSequence += 1
        timers[timer.raw]!.sequence = sequence
        heap.push(.init(deadlineNs: Self.ns(deadline), sequence: sequence, id: timer.raw))
        compactHeapIfMostlyStale()
        armTimerFD()
        return true
    }

    /// ns is a deadline on the timer heap's scale (boottime nanoseconds; a reading
    /// before boot is due at once).
    private static func ns(_ instant: Instant) -> UInt64 { UInt64(max(0, instant.nanoseconds)) }

    /// cancel stops a timer; cancelling one that already fired or was cancelled is a no-op.
    public func cancel(_ timer: TimerID) {
        guard timers.removeValue(forKey: timer.raw) != nil else { return }
        compactHeapIfMostlyStale()
    }

    /// staleHeapEntriesFloor: below this many heap entries compaction is not worth a pass.
    static let staleHeapEntriesFloor = 64

    /// compactHeapIfMostlyStale drops the entries of cancelled and moved timers once they
    /// outnumber the live ones, so after a cancel or move the heap holds at most
    /// max(`staleHeapEntriesFloor`, 2 × live timers) entries (10,000 cancelled long-poll holds would otherwise stay
    /// until their deadlines, up to minutes). Each pass costs O(heap) and follows at
    /// least as many cancellations as live timers remain, so it is O(1) per cancel amortized.
    private func compactHeapIfMostlyStale() {
        let entryCount = heap.count
        guard entryCount > Self.staleHeapEntriesFloor, entryCount > 2 * timers.count else { return }
        heap.removeAll { timers[$0.id]?.sequence != $0.sequence }
    }

    /// isScheduled says whether a timer is still pending.
    public func isScheduled(_ timer: TimerID) -> Bool { timers[timer.raw] != nil }

    /// scheduledTimerCount is how many timers are pending (for tests and metrics).
    public var scheduledTimerCount: Int { timers.count }

    /// timerHeapEntryCount is how many entries the timer heap holds, live and stale: at
    /// most max(64, 2 × `scheduledTimerCount`) after a cancel (for tests and metrics).
    public var timerHeapEntryCount: Int { heap.count }

    private func dropStaleTop() {
        while let top = heap.top, timers[top.id]?.sequence != top.sequence { heap.pop() }
    }

    private func armTimerFD() {
        dropStaleTop()
        let wanted = heap.top?.deadlineNs ?? .max
        if wanted == armedDeadlineNs { return }
        armedDeadlineNs = wanted
        // Failure here would mean a broken timerfd, which the loop cannot work without.
        do {
            if wanted == .max { try timerFD.disarm() } else { try timerFD.arm(deadlineNs: wanted) }
        } catch {
            fatalError("timerfd_settime failed: \(error)")
        }
    }

    private func runDueTimers() {
        // Bound the batch to timers due at entry, so a repeating 0-delay chain cannot
        // starve descriptors.
        let now = nowNs
        var fired = 0
        let limit = heap.count
        while fired < limit, let top = heap.top, top.deadlineNs <= now {
            heap.pop()
            guard var record = timers[top.id], record.sequence == top.sequence else { continue }
            fired += 1
            if record.intervalNs > 0 {
                var next = top.deadlineNs + record.intervalNs
                if next <= now { next = now + record.intervalNs }  // skip missed ticks after a pause
                record.sequence = nextSequence
                nextSequence += 1
                timers[top.id] = record
                heap.push(.init(deadlineNs: next, sequence: record.sequence, id: top.id))
            } else {
                timers[top.id] = nil
            }
            record.body(self)
        }
        armTimerFD()
    }

    // MARK: running

    /// run handles events until `stop()` is called (on the loop) or `remote.stop()`.
    public func run() throws(Errno) {
        stopped = false
        while !stopped { try pollOnce() }
    }

    /// stop makes `run` return after the current batch.
    public func stop() { stopped = true }

    /// pollOnce waits up to `timeoutMs` (-1: until something happens), then runs the
    /// ready handlers, posted work and due timers.
    public func pollOnce(timeoutMs: Int32 = -1) throws(Errno) {
        let count = try epoll.wait(timeoutMs: timeoutMs)
        nowNs = Clock.boottime()
        for i in 0..<count {
            let (events, tag) = epoll.event(at: i)
            if tag == Self.timerTag {
                _ = try? timerFD.drain()
                // armedDeadline is now in the past: force re-arming for the next one.
                armedDeadlineNs = .max
                continue
            }
            if tag == Self.wakeTag {
                runPosted()
                continue
            }
            let index = Int(UInt32(truncatingIfNeeded: tag))
            guard index < registrations.count, registrations[index].generation == UInt32(truncatingIfNeeded: tag >> 32),
                  let handler = registrations[index].handler else { continue }
            handler.handleEvents(events, descriptor: Int32(index))
        }
        runDueTimers()
    }

    private func runPosted() {
        remote.take(into: &posted)
        for work in posted { work(self) }
        posted.removeAll(keepingCapacity: true)
    }
}
