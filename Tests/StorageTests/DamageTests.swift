import Checksum
import Glibc
import RaftCore
@testable import Storage
import Testing

/// makeDir bootstraps a data dir holding entries 1...count of term 2, commit `commit`.
func makeDir(_ tmp: TempDir, count: LogIndex = 5, commit: LogIndex = 0) throws {
    var dir = try openDir(tmp.dataDir, bootstrap: true)
    try dir.persist(hardState: HardState(term: 2, votedFor: NodeID(1), commitIndex: commit),
                    truncateFrom: nil, entries: makeEntries(1...count, term: 2))
}

/// markSynced makes `DIR/synced` say only `count` records were fsynced, as after a crash
/// during the append of the later ones (before their fdatasync returned): only those may
/// be cut as a torn tail (issue 15).
func markSynced(_ tmp: TempDir, _ count: UInt64) {
    var slot: [UInt8] = []
    slot.appendLE(SyncMarker.magic)
    slot.appendLE(UInt32(1))
    slot.appendLE(count)
    slot.appendLE(CRC32C.checksum(slot))
    writeBytes(tmp.dataDir + "/" + SyncMarker.name, slot + [UInt8](repeating: 0, count: SyncMarker.fileSize - slot.count))
}

/// recordStarts returns where each record of a clean log starts, and the file's end.
func recordStarts(_ log: [UInt8]) -> [Int] {
    var starts: [Int] = []
    var offset = LogFormat.fileHeaderSize
    while offset < log.count {
        starts.append(offset)
        offset += LogFormat.recordOverhead + Int(log.readLE(UInt32.self, at: offset + 4))
    }
    return starts
}

func expectDamaged(_ error: StorageError?, file: String, mentioning part: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .damaged(let f, _, let problem)? = error else {
        Issue.record("expected .damaged for \(file), got \(String(describing: error))", sourceLocation: sourceLocation)
        return
    }
    #expect(f == file, sourceLocation: sourceLocation)
    #expect(contains(problem, part), "problem: \(problem)", sourceLocation: sourceLocation)
    let text = error!.description
    #expect(contains(text, file), sourceLocation: sourceLocation)
    #expect(contains(text, "never resets"), sourceLocation: sourceLocation)
    #expect(contains(text, "own backup"), sourceLocation: sourceLocation)
}

@Suite("Damage: state file")
struct StateDamageTests {
    @Test func everyFlippedByteIsFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        let good = readBytes(path)
        for offset in 0..<good.count {
            var bad = good
            bad[offset] ^= 0x01
            writeBytes(path, bad)
            let error = openError(tmp.dataDir)
            #expect(error != nil && !(error!.isRetryable), "flipping byte \(offset) was not caught")
            #expect(error?.file == path, "byte \(offset): \(String(describing: error))")
        }
        writeBytes(path, good)
        _ = try openDir(tmp.dataDir)
    }

    @Test func checksumMismatchMessage() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        var bytes = readBytes(path)
        bytes[12] ^= 0x40 // the term
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "checksum mismatch")
    }

    @Test func truncatedAtEveryLength() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        let good = readBytes(path)
        for length in 0..<good.count {
            writeBytes(path, Array(good[0..<length]))
            expectDamaged(openError(tmp.dataDir), file: path, mentioning: length < 4 ? "truncated" : "")
        }
        writeBytes(path, good + [0])
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "longer")
    }

    @Test func badMagic() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        var bytes = readBytes(path)
        bytes[0] = UInt8(ascii: "X")
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "bad magic")
    }

    @Test func newerVersion() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        var bytes = readBytes(path)
        bytes[4] = 2
        writeBytes(path, bytes)
        #expect(openError(tmp.dataDir) == .unsupportedVersion(file: path, found: 2, supported: 1))
    }

    @Test func stateMissingBesideANonEmptyLog() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        unlink(tmp.dataDir + "/state")
        for bootstrap in [false, true] {
            expectDamaged(openError(tmp.dataDir, bootstrap: bootstrap), file: tmp.dataDir + "/state",
                          mentioning: "term and vote are lost")
        }
    }

    @Test func logMissingBesideState() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        unlink(tmp.dataDir + "/log")
        expectDamaged(openError(tmp.dataDir), file: tmp.dataDir + "/log", mentioning: "missing")
    }

    @Test func commitIndexBeyondTheLog() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 5, commit: 5)
        markSynced(tmp, 4)  // so that the commit index, not the sync marker, is what objects
        // Drop the last record cleanly: the state says it is committed.
        let logPath = tmp.dataDir + "/log"
        let log = readBytes(logPath)
        writeBytes(logPath, Array(log[0..<recordStarts(log)[4]]))
        expectDamaged(openError(tmp.dataDir), file: logPath, mentioning: "committed")
    }
}

@Suite("Damage: log")
struct LogDamageTests {
    @Test func flippedByteInAMiddleRecordIsFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 5)
        let path = tmp.dataDir + "/log"
        let good = readBytes(path)
        let starts = recordStarts(good)
        // Every byte of records 1...4 (record 5 is the tail).
        for offset in starts[0]..<starts[4] {
            var bad = good
            bad[offset] ^= 0x10
            writeBytes(path, bad)
            let error = openError(tmp.dataDir)
            guard case .damaged(let file, _, _)? = error else {
                Issue.record("byte \(offset): expected damaged, got \(String(describing: error))"); continue
            }
            #expect(file == path)
        }
        var bad = good
        bad[starts[2] + LogFormat.recordHeaderSize - 1 + 2] ^= 0x10 // record 3's payload or CRC
        writeBytes(path, bad)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "not a torn final write")
    }

    @Test func badRecordMagicIsFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        bytes[recordStarts(bytes)[1]] = 0x58
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "bad magic")
    }

    @Test func badFileHeaderIsFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        bytes[0] = 0
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "bad magic")
        writeBytes(path, Array(bytes[0..<10]))
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "header is truncated")
    }

    @Test func impossibleLengthIsFatalBeforeAllocating() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        let at = recordStarts(bytes)[1]
        // A length of 4 GiB − 1 with a matching header checksum: only the cap stops it.
        for i in 0..<4 { bytes[at + 4 + i] = 0xFF }
        let crc = CRC32C.checksum(bytes, at..<(at + 28))
        for i in 0..<4 { bytes[at + 28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "impossible payload length 4294967295")
    }

    @Test func nonContiguousIndexesAreFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 2)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        LogFormat.append(Entry(index: 4, term: 2, payload: .noop), to: &bytes) // skips 3
        LogFormat.append(Entry(index: 5, term: 2, payload: .noop), to: &bytes)
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "not contiguous")
    }

    @Test func decreasingTermsAreFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 2)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        LogFormat.append(Entry(index: 3, term: 1, payload: .noop), to: &bytes)
        LogFormat.append(Entry(index: 4, term: 2, payload: .noop), to: &bytes)
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "lower than")
    }

    @Test func lastRecordCutAtEveryByteIsRecovered() throws {
        let tmp = TempDir()
        // Entry 6 carries a payload, so the cut runs through header, payload and CRC.
        try makeDir(tmp, count: 6, commit: 5)
        let path = tmp.dataDir + "/log"
        let good = readBytes(path)
        let lastStart = recordStarts(good)[5]
        for cut in (lastStart + 1)..<good.count {
            markSynced(tmp, 5)  // the crash came before record 6's fdatasync returned
            writeBytes(path, Array(good[0..<cut]))
            let dir = try openDir(tmp.dataDir)
            #expect(dir.state.log == makeEntries(1...5, term: 2), "cut at \(cut)")
            #expect(dir.report.tornTail == TornTail(offset: UInt64(lastStart), bytesRemoved: UInt64(cut - lastStart),
                                                    lastIndex: 5, reason: dir.report.tornTail?.reason ?? ""),
                    "cut at \(cut)")
            #expect(dir.report.notices.contains { contains($0, "never acknowledged") })
            #expect(fileSize(path) == lastStart, "the torn bytes are cut from the file")
        }
        // Cut exactly at a record boundary: nothing torn.
        writeBytes(path, Array(good[0..<lastStart]))
        #expect(try openDir(tmp.dataDir).report.tornTail == nil)
    }

    @Test func lastRecordWithBadChecksumAtEndOfFileIsTorn() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 3)
        markSynced(tmp, 2)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        bytes[bytes.count - 1] ^= 0xFF
        writeBytes(path, bytes)
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log.count == 2)
        #expect(contains(dir.report.tornTail?.reason ?? "", "checksum"))
    }

    /// The same damage to records an fdatasync covered (and so were acknowledged) is
    /// fatal: a flipped byte in the last record, or the file cut mid-record or at a record
    /// boundary (issue 15: these were repaired silently as "never acknowledged").
    @Test func damageToSyncedRecordsIsFatalNotATornTail() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 3)
        let path = tmp.dataDir + "/log"
        let good = readBytes(path)
        var flipped = good
        flipped[flipped.count - 1] ^= 0xFF
        for (bytes, what) in [(flipped, "does not verify"), (Array(good[0..<(good.count - 10)]), "does not verify"),
                              (Array(good[0..<recordStarts(good)[2]]), "is missing")] {
            writeBytes(path, bytes)
            expectDamaged(openError(tmp.dataDir), file: path, mentioning: "fsynced and acknowledged")
            #expect(contains(openError(tmp.dataDir)?.description ?? "", what))
            #expect(readBytes(path) == bytes, "nothing was cut")
        }
    }

    /// A data dir written before the sync marker existed opens as before and gains one.
    @Test func aDataDirWithoutSyncMarkerOpensAndGetsOne() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 3)
        unlink(tmp.dataDir + "/" + SyncMarker.name)
        do {
            let dir = try openDir(tmp.dataDir)
            #expect(dir.state.log.count == 3)
            #expect(dir.report.notices.contains { contains($0, "3 log records are synced") })
        }
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        bytes[bytes.count - 1] ^= 0xFF
        writeBytes(path, bytes)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "fsynced and acknowledged")
    }

    @Test func zeroFilledTailIsTorn() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 3)
        let path = tmp.dataDir + "/log"
        let good = readBytes(path)
        let starts = recordStarts(good)
        markSynced(tmp, 2)
        // The file grew but the last record's data (and a following one) never arrived.
        var bytes = Array(good[0..<starts[2]]) + [UInt8](repeating: 0, count: 100)
        writeBytes(path, bytes)
        var dir = try openDir(tmp.dataDir)
        #expect(dir.state.log.count == 2)
        #expect(contains(dir.report.tornTail?.reason ?? "", "zeros"))
        _ = consume dir
        // Half of the last record written, the rest zeros to the end of the file.
        markSynced(tmp, 2)
        bytes = good + [UInt8](repeating: 0, count: 64)
        for i in (starts[2] + 10)..<good.count { bytes[i] = 0 }
        writeBytes(path, bytes)
        dir = try openDir(tmp.dataDir)
        #expect(dir.state.log.count == 2)
        // Appending after recovery works and survives a reopen.
        try dir.persist(hardState: nil, truncateFrom: nil, entries: makeEntries(3...4, term: 3))
        _ = consume dir
        #expect(try openDir(tmp.dataDir).state.log.map(\.index) == [1, 2, 3, 4])
    }

    @Test func garbageAfterADamagedLastRecordIsFatal() throws {
        let tmp = TempDir()
        try makeDir(tmp, count: 3)
        let path = tmp.dataDir + "/log"
        var bytes = readBytes(path)
        bytes[bytes.count - 1] ^= 0xFF
        writeBytes(path, bytes + [1, 2, 3, 4, 5, 6, 7, 8])
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "not a torn final write")
    }
}

/// The files read whole (state, snapshot, identity) are refused as damaged, before
/// anything is allocated, when they are far longer than such a file can be or are not
/// files at all — one reader (WholeFile) serves all three, each test one of them.
@Suite("Damage: files read whole")
struct WholeFileDamageTests {
    /// grow extends `path` to `size` bytes (sparse: nothing is written).
    static func grow(_ path: String, to size: Int) {
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        #expect(fd >= 0)
        #expect(ftruncate(fd, off_t(size)) == 0)
        close(fd)
    }

    @Test func aStateFileOverItsCapIsDamaged() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        Self.grow(path, to: 4097)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "4097 bytes where a state file has 40")
    }

    @Test func aStateThatIsADirectoryIsDamaged() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/state"
        #expect(unlink(path) == 0 && mkdir(path, 0o700) == 0)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "not a regular file")
    }

    @Test func aSnapshotOverTheLimitIsDamaged() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        let path = tmp.dataDir + "/" + SnapshotFile.name
        Self.grow(path, to: SnapshotFile.headerSize + Limits.maxSnapshotBytes + 5)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "over the snapshot limit")
    }

    @Test func anIdentityOverItsCapIsDamaged() throws {
        let tmp = TempDir()
        do { _ = try DataDirectory.open(path: tmp.dataDir, creating: IdentityTests.me) }
        let path = tmp.dataDir + "/" + IdentityFile.name
        Self.grow(path, to: IdentityFile.maxBytes + 1)
        expectDamaged(openError(tmp.dataDir), file: path, mentioning: "more than an identity file holds")
    }
}
