// Threads: the lock, condition variable and thread that StorageWorker needs, on Glibc
// pthreads (no Foundation). Posix has the same Monitor and PosixThread; this copy goes
// once Storage moves onto Posix (with DiskIO.swift and its Errno).
import Glibc

/// Monitor is a pthread mutex with one condition variable. The pthread objects live in
/// heap memory that never moves, as pthreads requires.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
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
    func locked<T: ~Copyable, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// wait releases the mutex until signalled; call only inside `locked`, in a loop that
    /// re-checks its predicate (wake-ups may be spurious).
    func wait() { pthread_cond_wait(condition, mutex) }

    /// broadcast wakes every waiter; call inside `locked`.
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// Thread is a joinable pthread running one closure.
struct Thread: ~Copyable {
    private let handle: pthread_t

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// init starts `body` on a new thread at once.
    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(Errno(rawValue: rc))")
        self.handle = handle
    }

    /// join waits for the thread to finish.
    consuming func join() {
        pthread_join(handle, nil)
        discard self
    }

    deinit {
        // A thread that was never joined keeps running on its own.
        pthread_detach(handle)
    }
}
