// The data dir of an agent that elects through etcd (`--backend etcd`, issue 18). Its
// durable state lives in etcd (the election keys under the prefix); the data dir keeps
// one agent per directory (the same exclusive lock as a Raft member's) and is where
// local state of later features goes. It never holds a Raft member's state: a
// directory that does is refused, so switching a member's engine cannot silently
// strand (or later reuse) the votes and log kept there.
import Posix

/// EtcdDataDirectory is a locked data dir for the etcd backend; the lock goes with the
/// value (it is ~Copyable: exactly one owner).
public struct EtcdDataDirectory: ~Copyable {
    public let path: String
    private let lock: FileDescriptor

    /// RaftStateFound: the directory holds a Raft member's files (named in `files`).
    public struct RaftStateFound: Error, Hashable, Sendable, CustomStringConvertible {
        public var path: String
        public var files: [String]
        public var description: String {
            "\(path) holds a Raft member's state (\(files.joined(separator: ", "))); give --backend etcd a data dir of its own"
                + " (the Raft member's state stays where it is, for --backend raft)"
        }
    }

    private init(path: String, lock: consuming FileDescriptor) {
        self.path = path
        self.lock = lock
    }

    /// open creates the directory if missing (not its parents), takes its lock (a
    /// second agent on it gets `.locked` naming the holder's pid) and refuses a
    /// directory with Raft state in it.
    public static func open(path: String) throws -> EtcdDataDirectory {
        let directory = try DataDirectory.openDirectory(path: path, bootstrap: true)
        let lock = try DataDirectory.takeLock(in: directory, path: path, bootstrap: true)
        var found: [String] = []
        for name in [StateFile.name, LogFormat.name, SnapshotFile.name, IdentityFile.name] {
            do {
                if try DiskIO.exists(name, in: directory) { found.append(name) }
            } catch {
                throw StorageError.ioFailed(file: path, operation: "listing", errno: error.rawValue)
            }
        }
        guard found.isEmpty else { throw RaftStateFound(path: path, files: found) }
        return EtcdDataDirectory(path: path, lock: lock)
    }
}
