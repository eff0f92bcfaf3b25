public import RaftCore
import Posix

/// DataDirectory is one member's durable Raft state in `--data-dir`: the hard state in
/// `DIR/state`, the latest snapshot in `DIR/snapshot`, the log after it in `DIR/log`, behind an exclusive flock on `DIR/lock` held for as
/// long as the value lives (it is ~Copyable: exactly one owner, the lock goes with it).
///
/// Two views of the state are kept apart: `state` is what the core asked for (every
/// persist is applied to it first), and the durable view is what is known to be on disk.
/// `sync` makes the disk match `state`; when it fails, the durable view does not move,
/// so nothing is ever claimed durable that an fsync did not confirm (design S5).
public struct DataDirectory: ~Copyable, Sendable {
    /// path is the data dir as given.
    public let path: String
    /// state is the hard state and log as the core last asked for them; equal to what is
    /// on disk when `isDurable`.
    public private(set) var state: PersistentState
    /// report says what `open` found and did, for the agent to print.
    public let report: OpenReport
    /// identity is who this data dir belongs to (`DIR/identity`); nil for a data dir made
    /// before identities existed, until the agent writes one (`setIdentity`).
    public private(set) var identity: MemberIdentity?
    /// lastSync is the cost of the latest successful `sync`.
    public private(set) var lastSync = SyncTiming()

    /// maxEntryPayloadBytes caps one log entry's payload (records are rejected above it).
    public static var maxEntryPayloadBytes: Int { LogFormat.maxPayloadBytes }

    private let lock: FileDescriptor
    private let directory: FileDescriptor
    private var log: FileDescriptor

    /// durableHardState is what `DIR/state` is known to hold; nil when a failed write left
    /// it unknown (old or new), which makes the next sync write it again.
    private var durableHardState: HardState?
    /// durableEntries counts the entries of `state.log` that are on disk at their place.
    private var durableEntries: Int
    /// recordOffsets[i] is where the record of `state.log[i]` starts, for i < durableEntries.
    private var recordOffsets: [UInt64]
    /// logEnd is where the last durable record ends: the next append goes there.
    private var logEnd: UInt64
    /// logCutNeeded says the file may hold bytes past `logEnd` that must not be trusted: a
    /// suffix dropped by a Raft truncation, or a write whose fdatasync did not succeed.
    private var logCutNeeded: Bool
    /// marker is `DIR/synced`: how many records a successful fdatasync covered (SyncMarker).
    private var marker: SyncMarker
    /// durableSnapshot is what `DIR/snapshot` is known to hold (nil: no such file).
    private var durableSnapshot: Snapshot?
    /// logRewriteNeeded: the snapshot moved past the log file's base, so the next sync
    /// writes a new log file holding only the entries after it (`durableEntries` and
    /// `recordOffsets` then describe nothing until it is written).
    private var logRewriteNeeded: Bool
    /// faults lets tests make writes and syncs fail (fsync errors cannot be provoked on a
    /// healthy disk).
    var faults = FaultPlan()

    private var statePath: String { path + "/" + StateFile.name }
    private var logPath: String { path + "/" + LogFormat.name }

    /// isDurable is true when everything in `state` is on disk.
    public var isDurable: Bool {
        durableHardState == state.hardState && durableEntries == state.log.count && !logCutNeeded
            && durableSnapshot == state.snapshot && !logRewriteNeeded
    }

    /// snapshotIndex is the index the log continues from.
    private var snapshotIndex: LogIndex { state.snapshot?.index ?? 0 }

    private init(path: String, lock: consuming FileDescriptor, directory: consuming FileDescriptor,
                 log: consuming FileDescriptor, marker: consuming SyncMarker, hardState: HardState, snapshot: Snapshot?,
                 identity: MemberIdentity?, scan: LogFormat.Scan, report: OpenReport) {
        self.marker = marker
        self.identity = identity
        self.path = path
        self.lock = lock
        self.directory = directory
        self.log = log
        self.report = report
        self.durableHardState = hardState
        self.durableSnapshot = snapshot
        self.logCutNeeded = false
        // A crash between writing a snapshot and rewriting the log leaves records the
        // snapshot covers: they are dropped here, and what follows only if it continues
        // the snapshot (as the core keeps a log suffix: Raft thesis §5.1).
        var entries = scan.entries
        var rewrite = false
        if let snapshot, snapshot.index > scan.baseIndex {
            let holdsLast = entries.first { $0.index == snapshot.index }?.term == snapshot.term
            entries = holdsLast ? entries.filter { $0.index > snapshot.index } : []
            rewrite = true
        }
        self.state = PersistentState(hardState: hardState, snapshot: snapshot, log: entries)
        self.logRewriteNeeded = rewrite
        self.durableEntries = rewrite ? 0 : scan.entries.count
        self.recordOffsets = rewrite ? [] : scan.recordOffsets
        self.logEnd = scan.end
    }

    // MARK: Opening

    /// open locks the data dir at `path` and loads its state.
    ///
    /// Nothing is created unless `bootstrap` is set: a missing or empty data dir is an
    /// error (`.notInitialized`) because a member whose state was lost could vote twice in
    /// one term if it simply rejoined. With `bootstrap`, a missing directory (not its
    /// parents) and the files are created; on a data dir that already has state,
    /// `bootstrap` is ignored and `report.bootstrapIgnored` says so.
    ///
    /// The exclusive lock on `DIR/lock` is taken before anything else is read; a second
    /// opener gets `.locked` naming the pid written there by the holder. A torn write at
    /// the end of the log is cut back to the last whole record (`report.tornTail`); any
    /// other damage throws `.damaged` naming the file.
    public static func open(path: String, bootstrap: Bool) throws(StorageError) -> DataDirectory {
        try open(path: path, create: bootstrap, identity: nil)
    }

    /// open(path:creating:) is `open` for the agent: an empty or missing data dir is made
    /// for `identity` (written first, so a data dir with state and no identity is always
    /// one made before identities existed); nil never creates anything.
    public static func open(path: String, creating identity: MemberIdentity?) throws(StorageError) -> DataDirectory {
        try open(path: path, create: identity != nil, identity: identity)
    }

    private static func open(path: String, create bootstrap: Bool, identity newIdentity: MemberIdentity?) throws(StorageError) -> DataDirectory {
        var notices: [String] = []

        // 1. The directory itself; 2. the lock, before reading anything.
        let directory = try openDirectory(path: path, bootstrap: bootstrap)
        let lock = try takeLock(in: directory, path: path, bootstrap: bootstrap)

        // 3. Under the lock: leftovers of an interrupted write are garbage, never state.
        for name in [StateFile.temporaryName, LogFormat.temporaryName, SnapshotFile.temporaryName, IdentityFile.temporaryName] {
            do {
                if try DiskIO.exists(name, in: directory) {
                    try DiskIO.unlink(name, in: directory)
                    notices.append("removed \(path)/\(name), left by an interrupted write")
                }
            } catch {
                throw .ioFailed(file: path + "/" + name, operation: "removing", errno: error.rawValue)
            }
        }

        let statePath = path + "/" + StateFile.name
        let logPath = path + "/" + LogFormat.name
        let hasState: Bool, hasLog: Bool
        do {
            hasState = try DiskIO.exists(StateFile.name, in: directory)
            hasLog = try DiskIO.exists(LogFormat.name, in: directory)
        } catch {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        }

        // 4. No state: a new member (with --bootstrap) or a lost one (without).
        if !hasState {
            if hasLog {
                // A bootstrap interrupted between the log and the state leaves an empty log;
                // a log with entries but no state means the state file was lost.
                let file = try openLogFile(in: directory, path: logPath)
                let scan = try scanLog(file, path: logPath)
                if !scan.entries.isEmpty {
                    throw .damaged(file: statePath, offset: nil, problem: """
                        the file is missing while \(logPath) holds \(scan.entries.count) entries, \
                        so this member's term and vote are lost
                        """)
                }
            }
            guard bootstrap else {
                throw .notInitialized(dataDir: path, detail: hasLog ? "has no state file" : "is empty")
            }
            var faults = FaultPlan()
            if let newIdentity { try IdentityFile.write(newIdentity, in: directory, dataDir: path) }
            try createLog(in: directory, dataDir: path)
            try StateFile.write(HardState(), in: directory, dataDir: path, faults: &faults)
            let log = try openLogFile(in: directory, path: logPath)
            let scan = try scanLog(log, path: logPath)
            var marker = try SyncMarker.open(in: directory, dataDir: path)
            try marker.set(0)
            notices.append("bootstrapped a new data dir in \(path)")
            return DataDirectory(path: path, lock: lock, directory: directory, log: log, marker: marker, hardState: HardState(),
                                 snapshot: nil, identity: newIdentity, scan: scan,
                                 report: OpenReport(created: true, bootstrapIgnored: false, tornTail: nil, notices: notices))
        }

        // 5. Existing state: verify everything.
        if bootstrap {
            notices.append("--bootstrap ignored: \(path) already holds this member's state")
        }
        guard hasLog else {
            throw .damaged(file: logPath, offset: nil, problem: "the file is missing while \(statePath) exists")
        }
        let hardState = try StateFile.read(in: directory, path: statePath)
        let snapshotPath = path + "/" + SnapshotFile.name
        let hasSnapshot: Bool
        do { hasSnapshot = try DiskIO.exists(SnapshotFile.name, in: directory) } catch {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        }
        let snapshot = hasSnapshot ? try SnapshotFile.read(in: directory, path: snapshotPath) : nil
        let log = try openLogFile(in: directory, path: logPath)
        var scan = try scanLog(log, path: logPath)
        var marker = try SyncMarker.open(in: directory, dataDir: path)
        // Records a successful fdatasync covered were acknowledged: if one of them does not
        // verify, or is missing, the disk lost data it had confirmed. Only what was written
        // after the last fdatasync may be cut as a torn tail.
        if UInt64(scan.entries.count) < marker.records {
            let first = scan.entries.count + 1
            let what = scan.tornTail.map { "does not verify (\($0.reason))" } ?? "is missing (the file ends before it)"
            throw .damaged(file: logPath, offset: scan.tornTail?.offset ?? scan.end, problem: """
                record \(first) \(what), but \(marker.path) says \(marker.records) records were fsynced \
                and acknowledged: synced data is damaged, not a torn append. Do not start this member on \
                it; move the data dir aside and let the member rejoin empty only if the group has a \
                quorum without it
                """)
        }
        if scan.baseIndex > (snapshot?.index ?? 0) {
            throw .damaged(file: snapshot == nil ? snapshotPath : logPath, offset: nil, problem: snapshot == nil ? """
                the file is missing while \(logPath) starts after index \(scan.baseIndex): \
                the compacted part of the log is lost
                """ : """
                the log starts after index \(scan.baseIndex) but \(snapshotPath) covers only up to \
                \(snapshot!.index): entries in between are lost
                """)
        }
        var tornTail: TornTail? = nil
        if let torn = scan.tornTail {
            do {
                try DiskIO.truncate(log, to: torn.offset)
                try DiskIO.fdatasync(log)
            } catch {
                throw StorageError.from(error, file: logPath, operation: "cutting the torn tail (ftruncate, fdatasync)")
            }
            let kept = scan.entries.last?.index ?? 0
            tornTail = TornTail(offset: torn.offset, bytesRemoved: torn.bytesRemoved, lastIndex: kept, reason: torn.reason)
            notices.append("""
                \(logPath): cut \(torn.bytesRemoved) bytes at byte \(torn.offset) after entry \(kept), \
                an append interrupted by a crash (\(torn.reason)); it was never acknowledged
                """)
            scan.tornTail = nil
        }
        // Upgrade (no marker yet) or records written after the last marker: everything
        // that verifies now is made durable and counted from here on.
        if !marker.wasPresent || marker.records < UInt64(scan.entries.count) {
            do { try DiskIO.fdatasync(log) } catch {
                throw StorageError.from(error, file: logPath, operation: "fdatasync before writing the sync marker")
            }
            try marker.set(UInt64(scan.entries.count))
            if !marker.wasPresent { notices.append("wrote \(marker.path): \(scan.entries.count) log records are synced") }
        }
        let lastIndex = max(scan.entries.last?.index ?? scan.baseIndex, snapshot?.index ?? 0)
        if hardState.commitIndex > lastIndex {
            throw .damaged(file: logPath, offset: nil, problem: """
                the log ends at entry \(lastIndex) but \(statePath) says entries up to \
                \(hardState.commitIndex) are committed: entries known to be durable are missing
                """)
        }
        let identity: MemberIdentity?
        do {
            identity = try DiskIO.exists(IdentityFile.name, in: directory)
                ? try IdentityFile.read(in: directory, path: path + "/" + IdentityFile.name) : nil
        } catch let error as StorageError {
            throw error
        } catch let error as Errno {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        } catch {
            preconditionFailure("unexpected \(error)")
        }
        return DataDirectory(path: path, lock: lock, directory: directory, log: log, marker: marker, hardState: hardState,
                             snapshot: snapshot, identity: identity, scan: scan,
                             report: OpenReport(created: false, bootstrapIgnored: bootstrap, tornTail: tornTail, notices: notices))
    }

    /// openDirectory opens the data dir, creating it (not its parents) only for bootstrap.
    static func openDirectory(path: String, bootstrap: Bool) throws(StorageError) -> FileDescriptor {
        do {
            return try DiskIO.openDirectory(path)
        } catch where error == .noSuchFile {
            guard bootstrap else { throw .notInitialized(dataDir: path, detail: "does not exist") }
        } catch where error == .notDirectory {
            throw .notADirectory(path: path)
        } catch {
            throw .ioFailed(file: path, operation: "opening the data dir", errno: error.rawValue)
        }
        do {
            try DiskIO.makeDirectory(path)
        } catch {
            throw .ioFailed(file: path, operation: "creating the data dir", errno: error.rawValue)
        }
        // The new directory's name must be durable too, or a crash could take the whole
        // data dir away after this member voted (and a restart with --bootstrap would then
        // start from nothing).
        let parent = parentPath(of: path)
        do {
            let parentDirectory = try DiskIO.openDirectory(parent)
            try DiskIO.fsync(parentDirectory)
        } catch {
            throw .syncFailed(file: parent, operation: "fsync of the parent directory after creating \(path)", errno: error.rawValue)
        }
        do {
            return try DiskIO.openDirectory(path)
        } catch {
            throw .ioFailed(file: path, operation: "opening the data dir", errno: error.rawValue)
        }
    }

    /// parentPath is the directory holding `path` ("." for a bare name).
    static func parentPath(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    /// takeLock takes the exclusive flock on `DIR/lock` and writes our pid into it. The
    /// lock file is made only when there is state to protect or we were told to make some.
    static func takeLock(in directory: borrowing FileDescriptor, path: String,
                                 bootstrap: Bool) throws(StorageError) -> FileDescriptor {
        let lockPath = path + "/lock"
        func failed(_ error: Errno) -> StorageError {
            .ioFailed(file: lockPath, operation: "locking", errno: error.rawValue)
        }
        let lock = try openLockFile(in: directory, path: path, bootstrap: bootstrap)
        do {
            guard try DiskIO.tryLockExclusive(lock) else {
                throw StorageError.locked(lockFile: lockPath, holder: readHolder(lock))
            }
        } catch let error as StorageError {
            throw error
        } catch let error as Errno {
            throw failed(error)
        } catch {
            preconditionFailure("unexpected \(error)")
        }
        // The pid is for the message above only: no fsync, it is rewritten each start.
        do {
            try DiskIO.truncate(lock, to: 0)
            try DiskIO.writeAll(lock, Array("\(DiskIO.processID)\n".utf8), at: 0)
        } catch {
            throw failed(error)
        }
        return lock
    }

    private static func openLockFile(in directory: borrowing FileDescriptor, path: String,
                                     bootstrap: Bool) throws(StorageError) -> FileDescriptor {
        let lockPath = path + "/lock"
        do {
            return try DiskIO.openFile("lock", in: directory)
        } catch where error == .noSuchFile {
            // fall through
        } catch {
            throw .ioFailed(file: lockPath, operation: "opening", errno: error.rawValue)
        }
        let hasFiles: Bool
        do {
            let hasState = try DiskIO.exists(StateFile.name, in: directory)
            let hasLog = try DiskIO.exists(LogFormat.name, in: directory)
            hasFiles = hasState || hasLog
        } catch {
            throw .ioFailed(file: path, operation: "listing", errno: error.rawValue)
        }
        guard bootstrap || hasFiles else { throw .notInitialized(dataDir: path, detail: "is empty") }
        do {
            return try DiskIO.openFile("lock", in: directory, create: true)
        } catch {
            throw .ioFailed(file: lockPath, operation: "creating", errno: error.rawValue)
        }
    }

    /// readHolder reads the pid the lock holder wrote, if it has written it yet.
    static func readHolder(_ lock: borrowing FileDescriptor) -> Int32? {
        guard let bytes = try? DiskIO.read(lock, count: 16, at: 0) else { return nil }
        var pid: Int32 = 0
        var digits = 0
        for b in bytes {
            if b == UInt8(ascii: "\n") { break }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), digits < 9 else { return nil }
            pid = pid * 10 + Int32(b - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? pid : nil
    }

    static func openLogFile(in directory: borrowing FileDescriptor, path: String) throws(StorageError) -> FileDescriptor {
        do { return try DiskIO.openFile(LogFormat.name, in: directory) } catch {
            throw .ioFailed(file: path, operation: "opening", errno: error.rawValue)
        }
    }

    /// scanLog reads and verifies `DIR/log`.
    static func scanLog(_ file: borrowing FileDescriptor, path: String) throws(StorageError) -> LogFormat.Scan {
        let bytes: [UInt8]
        do {
            guard try DiskIO.isRegularFile(file) else {
                throw StorageError.damaged(file: path, offset: nil, problem: "it is not a regular file")
            }
            let size = try DiskIO.size(file)
            guard size <= LogFormat.maxFileBytes else {
                throw StorageError.damaged(file: path, offset: nil, problem: """
                    it is \(size) bytes, over the \(LogFormat.maxFileBytes)-byte limit this baton \
                    loads (log compaction is not implemented yet)
                    """)
            }
            bytes = try DiskIO.read(file, count: Int(size), at: 0)
        } catch let error as StorageError {
            throw error
        } catch let error as Errno {
            throw .ioFailed(file: path, operation: "reading", errno: error.rawValue)
        } catch {
            preconditionFailure("unexpected \(error)")
        }
        return try LogFormat.scan(bytes, file: path)
    }

    /// createLog makes an empty log atomically (temp → fsync → rename); the caller's state
    /// write that follows fsyncs the directory, making both names durable.
    private static func createLog(in directory: borrowing FileDescriptor, dataDir: String) throws(StorageError) {
        let temporaryPath = dataDir + "/" + LogFormat.temporaryName
        var step = "creating"
        do {
            let file = try DiskIO.openFile(LogFormat.temporaryName, in: directory, create: true, truncate: true)
            step = "writing"
            try DiskIO.writeAll(file, LogFormat.encodeFileHeader(baseIndex: 0), at: 0)
            step = "fsync"
            try DiskIO.fsync(file)
            step = "rename to \(LogFormat.name)"
            try DiskIO.rename(LogFormat.temporaryName, to: LogFormat.name, in: directory)
        } catch {
            try? DiskIO.unlink(LogFormat.temporaryName, in: directory)
            throw StorageError.from(error, file: temporaryPath, operation: step)
        }
    }

    // MARK: Identity

    /// setIdentity records who this data dir belongs to (made, migrated, the group's
    /// fingerprint learnt, the member removed); returns once it is durable.
    public mutating func setIdentity(_ id: MemberIdentity) throws(StorageError) {
        guard id != identity else { return }
        try IdentityFile.write(id, in: directory, dataDir: path)
        identity = id
    }

    // MARK: Persisting

    /// rewriteLog replaces `DIR/log` by a new file that starts after the snapshot and holds
    /// `state.log` (temp → write → fsync → rename → fsync the directory). Until the
    /// rename a crash leaves the old file, whose covered records `open` drops.
    private mutating func rewriteLog() throws(StorageError) {
        var bytes = LogFormat.encodeFileHeader(baseIndex: snapshotIndex)
        var offsets: [UInt64] = []
        for entry in state.log {
            offsets.append(UInt64(bytes.count))
            LogFormat.append(entry, to: &bytes)
        }
        guard UInt64(bytes.count) <= LogFormat.maxFileBytes else {
            throw StorageError.logFull(file: logPath, bytes: UInt64(bytes.count), limit: LogFormat.maxFileBytes)
        }
        let temporaryPath = path + "/" + LogFormat.temporaryName
        var step = "creating"
        do {
            let file = try DiskIO.openFile(LogFormat.temporaryName, in: directory, create: true, truncate: true)
            step = "writing"
            try faults.check(.write)
            try DiskIO.writeAll(file, bytes, at: 0)
            step = "fsync"
            try faults.check(.sync)
            try DiskIO.fsync(file)
        } catch {
            try? DiskIO.unlink(LogFormat.temporaryName, in: directory)
            throw StorageError.from(error, file: temporaryPath, operation: step)
        }
        // The marker counts records of whichever file is the log: never more than the new
        // one holds once it is renamed in, nor than the old one while it is not.
        if marker.records > UInt64(offsets.count) { try marker.set(UInt64(offsets.count)) }
        do {
            step = "rename to \(LogFormat.name)"
            try DiskIO.rename(LogFormat.temporaryName, to: LogFormat.name, in: directory)
            step = "fsync of the directory after renaming"
            try faults.check(.sync)
            try DiskIO.fsync(directory)
            step = "reopening"
            log = try DiskIO.openFile(LogFormat.name, in: directory)
        } catch {
            throw StorageError.from(error, file: logPath, operation: step)
        }
        try marker.set(UInt64(offsets.count))
        recordOffsets = offsets
        durableEntries = state.log.count
        logEnd = UInt64(bytes.count)
        logCutNeeded = false
        logRewriteNeeded = false
    }

    /// persist applies the durable part of one `Ready` — `truncateFrom`, then `entries`,
    /// then `hardState` — and returns only when all of it is on disk. On error nothing is
    /// lost: the change stays in `state` and the next `persist` or `sync` writes it.
    public mutating func persist(hardState: HardState?, snapshot: Snapshot? = nil, truncateFrom: LogIndex?,
                                 entries: [Entry]) throws(StorageError) {
        try stage(hardState: hardState, snapshot: snapshot, truncateFrom: truncateFrom, entries: entries)
        try sync()
    }

    /// persist(_:) persists a `Ready`'s snapshot, hard state, truncation and entries.
    public mutating func persist(_ ready: Ready) throws(StorageError) {
        try persist(hardState: ready.hardState, snapshot: ready.snapshot, truncateFrom: ready.truncateFrom,
                    entries: ready.entries)
    }

    /// stage applies a change to `state` only, without I/O. The entries must continue the
    /// log (after the truncation) with non-decreasing terms, as the Raft core guarantees;
    /// anything else is a bug in the caller and traps.
    mutating func stage(hardState: HardState?, snapshot: Snapshot? = nil, truncateFrom: LogIndex?,
                        entries: [Entry]) throws(StorageError) {
        for entry in entries where entry.dataBytes > LogFormat.maxPayloadBytes {
            throw .entryTooLarge(index: entry.index, bytes: entry.dataBytes, limit: LogFormat.maxPayloadBytes)
        }
        if let snapshot {
            precondition(snapshot.index >= snapshotIndex, "persist: snapshot at \(snapshot.index) behind the one at \(snapshotIndex)")
            // The snapshot replaces the entries it covers; the rest stays (the core cuts it
            // with `truncateFrom` when it does not continue the snapshot).
            state.log.removeAll { $0.index <= snapshot.index }
            state.snapshot = snapshot
            logRewriteNeeded = true
            durableEntries = 0
            recordOffsets = []
        }
        if let truncateFrom {
            precondition(truncateFrom > snapshotIndex, "persist: truncation at \(truncateFrom) inside the snapshot at \(snapshotIndex)")
            let keep = Int(min(truncateFrom - 1 - snapshotIndex, LogIndex(state.log.count)))
            state.log.removeSubrange(keep...)
            if keep < durableEntries {
                logEnd = recordOffsets[keep]
                recordOffsets.removeSubrange(keep...)
                durableEntries = keep
                logCutNeeded = true
            }
        }
        var lastIndex = snapshotIndex + LogIndex(state.log.count)
        var lastTerm = state.log.last?.term ?? state.snapshot?.term ?? 0
        for entry in entries {
            precondition(entry.index == lastIndex + 1,
                         "persist: entry \(entry.index) does not follow \(lastIndex) in the log")
            precondition(entry.term >= lastTerm,
                         "persist: entry \(entry.index) has term \(entry.term) below the previous \(lastTerm)")
            lastIndex = entry.index
            lastTerm = entry.term
        }
        state.log.append(contentsOf: entries)
        if let hardState {
            precondition(hardState.commitIndex <= lastIndex,
                         "persist: commit index \(hardState.commitIndex) beyond the log (ending at \(lastIndex))")
            state.hardState = hardState
        }
    }

    /// sync makes the disk match `state`: the log first (cut, append, fdatasync), then the
    /// state file (temp → fsync → rename → fsync dir), so the state on disk never names a
    /// commit index beyond the durable log. Returns at once when already durable.
    ///
    /// Failure policy (Linux fsync semantics): after a failed fsync/fdatasync the kernel may
    /// already have dropped the dirty pages and marked them clean, so a second fsync can
    /// succeed without the data ever reaching the disk. Therefore nothing written since the
    /// last successful sync is trusted: the log is cut back to the end of the last record a
    /// successful fdatasync covered and everything after it is written again, and the state
    /// file is written again as a whole new file. A retry never relies on an earlier write.
    public mutating func sync() throws(StorageError) {
        var timing = SyncTiming()
        let started = Clock.boottime()
        // A snapshot first: once it is durable, the entries it covers may go.
        if durableSnapshot != state.snapshot, let snapshot = state.snapshot {
            try SnapshotFile.write(snapshot, in: directory, dataDir: path, faults: &faults)
            durableSnapshot = snapshot
        }
        if logRewriteNeeded {
            try rewriteLog()
            timing.logRecords = state.log.count
        }
        if logCutNeeded {
            // A Raft truncation drops synced records: the marker goes down first, so a
            // crash in between never leaves it counting records the log no longer has.
            if marker.records > UInt64(durableEntries) { try marker.set(UInt64(durableEntries)) }
            var step = "ftruncate (cutting the log to byte \(logEnd))"
            do {
                try DiskIO.truncate(log, to: logEnd)
                step = "fdatasync after cutting the log to byte \(logEnd)"
                try faults.check(.sync)
                try DiskIO.fdatasync(log)
            } catch {
                throw StorageError.from(error, file: logPath, operation: step)
            }
            logCutNeeded = false
        }
        if durableEntries < state.log.count {
            var bytes: [UInt8] = []
            var offsets: [UInt64] = []
            for entry in state.log[durableEntries...] {
                offsets.append(logEnd + UInt64(bytes.count))
                LogFormat.append(entry, to: &bytes)
            }
            // Never write a log the next start-up would refuse to load.
            guard logEnd + UInt64(bytes.count) <= LogFormat.maxFileBytes else {
                throw StorageError.logFull(file: logPath, bytes: logEnd + UInt64(bytes.count), limit: LogFormat.maxFileBytes)
            }
            // Until fdatasync confirms them, the bytes past logEnd are not trusted.
            logCutNeeded = true
            var step = "appending"
            do {
                try faults.check(.write)
                try DiskIO.writeAll(log, bytes, at: logEnd)
                step = "fdatasync"
                try faults.check(.sync)
                try DiskIO.fdatasync(log)
            } catch {
                throw StorageError.from(error, file: logPath, operation: step)
            }
            recordOffsets.append(contentsOf: offsets)
            logEnd += UInt64(bytes.count)
            durableEntries = state.log.count
            logCutNeeded = false
            // Only now are these records acknowledged: say so durably first (SyncMarker).
            try marker.set(UInt64(durableEntries))
            timing.logBytes = bytes.count
            timing.logRecords = offsets.count
        }
        let logDone = Clock.boottime()
        timing.logNanoseconds = logDone - started
        if durableHardState != state.hardState {
            durableHardState = nil // unknown until the write completes
            let syncs = try StateFile.write(state.hardState, in: directory, dataDir: path, faults: &faults)
            durableHardState = state.hardState
            timing.stateFileSyncNanoseconds = syncs.file
            timing.directorySyncNanoseconds = syncs.directory
            timing.wroteState = true
            timing.stateNanoseconds = Clock.boottime() - logDone
        }
        lastSync = timing
    }
}

/// OpenReport says what `DataDirectory.open` found and did.
public struct OpenReport: Sendable, Equatable {
    /// created is true when `--bootstrap` made a new, empty state.
    public var created: Bool
    /// bootstrapIgnored is true when `--bootstrap` was given but state already existed:
    /// the agent should print a notice and carry on.
    public var bootstrapIgnored: Bool
    /// tornTail describes an interrupted append cut from the end of the log, if any.
    public var tornTail: TornTail?
    /// notices are one-line messages for the log (bootstrap, torn tail, leftovers removed).
    public var notices: [String]
}

/// TornTail is an interrupted append found at the end of the log and cut off at open.
public struct TornTail: Sendable, Equatable {
    /// offset is the byte where the file now ends (the end of the last whole record).
    public var offset: UInt64
    public var bytesRemoved: UInt64
    /// lastIndex is the index of the last entry kept.
    public var lastIndex: LogIndex
    public var reason: String
}

/// SyncTiming is what one `sync` wrote and how long the disk took.
public struct SyncTiming: Sendable, Equatable {
    /// logNanoseconds covers the log's cut, write and fdatasync (0 when nothing to do).
    public var logNanoseconds: UInt64 = 0
    public var logBytes = 0
    public var logRecords = 0
    /// stateNanoseconds covers the state file's write, fsync, rename and directory fsync.
    public var stateNanoseconds: UInt64 = 0
    /// stateFileSyncNanoseconds and directorySyncNanoseconds are the two fsyncs inside it.
    public var stateFileSyncNanoseconds: UInt64 = 0
    public var directorySyncNanoseconds: UInt64 = 0
    public var wroteState = false
    public init() {}
}

/// FaultPlan makes the next writes or syncs fail with a given errno (tests only).
struct FaultPlan: Sendable {
    enum Point: Sendable { case write, sync }
    var failingWrites: [Errno] = []
    var failingSyncs: [Errno] = []
    /// skipSyncs lets this many syncs pass before `failingSyncs` apply.
    var skipSyncs = 0

    mutating func check(_ point: Point) throws(Errno) {
        switch point {
        case .write: if !failingWrites.isEmpty { throw failingWrites.removeFirst() }
        case .sync:
            if skipSyncs > 0 { skipSyncs -= 1; return }
            if !failingSyncs.isEmpty { throw failingSyncs.removeFirst() }
        }
    }
}
