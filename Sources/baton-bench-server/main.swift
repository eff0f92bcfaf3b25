// baton-bench-server: the HTTP server alone, answering a fixed ~150-byte JSON body on
// GET /leader, for bench/http to compare with nginx. Flags are parsed by hand so the
// binary stays small (its idle RSS is one of the benchmark's figures).
import EventLoop
import HTTPParser
import HTTPServer
import Posix

#if canImport(Glibc)
import Glibc  // exit and write(2) for messages only
#endif

let usage = "usage: baton-bench-server --listen HOST:PORT [--max-connections N]"

func fail(_ message: String) -> Never {
    var line = "baton-bench-server: \(message)\n\(usage)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var listen: SocketAddress?
var configuration = HTTPServerConfiguration()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    switch flag {
    case "--listen":
        guard let value = arguments.popFirst() else { fail("--listen needs HOST:PORT") }
        do { listen = try SocketAddress(parsing: value) } catch { fail("\(error)") }
    case "--max-connections":
        guard let value = arguments.popFirst(), let n = Int(value), n >= 1 else { fail("--max-connections needs a positive integer") }
        configuration.connectionsMax = n
    case "--help", "-h":
        print(usage)
        exit(0)
    default:
        fail("unknown argument '\(flag)'")
    }
}
guard let address = listen else { fail("--listen is required") }

let body = Array(#"{"leader":{"id":"n1","api":"127.0.0.1:8001","peer":"127.0.0.1:7001"},"term":42,"self":true,"since":"2026-11-27T17:00:00Z"}"#.utf8)
let leader = PreparedResponse(status: 200, contentType: "application/json", body: body)

do {
    // The cap plus the listener, epoll, timerfd, eventfd and stdio.
    _ = try ResourceLimits.raiseOpenFiles(to: UInt64(configuration.connectionsMax) + 64)
    let loop = try EventLoop()
    let server = try HTTPServer(loop: loop, address: address, configuration: configuration)
    server.route(.get, "/leader") { _ in .respond(leader) }
    // Written unbuffered: the benchmark waits for this line before starting load.
    var ready = "baton-bench-server listening on \(server.localAddress)\n"
    ready.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    try loop.run()
} catch {
    fail("\(error)")
}
