/// Instant is a reading of one node's monotonic clock (CLOCK_BOOTTIME in the agent,
/// a drifting simulated clock in the simulator), in nanoseconds.
///
/// The core never reads a clock: every input carries `now`. Instants from different
/// nodes are not comparable; only echoed send times are ever compared with the
/// sender's own clock (design §2).
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// A moment later than any real reading; used for "never".
    public static let distantFuture = Instant(nanoseconds: Int64.max / 4)
    /// A moment earlier than any real reading; used for "long ago".
    public static let distantPast = Instant(nanoseconds: Int64.min / 4)

    @inlinable public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Instant, b: Interval) -> Instant { Instant(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    @inlinable public static func - (a: Instant, b: Interval) -> Instant { Instant(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    @inlinable public static func - (a: Instant, b: Instant) -> Interval { Interval(nanoseconds: a.nanoseconds &- b.nanoseconds) }

    public var description: String { "@\(Interval(nanoseconds: nanoseconds))" }
}

/// Interval is a span of one node's clock, in nanoseconds.
public struct Interval: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    @inlinable public static func milliseconds(_ ms: Int64) -> Interval { Interval(nanoseconds: ms * 1_000_000) }
    @inlinable public static func microseconds(_ us: Int64) -> Interval { Interval(nanoseconds: us * 1_000) }
    @inlinable public static func seconds(_ s: Int64) -> Interval { Interval(nanoseconds: s * 1_000_000_000) }

    public static let zero = Interval(nanoseconds: 0)

    @inlinable public static func < (a: Interval, b: Interval) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Interval, b: Interval) -> Interval { Interval(nanoseconds: a.nanoseconds + b.nanoseconds) }
    @inlinable public static func - (a: Interval, b: Interval) -> Interval { Interval(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func * (a: Interval, k: Int64) -> Interval { Interval(nanoseconds: a.nanoseconds * k) }
    /// Scales by a real factor, rounding toward zero (used for drift arithmetic).
    @inlinable public func scaled(by factor: Double) -> Interval {
        Interval(nanoseconds: Int64((Double(nanoseconds) * factor).rounded(.towardZero)))
    }

    public var milliseconds: Double { Double(nanoseconds) / 1_000_000 }

    public var description: String {
        let ms = nanoseconds / 1_000_000
        let frac = abs(nanoseconds % 1_000_000) / 1_000
        if frac == 0 { return "\(ms)ms" }
        let padded = String(frac + 1000).dropFirst()  // three digits, no Foundation
        return "\(ms).\(padded)ms"
    }
}
