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

    /// SetupError wraps an error thrown by `setup` or by creating the loop.
    public struct SetupError: Error, CustomStringConvertible {
        public let underlying: any Error
        public var description: String { "event loop setup failed: \(underlying)" }
    }

    private enum Outcome: Sendable {
        case pending
        case ready(EventLoopRemote, any Sendable)
        case failed(String)
    }

    /// start creates the loop on a new thread, runs `setup` there, then runs the loop
    /// until `stop` or `remote.stop()`.
    public static func start<T: Sendable>(_ setup: @escaping @Sendable (EventLoop) throws -> T) throws -> (EventLoopThread, T) {
        let started = try EventFD(nonBlocking: false)
        let outcome = Mutex<Outcome>(.pending)
        let startedFD = started.descriptor.rawValue
        let thread = try withExtendedLifetime(started) { _ in
            try PosixThread.spawn {
                let loop: EventLoop
                do {
                    loop = try EventLoop()
                    let value = try setup(loop)
                    outcome.withLock { $0 = .ready(loop.remote, value) }
                } catch {
                    outcome.withLock { $0 = .failed("\(error)") }
                    signalStarted(startedFD)
                    return
                }
                signalStarted(startedFD)
                do { try loop.run() } catch { fatalError("event loop stopped: \(error)") }
            }
        }
        // Blocks until the thread signals (the eventfd is blocking).
        _ = try started.drain()
        let result = outcome.withLock { $0 }
        switch result {
        case .ready(let remote, let value):
            return (EventLoopThread(remote: remote, thread: thread), value as! T)
        case .failed(let message):
            thread.join()
            throw SetupError(underlying: StartError(message: message))
        case .pending:
            fatalError("event loop thread signalled before finishing setup")
        }
    }

    private struct StartError: Error, CustomStringConvertible { let message: String; var description: String { message } }

    /// stop stops the loop and waits for its thread to end.
    public func stop() {
        remote.stop()
        thread.join()
    }
}

/// signalStarted writes to the start-up eventfd by number: the owner (`started`)
/// outlives this write because `start` blocks reading it until the write happens.
private func signalStarted(_ descriptor: Int32) {
    EventFDSignal.signal(descriptor)
}
