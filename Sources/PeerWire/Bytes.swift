/// WireError says why bytes from a peer were refused. Every one of them closes the
/// connection (the agent logs and counts it) and changes nothing else.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt8)
    case unknownFrameType(UInt8)
    case reservedFlagsSet
    case frameTooLarge(length: UInt32, limit: Int)
    case badChecksum
    case badMAC
    case truncated(what: String)
    case invalid(what: String)
    case unexpectedFrame(type: UInt8, state: String)
    case clusterMismatch(theirs: String, ours: String)
    case unknownNode(String)
    case wrongTarget(String)
    /// One side has a secret, the other runs with --insecure-peers; says which the peer does.
    case securityMismatch(peerHasSecret: Bool)
    case authenticationFailed

    public var description: String {
        switch self {
        case .badMagic: "not a Baton peer stream (bad magic)"
        case .unsupportedVersion(let v):
            v < FrameFormat.version
                ? "the peer speaks protocol version \(v), this node \(FrameFormat.version): the peer runs an older baton (before membership in the log); upgrade every member"
                : "the peer speaks protocol version \(v), newer than this node's \(FrameFormat.version): upgrade this node"
        case .unknownFrameType(let t): "unknown frame type \(t)"
        case .reservedFlagsSet: "reserved frame flags set"
        case .frameTooLarge(let n, let limit): "frame of \(n) bytes exceeds the limit of \(limit)"
        case .badChecksum: "frame checksum mismatch"
        case .badMAC: "frame authentication code mismatch"
        case .truncated(let w): "truncated \(w)"
        case .invalid(let w): "invalid \(w)"
        case .unexpectedFrame(let t, let s): "unexpected frame type \(t) while \(s)"
        case .clusterMismatch(let theirs, let ours):
            "peer belongs to cluster \"\(theirs)\", this node to \"\(ours)\" (--cluster-id must be the same on every member)"
        case .unknownNode(let n): "peer claims to be \"\(n)\", which is not a member of this group: a new member is started without --bootstrap and added with 'baton members add \(n) HOST:PORT'"
        case .wrongTarget(let n): "peer wanted node \"\(n)\", not this one"
        case .securityMismatch(let peerHasSecret):
            peerHasSecret ? "the peer uses a cluster secret and this node runs with --insecure-peers (give both the same --cluster-secret-file)"
                : "the peer runs with --insecure-peers and this node has a --cluster-secret-file (give both the same --cluster-secret-file)"
        case .authenticationFailed:
            "the peer's proof does not match this node's cluster secret (--cluster-secret-file): the two hold different secrets (copy the same file to every member)"
        }
    }
}

/// ByteWriter appends little-endian fields to a byte array.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) { bytes = []; bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func raw<C: Collection>(_ c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
    /// A string of at most 255 UTF-8 bytes, length-prefixed (callers enforce the cap).
    mutating func shortString(_ s: String) {
        let utf8 = Array(s.utf8)
        precondition(utf8.count <= 255, "shortString: caller must cap strings at 255 bytes")
        u8(UInt8(utf8.count)); raw(utf8)
    }
}

/// ByteReader reads little-endian fields from borrowed bytes, never past the end.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int, _ what: StaticString) throws(WireError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw .truncated(what: "\(what)") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }
    mutating func u8(_ what: StaticString) throws(WireError) -> UInt8 { try take(1, what)[0] }
    mutating func u16(_ what: StaticString) throws(WireError) -> UInt16 {
        let b = try take(2, what); return UInt16(b[0]) | UInt16(b[1]) << 8
    }
    mutating func u32(_ what: StaticString) throws(WireError) -> UInt32 {
        let b = try take(4, what)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    mutating func u64(_ what: StaticString) throws(WireError) -> UInt64 {
        let lo = UInt64(try u32(what)); let hi = UInt64(try u32(what)); return lo | hi << 32
    }
    mutating func i64(_ what: StaticString) throws(WireError) -> Int64 { Int64(bitPattern: try u64(what)) }
    mutating func bool(_ what: StaticString) throws(WireError) -> Bool {
        switch try u8(what) { case 0: return false; case 1: return true; default: throw .invalid(what: "\(what)") }
    }
    mutating func shortString(_ what: StaticString, max: Int) throws(WireError) -> String {
        let n = Int(try u8(what))
        guard n <= max else { throw .invalid(what: "\(what)") }
        let b = try take(n, what)
        guard let s = String(validating: b, as: UTF8.self) else { throw .invalid(what: "\(what)") }
        return s
    }
    func expectEnd(_ what: StaticString) throws(WireError) {
        guard remaining == 0 else { throw .invalid(what: "\(what)") }
    }
}

/// withBytes gives typed-throws access to an array's bytes (the standard library's
/// `withUnsafeBytes` rethrows untyped errors).
func withBytes<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> R) throws(WireError) -> R {
    let result: Result<R, WireError> = a.withUnsafeBytes { p in
        do throws(WireError) { return .success(try body(p)) } catch { return .failure(error) }
    }
    return try result.get()
}
