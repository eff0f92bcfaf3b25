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

    /// The reading as the time since the clock's zero, in the trace form (`@217.230ms`).
    public var description: String { "@\(Interval(nanoseconds: nanoseconds))" }
}
