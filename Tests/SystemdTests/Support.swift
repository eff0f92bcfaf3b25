// Real processes, sockets and a private D-Bus for the Systemd tests.
import EventLoop
import Glibc
import Posix
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// TemporaryDirectory is a fresh directory under /tmp, removed with its contents.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/baton-systemd-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp: \(Errno(rawValue: errno))") }
        path = String(cString: made)
    }

    deinit { _ = run(["/bin/rm", "-rf", path]) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// readFile returns a file's text, or nil when it does not exist.
func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n == 0 { break }
        bytes.append(contentsOf: buffer[..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func writeFile(_ path: String, _ text: String) throws {
    guard let f = fopen(path, "w") else { throw TestFailure("cannot write \(path): \(Errno(rawValue: errno))") }
    defer { fclose(f) }
    _ = text.withCString { fputs($0, f) }
}

func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// waitFor polls `condition` every 10 ms for at most `timeoutMs`.
func waitFor(timeoutMs: UInt64, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.boottime() + timeoutMs * 1_000_000
    while !condition() {
        if Clock.boottime() > deadline { return false }
        usleep(10_000)
    }
    return true
}

/// waitExit reaps `pid` and returns its exit status (128+signal when killed).
func waitExit(_ pid: Int32) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return 128 + (status & 0x7f)
}

/// run starts argv, waits for it and returns its exit status (output inherited).
@discardableResult
func run(_ argv: [String], environment: [String]? = nil) -> Int32 {
    guard let pid = try? ChildProcess.spawn(argv, environment: environment) else { return 127 }
    return waitExit(pid)
}

/// shellQuoted wraps `s` for /bin/sh.
func shellQuoted(_ s: String) -> String { "'" + s.replacing("'", with: "'\\''") + "'" }

/// ProbeRun is what baton-systemd-probe printed and how it exited.
struct ProbeRun {
    var status: Int32
    var output: String
    var errors: String
}

/// probePath finds baton-systemd-probe beside the test binary (both are built into the
/// same directory by `swift build --build-tests`), or at $BATON_SYSTEMD_PROBE.
func probePath() throws -> String {
    if let p = getenv("BATON_SYSTEMD_PROBE") { return String(cString: p) }
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { throw TestFailure("readlink /proc/self/exe failed") }
    var exe = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // The test binary may sit inside an .xctest bundle directory on some layouts.
    while let slash = exe.lastIndex(of: "/") {
        exe = String(exe[..<slash])
        let candidate = exe + "/baton-systemd-probe"
        if exists(candidate) { return candidate }
        if exe.hasSuffix("/.build") || exe.isEmpty { break }
    }
    throw TestFailure("baton-systemd-probe not found beside the test binary: run `swift build --build-tests` first (or set BATON_SYSTEMD_PROBE)")
}

/// probe runs baton-systemd-probe with `arguments` and exactly `environment`. With
/// `ownPidAs`, the variable is set to the probe's own pid (through `sh -c 'exec'`, which
/// keeps the pid), as systemd sets WATCHDOG_PID.
func probe(_ arguments: [String], environment: [String], ownPidAs variable: String? = nil,
           in directory: TemporaryDirectory) throws -> ProbeRun {
    let out = directory.file("probe.out"), err = directory.file("probe.err")
    let command = (variable.map { "\($0)=$$; export \($0); " } ?? "")
        + "exec " + ([try probePath()] + arguments).map(shellQuoted).joined(separator: " ")
        + " >" + shellQuoted(out) + " 2>" + shellQuoted(err)
    let status = run(["/bin/sh", "-c", command], environment: environment)
    return ProbeRun(status: status, output: readFile(out) ?? "", errors: readFile(err) ?? "")
}

/// DatagramListener is a bound AF_UNIX datagram socket: what systemd's NOTIFY_SOCKET is.
final class DatagramListener {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(Errno(rawValue: errno))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // "@name" is the abstract namespace: a leading NUL, and the length says where it ends.
        let abstract = path.hasPrefix("@")
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw TestFailure("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = abstract ? MemoryLayout<sa_family_t>.size + bytes.count : MemoryLayout<sockaddr_un>.size
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard r == 0 else { throw TestFailure("bind \(path): \(Errno(rawValue: errno))") }
    }

    deinit { close(fd) }

    /// received returns every datagram queued so far, in arrival order.
    func received() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { break }
            messages.append(String(decoding: buffer[..<n], as: UTF8.self))
        }
        return messages
    }
}

/// PrivateBus is a dbus-daemon of our own, optionally with the mock systemd manager
/// (mock_systemd_manager.py) owning org.freedesktop.systemd1 on it.
final class PrivateBus {
    let directory: TemporaryDirectory
    let address: String
    private var daemon: Int32 = 0
    private var manager: Int32 = 0

    /// callsFile lists the calls the mock received: "METHOD UNIT MODE JOBPATH" lines.
    var calls: [String] {
        (readFile(directory.file("calls")) ?? "").split(separator: "\n").map(String.init)
    }

    init(withManager: Bool) throws {
        directory = try TemporaryDirectory()
        let socketPath = directory.file("bus")
        address = "unix:path=" + socketPath
        let config = directory.file("bus.conf")
        try writeFile(config, """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>\(address)</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
              </policy>
            </busconfig>
            """)
        guard exists("/usr/bin/dbus-daemon") else {
            throw TestFailure("dbus-daemon is missing: apt-get install dbus-daemon (scripts/test does)")
        }
        // Its stderr complains harmlessly about fd limits; keep the test output clean.
        daemon = try ChildProcess.spawn(["/bin/sh", "-c", "exec /usr/bin/dbus-daemon --config-file=\(shellQuoted(config)) --nofork --nopidfile 2>/dev/null"])
        guard waitFor(timeoutMs: 10_000, { exists(socketPath) }) else { throw TestFailure("dbus-daemon did not create \(socketPath) within 10 s") }
        guard withManager else { return }
        let mock = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!)) + "/mock_systemd_manager.py"
        let ready = directory.file("ready")
        manager = try ChildProcess.spawn(["/usr/bin/python3", mock, "--address", address,
                                          "--calls", directory.file("calls"), "--ready", ready])
        guard waitFor(timeoutMs: 20_000, { exists(ready) || processExited(manager) }), exists(ready) else {
            throw TestFailure("the mock systemd manager did not start: needs /usr/bin/python3 with python3-dbus and python3-gi (scripts/test installs them)")
        }
    }

    deinit {
        for pid in [manager, daemon] where pid > 0 {
            kill(pid, SIGTERM)
            _ = waitExit(pid)
        }
    }

    /// processExited reaps `pid` if it has ended (so a crashed mock fails fast).
    private func processExited(_ pid: Int32) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { manager = 0; return true }
        return false
    }
}

/// pump runs `loop` until `done()` or `timeoutMs` passes; false on timeout.
func pump(_ loop: EventLoop, timeoutMs: UInt64 = 10_000, until done: () -> Bool) throws -> Bool {
    let deadline = Clock.boottime() + timeoutMs * 1_000_000
    while !done() {
        if Clock.boottime() > deadline { return false }
        try loop.pollOnce(timeoutMs: 20)
    }
    return true
}
