// DiskIO is the only file in Storage that calls libc (style rule 12). It is to be folded
// into the Posix module once that lands (its Errno and FileDescriptor have the same shape);
// until then Storage must not depend on Posix, so it keeps this small private copy.
// EINTR is retried here; EBADF/EFAULT/EINVAL on our own descriptors trap, since they can
// only come from a bug in this module.
import Glibc

/// Errno is a failed system call's error number, thrown by every wrapper below.
struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    let rawValue: Int32
    init(rawValue: Int32) { self.rawValue = rawValue }

    static var current: Errno { Errno(rawValue: Glibc.errno) }

    static let noSuchFile = Errno(rawValue: ENOENT)
    static let exists = Errno(rawValue: EEXIST)
    static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    static let noSpace = Errno(rawValue: ENOSPC)
    static let quotaExceeded = Errno(rawValue: EDQUOT)
    static let io = Errno(rawValue: EIO)
    static let notDirectory = Errno(rawValue: ENOTDIR)

    /// isDiskFull is true for the two ways a write can run out of room.
    var isDiskFull: Bool { rawValue == ENOSPC || rawValue == EDQUOT }

    var description: String {
        let text = strerror(rawValue).map { String(cString: $0) } ?? "errno \(rawValue)"
        return "\(text) (errno \(rawValue))"
    }
}

/// FileDescriptor owns an open descriptor and closes it in deinit (style rule 13), so the
/// lock on the data dir (a flock on an open descriptor) lives exactly as long as its owner.
struct FileDescriptor: ~Copyable {
    let rawValue: Int32

    init(adopting rawValue: Int32) {
        precondition(rawValue >= 0, "FileDescriptor(adopting:) needs an open descriptor")
        self.rawValue = rawValue
    }

    deinit {
        // Not retried on EINTR: on Linux the descriptor is gone either way.
        _ = Glibc.close(rawValue)
    }
}

/// retrying runs a libc call until it does not fail with EINTR, and throws its errno.
@inline(__always)
private func retrying<T: BinaryInteger>(_ call: () -> T) throws(Errno) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let e = Glibc.errno
        if e == EINTR { continue }
        if e == EBADF || e == EFAULT { preconditionFailure("DiskIO: \(Errno(rawValue: e)) is a bug in Storage") }
        throw Errno(rawValue: e)
    }
}

/// DiskIO groups the system calls Storage needs; every path below the data dir is opened
/// relative to the directory's descriptor (openat), so a rename of the dir cannot split
/// one data dir's files across two places.
enum DiskIO {
    static let fileMode: mode_t = 0o600
    static let directoryMode: mode_t = 0o700

    // MARK: Directories

    /// openDirectory opens `path` as a directory (O_DIRECTORY: a plain file is ENOTDIR).
    static func openDirectory(_ path: String) throws(Errno) -> FileDescriptor {
        let fd = try retrying { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        return FileDescriptor(adopting: fd)
    }

    /// makeDirectory creates one directory (not its parents: a missing parent is more
    /// likely a typo in --data-dir than a wish).
    static func makeDirectory(_ path: String) throws(Errno) {
        _ = try retrying { Glibc.mkdir(path, directoryMode) }
    }

    /// removeDirectory removes an empty directory.
    static func removeDirectory(_ path: String) throws(Errno) {
        _ = try retrying { Glibc.rmdir(path) }
    }

    /// exists says whether `name` exists in `directory` (without following a symlink).
    static func exists(_ name: String, in directory: borrowing FileDescriptor) throws(Errno) -> Bool {
        var st = stat()
        do {
            _ = try retrying { fstatat(directory.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) }
            return true
        } catch where error == .noSuchFile {
            return false
        }
    }

    /// renameAt replaces `to` by `from` atomically, within one directory.
    static func rename(_ from: String, to: String, in directory: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying { renameat(directory.rawValue, from, directory.rawValue, to) }
    }

    /// unlink removes `name` from `directory`; a missing file is not an error.
    static func unlink(_ name: String, in directory: borrowing FileDescriptor) throws(Errno) {
        do { _ = try retrying { unlinkat(directory.rawValue, name, 0) } } catch where error == .noSuchFile {}
    }

    // MARK: Files

    /// openFile opens `name` in `directory` read-write; with `create`, makes it (0600) if missing;
    /// with `truncate`, empties it. Never follows a symlink at the last component.
    static func openFile(_ name: String, in directory: borrowing FileDescriptor,
                         create: Bool = false, truncate: Bool = false) throws(Errno) -> FileDescriptor {
        var flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW
        if create { flags |= O_CREAT }
        if truncate { flags |= O_TRUNC }
        let fd = try retrying { openat(directory.rawValue, name, flags, fileMode) }
        return FileDescriptor(adopting: fd)
    }

    /// size is the file's length in bytes (fstat).
    static func size(_ file: borrowing FileDescriptor) throws(Errno) -> UInt64 {
        var st = stat()
        _ = try retrying { fstat(file.rawValue, &st) }
        return UInt64(st.st_size)
    }

    /// isRegularFile says whether the descriptor names a plain file.
    static func isRegularFile(_ file: borrowing FileDescriptor) throws(Errno) -> Bool {
        var st = stat()
        _ = try retrying { fstat(file.rawValue, &st) }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    /// read reads `count` bytes at `offset`; fewer only at end of file.
    static func read(_ file: borrowing FileDescriptor, count: Int, at offset: UInt64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let fd = file.rawValue
        var failure: Errno? = nil
        bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let n: Int
                do throws(Errno) {
                    n = try retrying { pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
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
    static func writeAll(_ file: borrowing FileDescriptor, _ bytes: [UInt8], at offset: UInt64) throws(Errno) {
        let fd = file.rawValue
        var failure: Errno? = nil
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                do throws(Errno) {
                    let n = try retrying {
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
    static func truncate(_ file: borrowing FileDescriptor, to length: UInt64) throws(Errno) {
        _ = try retrying { ftruncate(file.rawValue, off_t(length)) }
    }

    /// fsync flushes data and all metadata (used for new files and directories).
    static func fsync(_ file: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying { Glibc.fsync(file.rawValue) }
    }

    /// fdatasync flushes data and the metadata needed to read it back (the length), which
    /// is all a log append needs; it skips the timestamp update that fsync would write.
    static func fdatasync(_ file: borrowing FileDescriptor) throws(Errno) {
        _ = try retrying { Glibc.fdatasync(file.rawValue) }
    }

    // MARK: Locks and processes

    /// tryLockExclusive takes a non-blocking exclusive flock; false when another open file
    /// description holds it. The lock goes away when the descriptor is closed (process
    /// death included), so a crash never leaves a stale lock behind.
    static func tryLockExclusive(_ file: borrowing FileDescriptor) throws(Errno) -> Bool {
        do {
            _ = try retrying { flock(file.rawValue, LOCK_EX | LOCK_NB) }
            return true
        } catch where error == .wouldBlock {
            return false
        }
    }

    static var processID: Int32 { getpid() }

    /// monotonicNanoseconds reads CLOCK_MONOTONIC, for timing fsyncs.
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
