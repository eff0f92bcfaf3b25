// The handler helpers: percent-decoding, query pairs, header lookup.
import HTTPParser
import Testing

/// decoded(_:plusAsSpace:) is `percentDecoded` over text, as text or the error.
func decoded(_ text: String, plusAsSpace: Bool = false) -> Result<String, PercentDecodingError> {
    Array(text.utf8).withUnsafeBytes { raw in
        do throws(PercentDecodingError) {
            return .success(String(decoding: try percentDecoded(raw, plusAsSpace: plusAsSpace), as: UTF8.self))
        } catch {
            return .failure(error)
        }
    }
}

@Suite struct HelperTests {
    @Test func percentDecodingHandlesBothHexCasesAndPlus() {
        #expect(decoded("/a%20b%2fc%2F") == .success("/a b/c/"))
        #expect(decoded("a+b") == .success("a+b"))
        #expect(decoded("a+b%2B", plusAsSpace: true) == .success("a b+"))
        #expect(decoded("caf%C3%A9") == .success("caf\u{E9}"))
        #expect(decoded("") == .success(""))
    }

    @Test(arguments: [("%", 0), ("a%2", 1), ("%zz", 0), ("ab%g0", 2), ("%0", 0), ("%%41", 0)])
    func malformedEscapesThrowWithTheirOffset(text: String, offset: Int) {
        #expect(decoded(text) == .failure(.malformedEscape(offset: offset)))
    }

    @Test func decodingIntoASmallBufferThrowsInsteadOfOverflowing() {
        let input = Array("abc%41".utf8)
        var output = [UInt8](repeating: 0, count: 3)
        let outcome: Result<Int, PercentDecodingError> = input.withUnsafeBytes { raw in
            output.withUnsafeMutableBytes { out in
                do throws(PercentDecodingError) { return .success(try percentDecode(raw, into: out)) } catch { return .failure(error) }
            }
        }
        #expect(outcome == .failure(.outputTooSmall))
    }

    /// pairs(_:countMax:) is the query pairs of a parsed request, still encoded.
    func pairs(_ query: String, countMax: Int = QueryParameters.defaultCountMax) -> [String] {
        let p = parse("GET /x?\(query) HTTP/1.1\r\nHost: a\r\n\r\n")
        return p.bytes.withUnsafeBytes { raw in
            QueryParameters(p.head.query, in: raw, countMax: countMax).map { "\(p.text($0.name))=\(p.text($0.value))" }
        }
    }

    @Test func queryPairsSplitAtAmpersandsAndSkipEmptyOnes() {
        #expect(pairs("wait=5s&term=3") == ["wait=5s", "term=3"])
        #expect(pairs("&&a&b=&=c&d=e=f&") == ["a=", "b=", "=c", "d=e=f"])
        #expect(pairs("") == [])
        #expect(pairs("a=1&b=2&c=3", countMax: 2) == ["a=1", "b=2"])
        #expect(pairs("a=1", countMax: -1) == [])
    }

    /// value(named:in:) is `queryValue` over a parsed request, as text.
    func value(named name: StaticString, in query: String) -> Result<String?, PercentDecodingError> {
        let p = parse("GET /x?\(query) HTTP/1.1\r\nHost: a\r\n\r\n")
        var output = [UInt8](repeating: 0, count: 64)
        return p.bytes.withUnsafeBytes { raw in
            output.withUnsafeMutableBytes { out in
                do throws(PercentDecodingError) {
                    guard let n = try queryValue(named: name, query: p.head.query, in: raw, into: out) else { return .success(nil) }
                    return .success(String(decoding: out[..<n], as: UTF8.self))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    @Test func queryValueDecodesNamesAndValues() {
        #expect(value(named: "wait", in: "term=3&wait=5s") == .success("5s"))
        #expect(value(named: "wait", in: "w%61it=a+b%21") == .success("a b!"))
        #expect(value(named: "wait", in: "wait&wait=2") == .success(""))
        #expect(value(named: "wait", in: "waiting=1") == .success(nil))
        #expect(value(named: "a b", in: "a+b=1") == .success("1"))
        #expect(value(named: "wait", in: "wait=%zz") == .failure(.malformedEscape(offset: 0)))
        #expect(value(named: "wait", in: "w%=1&wait=2") == .failure(.malformedEscape(offset: 1)))
    }

    @Test func firstHeaderIgnoresCaseAndStopsAtTheCount() {
        let p = parse("GET / HTTP/1.1\r\nHost: a\r\nX-Token: one\r\nx-token: two\r\n\r\n")
        p.bytes.withUnsafeBytes { raw in
            p.slots.withUnsafeBufferPointer { slots in
                #expect(p.head.firstHeader(named: "x-token", in: raw, headers: slots).map(p.text) == "one")
                #expect(p.head.firstHeader(named: "X-TOKEN", in: raw, headers: slots).map(p.text) == "one")
                #expect(p.head.firstHeader(named: "host", in: raw, headers: slots).map(p.text) == "a")
                #expect(p.head.firstHeader(named: "x-tokens", in: raw, headers: slots) == nil)
                var fewer = p.head
                fewer.headerCount = 1
                #expect(fewer.firstHeader(named: "x-token", in: raw, headers: slots) == nil)
            }
        }
    }
}
