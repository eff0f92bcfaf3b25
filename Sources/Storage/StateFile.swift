import Checksum
import RaftCore
import Posix

/// StateFile is the format of `DIR/state`, which holds the hard state (term, vote, commit
/// index). It is never modified in place: each write makes a new file and renames it over
/// the old one (style rule 17), so after a crash the file is either the old or the new
/// state, whole. Layout, 40 bytes, little-endian:
///
///     0  magic        u32  "BTST"
///     4  version      u16  1
///     6  flags        u16  bit 0: a vote is recorded; other bits zero
///     8  bodyLength   u32  24
///    12  term         u64
///    20  commitIndex  u64
///    28  votedFor     u32  (0 when flags bit 0 is clear)
///    32  reserved     u32  0
///    36  crc32c       u32  over bytes 0..<36
enum StateFile {
    static let name = "state"
    static let temporaryName = "state.tmp"
    static let magic: UInt32 = 0x5453_5442 // "BTST" read as little-endian
    static let version: UInt16 = 1
    static let headerSize = 12
    static let bodySize = 24
    static let size = headerSize + bodySize + 4
    static let hasVoteFlag: UInt16 = 1

    static func encode(_ state: HardState) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        bytes.appendLE(magic)
        bytes.appendLE(version)
        bytes.appendLE(state.votedFor == nil ? 0 : hasVoteFlag)
        bytes.appendLE(UInt32(bodySize))
        bytes.appendLE(state.term)
        bytes.appendLE(state.commitIndex)
        bytes.appendLE(state.votedFor?.rawValue ?? 0)
        bytes.appendLE(UInt32(0))
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// decode verifies every field and names the first thing wrong; `file` is for messages.
    static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> HardState {
        func damaged(_ problem: String, at offset: UInt64? = nil) -> StorageError {
            .damaged(file: file, offset: offset, problem: problem)
        }
        if bytes.count < headerSize {
            throw damaged("it is truncated: \(bytes.count) bytes where a state file has \(size)")
        }
        let foundMagic = bytes.readLE(UInt32.self, at: 0)
        if foundMagic != magic {
            throw damaged("bad magic \(hex(foundMagic)) (a state file starts with \(hex(magic)), \"BTST\")", at: 0)
        }
        let foundVersion = bytes.readLE(UInt16.self, at: 4)
        if foundVersion > version { throw .unsupportedVersion(file: file, found: foundVersion, supported: version) }
        if foundVersion == 0 { throw damaged("format version 0 does not exist", at: 4) }
        let bodyLength = bytes.readLE(UInt32.self, at: 8)
        if bodyLength != UInt32(bodySize) {
            throw damaged("impossible body length \(bodyLength) (version 1 has \(bodySize))", at: 8)
        }
        if bytes.count != size {
            let what = bytes.count < size ? "truncated" : "longer than it should be"
            throw damaged("it is \(what): \(bytes.count) bytes where a state file has \(size)")
        }
        let stored = bytes.readLE(UInt32.self, at: size - 4)
        let computed = CRC32C.checksum(bytes, 0..<(size - 4))
        if stored != computed {
            throw damaged("checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))")
        }
        let flags = bytes.readLE(UInt16.self, at: 6)
        if flags & ~hasVoteFlag != 0 { throw damaged("unknown flags \(hex(flags))", at: 6) }
        let term = bytes.readLE(UInt64.self, at: 12)
        let commitIndex = bytes.readLE(UInt64.self, at: 20)
        let vote = bytes.readLE(UInt32.self, at: 28)
        // A term no group can reach (an old release persisted one a peer sent): refusing
        // it here is a clear exit 2, where adopting it trapped at every start.
        if term > Limits.maxTerm { throw damaged("term \(term) is beyond the largest a group can reach (\(Limits.maxTerm))", at: 12) }
        if commitIndex > Limits.maxLogIndex { throw damaged("commit index \(commitIndex) is beyond \(Limits.maxLogIndex)", at: 20) }
        return HardState(term: term, votedFor: flags & hasVoteFlag != 0 ? NodeID(vote) : nil,
                         commitIndex: commitIndex)
    }

    /// read loads and verifies `DIR/state` (the caller checked that it exists).
    static func read(in directory: borrowing FileDescriptor, path: String) throws(StorageError) -> HardState {
        // Capped before allocating: a state file is 40 bytes; anything much larger is not one.
        try decode(WholeFile.read(name, in: directory, path: path, maxBytes: 4096) {
            "it is \($0) bytes where a state file has \(size)"
        }, file: path)
    }

    /// write replaces `DIR/state` atomically (WholeFile) and returns only when the new
    /// state is durable; on a failure the caller treats it as not durable and writes again.
    /// Returns how long the file's fsync and the directory's fsync took, in nanoseconds.
    @discardableResult
    static func write(_ state: HardState, in directory: borrowing FileDescriptor, dataDir: String,
                      faults: inout FaultPlan) throws(StorageError) -> (file: UInt64, directory: UInt64) {
        try WholeFile.write(encode(state), to: name, temporaryName: temporaryName, in: directory,
                                dataDir: dataDir, faults: &faults)
    }
}
