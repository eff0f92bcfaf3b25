// The client side: response heads (framing, keep-alive, refusals, limits) and the
// chunked decoder fed byte by byte and in one piece.
import HTTPParser
import Testing

/// parseResponse(_:limits:) runs `parseResponseHead` over text.
func parseResponse(_ text: String, limits: HTTPResponseLimits = HTTPResponseLimits()) -> HTTPResponseParseResult {
    Array(text.utf8).withUnsafeBytes { parseResponseHead($0, limits: limits) }
}

@Suite struct ResponseHeadTests {
    @Test func etcdStreamingHeadIsChunkedAndKeptAlive() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: application/grpc\r\nDate: Mon, 07 Dec 2026 12:41:06 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
        guard case .complete(let head, let consumed) = parseResponse(text + "7\r\n") else { Issue.record("not complete"); return }
        #expect(consumed == text.utf8.count)
        #expect(head.status == 200 && head.chunked && head.keepAlive && head.bodyFraming == .chunked)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", HTTPBodyFraming.length(12), true),
        ("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nConnection: close\r\n\r\n", .length(0), false),
        ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", .length(1), false),
        ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: Keep-Alive\r\n\r\n", .length(1), true),
        ("HTTP/1.1 204 No Content\r\n\r\n", .none, true),
        ("HTTP/1.1 200 \r\n\r\n", .untilClose, false),
    ])
    func framingAndKeepAlive(text: String, framing: HTTPBodyFraming, keepAlive: Bool) {
        guard case .complete(let head, _) = parseResponse(text) else { Issue.record("not complete: \(text)"); return }
        #expect(head.bodyFraming == framing)
        #expect(head.keepAlive == keepAlive)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n", "HTTP/1.1 200 OK\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "HTTP/1.1 200 OK\r\nA b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nA: \u{01}\r\n\r\n",
        "xTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
    ])
    func refusesBadHeadsAtEveryLength(text: String) {
        let bytes = Array(text.utf8)
        guard case .invalid = parseResponse(text) else { Issue.record("accepted: \(text)"); return }
        // Every prefix is partial or invalid, never complete; once invalid, invalid after.
        var invalidSeen = false
        for n in 0...bytes.count {
            let r = Array(bytes[0..<n]).withUnsafeBytes { parseResponseHead($0) }
            if case .complete = r { Issue.record("prefix \(n) complete") }
            if case .invalid = r { invalidSeen = true } else if invalidSeen { Issue.record("valid after invalid at \(n)") }
        }
    }

    @Test func everyPrefixOfAValidHeadIsPartial() {
        let bytes = Array("HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 2\r\n\r\n".utf8)
        for n in 0..<bytes.count {
            #expect(Array(bytes[0..<n]).withUnsafeBytes { parseResponseHead($0) } == .partial)
        }
    }

    @Test func limitsRefuseOversizedHeadsAndAcceptTheBoundary() {
        let text = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"
        let size = text.utf8.count
        if case .complete = parseResponse(text, limits: .init(headBytesMax: size, headerCountMax: 2)) {} else { Issue.record("boundary refused") }
        guard case .invalid = parseResponse(text, limits: .init(headBytesMax: size - 1, headerCountMax: 2)) else { Issue.record("size"); return }
        guard case .invalid = parseResponse(text, limits: .init(headBytesMax: size, headerCountMax: 1)) else { Issue.record("count"); return }
        // A head that never ends is refused once it passes the limit.
        guard case .invalid = parseResponse("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 20_000)) else { Issue.record("endless"); return }
    }
}

@Suite struct ChunkedDecoderTests {
    static let body = "{\"result\":{\"a\":1}}\n{\"result\":{\"b\":2}}\n"
    static let coded = "13\r\n{\"result\":{\"a\":1}}\n\r\n13;ext=1\r\n{\"result\":{\"b\":2}}\n\r\n0\r\nTrailer: x\r\n\r\n"

    @Test func decodesInOnePieceAndByteByByte() {
        let input = Array(Self.coded.utf8)
        var d = ChunkedDecoder()
        var out: [UInt8] = []
        let (consumed, outcome) = (input + Array("NEXT".utf8)).withUnsafeBytes { d.decode($0, into: &out) }
        #expect(consumed == input.count && outcome == .done)
        #expect(String(decoding: out, as: UTF8.self) == Self.body)

        var d2 = ChunkedDecoder()
        var out2: [UInt8] = []
        for (k, b) in input.enumerated() {
            let r = [b].withUnsafeBytes { d2.decode($0, into: &out2) }
            #expect(r.consumed == 1)
            #expect(r.outcome == (k == input.count - 1 ? .done : .needMore))
        }
        #expect(out2 == out)
    }

    @Test(arguments: ["x\r\n", "\r\n", "5\r\nabcdeX", "5\r\nabcde\rX", "1\rx", "0\r\nA\u{01}", "-1\r\n", ";a\r\n"])
    func refusesBrokenCoding(text: String) {
        var d = ChunkedDecoder()
        var out: [UInt8] = []
        let r = Array(text.utf8).withUnsafeBytes { d.decode($0, into: &out) }
        guard case .invalid = r.outcome else { Issue.record("accepted \(text)"); return }
    }

    @Test func limitsAreEnforced() {
        var limits = ChunkedDecoder.Limits()
        limits.chunkBytesMax = 0xff
        limits.chunkSizeLineBytesMax = 8
        limits.trailerBytesMax = 4
        func run(_ text: String) -> ChunkedDecoder.Outcome {
            var d = ChunkedDecoder(limits: limits)
            var out: [UInt8] = []
            return Array(text.utf8).withUnsafeBytes { d.decode($0, into: &out) }.outcome
        }
        #expect(run("ff\r\n") == .needMore)
        guard case .invalid = run("100\r\n") else { Issue.record("chunk size"); return }
        #expect(run("1;abcdef\r\n") == .needMore)
        guard case .invalid = run("1;abcdefg\r\n") else { Issue.record("size line"); return }
        #expect(run("0\r\nabcd\r\n\r\n") == .done)
        guard case .invalid = run("0\r\nabcde") else { Issue.record("trailer"); return }
        // A huge hex size saturates at the limit, never overflows.
        guard case .invalid = run("ffffffffffffffffffffffff\r\n") else { Issue.record("overflow"); return }
    }
}
