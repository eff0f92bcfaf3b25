// The JSON reader's grammar, limits and exact integers, and the writer's escaping.
import JSON
import Testing

@Suite struct JSONReaderTests {
    @Test func readsEtcdAnswerWithExactInt64() throws {
        let text = #"{"header":{"revision":"5","raft_term":"2"},"ID":9223372036854775807,"ok":true,"kvs":[{"key":"YQ==","n":null}]}"#
        let v = try JSONValue.parse(text)
        #expect(v["header"]["revision"].string == "5")
        #expect(v["ID"].int64 == Int64.max)
        #expect(v["ok"].bool == true)
        #expect(v["kvs"].array?.count == 1)
        #expect(v["kvs"].array?[0]["key"].string == "YQ==")
        #expect(v["kvs"].array?[0].has("n") == true)
        #expect(v["missing"]["deeper"].isNull)
    }

    @Test(arguments: [
        ("0", "0"), ("-0", "-0"), ("12.5e-3", "12.5e-3"), ("1E+9", "1E+9"),
    ])
    func numbersKeepTheirText(text: String, kept: String) throws {
        #expect(try JSONValue.parse(text) == .number(kept))
    }

    @Test func stringsDecodeEscapesAndSurrogatePairs() throws {
        let v = try JSONValue.parse(#""a\"b\\c\/\n\t\u00e9\ud83d\ude00""#)
        #expect(v.string == "a\"b\\c/\n\té😀")
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "tru", "nul", "\"abc",
        "\"a\u{01}b\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\" 1}", "[1 2]", "1 2",
        "{a:1}", "'a'", "+1", ".5", "[", "\"\\u12\"",
    ])
    func refusesInvalidDocuments(text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSONValue.parse(bytes: [0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func everyLimitIsEnforcedAndTheBoundaryAccepted() throws {
        let limits = JSONLimits(documentBytesMax: 64, depthMax: 3, stringBytesMax: 4, containerCountMax: 3)
        _ = try JSONValue.parse("[[[1]]]", limits: limits)
        #expect(throws: JSONError.self) { try JSONValue.parse("[[[[1]]]]", limits: limits) }
        _ = try JSONValue.parse("\"abcd\"", limits: limits)
        #expect(throws: JSONError.self) { try JSONValue.parse("\"abcde\"", limits: limits) }
        _ = try JSONValue.parse("[1,2,3]", limits: limits)
        #expect(throws: JSONError.self) { try JSONValue.parse("[1,2,3,4]", limits: limits) }
        #expect(throws: JSONError.self) { try JSONValue.parse("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", limits: limits) }
        _ = try JSONValue.parse(String(repeating: " ", count: 63) + "1", limits: limits)
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: " ", count: 64) + "1", limits: limits) }
        // Deep nesting under the default limit is refused, not a stack overflow.
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
    }

    @Test func everyPrefixOfAValidDocumentIsRefusedWithoutCrashing() throws {
        let text = #"{"a":[1,-2.5e3,true,false,null,"x\u00e9"],"b":{"c":"d"}}"#
        let bytes = Array(text.utf8)
        _ = try JSONValue.parse(bytes: bytes)
        for n in 0..<bytes.count {
            #expect(throws: JSONError.self) { try JSONValue.parse(bytes: Array(bytes[0..<n])) }
        }
    }

    @Test func firstOfDuplicateNamesWins() throws {
        #expect(try JSONValue.parse(#"{"a":1,"a":2}"#)["a"].int64 == 1)
    }
}

@Suite struct JSONWriterTests {
    @Test func roundTripsThroughTheReader() throws {
        let value = JSONValue.object([
            .init("name", .string("n\"1\\\n\u{01}é")), .init("n", .number(Int64.min)),
            .init("list", .array([.bool(true), .null, .number("1.5")])),
        ])
        let text = value.serialized()
        #expect(text == #"{"name":"n\"1\\\n\u0001é","n":-9223372036854775808,"list":[true,null,1.5]}"#)
        #expect(try JSONValue.parse(text) == value)
    }
}
