import Posix

/// AtomicReplace is the one way a small whole file of the data dir (state, snapshot,
/// identity) is written: a temp file beside it → write → fsync → rename over the old
/// one → fsync the directory (style rule 17). It returns only when the new content is
/// durable. On any failure the old file is untouched or already replaced by a whole new
/// one, and the caller must treat the content as not durable and write it again later:
/// each attempt makes a whole new temp file, so nothing written before a failure is
/// trusted. A leftover temp file is harmless (opening the data dir removes it).
enum AtomicReplace {
    /// write replaces `dataDir/name` with `bytes`; `faults` injects the test suite's
    /// failures at the write and at each sync. Returns how long the file's fsync and
    /// the directory's fsync took, in nanoseconds.
    @discardableResult
    static func write(_ bytes: [UInt8], to name: String, temporaryName: String,
                      in directory: borrowing FileDescriptor, dataDir: String,
                      faults: inout FaultPlan) throws(StorageError) -> (file: UInt64, directory: UInt64) {
        let temporaryPath = dataDir + "/" + temporaryName
        var step = "creating"
        var stepPath = temporaryPath
        do {
            let file = try DiskIO.openFile(temporaryName, in: directory, create: true, truncate: true)
            step = "writing"
            try faults.check(.write)
            try DiskIO.writeAll(file, bytes, at: 0)
            step = "fsync"
            try faults.check(.sync)
            let t0 = Clock.boottime()
            try DiskIO.fsync(file)
            let t1 = Clock.boottime()
            step = "rename to \(name)"
            try DiskIO.rename(temporaryName, to: name, in: directory)
            step = "fsync of the directory after renaming"
            stepPath = dataDir + "/" + name
            try faults.check(.sync)
            let t2 = Clock.boottime()
            try DiskIO.fsync(directory)
            return (t1 - t0, Clock.boottime() - t2)
        } catch {
            // Best effort: only a temp file not yet renamed is ours to remove.
            if stepPath == temporaryPath { try? DiskIO.unlink(temporaryName, in: directory) }
            throw StorageError.from(error, file: stepPath, operation: step)
        }
    }
}
