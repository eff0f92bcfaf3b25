import Checksum
import Glibc
import RaftCore
@testable import Storage
import Testing

@Suite("Data dir: round trip, lock, bootstrap")
struct DataDirectoryTests {
    @Test func roundTripOfHardStateAndLog() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            #expect(dir.report.created == true)
            #expect(dir.report.bootstrapIgnored == false)
            #expect(dir.state == PersistentState())
            try dir.persist(hardState: HardState(term: 3, votedFor: NodeID(2), commitIndex: 0),
                            truncateFrom: nil, entries: makeEntries(1...4, term: 3))
            try dir.persist(hardState: HardState(term: 3, votedFor: NodeID(2), commitIndex: 4),
                            truncateFrom: nil, entries: makeEntries(5...6, term: 3))
            #expect(dir.isDurable == true)
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.report.created == false)
        #expect(dir.report.tornTail == nil)
        #expect(dir.state.hardState == HardState(term: 3, votedFor: NodeID(2), commitIndex: 4))
        #expect(dir.state.log == makeEntries(1...6, term: 3))
    }

    @Test func noVoteIsDistinctFromVoteForNodeZero() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 1, votedFor: NodeID(0)), truncateFrom: nil, entries: [])
        }
        #expect(try openDir(tmp.dataDir).state.hardState.votedFor == NodeID(0))
        do {
            var dir = try openDir(tmp.dataDir)
            try dir.persist(hardState: HardState(term: 2, votedFor: nil), truncateFrom: nil, entries: [])
        }
        #expect(try openDir(tmp.dataDir).state.hardState.votedFor == nil)
    }

    @Test func secondOpenInThisProcessFailsNamingOurPid() throws {
        let tmp = TempDir()
        let first = try openDir(tmp.dataDir, bootstrap: true)
        let error = openError(tmp.dataDir, expectLocked: true)
        #expect(error == .locked(lockFile: tmp.dataDir + "/lock", holder: getpid()))
        #expect(contains(error?.description ?? "", "locked by process \(getpid())"))
        _ = consume first
        // Dropping the first releases the lock.
        _ = try openDir(tmp.dataDir)
    }

    @Test func lockHeldByAnotherProcess() throws {
        guard fileExists("/usr/bin/flock") else {
            print("skipping lockHeldByAnotherProcess: /usr/bin/flock is not installed")
            return
        }
        let tmp = TempDir()
        _ = try openDir(tmp.dataDir, bootstrap: true)
        let lock = tmp.dataDir + "/lock"
        // flock(1) holds the lock (-o: only flock itself, not the shell) while the shell
        // writes its own pid into the file, as an agent would.
        let holder = spawn(["/usr/bin/flock", "-x", "-o", lock, "/bin/sh", "-c", "echo $$ > \(lock); exec sleep 30"])
        var shellPid: Int32 = 0
        for _ in 0..<200 {
            let text = String(decoding: readBytes(lock), as: UTF8.self)
            if text.hasSuffix("\n"), let pid = Int32(text.dropLast()), pid != getpid() { shellPid = pid; break }
            sleepMilliseconds(10)
        }
        #expect(shellPid > 0)
        let error = openError(tmp.dataDir, expectLocked: true)
        #expect(error == .locked(lockFile: lock, holder: shellPid))
        #expect(contains(error?.description ?? "", "process \(shellPid)"))
        // When the holder dies, the kernel drops its lock: no stale lock after a crash.
        kill(holder, SIGKILL)
        var status: Int32 = 0
        waitpid(holder, &status, 0)
        if shellPid > 0 { kill(shellPid, SIGKILL) }
        let dir = try openDir(tmp.dataDir)
        #expect(String(decoding: readBytes(lock), as: UTF8.self) == "\(getpid())\n")
        _ = consume dir
    }

    @Test func missingDirWithoutBootstrapCreatesNothing() {
        let tmp = TempDir()
        let error = openError(tmp.dataDir)
        #expect(error == .notInitialized(dataDir: tmp.dataDir, detail: "does not exist"))
        #expect(!fileExists(tmp.dataDir))
        let text = error?.description ?? ""
        #expect(contains(text, "vote a second time"))
        #expect(contains(text, "own backup"))
        #expect(contains(text, "add it back"))
        #expect(contains(text, "--bootstrap only when the whole cluster is new"))
    }

    @Test func emptyDirWithoutBootstrapCreatesNothing() {
        let tmp = TempDir()
        mkdir(tmp.dataDir, 0o700)
        #expect(openError(tmp.dataDir) == .notInitialized(dataDir: tmp.dataDir, detail: "is empty"))
        #expect(!fileExists(tmp.dataDir + "/lock"))
    }

    @Test func bootstrapOnExistingStateIsIgnoredAndReported() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 7, votedFor: NodeID(1)), truncateFrom: nil, entries: makeEntries(1...2, term: 7))
        }
        let dir = try openDir(tmp.dataDir, bootstrap: true)
        #expect(dir.report.bootstrapIgnored == true)
        #expect(dir.report.created == false)
        #expect(dir.state.hardState.term == 7)
        #expect(dir.state.log.count == 2)
        #expect(dir.report.notices.contains { contains($0, "--bootstrap ignored") })
    }

    @Test func bootstrapIntoExistingEmptyDirAndMissingParent() throws {
        let tmp = TempDir()
        mkdir(tmp.dataDir, 0o700)
        #expect(try openDir(tmp.dataDir, bootstrap: true).report.created)
        let deep = tmp.path + "/no/such/parent"
        guard case .ioFailed(let file, _, let errno)? = openError(deep, bootstrap: true) else {
            Issue.record("expected ioFailed"); return
        }
        #expect(file == deep)
        #expect(errno == ENOENT)
    }

    @Test func dataDirThatIsAFile() {
        let tmp = TempDir()
        writeBytes(tmp.dataDir, [1, 2, 3])
        #expect(openError(tmp.dataDir, bootstrap: true) == .notADirectory(path: tmp.dataDir))
    }

    @Test func interruptedBootstrapLeavesAnEmptyLogAndStartsOver() throws {
        let tmp = TempDir()
        do { _ = try openDir(tmp.dataDir, bootstrap: true) }
        // A crash between creating the log and the state file.
        unlink(tmp.dataDir + "/state")
        #expect(openError(tmp.dataDir) == .notInitialized(dataDir: tmp.dataDir, detail: "has no state file"))
        writeBytes(tmp.dataDir + "/state.tmp", [0, 1, 2])
        let dir = try openDir(tmp.dataDir, bootstrap: true)
        #expect(dir.report.created == true)
        #expect(!fileExists(tmp.dataDir + "/state.tmp"))
        #expect(dir.report.notices.contains { contains($0, "state.tmp") })
    }

    @Test func staleTemporaryStateFileIsRemovedNotRead() throws {
        let tmp = TempDir()
        do {
            var dir = try openDir(tmp.dataDir, bootstrap: true)
            try dir.persist(hardState: HardState(term: 2), truncateFrom: nil, entries: [])
        }
        writeBytes(tmp.dataDir + "/state.tmp", StateFile.encode(HardState(term: 99)))
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.hardState.term == 2)
        #expect(!fileExists(tmp.dataDir + "/state.tmp"))
    }

    @Test func failedOpensLeaveNoDescriptorOpen() throws {
        let tmp = TempDir()
        try makeDir(tmp)
        var bytes = readBytes(tmp.dataDir + "/log")
        bytes[recordStarts(bytes)[2]] ^= 0x01
        writeBytes(tmp.dataDir + "/log", bytes)
        for _ in 0..<50 { _ = openError(tmp.dataDir) }
        var state = readBytes(tmp.dataDir + "/state")
        state[0] ^= 1
        writeBytes(tmp.dataDir + "/state", state)
        for _ in 0..<50 { _ = openError(tmp.dataDir) }
        #expect(descriptorsOpen(on: tmp.dataDir) == [])
        #expect(openError(tmp.path + "/nothing") != nil)
        let held = try openDir(tmp.path + "/fresh", bootstrap: true)
        #expect(descriptorsOpen(on: tmp.path + "/fresh").count == 4) // directory, lock, log, synced
        _ = consume held
        #expect(descriptorsOpen(on: tmp.path + "/fresh") == [])
    }

    @Test func parentPaths() {
        #expect(DataDirectory.parentPath(of: "/var/lib/baton") == "/var/lib")
        #expect(DataDirectory.parentPath(of: "/var/lib/baton/") == "/var/lib")
        #expect(DataDirectory.parentPath(of: "/baton") == "/")
        #expect(DataDirectory.parentPath(of: "baton") == ".")
        #expect(DataDirectory.parentPath(of: "a/b") == "a")
    }

    @Test func crc32cKnownAnswer() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func stateFileLayoutIsStable() {
        // Pin the on-disk format: a change here must come with a version bump.
        let bytes = StateFile.encode(HardState(term: 0x0102, votedFor: NodeID(3), commitIndex: 5))
        #expect(bytes.count == 40)
        #expect(Array(bytes[0..<4]) == Array("BTST".utf8))
        #expect(bytes[4] == 1 && bytes[6] == 1 && bytes[8] == 24)
        #expect(bytes[12] == 2 && bytes[13] == 1 && bytes[20] == 5 && bytes[28] == 3)
    }
}
