public import RaftCore

/// SimClock is one node's drifting CLOCK_BOOTTIME: `local = offset + real·rate`, with the
/// rate fixed in parts per million inside `[1−d, 1+d]` (design S2 holds only while drift
/// stays in that bound). Integer arithmetic keeps every run bit-for-bit reproducible.
/// The clock keeps running while the process is paused or dead, as CLOCK_BOOTTIME does
/// across SIGSTOP and process restarts on the same machine.
public struct SimClock: Hashable, Sendable {
    /// offsetNs is the clock's reading at simulated real time zero (machines boot at
    /// different times, so readings of different nodes are never comparable).
    public var offsetNs: Int64
    /// ratePpm is how many nanoseconds of this clock pass per million real nanoseconds.
    public var ratePpm: Int64

    public init(offsetNs: Int64, ratePpm: Int64) {
        precondition(ratePpm > 0, "a clock must move forward")
        self.offsetNs = offsetNs; self.ratePpm = ratePpm
    }

    /// neverSpanNs bounds the spans `realTime(reaching:)` converts; longer means never.
    static let neverSpanNs: Int64 = 9_000_000_000_000
    /// neverRealNs is the real time returned for a reading the clock never reaches in a run.
    public static let neverRealNs: Int64 = Int64.max / 4

    /// reading is the clock's value at simulated real time `realNs`.
    @inline(__always)
    public func reading(atReal realNs: Int64) -> Instant {
        Instant(nanoseconds: offsetNs &+ (realNs &* ratePpm) / 1_000_000)
    }

    /// realTime is the earliest real time at which the clock reads at least `local`
    /// (so a timer armed for `local` fires no earlier than the node expects).
    @inline(__always)
    public func realTime(reaching local: Instant) -> Int64 {
        let localSpan = local.nanoseconds &- offsetNs
        if localSpan <= 0 { return 0 }
        // Beyond ~9,000 s the product below would overflow; no run lasts that long,
        // and "never" (Instant.distantFuture) lands here.
        if localSpan >= Self.neverSpanNs { return Self.neverRealNs }
        // ceil(localSpan · 10^6 / rate); spans stay below 2^63 / 10^6 ns ≈ 9,000 s.
        var real = (localSpan &* 1_000_000 &+ ratePpm &- 1) / ratePpm
        while reading(atReal: real).nanoseconds < local.nanoseconds { real &+= 1 }
        return real
    }
}

extension SimClock {
    /// draw picks a machine's clock: a random boot offset, and a rate at either bound of
    /// the allowed drift (half the time) or anywhere inside it.
    static func draw(_ g: inout SeededGenerator, maxDrift: Double) -> SimClock {
        let driftPpm = Int64(maxDrift * 1_000_000)
        let rate: Int64
        switch g.below(4) {
        case 0: rate = 1_000_000 - driftPpm
        case 1: rate = 1_000_000 + driftPpm
        default: rate = g.uniform(1_000_000 - driftPpm, 1_000_000 + driftPpm)
        }
        return SimClock(offsetNs: g.uniform(0, 1_000_000_000_000), ratePpm: rate)
    }
}
