import Checksum
import RaftCore

/// LogFormat is the format of `DIR/log`, the append-only Raft log. Little-endian.
///
/// File header, 20 bytes, written once (temp file + rename) when the data dir is made:
///
///     0  magic      u32  "BTLG"
///     4  version    u16  1
///     6  flags      u16  0
///     8  baseIndex  u64  index before the first record: 0, or the snapshot's index
///                          after a compaction rewrote the log
///    16  crc32c     u32  over bytes 0..<16
///
/// Then records, one per entry, each 36 + payloadLength bytes:
///
///     0  magic          u32  "BTRC"
///     4  payloadLength  u32  ≤ maxPayloadBytes
///     8  index          u64  previous record's index + 1
///    16  term           u64  ≥ previous record's term
///    24  kind           u8   0 noop, 1 data, 2 configuration (RaftCore's layout)
///    25  reserved       3×u8 0
///    28  headerCRC      u32  crc32c over 0..<28: a length can be trusted before the body is read
///    32  payload        payloadLength bytes
///    ..  recordCRC      u32  crc32c over everything before it
enum LogFormat {
    static let name = "log"
    static let temporaryName = "log.tmp"
    static let fileMagic: UInt32 = 0x474C_5442 // "BTLG"
    static let recordMagic: UInt32 = 0x4352_5442 // "BTRC"
    static let version: UInt16 = 1
    static let fileHeaderSize = 20
    static let recordHeaderSize = 32
    static let recordOverhead = 36
    /// maxPayloadBytes caps one entry (`Limits.maxEntryDataBytes`, what the core and the
    /// wire allow), so a damaged length can never make us allocate much (style rule 16).
    /// It was 1 MiB in the first release; no release wrote a larger entry than this (the
    /// agent proposes none and the wire refused them), so every existing log still loads.
    static let maxPayloadBytes = Limits.maxEntryDataBytes
    /// maxFileBytes caps what `open` reads into memory (`Limits.maxLogFileBytes`). The
    /// core's log bounds keep the file below it (`maxFileBytesNeeded`); `sync` refuses
    /// to write past it, so a log this baton wrote is one it loads.
    static let maxFileBytes = UInt64(Limits.maxLogFileBytes)
    /// The largest log the core's limits allow, as a file.
    static let maxFileBytesNeeded = fileHeaderSize + Limits.maxLogEntries * recordOverhead + Limits.maxLogDataBytes

    enum Kind: UInt8 { case noop = 0, data = 1, configuration = 2 }

    static func encodeFileHeader(baseIndex: LogIndex = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLE(fileMagic)
        bytes.appendLE(version)
        bytes.appendLE(UInt16(0))
        bytes.appendLE(baseIndex)
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// append encodes `entry` as one record at the end of `bytes`.
    static func append(_ entry: Entry, to bytes: inout [UInt8]) {
        let start = bytes.count
        let kind: Kind
        let payload: [UInt8]
        switch entry.payload {
        case .noop: kind = .noop; payload = []
        case .data(let data): kind = .data; payload = data
        case .configuration(let c): kind = .configuration; payload = c.encoded()
        }
        precondition(payload.count <= maxPayloadBytes, "checked by DataDirectory.persist")
        bytes.appendLE(recordMagic)
        bytes.appendLE(UInt32(payload.count))
        bytes.appendLE(entry.index)
        bytes.appendLE(entry.term)
        bytes.append(kind.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendLE(CRC32C.checksum(bytes, start..<bytes.count))
        bytes.append(contentsOf: payload)
        bytes.appendLE(CRC32C.checksum(bytes, start..<bytes.count))
    }

    static func recordSize(_ entry: Entry) -> Int {
        switch entry.payload {
        case .noop: recordOverhead
        case .data(let data): recordOverhead + data.count
        case .configuration(let c): recordOverhead + c.encodedBytes
        }
    }

    /// TornTail describes an interrupted append found at the end of the log.
    struct TornTail: Sendable, Equatable {
        /// offset is where the last whole record ends; the file is cut back to it.
        var offset: UInt64
        var bytesRemoved: UInt64
        var reason: String
    }

    /// Scan is the verified content of a log file.
    struct Scan: Sendable {
        /// baseIndex is the index before the first record (the header's).
        var baseIndex: LogIndex = 0
        var entries: [Entry] = []
        /// recordOffsets[i] is where entries[i]'s record starts.
        var recordOffsets: [UInt64] = []
        /// end is where the last whole record ends.
        var end: UInt64 = UInt64(fileHeaderSize)
        var tornTail: TornTail? = nil
    }

    /// scan verifies the whole file. A failure at the tail that looks like an interrupted
    /// append is reported as `tornTail`; anything else is fatal. The tail is torn when,
    /// at the first record that does not verify:
    /// - every byte from there to the end of the file is zero (the file grew but the data
    ///   never reached the disk), or
    /// - fewer bytes than a record header remain, or
    /// - the header verifies but the record runs past the end of the file, or
    /// - the header does not verify and nothing but zeros follows it, or
    /// - the record's checksum fails and nothing but zeros follows it (in particular, it
    ///   ends exactly at the end of the file).
    /// Those bytes were never acknowledged: an append returns only after fdatasync, and
    /// an fdatasync that covers a later record covers this one too. Damage followed by
    /// anything other than zeros means a synced record went bad, which is fatal.
    static func scan(_ bytes: [UInt8], file: String) throws(StorageError) -> Scan {
        func damaged(_ problem: String, at offset: Int?) -> StorageError {
            .damaged(file: file, offset: offset.map { UInt64($0) }, problem: problem)
        }
        let n = bytes.count
        if n < fileHeaderSize {
            throw damaged("the file header is truncated (\(n) of \(fileHeaderSize) bytes)", at: nil)
        }
        let magic = bytes.readLE(UInt32.self, at: 0)
        if magic != fileMagic {
            throw damaged("bad magic \(hex(magic)) (a log starts with \(hex(fileMagic)), \"BTLG\")", at: 0)
        }
        let foundVersion = bytes.readLE(UInt16.self, at: 4)
        if foundVersion > version { throw .unsupportedVersion(file: file, found: foundVersion, supported: version) }
        let storedHeaderCRC = bytes.readLE(UInt32.self, at: 16)
        let headerCRC = CRC32C.checksum(bytes, 0..<16)
        if storedHeaderCRC != headerCRC {
            throw damaged("file header checksum mismatch (stored \(hex(storedHeaderCRC)), computed \(hex(headerCRC)))", at: 0)
        }
        if foundVersion == 0 || bytes.readLE(UInt16.self, at: 6) != 0 {
            throw damaged("the file header has version \(foundVersion) and flags \(hex(bytes.readLE(UInt16.self, at: 6)))", at: 4)
        }
        let baseIndex = bytes.readLE(UInt64.self, at: 8)
        if baseIndex > UInt64(Int64.max) {
            throw damaged("impossible base index \(baseIndex)", at: 8)
        }

        var scan = Scan()
        scan.baseIndex = baseIndex
        var offset = fileHeaderSize
        var expectedIndex = baseIndex + 1
        var previousTerm: Term = 0

        func zeros(from start: Int) -> Bool {
            var i = start
            while i < n { if bytes[i] != 0 { return false }; i += 1 }
            return true
        }
        func torn(_ reason: String) -> TornTail {
            TornTail(offset: UInt64(offset), bytesRemoved: UInt64(n - offset), reason: reason)
        }

        while offset < n {
            let record = "record \(expectedIndex)"
            if zeros(from: offset) {
                scan.tornTail = torn("the last \(n - offset) bytes are zeros (an append that never reached the disk)")
                break
            }
            if n - offset < 4 {
                scan.tornTail = torn("a partial record header of \(n - offset) bytes at the end of the file")
                break
            }
            let foundMagic = bytes.readLE(UInt32.self, at: offset)
            if foundMagic != recordMagic {
                throw damaged("\(record): bad magic \(hex(foundMagic)) (records start with \(hex(recordMagic)), \"BTRC\")", at: offset)
            }
            if n - offset < recordHeaderSize {
                scan.tornTail = torn("a partial record header of \(n - offset) bytes at the end of the file")
                break
            }
            let storedHeaderCRC = bytes.readLE(UInt32.self, at: offset + 28)
            let computedHeaderCRC = CRC32C.checksum(bytes, offset..<(offset + 28))
            if storedHeaderCRC != computedHeaderCRC {
                if zeros(from: offset + recordHeaderSize) {
                    scan.tornTail = torn("the final record's header is incomplete (header checksum mismatch)")
                    break
                }
                throw damaged("""
                    \(record): header checksum mismatch (stored \(hex(storedHeaderCRC)), computed \
                    \(hex(computedHeaderCRC))) with \(n - offset - recordHeaderSize) bytes after it, \
                    so this is not a torn final write
                    """, at: offset)
            }
            let length = Int(bytes.readLE(UInt32.self, at: offset + 4))
            if length > maxPayloadBytes {
                throw damaged("\(record): impossible payload length \(length) (the limit is \(maxPayloadBytes))", at: offset + 4)
            }
            let end = offset + recordOverhead + length
            if end > n {
                scan.tornTail = torn("the final record is incomplete (\(n - offset) of \(end - offset) bytes)")
                break
            }
            let storedCRC = bytes.readLE(UInt32.self, at: end - 4)
            let computedCRC = CRC32C.checksum(bytes, offset..<(end - 4))
            if storedCRC != computedCRC {
                if zeros(from: end) {
                    scan.tornTail = torn("the final record's checksum does not match (stored \(hex(storedCRC)), computed \(hex(computedCRC)))")
                    break
                }
                throw damaged("""
                    \(record): checksum mismatch (stored \(hex(storedCRC)), computed \(hex(computedCRC))) \
                    with \(n - end) bytes after it, so this is not a torn final write
                    """, at: offset)
            }
            let index = bytes.readLE(UInt64.self, at: offset + 8)
            let term = bytes.readLE(UInt64.self, at: offset + 16)
            if index != expectedIndex {
                throw damaged("the log is not contiguous: index \(index) where \(expectedIndex) should follow", at: offset)
            }
            if term < previousTerm {
                throw damaged("\(record) has term \(term), lower than the previous record's \(previousTerm)", at: offset)
            }
            guard let kind = Kind(rawValue: bytes[offset + 24]),
                  bytes[offset + 25] == 0, bytes[offset + 26] == 0, bytes[offset + 27] == 0 else {
                throw damaged("\(record): unknown entry kind \(bytes[offset + 24]) (written by a newer baton?)", at: offset + 24)
            }
            let payload: Entry.Payload
            switch kind {
            case .noop:
                if length != 0 { throw damaged("\(record): a no-op entry with \(length) payload bytes", at: offset) }
                payload = .noop
            case .data:
                payload = .data(Array(bytes[(offset + recordHeaderSize)..<(end - 4)]))
            case .configuration:
                do {
                    payload = .configuration(try Configuration(decoding: bytes[(offset + recordHeaderSize)..<(end - 4)]))
                } catch {
                    throw damaged("\(record): the configuration does not decode: \(error.message)", at: offset + recordHeaderSize)
                }
            }
            scan.entries.append(Entry(index: index, term: term, payload: payload))
            scan.recordOffsets.append(UInt64(offset))
            expectedIndex += 1
            previousTerm = term
            offset = end
            scan.end = UInt64(end)
        }
        return scan
    }
}
