import Glibc
import Posix
import RaftCore
@testable import Storage
import Testing

@Suite("Persist: truncation, failures and retries")
struct PersistTests {
    @Test func truncationThenAppendRewritesTheSuffix() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 2), truncateFrom: nil, entries: makeEntries(1...6, term: 2))
            // A new leader of term 3 overwrites entries 4... (Raft §5.3).
            try dir.persist(hardState: HardState(term: 3, votedFor: NodeID(2)), truncateFrom: 4,
                            entries: makeEntries(4...5, term: 3))
            #expect(dir.state.log == makeEntries(1...3, term: 2) + makeEntries(4...5, term: 3))
            // Truncating everything, then nothing new.
            try dir.persist(hardState: nil, truncateFrom: 2, entries: [])
            #expect(dir.state.log == makeEntries(1...1, term: 2))
            try dir.persist(hardState: nil, truncateFrom: 2, entries: makeEntries(2...3, term: 3))
            // Truncating beyond the end changes nothing.
            try dir.persist(hardState: nil, truncateFrom: 10, entries: [])
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == makeEntries(1...1, term: 2) + makeEntries(2...3, term: 3))
        #expect(dir.state.hardState == HardState(term: 3, votedFor: NodeID(2)))
        #expect(dir.report.tornTail == nil)
        #expect(fileSize(tmp.dataDir + "/log") == LogFormat.fileHeaderSize + dir.state.log.map(LogFormat.recordSize).reduce(0, +))
    }

    @Test func truncateFromOneEmptiesTheLog() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: nil, truncateFrom: nil, entries: makeEntries(1...3, term: 1))
            try dir.persist(hardState: nil, truncateFrom: 1, entries: [])
        }
        #expect(try openDir(tmp.dataDir).state.log.isEmpty)
    }

    @Test func failedLogSyncIsNotDurableAndTheRetryRewrites() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 1), truncateFrom: nil, entries: makeEntries(1...2, term: 1))
            dir.faults.failingSyncs = [.io]
            #expect(throws: StorageError.syncFailed(file: tmp.dataDir + "/log", operation: "fdatasync", errno: EIO)) {
                try dir.persist(hardState: HardState(term: 2, votedFor: NodeID(3)), truncateFrom: nil,
                                entries: makeEntries(3...4, term: 2))
            }
            // The core's wishes are kept; the disk is not claimed to hold them.
            #expect(dir.isDurable == false)
            #expect(dir.state.log.count == 4)
            #expect(dir.state.hardState.term == 2)
            // The state file was not written after the log failed (log before state).
            #expect(StateFileProbe.term(tmp) == 1)
            // Linux may have dropped the failed pages: model it by zeroing what was written
            // past the last confirmed record. The retry must not rely on those bytes.
            let path = tmp.dataDir + "/log"
            var bytes = readBytes(path)
            let durableEnd = LogFormat.fileHeaderSize + makeEntries(1...2, term: 1).map(LogFormat.recordSize).reduce(0, +)
            #expect(bytes.count > durableEnd)
            for i in durableEnd..<bytes.count { bytes[i] = 0 }
            writeBytes(path, bytes)
            // The retry cuts the unconfirmed bytes and writes them again, then the state.
            try dir.sync()
            #expect(dir.isDurable == true)
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == makeEntries(1...2, term: 1) + makeEntries(3...4, term: 2))
        #expect(dir.state.hardState == HardState(term: 2, votedFor: NodeID(3)))
    }

    @Test func failedStateSyncRewritesTheWholeStateFile() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            dir.faults.failingSyncs = [.io]
            #expect(throws: StorageError.syncFailed(file: tmp.dataDir + "/state.tmp", operation: "fsync", errno: EIO)) {
                try dir.persist(hardState: HardState(term: 5, votedFor: NodeID(1)), truncateFrom: nil, entries: [])
            }
            #expect(dir.isDurable == false)
            #expect(!fileExists(tmp.dataDir + "/state.tmp"))
            #expect(StateFileProbe.term(tmp) == 0)
            try dir.sync()
            #expect(dir.isDurable == true)
            // A second failure and retry with nothing new still converges.
            dir.faults.failingWrites = [.noSpace]
            #expect(throws: StorageError.diskFull(file: tmp.dataDir + "/state.tmp", operation: "writing")) {
                try dir.persist(hardState: HardState(term: 6, votedFor: nil), truncateFrom: nil, entries: [])
            }
            try dir.sync()
        }
        #expect(try openDir(tmp.dataDir).state.hardState == HardState(term: 6))
    }

    @Test func failedDirectorySyncAfterRenameCountsAsNotDurable() throws {
        let tmp = TempDir()
        var dir = try openDir(tmp.dataDir, bootstrap: true)
        // The temp file's fsync succeeds, the directory's fails: the new file may or may
        // not be durable, so it counts as not durable and is written again.
        dir.faults = FaultPlanSkippingFirstSync.plan(failing: .io)
        do {
            try dir.persist(hardState: HardState(term: 9), truncateFrom: nil, entries: [])
            Issue.record("expected the directory fsync to fail")
        } catch {
            #expect(error == .syncFailed(file: tmp.dataDir + "/state",
                                         operation: "fsync of the directory after renaming", errno: EIO))
        }
        #expect(dir.isDurable == false)
        try dir.sync()
        #expect(dir.isDurable == true)
        _ = consume dir
        #expect(try openDir(tmp.dataDir).state.hardState.term == 9)
    }

    @Test func failedTruncationSyncIsRetried() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: nil, truncateFrom: nil, entries: makeEntries(1...5, term: 1))
            dir.faults.failingSyncs = [.io]
            let cut = LogFormat.fileHeaderSize + 2 * LogFormat.recordOverhead // entries 1 and 2 are no-ops
            #expect(throws: StorageError.syncFailed(file: tmp.dataDir + "/log",
                                                    operation: "fdatasync after cutting the log to byte \(cut)", errno: EIO)) {
                try dir.persist(hardState: HardState(term: 2), truncateFrom: 3, entries: makeEntries(3...3, term: 2))
            }
            #expect(dir.isDurable == false)
            try dir.sync()
            #expect(dir.isDurable == true)
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == makeEntries(1...2, term: 1) + makeEntries(3...3, term: 2))
    }

    @Test func partialWriteThenFullDiskIsCutOnRetry() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: nil, truncateFrom: nil, entries: makeEntries(1...2, term: 1))
            // Simulate a write that got partway: garbage past the durable end, then ENOSPC.
            let path = tmp.dataDir + "/log"
            let durable = readBytes(path)
            dir.faults.failingWrites = [.noSpace]
            #expect(throws: StorageError.diskFull(file: path, operation: "appending")) {
                try dir.persist(hardState: nil, truncateFrom: nil, entries: makeEntries(3...3, term: 1))
            }
            writeBytes(path, durable + [0x42, 0x54, 0x52, 0x43, 9, 9, 9])
            try dir.sync()
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == makeEntries(1...3, term: 1))
        #expect(dir.report.tornTail == nil)
    }

    @Test func oversizedEntryIsRejectedBeforeAnyChange() throws {
        let tmp = TempDir()
        var dir = try openDir(tmp.dataDir, bootstrap: true)
        let big = Entry(index: 1, term: 1, payload: .data([UInt8](repeating: 1, count: DataDirectory.maxEntryPayloadBytes + 1)))
        #expect(throws: StorageError.entryTooLarge(index: 1, bytes: DataDirectory.maxEntryPayloadBytes + 1,
                                                   limit: DataDirectory.maxEntryPayloadBytes)) {
            try dir.persist(hardState: HardState(term: 1), truncateFrom: nil, entries: [big])
        }
        #expect(dir.state == PersistentState())
        #expect(dir.isDurable == true)
    }

    /// The storage's side of `Limits`: the record cap is the core's entry cap, the log
    /// the core's bounds allow fits the file size a start-up loads, and an entry at the
    /// limit is written and loaded again.
    @Test func theLogFitsWhatTheCoreAllowsAndAnEntryAtTheLimitRoundTrips() throws {
        #expect(DataDirectory.maxEntryPayloadBytes == Limits.maxEntryDataBytes)
        #expect(LogFormat.maxFileBytesNeeded <= Int(LogFormat.maxFileBytes))
        #expect(LogFormat.maxFileBytes == UInt64(Limits.maxLogFileBytes))
        let tmp = TempDir()
        let entry = Entry(index: 1, term: 1, payload: .data([UInt8](repeating: 0xA5, count: Limits.maxEntryDataBytes)))
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 1), truncateFrom: nil, entries: [entry])
        }
        #expect(try openDir(tmp.dataDir).state.log == [entry])
    }

    @Test func persistJobMergeEqualsSequentialPersist() throws {
        // Table: (first, later) pairs, each checked against applying them one by one.
        let base = makeEntries(1...4, term: 1)
        let cases: [(PersistJob, PersistJob)] = [
            (PersistJob(hardState: HardState(term: 2), entries: makeEntries(5...6, term: 2)),
             PersistJob(hardState: HardState(term: 3), entries: makeEntries(7...7, term: 3))),
            (PersistJob(entries: makeEntries(5...7, term: 2)),
             PersistJob(truncateFrom: 6, entries: makeEntries(6...6, term: 3))),
            (PersistJob(entries: makeEntries(5...7, term: 2)),
             PersistJob(truncateFrom: 3, entries: makeEntries(3...3, term: 3))),
            (PersistJob(truncateFrom: 3, entries: makeEntries(3...4, term: 2)),
             PersistJob(truncateFrom: 2, entries: makeEntries(2...2, term: 3))),
            (PersistJob(truncateFrom: 2),
             PersistJob(truncateFrom: 4, entries: [])),
            (PersistJob(hardState: HardState(term: 2)), PersistJob()),
            (PersistJob(entries: makeEntries(5...5, term: 1)), PersistJob(truncateFrom: 9)),
        ]
        for (a, b) in cases {
            var sequential = PersistentState(log: base)
            apply(a, to: &sequential)
            apply(b, to: &sequential)
            var merged = a
            merged.merge(b)
            var once = PersistentState(log: base)
            apply(merged, to: &once)
            #expect(once == sequential, "merge of \(a) and \(b) gave \(merged)")
        }
    }

    private func apply(_ job: PersistJob, to state: inout PersistentState) {
        if let t = job.truncateFrom { state.log.removeSubrange(Int(min(max(t, 1) - 1, UInt64(state.log.count)))...) }
        state.log += job.entries
        if let h = job.hardState { state.hardState = h }
    }
}

/// StateFileProbe reads the term straight from DIR/state, bypassing the library.
enum StateFileProbe {
    static func term(_ tmp: TempDir) -> UInt64 {
        readBytes(tmp.dataDir + "/state").readLE(UInt64.self, at: 12)
    }
}

/// FaultPlanSkippingFirstSync builds a plan whose first sync succeeds and second fails.
enum FaultPlanSkippingFirstSync {
    static func plan(failing errno: Errno) -> FaultPlan {
        var plan = FaultPlan()
        plan.skipSyncs = 1
        plan.failingSyncs = [errno]
        return plan
    }
}
