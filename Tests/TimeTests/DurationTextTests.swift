import RaftCore  // SeededGenerator only
import Testing
import Time

/// The duration grammar: what it accepts (and the exact value), what it refuses (and
/// that the message says what to write), and that formatting round-trips.
struct DurationTextTests {
    static let ms: Int64 = 1_000_000
    static let s: Int64 = 1_000_000_000

    @Test(arguments: [
        ("0s", 0), ("0ms", 0), ("150ms", 150 * ms), ("2s", 2 * s), ("1m", 60 * s), ("1h", 3600 * s),
        ("1m30s", 90 * s), ("1h2m3s4ms", 3723 * s + 4 * ms), ("1h30s", 3630 * s), ("2m500ms", 120 * s + 500 * ms),
        // fractions (`1.5s` was accepted by the first release's flags and stays valid)
        ("1.5s", 1500 * ms), ("0.25ms", 250_000), (".5s", 500 * ms), ("5.s", 5 * s), ("1.5h", 5400 * s),
        ("217.230ms", 217_230_000), ("0.000001ms", 1), ("0.0000000001s", 0), ("1.999999999999999999999s", 2 * s - 1),
        // leading zeros are ordinary digits
        ("0300s", 300 * s), ("007ms", 7 * ms),
        // the largest value that fits
        ("9223372036854775807ms", nil), ("2562047h47m16.854775807s", Int64.max),
    ] as [(String, Int64?)])
    func accepts(text: String, nanoseconds: Int64?) throws {
        if let nanoseconds {
            #expect(try Interval(parsing: text) == Interval(nanoseconds: nanoseconds))
        } else {
            #expect(throws: DurationSyntaxError.self) { try Interval(parsing: text) }
        }
    }

    @Test(arguments: [
        ("", DurationSyntaxError.Problem.empty, "e.g. 150ms, 2s, 1m30s or 1h"),
        ("30", .noUnit, "write 30s for seconds or 30ms for milliseconds"),
        ("1.5", .noUnit, "write 1.5s for seconds or 1.5ms for milliseconds"),
        ("-1s", .negative, "is negative"),
        ("-0s", .negative, "is negative"),
        ("5sec", .unknownUnit("sec"), "unknown unit 'sec'"),
        ("2d", .unknownUnit("d"), "units are h, m, s and ms"),
        ("2S", .unknownUnit("S"), "unknown unit 'S'"),
        ("3us", .unknownUnit("us"), "unknown unit 'us'"),
        ("30s1m", .unitOutOfOrder("m"), "from largest to smallest"),
        ("1s1s", .unitOutOfOrder("s"), "each once"),
        ("1m30", .malformed, "is not a duration"),
        ("1s 2ms", .malformed, "is not a duration"),
        (" 1s", .malformed, "is not a duration"),
        ("s", .malformed, "is not a duration"),
        (".s", .malformed, "is not a duration"),
        ("1..5s", .malformed, "is not a duration"),
        ("+1s", .malformed, "is not a duration"),
        ("1e3ms", .unknownUnit("e"), "unknown unit"),
        ("1µs", .malformed, "is not a duration"),
        ("99999999999s", .overflow, "too long a time"),
        ("2562047h47m16.854775808s", .overflow, "too long a time"),
        ("99999999999999999999ms", .overflow, "too long a time"),
        ("2562048h", .overflow, "too long a time"),
        (String(repeating: "1", count: 64) + "s", .tooLong, "longer than 64 characters"),
    ] as [(String, DurationSyntaxError.Problem, String)])
    func refuses(text: String, problem: DurationSyntaxError.Problem, fragment: String) {
        do {
            let value = try Interval(parsing: text)
            Issue.record("'\(text)' parsed as \(value)")
        } catch {
            #expect(error.problem == problem, "'\(text)'")
            #expect(error.description.contains(fragment), "\(error.description)")
        }
    }

    @Test(arguments: [
        (0, "0s"), (1, "0.000001ms"), (1_000, "0.001ms"), (150 * ms, "150ms"), (1500 * ms, "1.5s"),
        (2 * s, "2s"), (90 * s, "1m30s"), (3600 * s, "1h"), (3600 * s + 250 * ms, "1h250ms"), (61 * s + 250 * ms, "1m1.25s"),
        (60 * s + 1, "1m0.000001ms"), (217_230_000, "217.23ms"), (-1500 * ms, "-1.5s"),
        (Int64.max, "2562047h47m16.854775807s"), (Int64.min, "-2562047h47m16.854775808s"),
    ] as [(Int64, String)])
    func formats(nanoseconds: Int64, text: String) {
        #expect(Interval(nanoseconds: nanoseconds).formatted == text)
    }

    /// Every non-negative value, written canonically or in the trace form, reads back:
    /// exactly for the canonical form, to the microsecond for the trace form.
    @Test func formattingRoundTrips() throws {
        var rng = SeededGenerator(seed: 13)
        for i in 0..<20_000 {
            // Mix magnitudes: nanoseconds up to the full range.
            let bits = Int(rng.next() % 63)
            let ns = Int64(rng.next() >> 1) >> Int64(62 - bits)
            let value = Interval(nanoseconds: i == 0 ? 0 : (i == 1 ? Int64.max : ns))
            #expect(try Interval(parsing: value.formatted) == value, "\(value.nanoseconds)")
            let trace = try Interval(parsing: value.description)
            #expect(trace.nanoseconds == value.nanoseconds / 1_000 * 1_000, "\(value.description)")
        }
    }

    /// Random text never traps, and whatever parses formats back to the same value.
    @Test func randomTextNeverTraps() throws {
        var rng = SeededGenerator(seed: 7)
        let alphabet = Array("0123456789.hmsu -+ms".utf8)
        for _ in 0..<50_000 {
            let length = Int(rng.next() % 24)
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let text = String(decoding: bytes, as: UTF8.self)
            if let value = try? Interval(parsing: text) {
                #expect(value.nanoseconds >= 0)
                #expect(try Interval(parsing: value.formatted) == value, "'\(text)'")
            }
        }
    }

    @Test func wholeNumbersAreRecognised() {
        #expect(DurationText.isWholeNumber("30"))
        #expect(DurationText.isWholeNumber("0"))
        #expect(!DurationText.isWholeNumber(""))
        #expect(!DurationText.isWholeNumber("30s"))
        #expect(!DurationText.isWholeNumber("1.5"))
        #expect(!DurationText.isWholeNumber("-3"))
    }

    @Test func instantArithmetic() {
        let t = Instant(nanoseconds: 5 * Self.s)
        #expect(t + .milliseconds(250) == Instant(nanoseconds: 5_250 * Self.ms))
        #expect(t - Instant.zero == .seconds(5))
        #expect(t - .minutes(1) < .zero)
        #expect(t.description == "@5000ms")
        #expect(Interval(nanoseconds: -500_000).description == "-0.500ms")
        #expect(Interval(nanoseconds: -1_500_000).description == "-1.500ms")
        #expect(Interval.milliseconds(1_250).wholeMilliseconds == 1_250)
    }
}
