// Finding a hook's program the way spawning it will, so a typo is a start-up error that
// names the flag (issue 15 item 4, issue 17 point 2) instead of a failing promote later.
import Glibc

/// Executables answers whether a command's program can be run.
public enum Executables {
    /// problem returns why `program` cannot be run, or nil when it can, found as the
    /// spawn will find it (`ChildProcess.resolveProgram`: a path when it has a `/`, else
    /// the first executable regular file of that name in this process's PATH); a path's
    /// answer says what is wrong with the file.
    public static func problem(with program: String) -> String? {
        if program.contains("/") { return fileProblem(program) }
        do {
            _ = try ChildProcess.resolveProgram(program)
            return nil
        } catch {
            let search = getenv("PATH").map { String(cString: $0) } ?? "the default PATH"
            return error.rawValue == EACCES
                ? "'\(program)' is in PATH (\(search)) but not executable"
                : "'\(program)' is not an executable in any PATH directory (\(search)); give its full path"
        }
    }

    /// fileProblem: why the file at `path` cannot be executed, or nil.
    static func fileProblem(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return errno == ENOENT ? "\(path) does not exist" : "\(path) cannot be read (\(String(cString: strerror(errno))))"
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return "\(path) is not a regular file" }
        guard access(path, X_OK) == 0 else { return "\(path) is not executable (chmod +x \(path))" }
        return nil
    }
}
