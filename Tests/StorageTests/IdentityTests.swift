import Glibc
import RaftCore
@testable import Storage
import Testing

/// DIR/identity: who a data dir belongs to, written before the state when it is made,
/// changed atomically, refused when damaged; old data dirs have none.
@Suite("Member identity")
struct IdentityTests {
    static let me = MemberIdentity(clusterName: "prod", fingerprint: 0xABCD, memberName: "n2",
                                   incarnation: 0x1234_5678_9ABC_DEF1, createdWallNs: 1_800_000_000_000_000_000)

    @Test func aNewDataDirRecordsItsIdentityAndKeepsChanges() throws {
        let tmp = TempDir()
        do {
            var dir = try DataDirectory.open(path: tmp.dataDir, creating: Self.me)
            #expect(dir.identity == Self.me)
            var removed = Self.me
            removed.removed = true
            try dir.setIdentity(removed)
        }
        let dir = try openDir(tmp.dataDir)
        #expect(dir.identity?.removed == true)
        #expect(dir.identity?.incarnation == Self.me.incarnation)
        #expect(!fileExists(tmp.dataDir + "/identity.tmp"))
    }

    @Test func aDataDirMadeBeforeIdentitiesHasNone() throws {
        let tmp = TempDir()
        do { _ = try openDir(tmp.dataDir, bootstrap: true) }
        #expect(try openDir(tmp.dataDir).identity == nil)
    }

    @Test func openingWithoutCreatingNeverMakesAnything() {
        let tmp = TempDir()
        let error = openError(tmp.dataDir)
        #expect(contains("\(String(describing: error))", "does not exist"))
        #expect(!fileExists(tmp.dataDir))
    }

    @Test func aDamagedIdentityStopsTheAgentNamingTheFile() throws {
        let tmp = TempDir()
        do { _ = try DataDirectory.open(path: tmp.dataDir, creating: Self.me) }
        var bytes = readBytes(tmp.dataDir + "/identity")
        bytes[14] ^= 1
        writeBytes(tmp.dataDir + "/identity", bytes)
        let error = openError(tmp.dataDir)
        #expect(contains("\(String(describing: error))", "identity"))
        #expect(contains("\(String(describing: error))", "checksum"))
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = IdentityFile.encode(Self.me)
        #expect(try IdentityFile.decode(bytes, file: "x") == Self.me)
        for n in 0..<bytes.count {
            #expect(throws: StorageError.self) { try IdentityFile.decode(Array(bytes.prefix(n)), file: "x") }
        }
    }
}
