import Checksum
import Posix
public import RaftCore

/// MemberIdentity is who a data dir belongs to (design S6): the group it was made for,
/// the member it is, and the random incarnation drawn when it was created. A data dir
/// started under another `--id` or another group's members is refused; a member whose
/// data dir is replaced comes back with a new incarnation, which the group refuses until
/// it is removed and added again.
public struct MemberIdentity: Hashable, Sendable {
    /// The `--cluster-id` the data dir was made with.
    public var clusterName: String
    /// The fingerprint of the group's founding member list; 0 while a member that joins
    /// an existing group has not heard from it yet.
    public var fingerprint: UInt64
    public var memberName: String
    public var incarnation: UInt64
    /// When the data dir was made (wall clock, nanoseconds since 1970), for messages.
    public var createdWallNs: Int64
    /// The group removed this member (a committed configuration without it): the data dir
    /// must not be used again.
    public var removed: Bool

    public init(clusterName: String, fingerprint: UInt64, memberName: String, incarnation: UInt64,
                createdWallNs: Int64, removed: Bool = false) {
        self.clusterName = clusterName; self.fingerprint = fingerprint; self.memberName = memberName
        self.incarnation = incarnation; self.createdWallNs = createdWallNs; self.removed = removed
    }

    /// newIncarnation draws a random incarnation (never 0, which means "unbound").
    public static func newIncarnation() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next() | 1
    }
}

/// IdentityFile is the format of `DIR/identity`, written like `DIR/state` (temp → fsync
/// → rename → fsync the directory) when the data dir is made and when it changes (the
/// fingerprint learnt, the member removed). Little-endian:
///
///     0  magic         u32  "BTID"
///     4  version       u16  1
///     6  flags         u16  bit 0: removed
///     8  bodyLength    u32
///    12  fingerprint   u64
///    20  incarnation   u64
///    28  created       i64  wall-clock nanoseconds
///    36  cluster name  u8 length + UTF-8 (≤ 64)
///    ..  member name   u8 length + UTF-8 (≤ 63)
///    ..  crc32c        u32  over everything before it
///
/// A data dir written before identities existed has none; the agent writes one the
/// first time it starts on it (a migration, with a note in the log).
enum IdentityFile {
    static let name = "identity"
    static let temporaryName = "identity.tmp"
    static let magic: UInt32 = 0x4449_5442 // "BTID"
    static let version: UInt16 = 1
    static let removedFlag: UInt16 = 1
    static let headerSize = 12
    static let maxBytes = 512

    static func encode(_ id: MemberIdentity) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLE(id.fingerprint)
        body.appendLE(id.incarnation)
        body.appendLE(id.createdWallNs)
        for s in [id.clusterName, id.memberName] {
            let utf8 = Array(s.utf8.prefix(255))
            body.append(UInt8(utf8.count))
            body.append(contentsOf: utf8)
        }
        var bytes: [UInt8] = []
        bytes.appendLE(magic)
        bytes.appendLE(version)
        bytes.appendLE(id.removed ? removedFlag : 0)
        bytes.appendLE(UInt32(body.count))
        bytes.append(contentsOf: body)
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> MemberIdentity {
        func damaged(_ problem: String, at offset: UInt64? = nil) -> StorageError {
            .damaged(file: file, offset: offset, problem: problem)
        }
        guard bytes.count >= headerSize + 4 else { throw damaged("it is truncated: \(bytes.count) bytes") }
        let foundMagic = bytes.readLE(UInt32.self, at: 0)
        if foundMagic != magic {
            throw damaged("bad magic \(hex(foundMagic)) (an identity file starts with \(hex(magic)), \"BTID\")", at: 0)
        }
        let foundVersion = bytes.readLE(UInt16.self, at: 4)
        if foundVersion > version { throw .unsupportedVersion(file: file, found: foundVersion, supported: version) }
        if foundVersion == 0 { throw damaged("format version 0 does not exist", at: 4) }
        let flags = bytes.readLE(UInt16.self, at: 6)
        if flags & ~removedFlag != 0 { throw damaged("unknown flags \(hex(flags))", at: 6) }
        let bodyLength = Int(bytes.readLE(UInt32.self, at: 8))
        guard bodyLength >= 26, bytes.count == headerSize + bodyLength + 4 else {
            throw damaged("it is \(bytes.count) bytes where its header announces \(headerSize + bodyLength + 4)")
        }
        let stored = bytes.readLE(UInt32.self, at: bytes.count - 4)
        let computed = CRC32C.checksum(bytes, 0..<(bytes.count - 4))
        if stored != computed { throw damaged("checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))") }
        var offset = headerSize
        let fingerprint = bytes.readLE(UInt64.self, at: offset); offset += 8
        let incarnation = bytes.readLE(UInt64.self, at: offset); offset += 8
        let created = bytes.readLE(Int64.self, at: offset); offset += 8
        var strings: [String] = []
        for what in ["cluster name", "member name"] {
            guard offset < bytes.count - 4 else { throw damaged("the \(what) is missing") }
            let n = Int(bytes[offset]); offset += 1
            guard offset + n <= bytes.count - 4, let s = String(validating: bytes[offset..<(offset + n)], as: UTF8.self) else {
                throw damaged("the \(what) is not UTF-8 or runs past the end", at: UInt64(offset))
            }
            strings.append(s)
            offset += n
        }
        guard offset == bytes.count - 4 else { throw damaged("trailing bytes after the member name") }
        guard incarnation != 0 else { throw damaged("incarnation 0 is never drawn") }
        return MemberIdentity(clusterName: strings[0], fingerprint: fingerprint, memberName: strings[1],
                              incarnation: incarnation, createdWallNs: created, removed: flags & removedFlag != 0)
    }

    /// read loads and verifies `DIR/identity` (the caller checked that it exists).
    static func read(in directory: borrowing FileDescriptor, path: String) throws(StorageError) -> MemberIdentity {
        try decode(WholeFile.read(name, in: directory, path: path, maxBytes: UInt64(maxBytes)) {
            "it is \($0) bytes, more than an identity file holds"
        }, file: path)
    }

    /// write replaces `DIR/identity` atomically (WholeFile) and returns once it is durable.
    static func write(_ id: MemberIdentity, in directory: borrowing FileDescriptor, dataDir: String) throws(StorageError) {
        var noFaults = FaultPlan()
        try WholeFile.write(encode(id), to: name, temporaryName: temporaryName, in: directory,
                                dataDir: dataDir, faults: &noFaults)
    }
}
