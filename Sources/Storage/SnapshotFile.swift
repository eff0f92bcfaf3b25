import Checksum
import Posix
import RaftCore

/// SnapshotFile is the format of `DIR/snapshot`: the log up to some index replaced by the
/// configuration in force there and the agent's replicated state. Like `DIR/state` it is
/// never modified in place: each write makes a new file, fsyncs it, renames it over the
/// old one and fsyncs the directory (style rule 17). Little-endian:
///
///     0  magic       u32  "BTSN"
///     4  version     u16  1
///     6  flags       u16  0
///     8  bodyLength  u32  ≤ Limits.maxSnapshotBytes
///    12  body        the snapshot in RaftCore's one layout (`Snapshot.encoded()`)
///    ..  crc32c      u32  over everything before it
///
/// A data dir without this file is one written before snapshots existed (its log starts
/// at index 1), or a member waiting to be added that has received nothing yet.
enum SnapshotFile {
    static let name = "snapshot"
    static let temporaryName = "snapshot.tmp"
    static let magic: UInt32 = 0x4E53_5442 // "BTSN"
    static let version: UInt16 = 1
    static let headerSize = 12

    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        let body = snapshot.encoded()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + body.count + 4)
        bytes.appendLE(magic)
        bytes.appendLE(version)
        bytes.appendLE(UInt16(0))
        bytes.appendLE(UInt32(body.count))
        bytes.append(contentsOf: body)
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> Snapshot {
        func damaged(_ problem: String, at offset: UInt64? = nil) -> StorageError {
            .damaged(file: file, offset: offset, problem: problem)
        }
        guard bytes.count >= headerSize + 4 else {
            throw damaged("it is truncated: \(bytes.count) bytes, less than a snapshot's header and checksum")
        }
        let foundMagic = bytes.readLE(UInt32.self, at: 0)
        if foundMagic != magic {
            throw damaged("bad magic \(hex(foundMagic)) (a snapshot starts with \(hex(magic)), \"BTSN\")", at: 0)
        }
        let foundVersion = bytes.readLE(UInt16.self, at: 4)
        if foundVersion > version { throw .unsupportedVersion(file: file, found: foundVersion, supported: version) }
        if foundVersion == 0 || bytes.readLE(UInt16.self, at: 6) != 0 {
            throw damaged("the header has version \(foundVersion) and flags \(hex(bytes.readLE(UInt16.self, at: 6)))", at: 4)
        }
        let bodyLength = Int(bytes.readLE(UInt32.self, at: 8))
        guard bodyLength <= Limits.maxSnapshotBytes else {
            throw damaged("impossible body length \(bodyLength) (the limit is \(Limits.maxSnapshotBytes))", at: 8)
        }
        guard bytes.count == headerSize + bodyLength + 4 else {
            throw damaged("it is \(bytes.count) bytes where its header announces \(headerSize + bodyLength + 4)")
        }
        let stored = bytes.readLE(UInt32.self, at: bytes.count - 4)
        let computed = CRC32C.checksum(bytes, 0..<(bytes.count - 4))
        if stored != computed {
            throw damaged("checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))")
        }
        do {
            return try Snapshot(decoding: bytes[headerSize..<(headerSize + bodyLength)])
        } catch {
            throw damaged("the snapshot does not decode: \(error.message)", at: UInt64(headerSize))
        }
    }

    /// read loads and verifies `DIR/snapshot` (the caller checked that it exists).
    static func read(in directory: borrowing FileDescriptor, path: String) throws(StorageError) -> Snapshot {
        try decode(WholeFile.read(name, in: directory, path: path, maxBytes: UInt64(headerSize + Limits.maxSnapshotBytes + 4)) {
            "it is \($0) bytes, over the snapshot limit"
        }, file: path)
    }

    /// write replaces `DIR/snapshot` atomically (WholeFile) and returns only when the
    /// new snapshot is durable; on a failure the caller writes again later.
    static func write(_ snapshot: Snapshot, in directory: borrowing FileDescriptor, dataDir: String,
                      faults: inout FaultPlan) throws(StorageError) {
        try WholeFile.write(encode(snapshot), to: name, temporaryName: temporaryName, in: directory,
                                dataDir: dataDir, faults: &faults)
    }
}
