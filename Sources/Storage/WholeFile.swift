import Posix

/// WholeFile is how the small files of the data dir that are read and written whole
/// (state, snapshot, identity) reach the disk.
///
/// Writing: a temp file beside it → write → fsync → rename over the old
/// one → fsync the directory (style rule 17). It returns only when the new content is
/// durable. On any failure the old file is untouched or already replaced by a whole new
/// one, and the caller must treat the content as not durable and write it again later:
/// each attempt makes a whole new temp file, so nothing written before a failure is
/// trusted. A leftover temp file is harmless (opening the data dir removes it).
enum WholeFile {
    /// read returns the whole of `name` in `directory` (`path` names it in errors):
    /// refused as damaged when it is not a regular file or is longer than `maxBytes`,
    /// checked before anything is allocated; `tooLong` says why in the file's own terms.
    static func read(_ name: String, in directory: borrowing FileDescriptor, path: String, maxBytes: UInt64,
                     tooLong: (UInt64) -> String) throws(StorageError) -> [UInt8] {
        do {
            let file = try DiskIO.openFile(name, in: directory)
            if !(try DiskIO.isRegularFile(file)) { throw StorageError.damaged(file: path, offset: nil, problem: "it is not a regular file") }
            let length = try DiskIO.size(file)
            if length > maxBytes { throw StorageError.damaged(file: path, offset: nil, problem: tooLong(length)) }
            return try DiskIO.read(file, count: Int(length), at: 0)
        } catch let error as StorageError {
            throw error
        } catch let error as Errno where error == .isDirectory {
            throw .damaged(file: path, offset: nil, problem: "it is a directory, not a regular file")
        } catch let error as Errno {
            throw .ioFailed(file: path, operation: "reading", errno: error.rawValue)
        } catch {
            preconditionFailure("unexpected \(error)")
        }
    }

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
