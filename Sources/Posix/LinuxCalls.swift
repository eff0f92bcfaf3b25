// Linux calls that Swift's Glibc module map does not expose (<sys/epoll.h>,
// <sys/timerfd.h>, <sys/eventfd.h>, <sys/pidfd.h>, <malloc.h>, and accept4 which needs
// _GNU_SOURCE).
// Rather than a C shim module, they are looked up once with dlsym and called through
// `@convention(c)` pointers, which use the C calling convention exactly.
import Glibc

/// LinuxCalls holds the looked-up function pointers.
/// @unchecked Sendable: every field is a `let` set once before first use and the
/// pointed-to functions are thread-safe system calls.
struct LinuxCalls: @unchecked Sendable {
    let epollCreate1: @convention(c) (Int32) -> Int32
    let epollCtl: @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    let epollWait: @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    let accept4: @convention(c) (Int32, UnsafeMutableRawPointer?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    let timerfdCreate: @convention(c) (Int32, Int32) -> Int32
    let timerfdSettime: @convention(c) (Int32, Int32, UnsafePointer<itimerspec>?, UnsafeMutablePointer<itimerspec>?) -> Int32
    let eventfd: @convention(c) (UInt32, Int32) -> Int32
    let pidfdOpen: @convention(c) (pid_t, UInt32) -> Int32
    let mallocTrim: @convention(c) (Int) -> Int32

    init() {
        func find<F>(_ name: String, as: F.Type) -> F {
            // RTLD_DEFAULT (a null handle): search the libraries already loaded (libc).
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
                fatalError("libc lacks \(name) (needs glibc ≥ 2.36 on Linux ≥ 5.3)")
            }
            return unsafeBitCast(symbol, to: F.self)
        }
        epollCreate1 = find("epoll_create1", as: (@convention(c) (Int32) -> Int32).self)
        epollCtl = find("epoll_ctl", as: (@convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32).self)
        epollWait = find("epoll_wait", as: (@convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32).self)
        accept4 = find("accept4", as: (@convention(c) (Int32, UnsafeMutableRawPointer?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32).self)
        timerfdCreate = find("timerfd_create", as: (@convention(c) (Int32, Int32) -> Int32).self)
        timerfdSettime = find("timerfd_settime", as: (@convention(c) (Int32, Int32, UnsafePointer<itimerspec>?, UnsafeMutablePointer<itimerspec>?) -> Int32).self)
        eventfd = find("eventfd", as: (@convention(c) (UInt32, Int32) -> Int32).self)
        pidfdOpen = find("pidfd_open", as: (@convention(c) (pid_t, UInt32) -> Int32).self)
        mallocTrim = find("malloc_trim", as: (@convention(c) (Int) -> Int32).self)
    }
}

/// linux is initialized on first use (Swift globals are lazy and thread-safe).
let linux = LinuxCalls()

/// Constants from the same headers (values from the Linux UAPI, identical on all
/// architectures we build for).
enum LinuxConstants {
    static let epollIn: UInt32 = 0x001
    static let epollOut: UInt32 = 0x004
    static let epollErr: UInt32 = 0x008
    static let epollHup: UInt32 = 0x010
    static let epollRdHup: UInt32 = 0x2000
    static let epollCtlAdd: Int32 = 1
    static let epollCtlDel: Int32 = 2
    static let epollCtlMod: Int32 = 3
    static let closeOnExec: Int32 = 0o2000000   // O_CLOEXEC = EPOLL_CLOEXEC = TFD_/EFD_/SOCK_CLOEXEC
    static let nonBlocking: Int32 = 0o4000      // O_NONBLOCK = TFD_/EFD_/SOCK_NONBLOCK
    static let timerAbsolute: Int32 = 1         // TFD_TIMER_ABSTIME
    static let clockBoottime: Int32 = 7         // CLOCK_BOOTTIME
    #if arch(x86_64)
    /// struct epoll_event is packed on x86-64: u32 events, then u64 data at offset 4.
    static let epollEventStride = 12
    static let epollDataOffset = 4
    #else
    static let epollEventStride = 16
    static let epollDataOffset = 8
    #endif
}
