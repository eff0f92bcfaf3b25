// Child-process exits observed by the loop through a pidfd (hooks need this; the loop
// must never block in waitpid).
public import Posix

extension EventLoop {
    /// watchChild calls `onExit` on the loop thread once `pid` (a child of this process
    /// that has not been reaped) exits, and reaps it. Throws ESRCH if it is already gone.
    /// `onExit` gets `.failure(.noChildProcess)` (ECHILD) when something else in the
    /// process reaped the child first: it ended, but how is unknown, which is not the
    /// same as any exit code.
    public func watchChild(pid: Int32, _ onExit: @escaping (Result<ChildExit, Errno>) -> Void) throws(Errno) {
        let watcher = ChildWatcher(pidFD: try PidFD(pid: pid), onExit: onExit, loop: self)
        try register(watcher.pidFD.descriptor.rawValue, interest: .readable, handler: watcher)
    }
}

/// ChildWatcher owns the pidfd; the loop's registration keeps it alive until the exit.
final class ChildWatcher: EventHandler {
    let pidFD: PidFD
    let onExit: (Result<ChildExit, Errno>) -> Void
    unowned let loop: EventLoop

    init(pidFD: consuming PidFD, onExit: @escaping (Result<ChildExit, Errno>) -> Void, loop: EventLoop) {
        self.pidFD = pidFD
        self.onExit = onExit
        self.loop = loop
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        let exit: Result<ChildExit, Errno>
        do {
            guard let status = try pidFD.reap() else { return }  // spurious wake-up: still running
            exit = .success(status)
        } catch {
            // ECHILD: someone else reaped it and the status is lost; say so rather than
            // invent an exit code.
            exit = .failure(error)
        }
        loop.unregister(descriptor)     // drops the last reference: closes the pidfd
        onExit(exit)
    }
}
