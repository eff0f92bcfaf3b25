// Request smuggling (RFC 9112 §6.3, §11.2): every way a front proxy and we could
// disagree about where a body ends is refused, never guessed at.
import HTTPParser
import Testing

@Suite struct SmugglingTests {
    func post(_ fields: String, version: String = "HTTP/1.1") -> Parsed {
        parse("POST / \(version)\r\nHost: a\r\n\(fields)\r\n")
    }

    @Test(arguments: [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 0\r\nTransfer-Encoding: identity\r\n",
        "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding:\r\n",
    ])
    func contentLengthWithTransferEncodingIs400(fields: String) {
        #expect(post(fields).error == .badRequest(reason: "both Content-Length and Transfer-Encoding"))
    }

    @Test(arguments: [
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding:\tchunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "TRANSFER-ENCODING: xchunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: \u{FF}chunked\r\n",
    ])
    func anyTransferEncodingIs501(fields: String) {
        #expect(post(fields).error == .notImplemented)
        #expect(post(fields, version: "HTTP/1.0").error == .notImplemented)
    }

    @Test(arguments: [
        "Transfer-Encoding : chunked\r\n",  // whitespace before the colon (RFC 9112 §5.1)
        "Transfer-Encoding\t: chunked\r\n",
        " Transfer-Encoding: chunked\r\n",  // obs-fold of the Host line
        "X: 1\r\n Transfer-Encoding: chunked\r\n",  // obs-fold
        "X: 1\r\n\tTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\nX: 1\r\n",  // bare LF
        "Transfer-Encoding: chunked\rX: 1\r\n",  // bare CR
        "Transfer_Encoding : chunked\r\n",
        "Content-Length : 5\r\n",
        "Content-Length: 5\r\n Content-Length: 6\r\n",
    ])
    func obfuscatedFramingFieldsAre400(fields: String) {
        #expect(post(fields).error?.status == 400, "\(post(fields).result)")
    }

    @Test(arguments: [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: 5\r\nContent-Length: 5, 4\r\n",
        "Content-Length: 0\r\nContent-Length: 99999999999999999999999\r\n",
    ])
    func differentContentLengthsAre400(fields: String) {
        #expect(post(fields).error == .badRequest(reason: "conflicting Content-Length values"))
    }

    @Test(arguments: [
        ("Content-Length: 5\r\nContent-Length: 5\r\n", 5),
        ("Content-Length: 5,5\r\n", 5),
        ("Content-Length: 5 , 5\t\r\n", 5),
        ("Content-Length: 007\r\nContent-Length: 7\r\n", 7),
        ("Content-Length: 0\r\n", 0),
    ])
    func equalContentLengthsAreOneLength(fields: String, length: Int) {
        let p = post(fields)
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(p.head.contentLength == length)
    }

    @Test(arguments: [
        "Content-Length: +5\r\n", "Content-Length: -1\r\n", "Content-Length: 5 5\r\n",
        "Content-Length: 0x5\r\n", "Content-Length: 5a\r\n", "Content-Length: 1_000\r\n",
        "Content-Length: 1e3\r\n", "Content-Length:\r\n", "Content-Length: ,5\r\n",
        "Content-Length: 5,\r\n", "Content-Length: 5,,5\r\n", "Content-Length: \u{FF15}\r\n",
        "Content-Length: 5;x\r\n",
    ])
    func malformedContentLengthIs400(fields: String) {
        #expect(post(fields).error?.status == 400, "\(post(fields).result)")
    }

    @Test func hostIsRequiredOnceIn11() {
        #expect(parse("GET / HTTP/1.1\r\n\r\n").error == .badRequest(reason: "HTTP/1.1 request without Host"))
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n").error
                == .badRequest(reason: "more than one Host header"))
        #expect(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").error?.status == 400)
        #expect(parse("GET / HTTP/1.0\r\n\r\n").error == nil)
        // An empty Host is valid when the target has no authority (RFC 9110 §7.2).
        #expect(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n").error == nil)
        #expect(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").error == nil)
    }

    @Test(arguments: ["a b", "a/b", "a@b", "a?b", "a#b", "a\\b", "caf\u{E9}", "a\tb"])
    func invalidHostIs400(host: String) {
        #expect(parse("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").error == .badRequest(reason: "invalid Host header"))
    }

    /// Where several refusals apply, the most fundamental wins, and always the same one.
    @Test func precedenceOfEndOfHeadChecks() {
        #expect(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").error
                == .badRequest(reason: "HTTP/1.1 request without Host"))
        #expect(post("Content-Length: 999999\r\nTransfer-Encoding: chunked\r\n").error?.status == 400)
        #expect(post("Transfer-Encoding: chunked\r\nExpect: nope\r\n").error == .notImplemented)
        #expect(post("Content-Length: 999999\r\nExpect: nope\r\n").error == .contentTooLarge)
    }
}
