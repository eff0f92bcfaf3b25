// The part of the loop other threads may touch: a lock-protected queue of work and an
// eventfd that wakes the loop when the queue stops being empty.
import Posix
import Synchronization

/// EventLoopRemote lets other threads (the storage thread, tests, signal handling)
/// hand work to the loop. The work runs on the loop thread, in posting order.
public final class EventLoopRemote: Sendable {
    /// Work is a job for the loop thread; it receives the loop it runs on.
    public typealias Work = @Sendable (EventLoop) -> Void

    private let wake: EventFD
    private let queue = Mutex<[Work]>([])

    init() throws(Errno) {
        wake = try EventFD()
    }

    var wakeDescriptor: Int32 { wake.descriptor.rawValue }

    /// post queues `work` for the loop thread and wakes it. Safe from any thread.
    public func post(_ work: @escaping Work) {
        let wasEmpty = queue.withLock { queue in
            queue.append(work)
            return queue.count == 1
        }
        // One wake-up per batch: later posts find the queue non-empty and the loop
        // already signalled.
        if wasEmpty { wake.signal() }
    }

    /// stop asks the loop to return from `run` after the work queued before it.
    public func stop() {
        post { $0.stop() }
    }

    /// take moves the queued work into `batch` (whose storage is reused across calls).
    func take(into batch: inout [Work]) {
        _ = try? wake.drain()
        queue.withLock { queue in
            swap(&queue, &batch)
        }
    }
}
