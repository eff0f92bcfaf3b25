// Test support: a real etcd (Debian's etcd-server) on free loopback ports with a temporary
// data dir, a canned HTTP server on the loop for answers etcd would never give, and a
// helper that runs the loop until a condition holds.
import EtcdClient
import EventLoop
import Glibc
import Posix
import Testing

/// freePort() asks the kernel for an unused loopback port.
func freePort() throws -> UInt16 {
    let fd = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
    return try Socket.localAddress(fd).port
}

/// etcdBinary finds etcd: BATON_ETCD_BIN, then PATH (scripts/test installs etcd-server).
func etcdBinary() -> String? {
    if let env = getenv("BATON_ETCD_BIN") { return String(cString: env) }
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where access(dir + "/etcd", X_OK) == 0 { return dir + "/etcd" }
    return nil
}

/// EtcdProcess is one etcd member started for a test; `stop` kills it (SIGKILL) and
/// `start` brings it back on the same ports and data.
final class EtcdProcess {
    let name: String
    let clientPort: UInt16
    let peerPort: UInt16
    let dataDir: String
    let initialCluster: String
    private(set) var pid: Int32 = 0

    var url: String { "http://127.0.0.1:\(clientPort)" }

    init(name: String = "e1", clientPort: UInt16, peerPort: UInt16, dataDir: String, initialCluster: String? = nil) {
        self.name = name
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.dataDir = dataDir
        self.initialCluster = initialCluster ?? "\(name)=http://127.0.0.1:\(peerPort)"
    }

    /// single() starts a one-member etcd in a fresh temp dir and waits until it serves.
    static func single() throws -> EtcdProcess {
        var template = Array("/tmp/baton-etcd-test-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw Errno.invalidArgument }
        let dir = String(cString: template)
        let e = EtcdProcess(clientPort: try freePort(), peerPort: try freePort(), dataDir: dir + "/data")
        try e.start()
        try e.waitHealthy()
        return e
    }

    func start() throws {
        guard let bin = etcdBinary() else { throw EtcdMissing() }
        let base = String(dataDir.dropLast("/data".count))
        // Under `timeout`, so an etcd whose test process died (a crash, a kill) still
        // ends within minutes; `stop` sends SIGTERM, which timeout passes on to etcd.
        pid = try ChildProcess.spawn([
            "timeout", "-s", "KILL", "600", bin, "--name", name, "--data-dir", dataDir,
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", "http://127.0.0.1:\(peerPort)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
            "--logger", "zap", "--log-outputs", base + "/\(name).log",
        ])
    }

    /// waitHealthy polls until a range answers (a blocking HTTP request, off any loop).
    func waitHealthy(timeoutMs: Int = 20_000) throws {
        let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
        while Clock.boottime() < deadline {
            if let answer = try? blockingPost(port: clientPort, path: "/v3/kv/range", body: #"{"key":"AA=="}"#),
               answer.hasPrefix("HTTP/1.1 200") { return }
            try PosixThread.sleepMs(50)
        }
        throw Timeout(what: "etcd on port \(clientPort) to serve")
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit {
        stop()
    }

    func removeData() {
        let base = String(dataDir.dropLast("/data".count))
        _ = try? ChildProcess.spawn(["rm", "-rf", base]).wait()
    }
}

extension Int32 {
    /// wait() reaps a spawned child.
    func wait() {
        var status: Int32 = 0
        waitpid(self, &status, 0)
    }
}

struct EtcdMissing: Error, CustomStringConvertible {
    var description: String { "etcd not found: install Debian's etcd-server (scripts/test does) or set BATON_ETCD_BIN" }
}

struct Timeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// blockingPost sends one request with a blocking socket and returns the raw answer.
func blockingPost(port: UInt16, path: String, body: String) throws -> String {
    let fd = try Socket.connect(to: try SocketAddress(parsing: "127.0.0.1:\(port)"))
    try Socket.setReceiveTimeoutMs(fd, 2000)
    let request = "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    try Array(request.utf8).withUnsafeBytes { try fd.writeAll($0) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = try buffer.withUnsafeMutableBytes { try fd.readBlocking(into: $0) }
        if n == 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// runLoop(_:timeoutMs:until:) polls the loop until `done()` or the timeout.
func runLoop(_ loop: EventLoop, timeoutMs: Int, until done: () -> Bool) throws {
    let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
    while !done() {
        guard Clock.boottime() < deadline else { throw Timeout(what: "the condition") }
        try loop.pollOnce(timeoutMs: 20)
    }
}

/// CannedServer accepts connections on the loop and answers every request with fixed
/// bytes (or, with `silent`, never answers), to provoke what etcd never sends.
final class CannedServer: EventHandler {
    let loop: EventLoop
    let listener: SocketHolderForTests
    var answer: [UInt8]
    var silent = false
    var accepted: [SocketHolderForTests] = []
    var requestsSeen = 0
    let port: UInt16

    init(loop: EventLoop, answer: String) throws {
        self.loop = loop
        self.answer = Array(answer.utf8)
        let fd = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        port = try Socket.localAddress(fd).port
        listener = SocketHolderForTests(fd)
        try loop.register(listener.fd.rawValue, interest: .readable, handler: self)
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        if descriptor == listener.fd.rawValue {
            while case .accepted(let fd) = (try? Socket.accept(listener.fd)) ?? .wouldBlock {
                let holder = SocketHolderForTests(fd)
                accepted.append(holder)
                try? loop.register(holder.fd.rawValue, interest: .readable, handler: self)
            }
            return
        }
        guard let conn = accepted.first(where: { $0.fd.rawValue == descriptor }) else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let result = try? buffer.withUnsafeMutableBytes { try conn.fd.read(into: $0) }
        guard case .ready(let n) = result, n > 0 else {
            loop.unregister(descriptor)
            accepted.removeAll { $0 === conn }
            return
        }
        requestsSeen += 1
        if !silent { _ = try? answer.withUnsafeBytes { try conn.fd.write($0) } }
    }

    func closeAll() {
        for c in accepted { loop.unregister(c.fd.rawValue) }
        accepted.removeAll()
        loop.unregister(listener.fd.rawValue)
    }
}

final class SocketHolderForTests {
    let fd: FileDescriptor
    init(_ fd: consuming FileDescriptor) { self.fd = fd }
}
