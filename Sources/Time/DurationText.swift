// The one duration grammar: every flag, config value, query string and simulator
// option that takes a length of time reads it here, so `2s` means the same everywhere.
//
//     duration  = part { part }              at most 64 characters
//     part      = number unit                units from largest to smallest, each once
//     number    = digits [ "." [ digits ] ] | "." digits
//     unit      = "h" | "m" | "s" | "ms"
//
// Examples: `150ms`, `2s`, `1.5s`, `1m30s`, `1h`, `0.25ms`. The value is exact to the
// nanosecond (further fraction digits are dropped). Refused, each with an error that
// says what to write instead: the empty string, a number without a unit (`30` — is it
// seconds or milliseconds? the reader of a config file cannot tell), a negative value,
// an unknown unit (`5sec`, `2d`), units out of order or repeated (`30s1m`), spaces
// inside, and values that do not fit in 64-bit nanoseconds (about 292 years). Callers
// put their own ceiling on top (a hook timeout of at most 1h, a long-poll of at most 5m).
//
// The grammar follows the shape of Go's `time.ParseDuration` (a sequence of decimal
// numbers with unit suffixes) restricted to four units, without signs, and with the
// units in order.

/// DurationSyntaxError says why a text is not a duration and what to write instead.
public struct DurationSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Problem: Hashable, Sendable {
        case empty
        case tooLong
        case negative
        /// A number alone: the reader cannot tell the unit.
        case noUnit
        case unknownUnit(String)
        case unitOutOfOrder(String)
        case malformed
        case overflow
    }

    /// The text as given (cut to 64 characters for the message).
    public var text: String
    public var problem: Problem

    public init(text: String, problem: Problem) { self.text = text; self.problem = problem }

    /// The form every message ends with.
    public static let expectedForm = "a number with a unit (h, m, s or ms), e.g. 150ms, 2s, 1m30s or 1h"

    public var description: String {
        let shown = text.count > DurationText.maxLength ? String(text.prefix(DurationText.maxLength)) + "…" : text
        switch problem {
        case .empty:
            return "empty; write \(Self.expectedForm)"
        case .tooLong:
            return "'\(shown)' is longer than \(DurationText.maxLength) characters; write \(Self.expectedForm)"
        case .negative:
            return "'\(shown)' is negative; a duration is zero or more, e.g. 0s or 150ms"
        case .noUnit:
            return "'\(shown)' has no unit; write \(shown)s for seconds or \(shown)ms for milliseconds"
        case .unknownUnit(let unit):
            return "'\(shown)' has the unknown unit '\(unit)'; the units are h, m, s and ms, e.g. 150ms, 2s, 1m30s or 1h"
        case .unitOutOfOrder(let unit):
            return "'\(shown)' repeats '\(unit)' or puts it after a smaller unit; write the units from largest to smallest, each once, e.g. 1m30s"
        case .malformed:
            return "'\(shown)' is not a duration; write \(Self.expectedForm)"
        case .overflow:
            return "'\(shown)' is too long a time to represent (over 292 years)"
        }
    }
}

/// DurationText parses and formats the duration grammar above.
public enum DurationText {
    /// The longest text read: far beyond any sensible duration, short enough that
    /// parsing a hostile query string costs nothing.
    public static let maxLength = 64

    /// The units, largest first, with their size in nanoseconds.
    static let units: [(name: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000),
    ]

    /// isWholeNumber is true for a non-empty run of ASCII digits: the text that has
    /// "no unit". Callers that keep a legacy meaning for it (the long-poll `wait`) ask
    /// this before parsing.
    public static func isWholeNumber(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// parse reads a duration in the grammar above, or says what is wrong.
    public static func parse(_ text: some StringProtocol) throws(DurationSyntaxError) -> Interval {
        func fail(_ p: DurationSyntaxError.Problem) -> DurationSyntaxError { DurationSyntaxError(text: String(text), problem: p) }
        let bytes = Array(text.utf8.prefix(maxLength + 1))
        if bytes.isEmpty { throw fail(.empty) }
        if bytes.count > maxLength { throw fail(.tooLong) }
        if bytes[0] == UInt8(ascii: "-") { throw fail(.negative) }

        var total: Int64 = 0
        var i = 0
        var previousUnit = -1  // index into `units`: each part's unit must be smaller
        while i < bytes.count {
            // number = digits [ "." [ digits ] ] | "." digits
            var whole: Int64 = 0
            var wholeDigits = 0
            while i < bytes.count, let d = digit(bytes[i]) {
                let (times10, o1) = whole.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(d)
                if o1 || o2 { throw fail(.overflow) }
                whole = sum; wholeDigits += 1; i += 1
            }
            // The fraction as numerator / denominator; digits past 10^18 are below a
            // nanosecond for every unit and only need to be digits.
            var numerator: UInt64 = 0, denominator: UInt64 = 1, fractionDigits = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                while i < bytes.count, let d = digit(bytes[i]) {
                    if denominator < 1_000_000_000_000_000_000 {
                        numerator = numerator * 10 + UInt64(d); denominator *= 10
                    }
                    fractionDigits += 1; i += 1
                }
                if wholeDigits == 0 && fractionDigits == 0 { throw fail(.malformed) }
            } else if wholeDigits == 0 {
                throw fail(.malformed)
            }
            // unit = the run of ASCII letters that follows
            let unitStart = i
            while i < bytes.count, isLetter(bytes[i]) { i += 1 }
            let unit = String(decoding: bytes[unitStart..<i], as: UTF8.self)
            if unit.isEmpty {
                // "30" or "1.5" alone: the unit was left out. "1m30", "1s 2ms": not the grammar.
                throw fail(previousUnit < 0 && i == bytes.count ? .noUnit : .malformed)
            }
            guard let index = units.firstIndex(where: { $0.name == unit }) else { throw fail(.unknownUnit(unit)) }
            if index <= previousUnit { throw fail(.unitOutOfOrder(unit)) }
            previousUnit = index
            let size = units[index].nanoseconds
            let (wholeNs, o3) = whole.multipliedReportingOverflow(by: size)
            // numerator < denominator, so the quotient is below `size`: no overflow.
            let product = numerator.multipliedFullWidth(by: UInt64(size))
            let fractionNs = Int64(denominator.dividingFullWidth(product).quotient)
            let (partNs, o4) = wholeNs.addingReportingOverflow(fractionNs)
            let (sum, o5) = total.addingReportingOverflow(partNs)
            if o3 || o4 || o5 { throw fail(.overflow) }
            total = sum
        }
        return Interval(nanoseconds: total)
    }

    /// format writes the canonical form: whole hours and minutes, then the seconds with
    /// any fraction as decimals (`1.5s`, `1m1.25s`) or, when there is no whole second,
    /// the rest as milliseconds (`150ms`, `1h250ms`, `0.001ms` for a microsecond);
    /// zero is `0s`. `parse(format(x)) == x` for every x ≥ 0; a negative interval is
    /// written with a leading `-`, which `parse` refuses.
    public static func format(_ interval: Interval) -> String {
        let negative = interval.nanoseconds < 0
        var left = interval.nanoseconds.magnitude
        if left == 0 { return "0s" }
        var out = negative ? "-" : ""
        let hours = left / 3_600_000_000_000; left %= 3_600_000_000_000
        let minutes = left / 60_000_000_000; left %= 60_000_000_000
        let seconds = left / 1_000_000_000; left %= 1_000_000_000
        if hours > 0 { out += "\(hours)h" }
        if minutes > 0 { out += "\(minutes)m" }
        if seconds > 0 {
            out += "\(seconds)\(decimals(left, digits: 9))s"
        } else if left > 0 {
            out += "\(left / 1_000_000)\(decimals(left % 1_000_000, digits: 6))ms"
        }
        return out
    }

    /// decimals writes `value / 10^digits` after the point, without trailing zeros
    /// ("" for zero).
    static func decimals(_ value: UInt64, digits: Int) -> String {
        if value == 0 { return "" }
        var text = String(value)
        while text.count < digits { text = "0" + text }
        while text.last == "0" { text.removeLast() }
        return "." + text
    }

    static func digit(_ b: UInt8) -> Int64? {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") ? Int64(b - UInt8(ascii: "0")) : nil
    }

    static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }
}

extension Interval {
    /// Reads the one duration grammar (see `DurationText`): `150ms`, `2s`, `1m30s`, `1h`.
    public init(parsing text: some StringProtocol) throws(DurationSyntaxError) {
        self = try DurationText.parse(text)
    }

    /// The canonical text of this interval (`1m30s`, `1.5s`, `150ms`), which parses back
    /// to the same value.
    public var formatted: String { DurationText.format(self) }
}
