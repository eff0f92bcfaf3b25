// Child-process exits observed by the loop through a pidfd (hooks need this; the loop
// must never block in waitpid).
public import Posix

extension EventLoop {
    /// watchChild calls `onExit` on the loop thread once `pid` (a child of this process
    /// that has not been reaped) exits, and reaps it. Throws ESRCH if it is already gone.
    public func watchChild(pid: Int32, _ onExit: @escaping (ChildExit) -> Void) throws(Errno) {
        let watcher = ChildWatcher(pidFD: try PidFD(pid: pid), onExit: onExit, loop: self)
        try register(watcher.pidFD.descriptor.rawValue, interest: .readable, handler: watcher)
    }
}

/// ChildWatcher owns the pidfd; the loop's registration keeps it alive until the exit.
final class ChildWatcher: EventHandler {
    let pidFD: PidFD
    let onExit: (ChildExit) -> Void
    unowned let loop: EventLoop

    init(pidFD: consuming PidFD, onExit: @escaping (ChildExit) -> Void, loop: EventLoop) {
        self.pidFD = pidFD
        self.onExit = onExit
        self.loop = loop
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        let exit: ChildExit?
        do { exit = try pidFD.reap() } catch {
            // ECHILD: someone else reaped it; the exit status is lost.
            exit = .exited(code: -1)
        }
        guard let exit else { return }  // spurious wake-up: still running
        loop.unregister(descriptor)     // drops the last reference: closes the pidfd
        onExit(exit)
    }
}
