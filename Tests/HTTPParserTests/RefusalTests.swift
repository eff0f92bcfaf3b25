// Each refusal with a minimal example, the CRLF-only decision, and the negative space
// of each byte class: every byte that must not appear somewhere is refused there.
import HTTPParser
import Testing

@Suite struct RefusalTests {
    /// minimalExamples: one small request per status, each close to a valid one.
    static let minimalExamples: [(String, Int)] = [
        ("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
        ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{1}b\r\nHost: a\r\n\r\n", 400),
        (String(repeating: "a", count: 8 * 1024 + 1), 414),
        ("GET / HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 65), 431),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417),
    ]

    @Test(arguments: minimalExamples)
    func eachStatusHasAMinimalExample(request: String, status: Int) {
        let p = parse(request)
        #expect(p.error?.status == status, "\(p.result)")
        #expect(p.head == HTTPRequestHead(), "a refusal leaves head untouched")
    }

    @Test(arguments: [
        "",  // empty method
        " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",  // two spaces
        "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "GET /\r\n\r\n",  // HTTP/0.9
        "GET / http/1.1\r\nHost: a\r\n\r\n",  // version is case-sensitive
        "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
        "GET / HTTP/1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
        "GET a HTTP/1.1\r\nHost: a\r\n\r\n",  // not origin-form
        "GET * HTTP/1.1\r\nHost: a\r\n\r\n",  // '*' is only for OPTIONS
        "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",  // authority-form: we are no proxy
        "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",  // empty authority
        "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty-name\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX\u{0}Y: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: 1\u{7F}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\u{1}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",  // 5 empty lines: more than 4
    ])
    func malformedSyntaxIs400(request: String) {
        let bytes = Array(request.utf8)
        let p = parse(bytes.isEmpty ? Array(" ".utf8) : bytes)
        #expect(p.error?.status == 400, "\(p.result)")
    }

    /// Decision: lines end with CRLF only. RFC 9112 §2.2 lets a recipient accept a bare
    /// LF, but a front proxy that does not would see other lines than we do.
    @Test(arguments: [
        "GET / HTTP/1.1\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\n",
        "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: 1\nY: 2\r\n\r\n",
    ])
    func bareLFIsRefused(request: String) {
        #expect(parse(request).error?.status == 400)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\rHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\rX",
        "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ])
    func bareCRIsRefused(request: String) {
        #expect(parse(request).error == .badRequest(reason: "bare CR"))
    }

    @Test(arguments: ["HTTP/0.9", "HTTP/1.2", "HTTP/2.0", "HTTP/3.0", "HTTP/9.9"])
    func otherVersionsAre505(version: String) {
        #expect(parse("GET / \(version)\r\nHost: a\r\n\r\n").error == .versionNotSupported)
    }

    /// The token set of RFC 9110 §5.6.2, written out the long way to check the masks.
    static let tokenBytes = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    @Test func methodAndFieldNameBytesAreExactlyTheTokenSet() {
        for b in UInt8.min...UInt8.max where b != 0x20 && b != 0x3A {
            let method = parse([0x47, b, 0x54] + Array(" / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
            #expect((method.error == nil) == Self.tokenBytes.contains(b), "method byte \(b)")
            let name = parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX".utf8) + [b] + Array("Y: 1\r\n\r\n".utf8))
            #expect((name.error == nil) == Self.tokenBytes.contains(b), "field-name byte \(b)")
        }
    }

    @Test func targetBytesAreVisibleASCIIExceptHash() {
        for b in UInt8.min...UInt8.max where b != 0x20 {
            let p = parse(Array("GET /a".utf8) + [b] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
            let allowed = b >= 0x21 && b <= 0x7E && b != 0x23
            #expect((p.error == nil) == allowed, "target byte \(b)")
        }
    }

    @Test func fieldValueBytesRefuseOnlyControls() {
        for b in UInt8.min...UInt8.max where b != 0x0D {
            let p = parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX: a".utf8) + [b] + Array("b\r\n\r\n".utf8))
            let allowed = b == 0x09 || (b >= 0x20 && b != 0x7F)
            #expect((p.error == nil) == allowed, "field-value byte \(b)")
        }
    }

    /// Long values are scanned eight bytes a step: a refused byte, or an HTAB, at any
    /// offset of a long value is still seen.
    @Test func longValuesAreCheckedAtEveryOffset() {
        let value = Array("0123456789abcdefghijklmnopqrstuv".utf8)
        for offset in 0..<value.count {
            for (b, allowed) in [(UInt8(0x00), false), (0x1F, false), (0x7F, false), (0x0A, false), (0x09, true), (0x80, true)] {
                var bytes = value
                bytes[offset] = b
                let p = parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX: ".utf8) + bytes + Array("\r\n\r\n".utf8))
                #expect((p.error == nil) == allowed, "byte \(b) at offset \(offset)")
                if allowed {
                    let slot = p.slots[1]
                    let got = Array(p.bytes[Int(slot.value.start)..<Int(slot.value.start + slot.value.count)])
                    var expected = bytes[...]
                    while expected.first == 0x09 { expected.removeFirst() }
                    while expected.last == 0x09 { expected.removeLast() }
                    #expect(got == Array(expected), "value with byte \(b) at offset \(offset)")
                }
            }
        }
    }

    /// An error is decided by the bytes that prove it: extending a refused input never
    /// changes the answer.
    @Test(arguments: minimalExamples.map(\.0))
    func aRefusalStaysTheSameWhenMoreBytesArrive(request: String) {
        let refused = parse(request).result
        #expect(parse(request + "GET / HTTP/1.1\r\nHost: a\r\n\r\n").result == refused)
    }
}
