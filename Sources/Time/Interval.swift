/// Interval is a span of one node's clock, in nanoseconds.
///
/// Two text forms, both inside the one duration grammar (`DurationText.swift`), so
/// either can be pasted back into a flag, a config file or a query:
/// - `description` is the trace form, always in milliseconds with up to three decimals
///   (`217.230ms`, `30000ms`): columns of times in scenario transcripts and simulator
///   output line up and compare at a glance.
/// - `formatted` is the canonical form a person would write (`1m30s`, `1.5s`, `150ms`),
///   exact to the nanosecond, for settings and error messages.
public struct Interval: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    @inlinable public static func milliseconds(_ ms: Int64) -> Interval { Interval(nanoseconds: ms * 1_000_000) }
    @inlinable public static func microseconds(_ us: Int64) -> Interval { Interval(nanoseconds: us * 1_000) }
    @inlinable public static func seconds(_ s: Int64) -> Interval { Interval(nanoseconds: s * 1_000_000_000) }
    @inlinable public static func minutes(_ m: Int64) -> Interval { Interval(nanoseconds: m * 60_000_000_000) }

    public static let zero = Interval(nanoseconds: 0)

    @inlinable public static func < (a: Interval, b: Interval) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Interval, b: Interval) -> Interval { Interval(nanoseconds: a.nanoseconds + b.nanoseconds) }
    @inlinable public static func - (a: Interval, b: Interval) -> Interval { Interval(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func * (a: Interval, k: Int64) -> Interval { Interval(nanoseconds: a.nanoseconds * k) }
    /// Scales by a real factor, rounding toward zero (used for drift arithmetic).
    @inlinable public func scaled(by factor: Double) -> Interval {
        Interval(nanoseconds: Int64((Double(nanoseconds) * factor).rounded(.towardZero)))
    }

    /// Whole milliseconds, rounded toward zero: for JSON fields and log keys named `_ms`.
    @inlinable public var wholeMilliseconds: Int64 { nanoseconds / 1_000_000 }

    public var description: String {
        let ms = nanoseconds / 1_000_000
        let frac = abs(nanoseconds % 1_000_000) / 1_000
        let sign = nanoseconds < 0 && ms == 0 && frac != 0 ? "-" : ""
        if frac == 0 { return "\(ms)ms" }
        let padded = String(frac + 1000).dropFirst()  // three digits, no Foundation
        return "\(sign)\(ms).\(padded)ms"
    }
}
