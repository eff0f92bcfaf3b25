// Monitor: a pthread mutex with one condition variable, for the few worker threads
// (the storage worker, the systemd unit jobs).
import Glibc

/// Monitor is a pthread mutex with one condition variable. The pthread objects live in
/// heap memory that never moves, as pthreads requires.
public final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
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
    public func locked<T: ~Copyable, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// wait releases the mutex until signalled; call only inside `locked`, in a loop that
    /// re-checks its predicate (wake-ups may be spurious).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// broadcast wakes every waiter; call inside `locked`.
    public func broadcast() { pthread_cond_broadcast(condition) }
}
