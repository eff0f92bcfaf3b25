// Test support: real files in a fresh directory under /tmp, raw byte access to damage
// them, and child processes. Tests call libc directly; the library goes through DiskIO.
import Glibc
import RaftCore
@testable import Storage
import Testing

/// TempDir is a fresh directory under /tmp, removed (recursively) when the value dies.
final class TempDir {
    let path: String

    init() {
        var template = Array("/tmp/baton-storage-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// dataDir is a path inside, not yet created.
    var dataDir: String { path + "/data" }

    deinit { removeTree(path) }
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else { unlink(path); return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        var st = stat()
        if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
    rmdir(path)
}

func readBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    precondition(n == bytes.count)
    return bytes
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(n == bytes.count)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func fileSize(_ path: String) -> Int { readBytes(path).count }

/// openExpectingError opens and returns the error, failing the test if open succeeds.
func openError(_ path: String, bootstrap: Bool = false, expectLocked: Bool = false,
               sourceLocation: SourceLocation = #_sourceLocation) -> StorageError? {
    do {
        _ = try openDir(path, bootstrap: bootstrap, expectLocked: expectLocked)
        Issue.record("open of \(path) succeeded; expected an error", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// openDir opens a data dir, waiting out a lock held by this very process for a moment:
/// when another test spawns a child, the child shares every descriptor (our lock's too)
/// between fork and exec, so a lock just released can look held for a few microseconds.
func openDir(_ path: String, bootstrap: Bool = false, expectLocked: Bool = false) throws(StorageError) -> DataDirectory {
    var attempts = expectLocked ? 1 : 50
    while true {
        do {
            return try DataDirectory.open(path: path, bootstrap: bootstrap)
        } catch .locked(let file, let holder) where holder == getpid() && attempts > 1 {
            attempts -= 1
            _ = file
            sleepMilliseconds(2)
        }
    }
}

/// entries makes a contiguous run of entries; every third carries a few bytes.
func makeEntries(_ range: ClosedRange<LogIndex>, term: Term) -> [Entry] {
    range.map { i in
        Entry(index: i, term: term, payload: i % 3 == 0 ? .data(Array("entry \(i)".utf8)) : .noop)
    }
}

/// spawn starts argv[0] with argv and returns its pid.
func spawn(_ argv: [String]) -> pid_t {
    var pid: pid_t = 0
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, &cArgs, environ)
    precondition(rc == 0, "posix_spawn \(argv[0]): \(rc)")
    return pid
}

/// run runs argv to completion and returns its exit status (or -1 if killed).
@discardableResult
func run(_ argv: [String]) -> Int32 {
    let pid = spawn(argv)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}

func sleepMilliseconds(_ ms: Int) { usleep(UInt32(ms * 1000)) }

/// contains is a case-sensitive substring test (no Foundation).
func contains(_ text: String, _ part: String) -> Bool {
    let t = Array(text.utf8), p = Array(part.utf8)
    guard p.count <= t.count else { return false }
    if p.isEmpty { return true }
    for i in 0...(t.count - p.count) where t[i] == p[0] && Array(t[i..<(i + p.count)]) == p { return true }
    return false
}

/// descriptorsOpen lists this process's descriptors on `path` or a file in it.
func descriptorsOpen(on path: String) -> [String] {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    defer { closedir(dir) }
    var found: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/" + name, &target, 4095)
        guard n > 0 else { continue }
        let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link == path || link.hasPrefix(path + "/") { found.append(link) }
    }
    return found
}
