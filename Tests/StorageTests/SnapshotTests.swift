import Glibc
import Posix
import RaftCore
@testable import Storage
import Testing

/// Snapshots on disk: compaction rewrites the log to start after the snapshot, an
/// installed snapshot replaces a conflicting log, and every crash point between the
/// snapshot file and the log file reopens to a consistent state.
@Suite("Snapshots and compaction")
struct SnapshotTests {
    static let config = Configuration(members: [
        Member(id: NodeID(1), name: "n1", role: .voter, incarnation: 7, peerAddress: "10.0.0.1:7001", apiAddress: "10.0.0.1:8001"),
        Member(id: NodeID(2), name: "n2", role: .voter, incarnation: 8, peerAddress: "10.0.0.2:7001", apiAddress: "10.0.0.2:8001"),
        Member(id: NodeID(3), name: "n3", role: .observer, priority: 0, incarnation: 0, peerAddress: "10.0.0.3:7001", apiAddress: ""),
    ])

    static func snapshot(at index: LogIndex, term: Term) -> Snapshot {
        Snapshot(index: index, term: term, configuration: config, appState: Array("state@\(index)".utf8))
    }

    @Test func compactionKeepsTheSuffixAndShrinksTheFile() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            let entries = makeEntries(1...10, term: 2) + [Entry(index: 11, term: 2, payload: .configuration(Self.config))]
            try dir.persist(hardState: HardState(term: 2, commitIndex: 11), truncateFrom: nil, entries: entries)
            let before = fileSize(tmp.dataDir + "/log")
            try dir.persist(hardState: nil, snapshot: Self.snapshot(at: 8, term: 2), truncateFrom: nil, entries: [])
            let durable = dir.isDurable
            #expect(durable)
            #expect(dir.state.log.map(\.index) == [9, 10, 11])
            #expect(fileSize(tmp.dataDir + "/log") < before)
            try dir.persist(hardState: HardState(term: 2, commitIndex: 12), truncateFrom: nil, entries: makeEntries(12...12, term: 2))
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.snapshot == Self.snapshot(at: 8, term: 2))
        #expect(dir.state.log.map(\.index) == [9, 10, 11, 12])
        #expect(dir.state.log[2].payload == .configuration(Self.config))
        #expect(!fileExists(tmp.dataDir + "/snapshot.tmp") && !fileExists(tmp.dataDir + "/log.tmp"))
        // The core restores from it: the configuration in force is the last one in the log.
        let node = try RaftNode(id: NodeID(1), incarnation: 7, options: Options(), restoring: dir.state, seed: 1, now: .zero)
        #expect(node.configuration == Self.config)
        #expect(node.lastLogIndex == 12)
    }

    @Test func anInstalledSnapshotWithATruncationDropsTheOldLog() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 3), truncateFrom: nil, entries: makeEntries(1...5, term: 3))
            // The leader's snapshot at 20 (term 4) does not continue this log: it goes.
            try dir.persist(hardState: HardState(term: 4, commitIndex: 20), snapshot: Self.snapshot(at: 20, term: 4),
                            truncateFrom: 21, entries: makeEntries(21...22, term: 4))
            #expect(dir.state.log.map(\.index) == [21, 22])
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.snapshot?.index == 20)
        #expect(dir.state.log.map(\.index) == [21, 22])
        #expect(dir.state.hardState.commitIndex == 20)
    }

    /// A crash after the snapshot's rename but before the log was rewritten leaves the old
    /// log: open drops what the snapshot covers (and a suffix that does not continue it).
    @Test(arguments: [(LogIndex(4), Term(1), [LogIndex(5), 6]), (LogIndex(4), Term(9), []), (LogIndex(9), Term(1), [])])
    func aCrashBeforeTheLogRewriteReopensConsistently(at index: LogIndex, term: Term, kept: [LogIndex]) throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: term, commitIndex: min(index, 6)), truncateFrom: nil, entries: makeEntries(1...6, term: 1))
        }
        // Only the snapshot file is written, as sync does first.
        writeBytes(tmp.dataDir + "/snapshot", SnapshotFile.encode(Self.snapshot(at: index, term: term)))
        var dir = try openDir(tmp.dataDir)
        #expect(dir.state.snapshot?.index == index)
        #expect(dir.state.log.map(\.index) == kept)
        let durableAtOpen = dir.isDurable
        #expect(!durableAtOpen)  // the log file is rewritten at the next sync
        try dir.sync()
        let durableAfterSync = dir.isDurable
        #expect(durableAfterSync)
        _ = consume dir
        #expect(try openDir(tmp.dataDir).state.log.map(\.index) == kept)
    }

    @Test func aDamagedSnapshotStopsTheAgentNamingTheFile() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 1, commitIndex: 3), truncateFrom: nil, entries: makeEntries(1...3, term: 1))
            try dir.persist(hardState: nil, snapshot: Self.snapshot(at: 2, term: 1), truncateFrom: nil, entries: [])
        }
        var bytes = readBytes(tmp.dataDir + "/snapshot")
        bytes[20] ^= 0x40
        writeBytes(tmp.dataDir + "/snapshot", bytes)
        let error = openError(tmp.dataDir)
        #expect(contains("\(String(describing: error))", "snapshot"))
        #expect(contains("\(String(describing: error))", "checksum"))
    }

    @Test func aMissingSnapshotUnderACompactedLogIsDamage() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 1, commitIndex: 3), truncateFrom: nil, entries: makeEntries(1...3, term: 1))
            try dir.persist(hardState: nil, snapshot: Self.snapshot(at: 2, term: 1), truncateFrom: nil, entries: [])
        }
        _ = unlink(tmp.dataDir + "/snapshot")
        let error = openError(tmp.dataDir)
        #expect(contains("\(String(describing: error))", "compacted part of the log is lost"))
    }

    @Test func everySnapshotLayoutRoundTripsAndTruncationsAreRefused() throws {
        let s = Self.snapshot(at: 42, term: 7)
        let encoded = SnapshotFile.encode(s)
        #expect(try SnapshotFile.decode(encoded, file: "x") == s)
        for cut in [0, 5, 12, encoded.count / 2, encoded.count - 1] {
            #expect(throws: StorageError.self) { try SnapshotFile.decode(Array(encoded.prefix(cut)), file: "x") }
        }
    }
}
