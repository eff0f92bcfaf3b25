import Checksum
import RaftCore

/// FrameType numbers are append-only (style rule 16): a new kind gets a new number.
public enum FrameType: UInt8, Sendable {
    case hello = 1
    case challenge = 2
    case proof = 3
    case raft = 4
    /// An authenticated refusal after the handshake: why this connection is not served
    /// (a stale incarnation, another group's member list); the sender then closes.
    case refusal = 5
}

/// FrameFormat is the layout of every frame between agents, little-endian:
///
///     0   magic    4 bytes "BTN1"
///     4   version  u8 (2; version 1 had no incarnations in the handshake)
///     5   type     u8 (FrameType)
///     6   flags    u16, reserved, must be 0
///     8   length   u32, payload bytes, ≤ the receiver's limit (checked before allocating)
///     12  payload
///     …   crc32c   u32 over every byte before it
///     …   mac      16 bytes, only on an authenticated session: HMAC-SHA256 truncated to
///                  128 bits, keyed per connection and direction, over the sequence
///                  number of the frame and every byte before the mac
///
/// The checksum catches corruption cheaply even on insecure sessions; the MAC with a
/// per-direction sequence number makes a frame valid only once, on one connection.
public enum FrameFormat {
    public static let magic: [UInt8] = Array("BTN1".utf8)
    public static let version: UInt8 = 2
    public static let headerBytes = 12
    public static let checksumBytes = 4
    public static let macBytes = 16
    /// The default cap on a payload: `Limits.maxFramePayloadBytes`, room for the
    /// largest append the limits allow (`RaftMessageCodec.maxAppendPayloadBytes`).
    public static let defaultMaxPayloadBytes = Limits.maxFramePayloadBytes

    /// Builds one frame; `mac` computes the authentication code over the bytes so far.
    static func build(type: FrameType, payload: [UInt8], mac: ((borrowing [UInt8]) -> [UInt8])?) -> [UInt8] {
        var w = ByteWriter(capacity: headerBytes + payload.count + checksumBytes + macBytes)
        w.raw(magic); w.u8(version); w.u8(type.rawValue); w.u16(0); w.u32(UInt32(payload.count))
        w.raw(payload)
        w.u32(CRC32C.checksum(w.bytes))
        if let mac { w.raw(mac(w.bytes)) }
        return w.bytes
    }
}

/// FrameDecoder splits a byte stream into frames, validating each header before it
/// buffers the payload: an oversized length is refused before anything is allocated.
public struct FrameDecoder: Sendable {
    public var maxPayloadBytes: Int
    /// Whether frames carry a MAC trailer (set once the handshake authenticated).
    public var expectsMAC = false
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxPayloadBytes: Int = FrameFormat.defaultMaxPayloadBytes) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// Bytes received but not yet part of a whole frame.
    public var bufferedBytes: Int { buffer.count - start }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// RawFrame is one whole frame: its type, payload, and the bytes the MAC covers.
    public struct RawFrame: Sendable {
        public var type: FrameType
        public var payload: [UInt8]
        /// Every byte of the frame before the MAC (what the MAC authenticates).
        public var authenticated: [UInt8]
        public var mac: [UInt8]
    }

    /// Returns the next whole frame, nil if more bytes are needed, or throws when the
    /// stream is not a valid frame sequence (the connection must then be closed).
    public mutating func next() throws(WireError) -> RawFrame? {
        let available = buffer.count - start
        guard available >= FrameFormat.headerBytes else {
            // Reject a wrong magic as soon as its bytes arrive.
            for i in 0..<min(available, 4) where buffer[start + i] != FrameFormat.magic[i] { throw .badMagic }
            return nil
        }
        let header = buffer[start..<(start + FrameFormat.headerBytes)]
        for i in 0..<4 where header[header.startIndex + i] != FrameFormat.magic[i] { throw .badMagic }
        let version = header[header.startIndex + 4]
        guard version == FrameFormat.version else { throw .unsupportedVersion(version) }
        let rawType = header[header.startIndex + 5]
        guard let type = FrameType(rawValue: rawType) else { throw .unknownFrameType(rawType) }
        guard header[header.startIndex + 6] == 0 && header[header.startIndex + 7] == 0 else { throw .reservedFlagsSet }
        let b = header.startIndex + 8
        let length = UInt32(header[b]) | UInt32(header[b + 1]) << 8 | UInt32(header[b + 2]) << 16 | UInt32(header[b + 3]) << 24
        guard Int(length) <= maxPayloadBytes else { throw .frameTooLarge(length: length, limit: maxPayloadBytes) }
        let macLength = expectsMAC ? FrameFormat.macBytes : 0
        let total = FrameFormat.headerBytes + Int(length) + FrameFormat.checksumBytes + macLength
        guard available >= total else { return nil }
        let crcAt = start + FrameFormat.headerBytes + Int(length)
        let expected = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<crcAt])) }
        let got = UInt32(buffer[crcAt]) | UInt32(buffer[crcAt + 1]) << 8 | UInt32(buffer[crcAt + 2]) << 16 | UInt32(buffer[crcAt + 3]) << 24
        guard expected == got else { throw .badChecksum }
        let frame = RawFrame(
            type: type,
            payload: Array(buffer[(start + FrameFormat.headerBytes)..<crcAt]),
            authenticated: Array(buffer[start..<(crcAt + FrameFormat.checksumBytes)]),
            mac: Array(buffer[(crcAt + FrameFormat.checksumBytes)..<(start + total)]))
        start += total
        if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        return frame
    }
}
