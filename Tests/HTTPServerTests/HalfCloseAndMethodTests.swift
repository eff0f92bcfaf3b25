// A client that closes its sending side (shutdown(SHUT_WR)) must still get every answer,
// held ones included; and every GET route answers HEAD, every known path answers other
// methods with 405 and its Allow list.
import EventLoop
import HTTPServer
import Posix
import Testing
import Time

@Suite(.serialized) struct HalfCloseTests {
    @Test func halfClosedSlowReaderGetsEveryPipelinedAnswer() throws {
        // The answers (300 × 32 KiB) are far more than the output bound, so most
        // requests are still unparsed in the input when the FIN arrives.
        let server = try TestServer { $0.outputBytesMax = 64 * 1024; $0.writeTimeout = .milliseconds(5000) }
        defer { server.stop() }
        let c = try server.client(receiveBufferBytes: 4096)
        let count = 300
        try c.send(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n", count: count / 2))
        Socket.shutdownWrite(c.socket)
        try PosixThread.sleepMs(300)  // the server has read the FIN while its output is full
        #expect((try server.statistics()["outputBytesPendingMax"] ?? .max) <= 64 * 1024 + bigBody.count + 256)
        for i in 0..<count {
            let r = try c.readResponse()
            if i % 2 == 0 {
                #expect(r.status == 200 && r.bodyBytes == bigBody, "answer \(i)")
            } else {
                #expect(r.body == "A", "answer \(i)")
            }
            try PosixThread.sleepMs(i % 50 == 0 ? 20 : 0)  // read slowly now and then
        }
        #expect(try c.isClosedByServer())
        #expect(c.buffer.isEmpty)
    }

    @Test func halfCloseWithAnIncompleteRequestAnswersTheCompleteOnesThenCloses() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HT")
        Socket.shutdownWrite(c.socket)
        #expect(try c.readResponse().body == "A")
        #expect(try c.isClosedByServer())
        #expect(c.buffer.isEmpty)
    }

    @Test func halfCloseBehindAHoldAnswersItAtOnceThenTheRest() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        let started = Clock.boottime()
        // /wait holds for 10 s; the FIN comes with it.
        try c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /wait HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        Socket.shutdownWrite(c.socket)
        #expect(try c.readResponse().body == "A")
        #expect(try c.readResponse().body == "timeout")
        #expect(try c.readResponse().body == "B")
        #expect(try c.isClosedByServer())
        #expect(Clock.boottime() - started < 5_000_000_000)  // not the hold's 10 s
        let stats = try server.statistics()
        #expect(stats["heldCount"] == 0)
        #expect(stats["holdsEndedByPeerClose"] == 1)
        #expect(stats["holdTimeouts"] == 0)
    }

    @Test func halfCloseDuringAHoldFlushesEarlierAnswersAndAnswersTheHold() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /wait-fresh HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try waitUntil { try server.statistics()["heldCount"] == 1 })
        // The hold is in progress when the FIN arrives on its own.
        Socket.shutdownWrite(c.socket)
        let big = try c.readResponse()
        #expect(big.bodyBytes == bigBody)
        // The answer is the one at expiry (holdTimeoutResponder), computed now.
        #expect(try c.readResponse().body == "fresh at expiry")
        #expect(try c.isClosedByServer())
        #expect(try server.statistics()["holdsEndedByPeerClose"] == 1)
    }

    @Test func holdsOfOtherClientsAreUntouchedByOneHalfClosing() throws {
        let server = try TestServer()
        defer { server.stop() }
        let stays = try server.client()
        try stays.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        let leaves = try server.client()
        try leaves.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try waitUntil { try server.statistics()["heldCount"] == 2 })
        Socket.shutdownWrite(leaves.socket)
        #expect(try leaves.readResponse().body == "timeout")
        #expect(try waitUntil { try server.statistics()["heldCount"] == 1 })
        #expect(try stays.staysOpenAndSilent(forMs: 100))
        let releaser = try server.client()
        try releaser.send("POST /release HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        #expect(try releaser.readResponse().body == "released 1")
        #expect(try stays.readResponse().body == "released")
    }
}

@Suite(.serialized) struct MethodTests {
    /// Every GET route of the test server that answers at once.
    static let getPaths = ["/a", "/b", "/c", "/big", "/query?name=x", "/header", "/stats"]

    @Test(arguments: getPaths) func headAnswersEveryGetRouteWithItsHeadersAndNoBody(path: String) throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        // A HEAD followed by a GET on one connection: a body sent for HEAD would be read
        // as the GET's status line.
        try c.send("HEAD \(path) HTTP/1.1\r\nHost: t\r\n\r\nGET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
        var head = try c.readResponse(isHead: true)
        var get = try c.readResponse()
        #expect(head.status == get.status)
        #expect(head.body.isEmpty)
        #expect(!get.bodyBytes.isEmpty)
        #expect(head.headers["content-length"] == "\(get.bodyBytes.count)" || path == "/stats")
        head.headers["date"] = nil
        get.headers["date"] = nil
        if path == "/stats" {  // its body counts requests, so its length may move
            head.headers["content-length"] = nil
            get.headers["content-length"] = nil
        }
        #expect(head.headers == get.headers)
        try c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try c.readResponse().body == "A")
    }

    @Test func headOfAHeldRouteGetsTheHeldAnswerWithoutBody() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        try c.send("HEAD /wait?ms=20 HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readResponse(isHead: true)
        #expect(r.status == 200)
        #expect(r.headers["content-length"] == "7")  // "timeout"
        #expect(try c.readResponse().body == "A")
    }

    @Test func refusalsCarryTheApplicationsHeadersOnceSet() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        func refusals() throws -> (Response, Response) {
            try c.send("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\nPOST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            return (try c.readResponse(), try c.readResponse())
        }
        var (r404, r405) = try refusals()
        #expect(r404.status == 404 && r404.headers["x-term"] == nil)
        #expect(r405.status == 405 && r405.headers["x-term"] == nil)
        for term in ["7", "8"] {  // set, then changed
            try c.send("POST /refusal-headers?term=\(term) HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            #expect(try c.readResponse().body == "set")
            (r404, r405) = try refusals()
            #expect(r404.status == 404 && r404.headers["x-term"] == term)
            #expect(r405.status == 405 && r405.headers["x-term"] == term && r405.headers["allow"] == "GET, HEAD")
        }
    }

    @Test func wrongMethodOnAKnownPathIs405WithAllowAndUnknownPathIs404() throws {
        let server = try TestServer()
        defer { server.stop() }
        let c = try server.client()
        // method, path, status, Allow
        let cases: [(String, String, Int, String?)] = [
            ("POST", "/a", 405, "GET, HEAD"),
            ("PUT", "/big", 405, "GET, HEAD"),
            ("DELETE", "/wait", 405, "GET, HEAD"),
            ("OPTIONS", "/query", 405, "GET, HEAD"),
            ("PATCH", "/echo", 405, "POST, PUT"),
            ("GET", "/echo", 405, "POST, PUT"),
            ("GET", "/release", 405, "POST"),
            ("GET", "/nowhere", 404, nil),
            ("POST", "/nowhere", 404, nil),
            ("GET", "/a/", 404, nil),
        ]
        for (method, path, status, allow) in cases {
            let body = method == "POST" || method == "PUT" || method == "PATCH"
            try c.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\n" + (body ? "Content-Length: 2\r\n\r\nxy" : "\r\n"))
            let r = try c.readResponse()
            #expect(r.status == status, "\(method) \(path)")
            #expect(r.headers["allow"] == allow, "\(method) \(path)")
            #expect(r.headers["connection"] == nil, "\(method) \(path) keeps the connection")
        }
        // HEAD of a path without GET: 405, headers only, and the Allow list.
        try c.send("HEAD /release HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readResponse(isHead: true)
        #expect(r.status == 405)
        #expect(r.headers["allow"] == "POST")
        #expect(try c.readResponse().body == "A")
    }
}
