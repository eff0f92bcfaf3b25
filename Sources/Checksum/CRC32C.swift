/// CRC32C computes the Castagnoli CRC (polynomial 0x1EDC6F41, reflected 0x82F63B78),
/// the checksum used on every stored record and every peer frame. Castagnoli's
/// polynomial detects more error patterns in short messages than IEEE's (Castagnoli
/// et al., 1993), and it is what iSCSI, ext4 and etcd's WAL use.
public struct CRC32C: Sendable {
    public private(set) var value: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Feeds bytes; may be called repeatedly.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = value
        for b in bytes {
            crc = crc32cTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8)
        }
        value = crc
    }

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        var crc = value
        for b in bytes {
            crc = crc32cTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8)
        }
        value = crc
    }

    /// The checksum of everything fed so far.
    public var final: UInt32 { value ^ 0xFFFF_FFFF }

    /// The checksum of one buffer.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32C(); c.update(bytes); return c.final
    }

    public static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c = CRC32C(); c.update(bytes); return c.final
    }
}

/// crc32cTable is the byte-at-a-time lookup table, built once on first use.
let crc32cTable: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? (0x82F6_3B78 ^ (c >> 1)) : (c >> 1) }
    return c
}

extension CRC32C {
    /// The checksum of `bytes[range]` (stored records checksum parts of a buffer).
    public static func checksum(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}
