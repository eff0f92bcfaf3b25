// Helpers shared by the parser tests: parse bytes with owned slots, read ranges back
// as text, check that every returned range lies inside the input.
import HTTPParser
import Testing

/// Parsed is one call of `parseRequestHead` with everything it produced.
struct Parsed {
    var bytes: [UInt8]
    var result: HTTPParseResult
    var head: HTTPRequestHead
    var slots: [HeaderSlot]

    /// text(_:) is the bytes of a range as a String (ranges are ASCII in these tests).
    func text(_ range: ByteRange) -> String {
        String(decoding: bytes[Int(range.start)..<Int(range.start + range.count)], as: UTF8.self)
    }

    /// headers is every filled slot as (name, value) text.
    var headers: [(String, String)] {
        slots.prefix(head.headerCount).map { (text($0.name), text($0.value)) }
    }

    /// header(_:) is the value of the first field named `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// error is the refusal, if any.
    var error: HTTPParseError? {
        if case .invalid(let e) = result { return e }
        return nil
    }
}

/// parse(_:limits:slotCount:) runs the parser once over `bytes` with fresh slots
/// (`limits.headerCountMax` of them unless `slotCount` says otherwise).
func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), slotCount: Int? = nil) -> Parsed {
    var head = HTTPRequestHead()
    var slots = [HeaderSlot](repeating: HeaderSlot(), count: slotCount ?? limits.headerCountMax)
    let result = bytes.withUnsafeBytes { raw in
        slots.withUnsafeMutableBufferPointer { parseRequestHead(raw, limits: limits, head: &head, headers: $0) }
    }
    return Parsed(bytes: bytes, result: result, head: head, slots: slots)
}

/// parse(_:limits:slotCount:) for text requests.
func parse(_ text: String, limits: HTTPLimits = HTTPLimits(), slotCount: Int? = nil) -> Parsed {
    parse(Array(text.utf8), limits: limits, slotCount: slotCount)
}

/// rangesAreInside(_:) checks the parser's promise for a `.complete` result: consumed
/// is within the input, the header count within the slots, and every range within
/// `0..<consumed`. Other results promise nothing about ranges.
func rangesAreInside(_ p: Parsed) -> Bool {
    guard case .complete(let consumed) = p.result else { return true }
    guard consumed > 0 && consumed <= p.bytes.count else { return false }
    guard p.head.headerCount >= 0 && p.head.headerCount <= p.slots.count else { return false }
    func inside(_ r: ByteRange) -> Bool {
        r.start >= 0 && r.count >= 0 && Int(r.start) + Int(r.count) <= consumed
    }
    var ranges = [p.head.methodBytes, p.head.target, p.head.path, p.head.query]
    for slot in p.slots.prefix(p.head.headerCount) { ranges += [slot.name, slot.value] }
    return ranges.allSatisfy(inside) && p.head.contentLength >= 0
}

/// SplitMix64 is the seeded generator for the random tests (style rule 6): a failure
/// prints its seed and the same seed replays it.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
