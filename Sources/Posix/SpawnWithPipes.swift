// Starting a child whose output the loop reads: a pipe per output stream, the write
// ends placed on the child's 1 and 2 by posix_spawn file actions, stdin from /dev/null.
import Glibc

/// makePipe returns the (read, write) descriptors of a pipe(2), both close-on-exec;
/// the read end is non-blocking so the loop can drain it without ever waiting. The
/// caller adopts both at once.
func makePipe() throws(Errno) -> (read: Int32, write: Int32) {
    var fds: (Int32, Int32) = (-1, -1)
    _ = try withUnsafeMutableBytes(of: &fds) { (raw) throws(Errno) -> Int32 in
        let p = raw.baseAddress!.assumingMemoryBound(to: Int32.self)
        return try retrying("pipe2") { linuxPipe2(p, LinuxConstants.closeOnExec | LinuxConstants.nonBlocking) }
    }
    return (fds.0, fds.1)
}

/// pipe2 is not in Swift's Glibc module map without _GNU_SOURCE: looked up once.
private let pipe2Call: @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32 = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else {
        fatalError("libc lacks pipe2")
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32).self)
}()

private func linuxPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 { pipe2Call(fds, flags) }

/// SpawnedChild is a started child and the read ends of its stdout and stderr, which
/// the caller must adopt (`FileDescriptor(adopting:)`) at once.
public struct SpawnedChild: Sendable {
    public let pid: Int32
    public let stdout: Int32
    public let stderr: Int32
}

extension ChildProcess {
    /// spawnCapturingOutput runs `argv` (PATH search, no shell) with `environment`, stdin
    /// on /dev/null and stdout/stderr on fresh pipes whose read ends are returned. As in
    /// `spawn`, the child starts with no blocked signals and default handlers. It also
    /// starts its own process group, so a timeout can signal the hook's whole tree
    /// (a `sh -c` wrapper and what it started), not only its first process.
    public static func spawnCapturingOutput(_ argv: [String], environment: [String]) throws(Errno) -> SpawnedChild {
        precondition(!argv.isEmpty, "spawnCapturingOutput needs at least the program name")
        let outFDs = try makePipe()
        let outRead = FileDescriptor(adopting: outFDs.read), outWrite = FileDescriptor(adopting: outFDs.write)
        let errFDs = try makePipe()
        let errRead = FileDescriptor(adopting: errFDs.read), errWrite = FileDescriptor(adopting: errFDs.write)
        // The write ends are blocking for the child (O_NONBLOCK is per open file, shared
        // with the child's copy): a hook writing faster than we read waits, not fails.
        try outWrite.setNonBlocking(false)
        try errWrite.setNonBlocking(false)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // dup2 clears close-on-exec on the target, so only 0, 1 and 2 reach the child.
        posix_spawn_file_actions_adddup2(&actions, outWrite.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, errWrite.rawValue, 2)

        var attributes = posix_spawnattr_t()
        ChildProcess.initCleanSignals(&attributes, extraFlags: Int32(POSIX_SPAWN_SETPGROUP))
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, cArgs[0]!, &actions, &attributes, &cArgs, &cEnv)
        if result != 0 { throw Errno(rawValue: result) }
        // The write ends close when this returns: the child holds the only copies, so
        // end of file on a read end means the child (and its children) closed them.
        _ = consume outWrite
        _ = consume errWrite
        return SpawnedChild(pid: pid, stdout: outRead.release(), stderr: errRead.release())
    }

    /// signalGroup sends `signal` to the process group `pid` leads (a hook and its
    /// children); ESRCH (already gone) is not an error.
    public static func signalGroup(_ pid: Int32, _ signal: Int32) {
        _ = Glibc.kill(-pid, signal)
    }

    /// currentEnvironment is this process's environment as `KEY=value` strings.
    public static func currentEnvironment() -> [String] {
        var out: [String] = []
        var envp = environ
        while let p = envp.pointee {
            out.append(String(cString: p))
            envp += 1
        }
        return out
    }
}

