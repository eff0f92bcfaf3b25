// The demo's agents run as children of `baton demo` that must never outlive it.
// `ChildProcess.spawn` (Posix) inherits the standard descriptors and the process group,
// which suits hooks; the demo needs three things more, so it forks itself:
//   * the child's stdout and stderr go into a pipe the demo reads (the agent's log lines),
//   * the child gets its own process group, so the terminal's Ctrl-C reaches only the
//     demo, which then stops every agent in order and reports,
//   * PR_SET_PDEATHSIG: if the demo itself is killed with SIGKILL (which it cannot
//     catch), the kernel kills the agents too — no process is left behind even then.
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// DemoChild is one started agent: its pid, a pidfd that turns readable when it exits,
/// and the read end of the pipe holding its output.
final class DemoChild {
    let pid: Int32
    let exitWatch: PidFD
    let output: FileDescriptor

    init(pid: Int32, exitWatch: consuming PidFD, output: consuming FileDescriptor) {
        self.pid = pid
        self.exitWatch = exitWatch
        self.output = output
    }

    /// spawn forks and executes `executable` with `arguments` (argv[0] included) and
    /// `environment`. Everything the child touches between fork and exec is built
    /// first, so the child only makes system calls (the demo is single-threaded, so no
    /// lock can be held across the fork either).
    static func spawn(executable: String, arguments: [String], environment: [String]) throws(Errno) -> DemoChild {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        let readEnd = FileDescriptor(adopting: ends[0])
        // The write end and /dev/null stay raw until the fork is done: the parent closes
        // them right after, at a point written out rather than left to a deinit.
        let output = ends[1]
        _ = fcntl(readEnd.rawValue, F_SETFD, FD_CLOEXEC)
        _ = fcntl(output, F_SETFD, FD_CLOEXEC)
        try readEnd.setNonBlocking(true)
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { close(output); throw Errno(rawValue: errno) }
        defer { close(output); close(input) }

        let cPath = strdup(executable)
        var cArgs: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            free(cPath)
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        let parent = getpid()
        let setDeathSignal = DemoChildCalls.prctl

        let pid = cArgs.withUnsafeMutableBufferPointer { argv in
            cEnv.withUnsafeMutableBufferPointer { envp in
                let pid = fork()
                if pid == 0 {
                    // The child: system calls only, then exec or _exit.
                    _ = setpgid(0, 0)
                    _ = setDeathSignal(DemoChildCalls.setDeathSignal, UInt(SIGKILL), 0, 0, 0)
                    if getppid() != parent { _exit(127) }   // the demo died before prctl
                    _ = sigprocmask(SIG_SETMASK, &noSignals, nil)  // the demo blocks SIGINT/SIGTERM
                    _ = signal(SIGPIPE, SIG_DFL)                    // and ignores SIGPIPE
                    _ = dup2(input, 0)
                    _ = dup2(output, 1)
                    _ = dup2(output, 2)
                    _ = execve(cPath!, argv.baseAddress!, envp.baseAddress!)
                    _exit(127)
                }
                return pid
            }
        }
        guard pid > 0 else { throw Errno(rawValue: errno) }
        // Also set the group from this side, so a signal sent to it right away cannot miss.
        _ = setpgid(pid, pid)
        let watch: PidFD
        do throws(Errno) { watch = try PidFD(pid: pid) } catch {
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            throw error
        }
        return DemoChild(pid: pid, exitWatch: watch, output: readEnd)
    }
}

/// DemoChildCalls holds prctl, which Swift's Glibc module map does not expose (looked
/// up like Posix's LinuxCalls: with dlsym, called with the C convention; prctl's
/// variadic arguments are plain integers, passed the same way on x86-64 and arm64 Linux).
enum DemoChildCalls {
    typealias PrctlCall = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    static let setDeathSignal: Int32 = 1   // PR_SET_PDEATHSIG from <linux/prctl.h>
    nonisolated(unsafe) static let prctl: PrctlCall = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else {
            fatalError("libc lacks prctl")
        }
        return unsafeBitCast(symbol, to: PrctlCall.self)
    }()
}
