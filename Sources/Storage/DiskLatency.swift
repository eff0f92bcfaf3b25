import RaftCore
import Posix

/// LatencySummary is a distribution of durations, for benchmark output.
public struct LatencySummary: Sendable, Equatable, CustomStringConvertible {
    public var samples: Int
    public var p50Nanoseconds: UInt64
    public var p99Nanoseconds: UInt64
    public var maxNanoseconds: UInt64

    /// init summarizes `nanoseconds` by nearest rank.
    public init(_ nanoseconds: [UInt64]) {
        let sorted = nanoseconds.sorted()
        func rank(_ p: Double) -> UInt64 {
            guard !sorted.isEmpty else { return 0 }
            let i = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.min(Swift.max(i, 0), sorted.count - 1)]
        }
        samples = sorted.count
        p50Nanoseconds = rank(0.50)
        p99Nanoseconds = rank(0.99)
        maxNanoseconds = sorted.last ?? 0
    }

    public var description: String {
        func ms(_ ns: UInt64) -> String {
            let hundredths = (ns + 5_000) / 10_000
            let frac = hundredths % 100
            return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac) ms"
        }
        return "p50 \(ms(p50Nanoseconds)), p99 \(ms(p99Nanoseconds)), max \(ms(maxNanoseconds)) (n=\(samples))"
    }
}

/// DiskLatencyReport is what `DiskLatency.measure` found.
public struct DiskLatencyReport: Sendable, CustomStringConvertible {
    public var directory: String
    /// stateWrite is one hard-state write: temp file, write, fsync, rename, directory fsync.
    public var stateWrite: LatencySummary
    /// stateFileSync and directorySync are the two fsyncs inside a state write.
    public var stateFileSync: LatencySummary
    public var directorySync: LatencySummary
    /// logAppend is one no-op record appended and fdatasync'd.
    public var logAppend: LatencySummary
    /// inPlaceOverwrite is a 40-byte pwrite over an existing block + fdatasync: what a
    /// two-slot, overwrite-in-place state file would cost (for comparison only).
    public var inPlaceOverwrite: LatencySummary

    public var description: String {
        """
        disk latency in \(directory):
          state write (temp, fsync, rename, dir fsync) \(stateWrite)
            of which fsync of the file                 \(stateFileSync)
            of which fsync of the directory            \(directorySync)
          log append (write, fdatasync)                \(logAppend)
          for comparison, 40 bytes in place + fdatasync \(inPlaceOverwrite)
        """
    }
}

/// DiskLatency measures what a Raft round trip costs on this disk, so benchmarks can
/// print it beside failover times (design §2: the failover floor includes fsyncs).
public enum DiskLatency {
    /// measure creates a scratch data dir inside `parent` (which must exist, and should be
    /// on the same filesystem as the real --data-dir), times `samples` state writes and
    /// `samples` single-entry log appends through the same code the agent uses, and
    /// removes the scratch dir.
    public static func measure(in parent: String, samples: Int = 200) throws(StorageError) -> DiskLatencyReport {
        precondition(samples > 0 && samples <= 100_000, "DiskLatency.measure: samples out of range")
        let path = parent + "/baton-disk-probe-\(DiskIO.processID)"
        defer { removeScratch(path) }
        var directory = try DataDirectory.open(path: path, bootstrap: true)
        var state: [UInt64] = [], fileSync: [UInt64] = [], directorySync: [UInt64] = []
        var log: [UInt64] = []
        state.reserveCapacity(samples)
        log.reserveCapacity(samples)
        for i in 1...samples {
            try directory.persist(hardState: HardState(term: Term(i), votedFor: NodeID(1)), truncateFrom: nil, entries: [])
            state.append(directory.lastSync.stateNanoseconds)
            fileSync.append(directory.lastSync.stateFileSyncNanoseconds)
            directorySync.append(directory.lastSync.directorySyncNanoseconds)
        }
        for i in 1...samples {
            let entry = Entry(index: LogIndex(i), term: Term(samples), payload: .noop)
            try directory.persist(hardState: nil, truncateFrom: nil, entries: [entry])
            log.append(directory.lastSync.logNanoseconds)
        }
        let inPlace = try measureInPlace(path: path, samples: samples)
        return DiskLatencyReport(directory: parent, stateWrite: LatencySummary(state),
                                 stateFileSync: LatencySummary(fileSync), directorySync: LatencySummary(directorySync),
                                 logAppend: LatencySummary(log), inPlaceOverwrite: LatencySummary(inPlace))
    }

    private static func measureInPlace(path: String, samples: Int) throws(StorageError) -> [UInt64] {
        let name = "overwrite-probe"
        do {
            let dir = try DiskIO.openDirectory(path)
            let file = try DiskIO.openFile(name, in: dir, create: true, truncate: true)
            try DiskIO.writeAll(file, [UInt8](repeating: 0, count: 4096), at: 0)
            try DiskIO.fsync(file)
            var times: [UInt64] = []
            times.reserveCapacity(samples)
            for i in 0..<samples {
                let bytes = StateFile.encode(HardState(term: Term(i)))
                let t0 = Clock.boottime()
                try DiskIO.writeAll(file, bytes, at: 0)
                try DiskIO.fdatasync(file)
                times.append(Clock.boottime() - t0)
            }
            try DiskIO.unlink(name, in: dir)
            return times
        } catch {
            throw StorageError.from(error, file: path + "/" + name, operation: "fdatasync probe")
        }
    }

    private static func removeScratch(_ path: String) {
        do {
            let dir = try DiskIO.openDirectory(path)
            for name in [StateFile.name, LogFormat.name, "lock", StateFile.temporaryName, LogFormat.temporaryName, SyncMarker.name, "overwrite-probe"] {
                try DiskIO.unlink(name, in: dir)
            }
            try DiskIO.removeDirectory(path)
        } catch {
            // Best effort: a leftover probe dir is harmless.
        }
    }
}
