// Finding a hook's program the way spawning it will, so a typo is a start-up error that
// names the flag (issue 15 item 4, issue 17 point 2) instead of a failing promote later.
import Glibc

/// Executables answers whether a command's program can be run.
public enum Executables {
    /// problem returns why `program` cannot be run, or nil when it can: a path (with a
    /// `/`) must be an executable regular file; a bare name must be one in a directory
    /// of `searchPath` (the PATH the hook will get), as execvp would find it.
    public static func problem(with program: String, searchPath: String?) -> String? {
        if program.contains("/") { return fileProblem(program) }
        let dirs = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false)
        for dir in dirs {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
            if fileProblem(candidate) == nil { return nil }
        }
        return "'\(program)' is not an executable in any PATH directory (\(searchPath ?? "default PATH")); give its full path"
    }

    /// fileProblem: why the file at `path` cannot be executed, or nil.
    static func fileProblem(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let reason = errno == ENOENT ? "does not exist" : "cannot be read (\(String(cString: strerror(errno))))"
            return "\(path) \(reason)"
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return "\(path) is not a regular file" }
        guard access(path, X_OK) == 0 else { return "\(path) is not executable (chmod +x \(path))" }
        return nil
    }
}
