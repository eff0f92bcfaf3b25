// Files and ports the demo sets up and tears down: a fresh temporary directory, the
// cluster secret in it, removal of the whole tree, and a check that ports are free.
import Posix

#if canImport(Glibc)
import Glibc
#endif

enum DemoFiles {
    /// makeTemporaryDirectory creates `$TMPDIR/PREFIXxxxxxx` (or under /tmp), mode 0700.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        var base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        if base.isEmpty { base = "/tmp" }
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array("\(base)/\(prefix)XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw DemoFailure(description: "cannot create a temporary directory in \(base): \(Errno(rawValue: errno)) (set TMPDIR to a writable directory)")
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// writeRandomSecret writes `bytes` bytes from the kernel's random source to a new
    /// file readable by its owner only — what `head -c 32 /dev/urandom > FILE` does.
    static func writeRandomSecret(to path: String, bytes: Int) throws {
        let source = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw Errno(rawValue: errno) }
        let random = FileDescriptor(adopting: source)
        var secret = [UInt8](repeating: 0, count: bytes)
        var filled = 0
        while filled < bytes {
            let n = try secret.withUnsafeMutableBytes { raw in
                try random.readBlocking(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
            guard n > 0 else { throw Errno.invalidArgument }
            filled += n
        }
        let raw = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard raw >= 0 else { throw Errno(rawValue: errno) }
        let fd = FileDescriptor(adopting: raw)
        try secret.withUnsafeBytes { try fd.writeAll($0) }
    }

    /// removeTree deletes `path` and everything under it (files, links and directories;
    /// symbolic links are removed, never followed). Errors are ignored: it runs on the
    /// way out, and a leftover is reported by the caller's check.
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// portIsFree is true when a listener could bind 127.0.0.1:`port` right now.
    static func portIsFree(_ port: Int) -> Bool {
        guard let address = try? SocketAddress(parsing: "127.0.0.1:\(port)") else { return false }
        return (try? Socket.listen(on: address)) != nil
    }
}
