// Every limit exactly at its bound (accepted) and one past it (refused), complete and
// while still partial, with the defaults and with small custom limits.
import HTTPParser
import Testing

@Suite struct LimitTests {
    /// requestLine(length:) is `GET /aaa… HTTP/1.1` exactly `length` bytes long, CRLF excluded.
    func requestLine(length: Int) -> String {
        "GET /" + String(repeating: "a", count: length - "GET / HTTP/1.1".count) + " HTTP/1.1"
    }

    @Test func requestLineAtTheLimitIsAcceptedAndOnePastIs414() {
        let max = HTTPLimits().requestLineBytesMax
        #expect(max == 8 * 1024)
        let at = parse(requestLine(length: max) + "\r\nHost: a\r\n\r\n")
        #expect(at.result == .complete(consumed: at.bytes.count))
        #expect(parse(requestLine(length: max + 1) + "\r\nHost: a\r\n\r\n").error == .uriTooLong)
    }

    @Test func partialRequestLinePastTheLimitIs414() {
        let max = HTTPLimits().requestLineBytesMax
        let line = Array(("GET /" + String(repeating: "a", count: max)).utf8)
        #expect(parse(Array(line[..<max])).result == .partial)
        #expect(parse(Array(line[..<(max + 1)])).error == .uriTooLong)
        // Once the version's place is known to be past the limit, no need to wait for it.
        let early = "GET /" + String(repeating: "a", count: max - 13) + " "
        #expect(parse(early).error == .uriTooLong)
        #expect(parse(String(early.dropLast(2)) + " ").result == .partial)
        // Any part may be the one that is too long: the method, the target, the version.
        #expect(parse(String(repeating: "G", count: max + 1)).error == .uriTooLong)
        #expect(parse("GET /" + String(repeating: "a", count: max)).error == .uriTooLong)
        #expect(parse(requestLine(length: max + 1)).error == .uriTooLong)
        #expect(parse("GET /" + String(repeating: "a", count: max - 13) + " H").error == .uriTooLong)
    }

    @Test func leadingEmptyLinesDoNotCountTowardTheRequestLine() {
        let max = HTTPLimits().requestLineBytesMax
        let p = parse("\r\n\r\n" + requestLine(length: max) + "\r\nHost: a\r\n\r\n")
        #expect(p.result == .complete(consumed: p.bytes.count))
    }

    /// headers(count:) is `count` fields, the first of them Host.
    func headers(count: Int) -> String {
        "Host: a\r\n" + (1..<count).map { "X-\($0): v\r\n" }.joined()
    }

    @Test func headerCountAtTheLimitIsAcceptedAndOnePastIs431() {
        let max = HTTPLimits().headerCountMax
        #expect(max == 64)
        let at = parse("GET / HTTP/1.1\r\n" + headers(count: max) + "\r\n")
        #expect(at.result == .complete(consumed: at.bytes.count))
        #expect(at.head.headerCount == max)
        #expect(at.headers.last?.0 == "X-63")
        // The 65th field is refused at its first byte, before its line ends.
        #expect(parse("GET / HTTP/1.1\r\n" + headers(count: max) + "X").error == .headerFieldsTooLarge)
        #expect(parse("GET / HTTP/1.1\r\n" + headers(count: max + 1) + "\r\n").error == .headerFieldsTooLarge)
    }

    @Test func fewerSlotsThanTheLimitCapTheCount() {
        let p = parse("GET / HTTP/1.1\r\n" + headers(count: 3) + "\r\n", slotCount: 3)
        #expect(p.head.headerCount == 3)
        #expect(parse("GET / HTTP/1.1\r\n" + headers(count: 4) + "\r\n", slotCount: 3).error == .headerFieldsTooLarge)
        #expect(parse("GET / HTTP/1.0\r\nX: 1\r\n\r\n", slotCount: 0).error == .headerFieldsTooLarge)
        let none = parse("GET / HTTP/1.0\r\n\r\n", slotCount: 0)
        #expect(none.result == .complete(consumed: none.bytes.count))
    }

    /// fields(bytes:) is a header section of exactly `bytes` bytes including every CRLF
    /// and the final empty line: Host, then one padded field.
    func fields(bytes: Int) -> String {
        let fixed = "Host: a\r\nX: \r\n\r\n"
        return "Host: a\r\nX: " + String(repeating: "v", count: bytes - fixed.utf8.count) + "\r\n\r\n"
    }

    @Test func headerBytesAtTheLimitAreAcceptedAndOnePastIs431() {
        let max = HTTPLimits().headerBytesMax
        #expect(max == 16 * 1024)
        #expect(fields(bytes: max).utf8.count == max)
        let at = parse("GET / HTTP/1.1\r\n" + fields(bytes: max))
        #expect(at.result == .complete(consumed: at.bytes.count))
        #expect(parse("GET / HTTP/1.1\r\n" + fields(bytes: max + 1)).error == .headerFieldsTooLarge)
    }

    @Test func partialHeaderBytesPastTheLimitAre431() {
        let max = HTTPLimits().headerBytesMax
        let request = Array(("GET / HTTP/1.1\r\n" + fields(bytes: max + 1)).utf8)
        let headerStart = "GET / HTTP/1.1\r\n".utf8.count
        #expect(parse(Array(request[..<(headerStart + max)])).result == .partial)
        #expect(parse(Array(request[..<(headerStart + max + 1)])).error == .headerFieldsTooLarge)
        // One huge field with no end in sight is refused as soon as it passes the limit.
        let huge = "GET / HTTP/1.1\r\nX: " + String(repeating: "v", count: max)
        #expect(parse(huge).error == .headerFieldsTooLarge)
    }

    @Test func contentLengthAtTheLimitIsAcceptedAndOnePastIs413() {
        let max = HTTPLimits().bodyBytesMax
        #expect(max == 64 * 1024)
        let at = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max)\r\n\r\n")
        #expect(at.head.contentLength == max)
        #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max + 1)\r\n\r\n").error == .contentTooLarge)
        #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n").error
                == .contentTooLarge)
    }

    @Test func smallCustomLimitsAreHonoured() {
        var limits = HTTPLimits()
        limits.requestLineBytesMax = 14  // "GET / HTTP/1.1"
        limits.headerCountMax = 1
        limits.headerBytesMax = 11  // "Host: a\r\n\r\n"
        limits.bodyBytesMax = 0
        let ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(parse(ok, limits: limits).result == .complete(consumed: ok.utf8.count))
        #expect(parse("GET /a HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits).error == .uriTooLong)
        #expect(parse("GET / HTTP/1.1\r\nHost: ab\r\n\r\n", limits: limits).error == .headerFieldsTooLarge)
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\nX", limits: limits).error == .headerFieldsTooLarge)
        limits.requestLineBytesMax = 15  // "POST / HTTP/1.1"
        limits.headerCountMax = 2
        limits.headerBytesMax = 1000
        #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", limits: limits).error == nil)
        #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", limits: limits).error == .contentTooLarge)
    }

    @Test func absurdLimitsAreClampedNotTrusted() {
        var limits = HTTPLimits()
        limits.requestLineBytesMax = .max
        limits.headerBytesMax = .max
        limits.headerCountMax = .max
        limits.bodyBytesMax = .max
        let ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(parse(ok, limits: limits, slotCount: 4).result == .complete(consumed: ok.utf8.count))
        limits.requestLineBytesMax = -1
        #expect(parse(ok, limits: limits, slotCount: 4).error == .uriTooLong)
    }
}
