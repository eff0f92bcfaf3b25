// Standard error without blocking, for the agent's log (issue 15 item 3): a stalled
// journald, a full container log pipe or a suspended terminal must never stop the
// event loop that answers /health and keeps the lease.
import Glibc

/// StandardErrorStream writes to standard error without ever blocking, and without
/// changing the flags of a descriptor the agent shares with its parent (setting
/// O_NONBLOCK on an inherited terminal or pipe would hand EAGAIN to the shell or to
/// the other writers of that pipe):
/// - a socket (journald's stream) takes `send(MSG_DONTWAIT | MSG_NOSIGNAL)`;
/// - a pipe, FIFO or terminal is opened again through /proc/self/fd/2, giving a file
///   description of the agent's own that can be non-blocking;
/// - a regular file or /dev/null is written as it is (it never waits on a reader).
/// A pipe that cannot be reopened (no /proc, as in a bare chroot) gets O_NONBLOCK on the
/// shared descriptor as a last resort.
public final class StandardErrorStream {
    public enum Mode: String, Sendable { case socket, reopened, shared, plain }

    public let mode: Mode
    /// isJournalStream: standard error is the stream journald gave this service
    /// ($JOURNAL_STREAM names its device and inode, sd-daemon(3)), which reads `<N>`
    /// priority prefixes.
    public let isJournalStream: Bool
    private let fd: Int32

    public init(environment journalStream: String? = StandardErrorStream.environmentJournalStream()) {
        var st = stat()
        let known = fstat(2, &st) == 0
        let type = st.st_mode & S_IFMT
        if let js = journalStream, known {
            let parts = js.split(separator: ":")
            isJournalStream = parts.count == 2 && UInt64(parts[0]) == UInt64(st.st_dev) && UInt64(parts[1]) == UInt64(st.st_ino)
        } else {
            isJournalStream = false
        }
        if known && type == S_IFSOCK {
            (mode, fd) = (.socket, 2)
        } else if known && (type == S_IFIFO || (type == S_IFCHR && isatty(2) == 1)) {
            let own = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            if own >= 0 {
                (mode, fd) = (.reopened, own)
            } else if type == S_IFIFO {
                let flags = fcntl(2, F_GETFL)
                _ = fcntl(2, F_SETFL, flags | O_NONBLOCK)
                (mode, fd) = (.shared, 2)
            } else {
                (mode, fd) = (.plain, 2)
            }
        } else {
            (mode, fd) = (.plain, 2)
        }
    }

    deinit { if mode == .reopened { close(fd) } }

    public static func environmentJournalStream() -> String? {
        getenv("JOURNAL_STREAM").map { String(cString: $0) }
    }

    /// writeSome writes a prefix of `bytes`: the count taken, 0 when the reader takes
    /// nothing now, nil when standard error is gone (closed, broken pipe, error).
    public func writeSome(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return 0 }
        while true {
            let n = mode == .socket
                ? send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                : Glibc.write(fd, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return 0
            default: return nil
            }
        }
    }

    /// waitWritable waits up to `timeoutMs` until standard error takes more.
    public func waitWritable(timeoutMs: Int) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return poll(&p, 1, Int32(clamping: timeoutMs)) > 0
    }
}

/// ignoreBrokenPipes blocks SIGPIPE in the calling thread (call it before starting
/// threads, which inherit the mask): a write to a pipe whose reader went away then fails
/// with EPIPE instead of killing the agent. Children get a clean mask (Spawn resets it).
public func ignoreBrokenPipes() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGPIPE)
    _ = pthread_sigmask(SIG_BLOCK, &set, nil)
}
