// Starting a loop on its own thread, for the agent and for tests.
import Posix
import Synchronization

/// EventLoopThread runs an `EventLoop` on a new OS thread. The loop is created on that
/// thread (it is not Sendable), `setup` registers handlers there, and `start` returns
/// once setup is done, with whatever setup returned.
public final class EventLoopThread: Sendable {
    /// remote posts work to the loop or stops it.
    public let remote: EventLoopRemote
    private let thread: PosixThread

    private init(remote: EventLoopRemote, thread: PosixThread) {
        self.remote = remote
        self.thread = thread
    }

    /// SetupError wraps the error thrown by `setup` or by creating the loop (an `Errno`),
    /// as it was thrown: `underlying as? YourError` finds it.
    public struct SetupError: Error, CustomStringConvertible {
        public let underlying: any Error
        public var description: String { "event loop setup failed: \(underlying)" }
    }

    private enum Outcome: Sendable {
        case pending
        case ready(EventLoopRemote, any Sendable)
        /// failed carries the error itself (`Error` is `Sendable`), not its text.
        case failed(any Error)
    }

    /// start creates the loop on a new thread, runs `setup` there, then runs the loop
    /// until `stop` or `remote.stop()`.
    public static func start<T: Sendable>(_ setup: @escaping @Sendable (EventLoop) throws -> T) throws -> (EventLoopThread, T) {
        let started = try StartSignal()
        let outcome = Mutex<Outcome>(.pending)
        let thread = try PosixThread.spawn {
            let loop: EventLoop
            do {
                loop = try EventLoop()
                let value = try setup(loop)
                outcome.withLock { $0 = .ready(loop.remote, value) }
            } catch {
                outcome.withLock { $0 = .failed(error) }
                started.event.signal()
                return
            }
            started.event.signal()
            do { try loop.run() } catch { fatalError("event loop stopped: \(error)") }
        }
        // Blocks until the thread signals (the eventfd is blocking).
        _ = try started.event.drain()
        let result = outcome.withLock { $0 }
        switch result {
        case .ready(let remote, let value):
            return (EventLoopThread(remote: remote, thread: thread), value as! T)
        case .failed(let error):
            thread.join()
            throw SetupError(underlying: error)
        case .pending:
            fatalError("event loop thread signalled before finishing setup")
        }
    }

    /// stop stops the loop and waits for its thread to end.
    public func stop() {
        remote.stop()
        thread.join()
    }
}

/// StartSignal is the blocking eventfd the new thread signals once setup is done,
/// shared by reference so both threads keep it open.
private final class StartSignal: Sendable {
    let event: EventFD
    init() throws(Errno) { event = try EventFD(nonBlocking: false) }
}
