import Posix

/// StorageError is everything that can go wrong with the data dir. Each case's
/// `description` is a complete message for the operator: which file, what is wrong, and
/// what to do. The agent prints it and exits with status 2 when `open` throws; when
/// `persist`/`sync` throws, the state on disk is simply not yet what the core asked for,
/// and the agent stops voting and acknowledging until a retry succeeds (`isRetryable`).
///
/// Nothing here is ever "fixed" by resetting the state: a member that forgets its term
/// and vote can vote twice in one term and help elect two leaders (design S5).
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process holds the exclusive lock on `lockFile`; `holder` is the pid it
    /// wrote there (nil if it could not be read).
    case locked(lockFile: String, holder: Int32?)
    /// The data dir is missing or holds no state, and `--bootstrap` was not given.
    /// `detail` says which ("does not exist", "is empty").
    case notInitialized(dataDir: String, detail: String)
    /// `path` exists but is not a directory.
    case notADirectory(path: String)
    /// A file is damaged in a way that is not a torn final write: bad magic, bad checksum
    /// before the tail, impossible length, a gap in the log, a missing state file beside a
    /// non-empty log. `offset` is the byte where the problem starts, when it has one.
    case damaged(file: String, offset: UInt64?, problem: String)
    /// The file was written by a newer format version than this build reads.
    case unsupportedVersion(file: String, found: UInt16, supported: UInt16)
    /// The filesystem is full (ENOSPC/EDQUOT) while writing `file`. Retryable.
    case diskFull(file: String, operation: String)
    /// fsync/fdatasync of `file` failed (usually EIO): the last writes may be lost.
    /// Retryable: the retry rewrites what was not confirmed (see DataDirectory.sync).
    case syncFailed(file: String, operation: String, errno: Int32)
    /// Any other system call failure on `file` (EACCES, EROFS, EIO on write, ...).
    case ioFailed(file: String, operation: String, errno: Int32)
    /// A log entry's payload exceeds the record size cap; a bug in the caller.
    case entryTooLarge(index: UInt64, bytes: Int, limit: Int)
    /// Appending would grow the log file past what `open` loads (`Limits.maxLogFileBytes`);
    /// the core's log limits keep it below, so this is a bug in the caller.
    case logFull(file: String, bytes: UInt64, limit: UInt64)

    /// isRetryable is true for failures that say "not durable yet" rather than "this data
    /// dir cannot be used": the agent reports itself unhealthy and retries later.
    public var isRetryable: Bool {
        switch self {
        case .diskFull, .syncFailed, .ioFailed: true
        case .locked, .notInitialized, .notADirectory, .damaged, .unsupportedVersion, .entryTooLarge, .logFull: false
        }
    }

    /// file is the path the error is about.
    public var file: String {
        switch self {
        case .locked(let f, _), .notInitialized(let f, _), .notADirectory(let f),
             .damaged(let f, _, _), .unsupportedVersion(let f, _, _), .diskFull(let f, _),
             .syncFailed(let f, _, _), .ioFailed(let f, _, _), .logFull(let f, _, _):
            f
        case .entryTooLarge: ""
        }
    }

    static let neverReset = """
        Baton never resets this state by itself: a member that forgets its term and vote \
        can vote twice in one term and help elect two leaders.
        """
    static let remedy = """
        To recover, restore the whole data dir from this member's own backup (never from \
        another member's), or remove this member from the cluster and add it back as a new \
        member with an empty data dir: move the data dir aside, start the agent on an empty \
        one without --bootstrap, and run 'baton members remove NAME && baton members add \
        NAME HOST:PORT' on another member.
        """

    public var description: String {
        switch self {
        case .locked(let lockFile, let holder):
            let who = holder.map { "process \($0)" } ?? "another process (its pid is not readable yet)"
            return """
                \(lockFile) is locked by \(who): another baton agent is using this data dir. \
                Stop that agent first, or give this one its own --data-dir. Two agents on one \
                data dir could vote twice in one term.
                """
        case .notInitialized(let dataDir, let detail):
            return """
                data dir \(dataDir) \(detail): it holds no Raft state (no term, no vote, no log). \
                A member whose state was lost must not simply rejoin: it has forgotten the term \
                it voted in and whom it voted for, so it could vote a second time in that term \
                and help elect two leaders. If this member ran before, restore \(dataDir) from \
                this member's own backup, or remove this member from the cluster and add it back \
                as a new member ('baton members remove NAME && baton members add NAME HOST:PORT' \
                on another member; this agent then starts on an empty data dir without \
                --bootstrap). Start with --bootstrap only when the whole cluster is new (the \
                first start of every member).
                """
        case .notADirectory(let path):
            return "--data-dir \(path) exists but is not a directory: give the path of a directory."
        case .damaged(let file, let offset, let problem):
            let at = offset.map { " at byte \($0)" } ?? ""
            return "\(file) is damaged\(at): \(problem). \(Self.neverReset) \(Self.remedy)"
        case .unsupportedVersion(let file, let found, let supported):
            return """
                \(file) has format version \(found) but this baton reads version \(supported): it \
                was written by a newer baton. Run that version (or newer) on this data dir.
                """
        case .diskFull(let file, let operation):
            return """
                no space left on the filesystem of \(file) (\(operation)): the state is not \
                durable, so this member stops voting and acknowledging until a retry succeeds. \
                Free space on that filesystem.
                """
        case .syncFailed(let file, let operation, let errno):
            return """
                \(operation) of \(file) failed: \(Errno(rawValue: errno)). The disk may have \
                dropped the last writes, so they are not counted as durable and will be written \
                again on retry; until then this member stops voting and acknowledging. Check \
                the disk (dmesg, SMART).
                """
        case .ioFailed(let file, let operation, let errno):
            return """
                \(operation) of \(file) failed: \(Errno(rawValue: errno)). Check the permissions, \
                the mount (read-only?) and the disk (dmesg).
                """
        case .entryTooLarge(let index, let bytes, let limit):
            return "log entry \(index) has \(bytes) payload bytes, over the limit of \(limit) per record"
        case .logFull(let file, let bytes, let limit):
            return "\(file) would grow to \(bytes) bytes, over the \(limit)-byte limit a start-up loads; nothing was written"
        }
    }
}

extension StorageError {
    /// from maps a failed write-path system call to the error kind the agent acts on.
    static func from(_ errno: Errno, file: String, operation: String) -> StorageError {
        if errno.isDiskFull { return .diskFull(file: file, operation: operation) }
        if operation.hasPrefix("fsync") || operation.hasPrefix("fdatasync") {
            return .syncFailed(file: file, operation: operation, errno: errno.rawValue)
        }
        return .ioFailed(file: file, operation: operation, errno: errno.rawValue)
    }
}
