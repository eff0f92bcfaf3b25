// Valid requests: the fields come out right, every truncated prefix is `.partial`, and
// every way of splitting the bytes into reads gives the same head (RFC 9112 §2.1).
import HTTPParser
import Testing

/// validRequests covers each shape the parser accepts: the typical curl GET, a query,
/// a body, HTTP/1.0, absolute-form, asterisk-form, an unknown method, leading empty
/// lines, obs-text and empty values, odd but legal spacing.
let validRequests: [String] = [
    "GET /leader HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    "GET /leader?wait=5s&term=3 HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /resign HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "HEAD /status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET http://example.com:80/status?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\r\nGET /after-empty-lines HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces: \t  \r\nX-Opaque: caf\u{E9}\r\n\r\n",
    "PUT /x HTTP/1.1\r\nhost:a\r\nContent-Length:  0 \r\nEXPECT: 100-Continue\r\nConnection: Close\r\n\r\n",
]

@Suite struct ValidRequestTests {
    @Test func typicalGetHasEveryField() {
        let p = parse(validRequests[0])
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(p.head.method == .get)
        #expect(p.text(p.head.methodBytes) == "GET")
        #expect(p.text(p.head.target) == "/leader")
        #expect(p.text(p.head.path) == "/leader")
        #expect(p.head.query.count == 0)
        #expect(p.head.versionMinor == 1)
        #expect(p.head.headerCount == 3)
        #expect(p.headers.map { $0.0 } == ["Host", "User-Agent", "Accept"])
        #expect(p.header("accept") == "*/*")
        #expect(p.head.contentLength == 0)
        #expect(p.head.keepAlive)
        #expect(!p.head.expectContinue)
    }

    @Test func queryIsSplitAtTheFirstQuestionMark() {
        let p = parse("GET /a?b=1?c HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(p.text(p.head.path) == "/a")
        #expect(p.text(p.head.query) == "b=1?c")
        let empty = parse("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(empty.text(empty.head.path) == "/a")
        #expect(empty.head.query.count == 0)
    }

    @Test func bodyLengthAndOddSpacing() {
        let post = parse(validRequests[2])
        #expect(post.head.method == .post)
        #expect(post.head.contentLength == 5)
        let put = parse(validRequests[11])
        #expect(put.head.method == .put)
        #expect(put.header("host") == "a")
        #expect(put.head.contentLength == 0)
        #expect(put.head.expectContinue)
        #expect(!put.head.keepAlive)
    }

    @Test func absoluteFormLocatesThePath() {
        let p = parse(validRequests[5])
        #expect(p.text(p.head.target) == "http://example.com:80/status?x=1")
        #expect(p.text(p.head.path) == "/status")
        #expect(p.text(p.head.query) == "x=1")
        // No path at all: the path range is empty, which means "/" (RFC 9112 §3.2.2).
        let bare = parse(validRequests[6])
        #expect(bare.result == .complete(consumed: bare.bytes.count))
        #expect(bare.head.path.count == 0)
    }

    @Test func asteriskFormAndUnknownMethods() {
        let options = parse(validRequests[7])
        #expect(options.head.method == .options)
        #expect(options.text(options.head.path) == "*")
        let brew = parse(validRequests[8])
        #expect(brew.head.method == .other)
        #expect(brew.text(brew.head.methodBytes) == "BREW")
        // Methods are case-sensitive (RFC 9110 §9.1).
        #expect(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n").head.method == .other)
    }

    @Test(arguments: [
        ("GET", HTTPMethod.get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
        ("OPTIONS", .options), ("PATCH", .patch), ("TRACE", .trace), ("CONNECT", .connect),
        ("GETS", .other), ("GE", .other), ("M-SEARCH", .other),
    ])
    func methodsMapToTheEnum(token: String, method: HTTPMethod) {
        let p = parse("\(token) / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(p.head.method == method)
    }

    @Test func valuesAreTrimmedAndKeptOpaque() {
        let p = parse(validRequests[10])
        #expect(p.header("x-empty") == "")
        #expect(p.header("x-spaces") == "")
        #expect(p.header("x-opaque") == "caf\u{E9}")
    }

    @Test func leadingEmptyLinesAreSkippedAndConsumed() {
        let p = parse(validRequests[9])
        #expect(p.result == .complete(consumed: p.bytes.count))
        #expect(p.text(p.head.path) == "/after-empty-lines")
    }

    @Test(arguments: validRequests)
    func everyTruncatedPrefixIsPartial(request: String) {
        let bytes = Array(request.utf8)
        for length in 0..<bytes.count {
            let p = parse(Array(bytes[..<length]))
            #expect(p.result == .partial, "prefix of \(length) bytes")
            #expect(p.head == HTTPRequestHead(), "head untouched while partial")
        }
        #expect(parse(bytes).result == .complete(consumed: bytes.count))
    }

    @Test(arguments: validRequests)
    func pipelinedBytesAfterTheHeadAreNotConsumed(request: String) {
        let bytes = Array(request.utf8)
        let alone = parse(bytes)
        for tail in ["hello", "GET / HTTP/1.1\r\n", "\u{0}\u{FF}\r\n\r\n"] {
            let p = parse(bytes + Array(tail.utf8))
            #expect(p.result == .complete(consumed: bytes.count))
            #expect(p.head == alone.head)
        }
    }

    /// Feeds the request as a server would, appending each read to its buffer and
    /// parsing again: every two-read split, then seeded many-read splits.
    @Test(arguments: validRequests)
    func everySplitPointGivesTheSameHead(request: String) {
        let bytes = Array(request.utf8)
        let whole = parse(bytes)
        // Two reads: the first is partial at every split (the second read makes the
        // buffer whole again, which is `whole`).
        for split in 1..<bytes.count {
            #expect(parse(Array(bytes[..<split])).result == .partial, "split at \(split)")
        }
        var random = SplitMix64(seed: 0xF00D)
        for _ in 0..<50 {
            var buffer: [UInt8] = []
            var last = parse(buffer)
            while buffer.count < bytes.count {
                let take = min(Int.random(in: 1...7, using: &random), bytes.count - buffer.count)
                buffer += bytes[buffer.count..<(buffer.count + take)]
                last = parse(buffer)
                if buffer.count < bytes.count { #expect(last.result == .partial) }
            }
            #expect(last.result == whole.result && last.head == whole.head && last.headers.elementsEqual(whole.headers, by: ==))
        }
    }
}
