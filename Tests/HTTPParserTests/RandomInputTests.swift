// Seeded random inputs: uniform bytes, HTTP-shaped token soup, and mutations of valid
// requests. The parser never crashes, never reports a range outside the input, and an
// answer never changes its mind: a prefix is `.partial` or gets the same answer.
import HTTPParser
import Testing

@Suite struct RandomInputTests {
    /// The soup is lines of grammar, some wrong, joined by line ends, some wrong, so
    /// that it reaches the deep paths and is sometimes a valid request.
    static let requestLines = [
        "GET / HTTP/1.1", "POST /a?b=%41&c HTTP/1.1", "OPTIONS * HTTP/1.0", "GET http://a/ HTTP/1.1",
        "GET / HTTP/2.0", "GET  / HTTP/1.1", "G\u{0}T / HTTP/1.1", "GET /#x HTTP/1.1", "",
    ].map { Array($0.utf8) }
    static let fieldLines = [
        "Host: a", "Host: a", "Host: b", "Content-Length: 5", "Content-Length: 6", "Content-Length: 5, 5",
        "Content-Length: 99999999999", "Content-Length: +1", "Transfer-Encoding: chunked", " folded",
        "Connection: close", "Connection: keep-alive", "Expect: 100-continue", "Expect: x", "X-A: b",
        "Bad Name: x", "X: \u{0}", "X:\u{FF}", "Host : a", "",
    ].map { Array($0.utf8) }
    static let lineEnds = ["\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", ""].map { Array($0.utf8) }

    /// check(_:_:) asserts the promises for one input and a prefix of it.
    func check(_ bytes: [UInt8], _ label: String, limits: HTTPLimits = HTTPLimits(), slots: Int = 64) {
        let p = parse(bytes, limits: limits, slotCount: slots)
        #expect(rangesAreInside(p), "\(label)")
        let cut = bytes.count / 2
        let prefix = parse(Array(bytes[..<cut]), limits: limits, slotCount: slots).result
        if case .complete(let consumed) = p.result {
            #expect(cut >= consumed ? prefix == p.result : prefix == .partial, "\(label)")
        } else {
            #expect(prefix == .partial || prefix == p.result, "\(label)")
            #expect(p.head == HTTPRequestHead(), "\(label)")
        }
    }

    @Test func uniformRandomBytes() {
        var random = SplitMix64(seed: 1)
        for round in 0..<20_000 {
            let count = Int.random(in: 0...48, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            check(bytes, "seed 1 round \(round)")
        }
    }

    @Test func httpShapedTokenSoup() {
        var random = SplitMix64(seed: 2)
        var small = HTTPLimits()
        small.requestLineBytesMax = 30
        small.headerCountMax = 3
        small.headerBytesMax = 60
        small.bodyBytesMax = 10
        var completes = 0
        for round in 0..<20_000 {
            var bytes = Self.requestLines.randomElement(using: &random)!
            bytes += Self.lineEnds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                bytes += Self.fieldLines.randomElement(using: &random)!
                bytes += Self.lineEnds.randomElement(using: &random)!
            }
            bytes += Self.lineEnds.randomElement(using: &random)!
            check(bytes, "seed 2 round \(round)")
            check(bytes, "seed 2 round \(round) small", limits: small, slots: 2)
            if case .complete = parse(bytes).result { completes += 1 }
        }
        #expect(completes > 0, "the soup should sometimes be a valid request")
    }

    @Test func mutatedValidRequests() {
        var random = SplitMix64(seed: 3)
        for round in 0..<10_000 {
            var bytes = Array(validRequests.randomElement(using: &random)!.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                default: if bytes.count > 1 { bytes.remove(at: at) }
                }
            }
            check(bytes, "seed 3 round \(round)")
            // Every prefix, for a slice of the rounds (the full check is the fuzz target's).
            if round % 20 == 0 {
                let whole = parse(bytes).result
                for length in 0..<bytes.count {
                    let r = parse(Array(bytes[..<length])).result
                    if case .complete(let consumed) = whole, length >= consumed {
                        #expect(r == whole, "seed 3 round \(round) length \(length)")
                    } else {
                        #expect(r == .partial || r == whole, "seed 3 round \(round) length \(length)")
                    }
                }
            }
        }
    }
}
