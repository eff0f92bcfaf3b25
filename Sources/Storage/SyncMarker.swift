import Checksum
import Posix

/// SyncMarker is `DIR/synced`: how many log records a successful fdatasync covered. It is
/// what tells a torn tail (an append interrupted before its fdatasync returned, so never
/// acknowledged, safe to cut) from damage to records that were synced and acknowledged
/// (a flipped byte, a `truncate` mid-record: exit 2, never a silent repair). Both look the
/// same in the log itself — a last record that does not verify — so the answer has to be
/// written after the fdatasync, elsewhere (issue 15).
///
/// Every log append does: write records, fdatasync the log, write the marker, fdatasync
/// the marker, and only then acknowledge. A Raft truncation lowers the marker before it
/// cuts the log. So records up to the marker's count are always meant to be on disk.
///
/// Layout, 64 bytes, two 32-byte slots written alternately in place (a torn write damages
/// only the slot being written; the other keeps the previous, smaller, count):
///
///     0  magic     u32  "BTSY"
///     4  sequence  u32  which write this is; the valid slot with the higher one wins
///     8  records   u64  log records covered by a successful fdatasync
///    16  crc32c    u32  over bytes 0..<16 of the slot
///    20  reserved  12×u8  0
///
/// A data dir written before this file existed has none: it opens as before (every
/// scanned record is taken at its word once, the log is fdatasynced, and the marker is
/// written), so it upgrades in place.
struct SyncMarker: ~Copyable {
    static let name = "synced"
    static let magic: UInt32 = 0x5953_5442 // "BTSY"
    static let slotSize = 32
    static let fileSize = 64

    let file: FileDescriptor
    let path: String
    private(set) var records: UInt64
    private var sequence: UInt32
    /// present: the file held a valid slot when opened (false on upgrade or bootstrap).
    let wasPresent: Bool

    private init(file: consuming FileDescriptor, path: String, records: UInt64, sequence: UInt32, present: Bool) {
        self.file = file; self.path = path; self.records = records; self.sequence = sequence; self.wasPresent = present
    }

    /// open reads (or creates, empty) the marker of the data dir.
    static func open(in directory: borrowing FileDescriptor, dataDir: String) throws(StorageError) -> SyncMarker {
        let path = dataDir + "/" + name
        let file: FileDescriptor
        do { file = try DiskIO.openFile(name, in: directory, create: true) } catch {
            throw .ioFailed(file: path, operation: "opening", errno: error.rawValue)
        }
        let bytes: [UInt8]
        do { bytes = try DiskIO.read(file, count: fileSize, at: 0) } catch {
            throw .ioFailed(file: path, operation: "reading", errno: error.rawValue)
        }
        var best: (sequence: UInt32, records: UInt64)? = nil
        for slot in 0..<2 {
            let at = slot * slotSize
            guard bytes.count >= at + 20, bytes.readLE(UInt32.self, at: at) == magic,
                  bytes.readLE(UInt32.self, at: at + 16) == CRC32C.checksum(bytes, at..<(at + 16)) else { continue }
            let seq = bytes.readLE(UInt32.self, at: at + 4), count = bytes.readLE(UInt64.self, at: at + 8)
            if best == nil || seq &- best!.sequence < UInt32.max / 2 { best = (seq, count) }
        }
        return SyncMarker(file: file, path: path, records: best?.records ?? 0, sequence: best?.sequence ?? 0,
                          present: best != nil)
    }

    /// set makes the marker say `count` durably (pwrite of one slot, fdatasync).
    mutating func set(_ count: UInt64) throws(StorageError) {
        let next = sequence &+ 1
        var slot: [UInt8] = []
        slot.appendLE(Self.magic)
        slot.appendLE(next)
        slot.appendLE(count)
        slot.appendLE(CRC32C.checksum(slot))
        slot += [UInt8](repeating: 0, count: Self.slotSize - slot.count)
        do {
            try DiskIO.writeAll(file, slot, at: UInt64(Int(next % 2) * Self.slotSize))
            try DiskIO.fdatasync(file)
        } catch {
            throw StorageError.from(error, file: path, operation: "writing the sync marker")
        }
        sequence = next
        records = count
    }
}
