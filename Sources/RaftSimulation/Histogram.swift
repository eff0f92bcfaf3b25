/// Histogram keeps samples (nanoseconds) to report percentiles; bounded so a soak of
/// any length uses fixed memory: past `limit` it keeps every other sample (the
/// percentiles stay representative, the max is tracked exactly).
public struct Histogram: Sendable {
    public private(set) var samples: [Int64] = []
    public private(set) var count = 0
    public private(set) var maxNs: Int64 = 0
    public let limit: Int
    private var stride = 1

    public init(limit: Int = 1 << 20) { self.limit = limit }

    public mutating func add(_ ns: Int64) {
        count += 1
        maxNs = Swift.max(maxNs, ns)
        if count % stride != 0 { return }
        samples.append(ns)
        if samples.count >= limit {
            samples = Swift.stride(from: 0, to: samples.count, by: 2).map { samples[$0] }
            stride *= 2
        }
    }

    public mutating func merge(_ other: Histogram) {
        for s in other.samples { add(s) }
        maxNs = Swift.max(maxNs, other.maxNs)
    }

    /// percentile p in [0, 100] by nearest rank.
    public func percentile(_ p: Double) -> Int64 {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]
    }
}
