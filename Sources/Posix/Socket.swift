// TCP sockets: listening, accepting and connecting, always close-on-exec (hooks are
// spawned from this process and must not inherit them).
import Glibc

/// AcceptResult is one `accept4` outcome: a connection, or none pending right now.
public enum AcceptResult: ~Copyable {
    case accepted(FileDescriptor)
    case wouldBlock
}

/// Socket groups the TCP socket calls.
public enum Socket {
    /// listen opens a non-blocking listening TCP socket with SO_REUSEADDR (so a restarted
    /// agent can bind while old connections sit in TIME_WAIT).
    public static func listen(on address: SocketAddress, backlog: Int32 = 511) throws(Errno) -> FileDescriptor {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = FileDescriptor(adopting: try retrying("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        let bound = address.withSockaddr { sa, len in bind(fd.rawValue, sa, len) }
        if bound == -1 { throw Errno.current }
        _ = try retrying("listen") { Glibc.listen(fd.rawValue, backlog) }
        return fd
    }

    /// accept takes one pending connection, non-blocking and close-on-exec, with
    /// TCP_NODELAY set (answers are whole; Nagle would only delay them).
    public static func accept(_ listener: borrowing FileDescriptor) throws(Errno) -> AcceptResult {
        switch try retryingNonBlocking("accept4", {
            linux.accept4(listener.rawValue, nil, nil, LinuxConstants.nonBlocking | LinuxConstants.closeOnExec)
        }) {
        case .wouldBlock:
            return .wouldBlock
        case .ready(let raw):
            let fd = FileDescriptor(adopting: raw)
            try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return .accepted(fd)
        }
    }

    /// connect opens a TCP connection. Blocking unless `nonBlocking`; a non-blocking
    /// connect that is still in progress returns the descriptor (wait for writable, then
    /// check `pendingError`).
    public static func connect(to address: SocketAddress, nonBlocking: Bool = false) throws(Errno) -> FileDescriptor {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = FileDescriptor(adopting: try retrying("socket") { socket(family, type, 0) })
        try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let result = address.withSockaddr { sa, len in Glibc.connect(fd.rawValue, sa, len) }
        if result == -1 {
            let error = Errno.current
            if !(nonBlocking && error.rawValue == EINPROGRESS) {
                trapOnProgrammerError(error, "connect")
                throw error
            }
        }
        return fd
    }

    /// connectWithReceiveBuffer is a blocking `connect` with SO_RCVBUF set first (the
    /// window is fixed at connect time); tests use it to build a slow reader.
    public static func connectWithReceiveBuffer(to address: SocketAddress, bytes: Int32) throws(Errno) -> FileDescriptor {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = FileDescriptor(adopting: try retrying("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        try setOption(fd, SOL_SOCKET, SO_RCVBUF, bytes)
        let result = address.withSockaddr { sa, len in Glibc.connect(fd.rawValue, sa, len) }
        if result == -1 { throw Errno.current }
        return fd
    }

    /// localAddress is the address a socket is bound to (the kernel's port for port 0).
    public static func localAddress(_ fd: borrowing FileDescriptor) throws(Errno) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd.rawValue, $0, &length) }
        }
        if result == -1 { throw Errno.current }
        guard let address = withUnsafePointer(to: &storage, { SocketAddress($0) }) else { throw Errno.invalidArgument }
        return address
    }

    /// peerAddress is the address of the other end of a connected socket, by raw
    /// descriptor (for log lines that name a client); nil when it cannot be read.
    public static func peerAddress(rawDescriptor fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        if result == -1 { return nil }
        return withUnsafePointer(to: &storage, { SocketAddress($0) })
    }

    /// shutdownWrite sends FIN after what is already queued, keeping the read side open.
    public static func shutdownWrite(_ fd: borrowing FileDescriptor) {
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_WR))
    }

    /// pendingError reads and clears SO_ERROR (the outcome of a non-blocking connect).
    public static func pendingError(_ fd: borrowing FileDescriptor) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) == -1 { return Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// setReceiveBufferBytes sets SO_RCVBUF (tests use a small one to provoke backpressure).
    public static func setReceiveBufferBytes(_ fd: borrowing FileDescriptor, _ bytes: Int32) throws(Errno) {
        try setOption(fd, SOL_SOCKET, SO_RCVBUF, bytes)
    }

    /// setSendBufferBytes sets SO_SNDBUF.
    public static func setSendBufferBytes(_ fd: borrowing FileDescriptor, _ bytes: Int32) throws(Errno) {
        try setOption(fd, SOL_SOCKET, SO_SNDBUF, bytes)
    }

    /// setUnacknowledgedTimeoutMs sets TCP_USER_TIMEOUT (tcp(7)): the kernel aborts the
    /// connection when sent data stays unacknowledged (or a SYN unanswered) this long,
    /// instead of retransmitting with a back-off that grows to minutes. The next read
    /// or write then fails with ETIMEDOUT and the owner can dial again.
    public static func setUnacknowledgedTimeoutMs(_ fd: borrowing FileDescriptor, _ ms: Int) throws(Errno) {
        try setOption(fd, Int32(IPPROTO_TCP), tcpUserTimeout, Int32(clamping: ms))
    }

    /// TCP_USER_TIMEOUT from <netinet/tcp.h> (not every Glibc module map exports it).
    static let tcpUserTimeout: Int32 = 18

    /// unacknowledgedTimeoutMs reads TCP_USER_TIMEOUT back (for tests).
    public static func unacknowledgedTimeoutMs(_ fd: borrowing FileDescriptor) throws(Errno) -> Int {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = try retrying("getsockopt") { getsockopt(fd.rawValue, Int32(IPPROTO_TCP), tcpUserTimeout, &v, &len) }
        return Int(v)
    }

    /// setReceiveTimeoutMs makes a blocking read give up with EAGAIN after `ms`
    /// (SO_RCVTIMEO); for blocking clients such as tests and CLI commands.
    public static func setReceiveTimeoutMs(_ fd: borrowing FileDescriptor, _ ms: Int) throws(Errno) {
        var tv = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
        _ = try retrying("setsockopt") { setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) }
    }

    static func setOption(_ fd: borrowing FileDescriptor, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var v = value
        _ = try retrying("setsockopt") { setsockopt(fd.rawValue, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }
}
