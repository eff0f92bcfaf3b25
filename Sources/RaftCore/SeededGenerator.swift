/// SeededGenerator is the only source of randomness the core uses (style rule 6: no
/// global generator). SplitMix64: tiny state, good statistical quality for timeouts
/// and simulator choices, and the same sequence on every platform for a given seed,
/// so a failing simulator seed replays exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Derives an independent generator (for one node, one link) from this one.
    public mutating func fork() -> SeededGenerator { SeededGenerator(seed: next()) }
}
