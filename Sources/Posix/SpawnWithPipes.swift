// Starting a child whose output the loop reads: a pipe per output stream, the write
// ends placed on the child's 1 and 2 by its guard (CHookGuard), stdin from /dev/null.
import CHookGuard
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
    ///
    /// The pid returned is a guard's (CHookGuard): it leads that group, runs the hook as
    /// its child and exits as the hook did; when this process dies — even by kill -9 — the
    /// kernel tells the guard (PR_SET_PDEATHSIG), which SIGKILLs the group, so nothing of
    /// an old incarnation keeps acting. Spawn from a thread that lives as long as the
    /// process (the event loop's): the death signal follows the spawning thread.
    public static func spawnCapturingOutput(_ argv: [String], environment: [String]) throws(Errno) -> SpawnedChild {
        precondition(!argv.isEmpty, "spawnCapturingOutput needs at least the program name")
        // The PATH search happens here, as posix_spawnp did it (this process's PATH), so a
        // missing program is still an error of the spawn, not a failed run.
        let path = try resolveProgram(argv[0])
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
        let pid = baton_hook_guard_spawn(path, &cArgs, &cEnv, outWrite.rawValue, errWrite.rawValue)
        if pid < 0 { throw Errno(rawValue: -pid) }
        // The write ends close when this returns: the child holds the only copies, so
        // end of file on a read end means the child (and its children) closed them.
        _ = consume outWrite
        _ = consume errWrite
        return SpawnedChild(pid: pid, stdout: outRead.release(), stderr: errRead.release())
    }

    /// resolveProgram finds `name` as a shell would: a path when it has a '/', else the
    /// first executable regular file of that name in this process's PATH.
    static func resolveProgram(_ name: String) throws(Errno) -> String {
        func executable(_ p: String) -> Bool {
            var st = stat()
            return stat(p, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(p, X_OK) == 0
        }
        if name.contains("/") {
            guard executable(name) else { throw access(name, F_OK) == 0 ? Errno(rawValue: EACCES) : Errno(rawValue: ENOENT) }
            return name
        }
        let search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        var sawUnexecutable = false
        for dir in search.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            if executable(candidate) { return candidate }
            if access(candidate, F_OK) == 0 { sawUnexecutable = true }
        }
        throw Errno(rawValue: sawUnexecutable ? EACCES : ENOENT)
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

