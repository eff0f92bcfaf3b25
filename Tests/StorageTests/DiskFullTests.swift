import Glibc
import RaftCore
@testable import Storage
import Testing

@Suite("Full disk on a small tmpfs")
struct DiskFullTests {
    @Test func fullDiskIsReportedAndPersistRecoversWhenSpaceReturns() throws {
        let tmp = TempDir()
        let mountPoint = tmp.path + "/small"
        mkdir(mountPoint, 0o700)
        let mounted = "size=64k,mode=0700".withCString { mount("tmpfs", mountPoint, "tmpfs", 0, $0) }
        guard mounted == 0 else {
            print("skipping the full-disk test: mounting a tmpfs failed (\(String(cString: strerror(errno)))); it needs root with CAP_SYS_ADMIN")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let dataDir = mountPoint + "/data"
        let ballast = mountPoint + "/ballast"
        writeBytes(ballast, [UInt8](repeating: 7, count: 16 * 1024))

        var dir = try openDir(dataDir, bootstrap: true)
        var next: LogIndex = 1
        var full: StorageError? = nil
        while next < 100 && full == nil {
            let entry = Entry(index: next, term: 1, payload: .data([UInt8](repeating: UInt8(next), count: 4000)))
            do {
                try dir.persist(hardState: nil, truncateFrom: nil, entries: [entry])
                next += 1
            } catch {
                full = error
            }
        }
        #expect(full == .diskFull(file: dataDir + "/log", operation: "appending"))
        #expect(full?.isRetryable == true)
        #expect(contains(full?.description ?? "", "stops voting and acknowledging"))
        #expect(dir.isDurable == false)
        // Still full: the retry fails the same way and claims nothing.
        #expect(throws: StorageError.diskFull(file: dataDir + "/log", operation: "appending")) { try dir.sync() }
        #expect(dir.isDurable == false)

        // Space returns: the retry writes the pending entry.
        unlink(ballast)
        try dir.sync()
        #expect(dir.isDurable == true)
        let written = next // entries 1...next are in the log now

        // Fill the disk again with a filler file; now the state file cannot be written.
        let filler = mountPoint + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let chunk = [UInt8](repeating: 1, count: 4096)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
        do {
            try dir.persist(hardState: HardState(term: 2, votedFor: NodeID(4), commitIndex: written), truncateFrom: nil, entries: [])
            Issue.record("expected the state write to fail on a full disk")
        } catch {
            #expect(error == .diskFull(file: dataDir + "/state.tmp", operation: "writing"))
        }
        #expect(!fileExists(dataDir + "/state.tmp"))
        unlink(filler)
        try dir.sync()
        _ = consume dir

        let reopened = try openDir(dataDir)
        #expect(reopened.state.log.count == Int(written))
        #expect(reopened.state.hardState == HardState(term: 2, votedFor: NodeID(4), commitIndex: written))
        #expect(reopened.report.tornTail == nil)
    }
}
