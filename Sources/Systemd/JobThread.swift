// The lock, condition variable and joinable thread UnitController needs, on Glibc
// pthreads (no Foundation). Storage has the same pair privately; both could move to
// Posix once a third user appears.
import Glibc

/// JobMonitor is a pthread mutex with one condition variable, in heap memory that
/// never moves, as pthreads requires.
final class JobMonitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private let condition: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)

    init() {
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init")
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// locked runs `body` with the mutex held.
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// wait releases the mutex until signalled; only inside `locked`, in a loop that
    /// re-checks its predicate.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// broadcast wakes every waiter; only inside `locked`.
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// JobThread is a joinable pthread running one closure.
final class JobThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// init starts `body` at once.
    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&handle, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed with \(rc)")
    }

    /// join waits for the thread to finish; later calls return at once. Called by one
    /// thread only (UnitController.shutdown takes the thread under its lock).
    func join() {
        if joined { return }
        joined = true
        pthread_join(handle, nil)
    }

    deinit { if !joined { pthread_detach(handle) } }
}
