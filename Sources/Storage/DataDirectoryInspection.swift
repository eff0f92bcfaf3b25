// A look at a data dir that changes nothing, for `baton agent --check-config` (issue 17
// point 2): run as the unit's ExecStartPre, it must not create, repair or lock anything
// an agent starting right after depends on.
import Posix
public import RaftCore

/// DataDirectoryInspection is what a data dir holds, read without changing it.
public struct DataDirectoryInspection: Sendable, Equatable {
    /// state: the term, vote and commit index; nil for an empty or missing data dir.
    public var state: HardState?
    public var logEntries: Int
    /// exists: the directory is there (a missing one is made by `--bootstrap`).
    public var exists: Bool
    /// lockHolder: the pid of a running agent holding the data dir, if one does.
    public var lockHolder: Int32?
    public var inUse: Bool
    /// tornTail: a torn append at the log's end that the next start will cut.
    public var tornTailBytes: UInt64?
    public var writable: Bool
    /// identity: the cluster and member the data dir belongs to (`DIR/identity`), when it has one.
    public var identity: MemberIdentity? = nil
}

extension DataDirectory {
    /// inspect reads the data dir at `path` without creating, repairing or keeping a lock
    /// on anything, and verifies what it reads (the state file's CRC, every log record).
    /// Damage throws as `open` would; a missing or empty dir is reported, not thrown
    /// (whether that is fine depends on `--bootstrap`).
    public static func inspect(path: String) throws(StorageError) -> DataDirectoryInspection {
        var result = DataDirectoryInspection(state: nil, logEntries: 0, exists: false, lockHolder: nil, inUse: false,
                                             tornTailBytes: nil, writable: false)
        let directory: FileDescriptor
        do { directory = try DiskIO.openDirectory(path) } catch where error == .noSuchFile {
            return result
        } catch where error == .notDirectory {
            throw .notADirectory(path: path)
        } catch {
            throw .ioFailed(file: path, operation: "opening the data dir", errno: error.rawValue)
        }
        result.exists = true
        result.writable = DiskIO.isWritableDirectory(path)
        // Held by a running agent? Trying the lock and letting it go at once.
        if let lock = try? DiskIO.openFile("lock", in: directory) {
            if let free = try? DiskIO.tryLockExclusive(lock), !free {
                result.inUse = true
                result.lockHolder = readHolder(lock)
            }
        }
        let hasState: Bool, hasLog: Bool
        do {
            hasState = try DiskIO.exists(StateFile.name, in: directory)
            hasLog = try DiskIO.exists(LogFormat.name, in: directory)
        } catch {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        }
        let statePath = path + "/" + StateFile.name, logPath = path + "/" + LogFormat.name
        if hasLog {
            let log = try openLogFile(in: directory, path: logPath)
            let scan = try scanLog(log, path: logPath)
            result.logEntries = scan.entries.count
            result.tornTailBytes = scan.tornTail?.bytesRemoved
            if !hasState && !scan.entries.isEmpty {
                throw .damaged(file: statePath, offset: nil, problem: "the file is missing while \(logPath) holds \(scan.entries.count) entries, so this member's term and vote are lost")
            }
        }
        if hasState {
            guard hasLog else { throw .damaged(file: logPath, offset: nil, problem: "the file is missing while \(statePath) exists") }
            result.state = try StateFile.read(in: directory, path: statePath)
        }
        let hasIdentity: Bool
        do { hasIdentity = try DiskIO.exists(IdentityFile.name, in: directory) } catch {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        }
        if hasIdentity { result.identity = try IdentityFile.read(in: directory, path: path + "/" + IdentityFile.name) }
        return result
    }
}
