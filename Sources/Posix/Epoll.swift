// epoll(7), with the event buffer allocated once (style rule 14, after
// swift-nio's SelectorEpoll and redis ae_epoll.c).
import Glibc

/// EpollEvents is the interest/readiness bit set of one descriptor. The sets are
/// inlinable constants (the EPOLL* values of the Linux UAPI) so the hot path reads no global.
public struct EpollEvents: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public static var readable: EpollEvents { EpollEvents(rawValue: 0x1) }
    @inlinable public static var writable: EpollEvents { EpollEvents(rawValue: 0x4) }
    /// peerClosedWrite: the peer sent FIN (EPOLLRDHUP).
    @inlinable public static var peerClosedWrite: EpollEvents { EpollEvents(rawValue: 0x2000) }
    @inlinable public static var hangup: EpollEvents { EpollEvents(rawValue: 0x10) }
    @inlinable public static var error: EpollEvents { EpollEvents(rawValue: 0x8) }
}

/// Epoll owns an epoll instance and a fixed buffer of ready events, so waiting
/// allocates nothing. Each registration carries a 64-bit tag chosen by the caller
/// (the event loop packs descriptor and generation into it).
public struct Epoll: ~Copyable {
    let fd: FileDescriptor
    /// events is `capacity` C `struct epoll_event`s, read with unaligned loads.
    let events: UnsafeMutableRawPointer
    /// capacity is how many ready events one `wait` can return.
    public let capacity: Int

    public init(capacity: Int = 256) throws(Errno) {
        precondition(capacity > 0, "Epoll capacity must be positive")
        fd = FileDescriptor(adopting: try retrying("epoll_create1") { linux.epollCreate1(LinuxConstants.closeOnExec) })
        self.capacity = capacity
        events = .allocate(byteCount: capacity * LinuxConstants.epollEventStride, alignment: 8)
        events.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * LinuxConstants.epollEventStride)
    }

    deinit { events.deallocate() }

    /// add registers `descriptor` (level-triggered) for `interest`.
    public func add(_ descriptor: Int32, interest: EpollEvents, tag: UInt64) throws(Errno) {
        try control(LinuxConstants.epollCtlAdd, descriptor, interest, tag)
    }

    /// modify changes the interest and tag of a registered descriptor.
    public func modify(_ descriptor: Int32, interest: EpollEvents, tag: UInt64) throws(Errno) {
        try control(LinuxConstants.epollCtlMod, descriptor, interest, tag)
    }

    /// remove unregisters a descriptor (closing it does too, unless it was duplicated).
    public func remove(_ descriptor: Int32) throws(Errno) {
        try control(LinuxConstants.epollCtlDel, descriptor, [], 0)
    }

    private func control(_ op: Int32, _ descriptor: Int32, _ interest: EpollEvents, _ tag: UInt64) throws(Errno) {
        // 16 bytes covers the packed (12) and natural (16) layouts.
        var event: (UInt64, UInt64) = (0, 0)
        _ = try withUnsafeMutableBytes(of: &event) { (raw) throws(Errno) -> Int32 in
            raw.storeBytes(of: interest.rawValue, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: tag, toByteOffset: LinuxConstants.epollDataOffset, as: UInt64.self)
            return try retrying("epoll_ctl") { linux.epollCtl(fd.rawValue, op, descriptor, raw.baseAddress) }
        }
    }

    /// wait blocks up to `timeoutMs` (-1: forever) and returns how many events are
    /// ready; read them with `event(at:)`. An interrupted wait returns 0 rather than
    /// retrying, so the caller re-checks its deadlines.
    public func wait(timeoutMs: Int32) throws(Errno) -> Int {
        let n = linux.epollWait(fd.rawValue, events, Int32(capacity), timeoutMs)
        if n == -1 {
            let error = Errno.current
            if error.rawValue == EINTR { return 0 }
            trapOnProgrammerError(error, "epoll_wait")
            throw error
        }
        return Int(n)
    }

    /// event(at:) is the i-th ready event of the last `wait`.
    @inlinable public func event(at index: Int) -> (events: EpollEvents, tag: UInt64) {
        let e = _event(at: index)
        return (EpollEvents(rawValue: e.events), e.tag)
    }

    @usableFromInline func _event(at index: Int) -> (events: UInt32, tag: UInt64) {
        precondition(index >= 0 && index < capacity)
        let base = events + index * LinuxConstants.epollEventStride
        return (base.loadUnaligned(as: UInt32.self),
                base.loadUnaligned(fromByteOffset: LinuxConstants.epollDataOffset, as: UInt64.self))
    }
}
