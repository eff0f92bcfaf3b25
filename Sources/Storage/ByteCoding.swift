/// Little-endian fixed-width integers for the on-disk formats. Every format in this
/// module is little-endian regardless of the host, so a data dir can be copied between
/// machines as a backup.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    /// readLE reads a `T` at `offset`; the caller has checked that it fits.
    func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "readLE out of bounds")
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(self[offset + i]) << (8 * i) }
        return v
    }
}

/// hex formats a magic number or checksum for messages: `0x4e544142`.
func hex<T: FixedWidthInteger>(_ value: T) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: Swift.max(0, MemoryLayout<T>.size * 2 - digits.count)) + digits
}
