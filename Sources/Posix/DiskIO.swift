// DiskIO: the file and directory calls of the data dir (Storage), on this module's
// Errno and FileDescriptor. EINTR is retried; EBADF/EFAULT trap, since they can only
// come from a bug in the caller.
import Glibc

/// DiskIO groups the system calls Storage needs; every path below the data dir is opened
/// relative to the directory's descriptor (openat), so a rename of the dir cannot split
/// one data dir's files across two places.
public enum DiskIO {
    static let fileMode: mode_t = 0o600
    static let directoryMode: mode_t = 0o700

    // MARK: Directories

    /// openDirectory opens `path` as a directory (O_DIRECTORY: a plain file is ENOTDIR).
    public static func openDirectory(_ path: String) throws(Errno) -> FileDescriptor {
        let fd = try retrying("open") { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        return FileDescriptor(adopting: fd)
    }

    /// makeDirectory creates one directory (not its parents: a missing parent is more
    /// likely a typo in --data-dir than a wish).
    public static func makeDirectory(_ path: String) throws(Errno) {
        _ = try retrying("mkdir") { Glibc.mkdir(path, directoryMode) }
    }

    /// removeDirectory removes an empty directory.
    public static func removeDirectory(_ path: String) throws(Errno) {
        _ = try retrying("rmdir") { Glibc.rmdir(path) }
    }

    /// exists says whether `name` exists in `directory` (without following a symlink).
    public static func exists(_ name: String, in directory: borrowing FileDescriptor) throws(Errno) -> Bool {
        var st = stat()
        do {
            _ = try retrying("fstatat") { fstatat(directory.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) }
            return true
        } catch where error == .noSuchFile {
            return false
        }
    }

    /// renameAt replaces `to` by `from` atomically, within one directory.
    public static func rename(_ from: String, to: String, in directory: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying("renameat") { renameat(directory.rawValue, from, directory.rawValue, to) }
    }

    /// unlink removes `name` from `directory`; a missing file is not an error.
    public static func unlink(_ name: String, in directory: borrowing FileDescriptor) throws(Errno) {
        do { _ = try retrying("unlinkat") { unlinkat(directory.rawValue, name, 0) } } catch where error == .noSuchFile {}
    }

    // MARK: Files

    /// openFile opens `name` in `directory` read-write; with `create`, makes it (0600) if missing;
    /// with `truncate`, empties it. Never follows a symlink at the last component.
    public static func openFile(_ name: String, in directory: borrowing FileDescriptor,
                         create: Bool = false, truncate: Bool = false) throws(Errno) -> FileDescriptor {
        var flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW
        if create { flags |= O_CREAT }
        if truncate { flags |= O_TRUNC }
        let fd = try retrying("openat") { openat(directory.rawValue, name, flags, fileMode) }
        return FileDescriptor(adopting: fd)
    }

    /// size is the file's length in bytes (fstat).
    public static func size(_ file: borrowing FileDescriptor) throws(Errno) -> UInt64 {
        var st = stat()
        _ = try retrying("fstat") { fstat(file.rawValue, &st) }
        return UInt64(st.st_size)
    }

    /// isWritableDirectory: this process may create files in `path` (access(2), W_OK|X_OK).
    public static func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK | X_OK) == 0
    }

    /// isRegularFile says whether the descriptor names a plain file.
    public static func isRegularFile(_ file: borrowing FileDescriptor) throws(Errno) -> Bool {
        var st = stat()
        _ = try retrying("fstat") { fstat(file.rawValue, &st) }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    /// read reads `count` bytes at `offset`; fewer only at end of file.
    public static func read(_ file: borrowing FileDescriptor, count: Int, at offset: UInt64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let fd = file.rawValue
        var failure: Errno? = nil
        bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let n: Int
                do throws(Errno) {
                    n = try retrying("pread") { pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                } catch { failure = error; return }
                if n == 0 { break }
                done += n
            }
        }
        if let failure { throw failure }
        if done < count { bytes.removeSubrange(done...) }
        return bytes
    }

    /// writeAll writes every byte at `offset` (pwrite, looping over short writes). A short
    /// write followed by ENOSPC leaves a partial write behind: the caller must cut it.
    public static func writeAll(_ file: borrowing FileDescriptor, _ bytes: [UInt8], at offset: UInt64) throws(Errno) {
        let fd = file.rawValue
        var failure: Errno? = nil
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                do throws(Errno) {
                    let n = try retrying("pwrite") {
                        pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                    }
                    // pwrite returns 0 only for a zero-length request; treat it as "no room".
                    if n == 0 { failure = .noSpace; return }
                    done += n
                } catch { failure = error; return }
            }
        }
        if let failure { throw failure }
    }

    /// truncate sets the file's length (used to cut the log at a record boundary).
    public static func truncate(_ file: borrowing FileDescriptor, to length: UInt64) throws(Errno) {
        _ = try retrying("ftruncate") { ftruncate(file.rawValue, off_t(length)) }
    }

    /// fsync flushes data and all metadata (used for new files and directories).
    public static func fsync(_ file: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying("fsync") { Glibc.fsync(file.rawValue) }
    }

    /// fdatasync flushes data and the metadata needed to read it back (the length), which
    /// is all a log append needs; it skips the timestamp update that fsync would write.
    public static func fdatasync(_ file: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying("fdatasync") { Glibc.fdatasync(file.rawValue) }
    }

    // MARK: Locks and processes

    /// tryLockExclusive takes a non-blocking exclusive flock; false when another open file
    /// description holds it. The lock goes away when the descriptor is closed (process
    /// death included), so a crash never leaves a stale lock behind.
    public static func tryLockExclusive(_ file: borrowing FileDescriptor) throws(Errno) -> Bool {
        do {
            _ = try retrying("flock") { flock(file.rawValue, LOCK_EX | LOCK_NB) }
            return true
        } catch where error == .wouldBlock {
            return false
        }
    }

    public static var processID: Int32 { getpid() }
}
