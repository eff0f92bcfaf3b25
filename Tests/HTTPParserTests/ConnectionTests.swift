// Connection persistence per version (RFC 9112 §9.3) and Expect (RFC 9110 §10.1.1).
import HTTPParser
import Testing

@Suite struct ConnectionTests {
    @Test(arguments: [
        ("HTTP/1.1", "", true),
        ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: CLOSE\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\n", true),
        ("HTTP/1.1", "Connection: upgrade, close\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n", false),
        ("HTTP/1.1", "Connection: closed\r\n", true),
        ("HTTP/1.1", "Connection: ,, close ,\r\n", false),
        ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ("HTTP/1.0", "Connection: te, keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: keep-alive, close\r\n", false),
        ("HTTP/1.0", "Connection: keep-alives\r\n", false),
    ])
    func keepAliveFollowsVersionAndConnection(version: String, fields: String, keepAlive: Bool) {
        let p = parse("GET / \(version)\r\nHost: a\r\n\(fields)\r\n")
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(p.head.keepAlive == keepAlive)
    }

    @Test(arguments: ["100-continue", "100-CONTINUE", "100-Continue"])
    func expectContinueIsRecognisedIn11(value: String) {
        let p = parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: \(value)\r\nContent-Length: 3\r\n\r\n")
        #expect(p.head.expectContinue)
    }

    @Test func expectationsIn10AreIgnored() {
        let p = parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(!p.head.expectContinue)
        #expect(parse("PUT / HTTP/1.0\r\nExpect: other\r\n\r\n").error == nil)
    }

    /// Decision: any other expectation is 417 (RFC 9110 §10.1.1 allows it), so a client
    /// never waits for a 100 that will not come.
    @Test(arguments: ["100-continue, foo", "200-ok", "", "100-continue2"])
    func otherExpectationsAre417(value: String) {
        let p = parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: \(value)\r\n\r\n")
        #expect(p.error == .expectationFailed)
        #expect(p.error?.status == 417)
    }
}
