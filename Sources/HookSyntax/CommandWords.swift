// Splitting a hook or check command into an argument vector, the way a POSIX shell
// splits words (XCU 2.2 "Quoting"), without ever running a shell: no variables, globs,
// pipes or redirections. Users who want those write `sh -c '…'` themselves.

/// HookSyntaxError says what is wrong with a hook command or a check URL and how to
/// write it.
public struct HookSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// CommandWords is the argument vector of one command, split once at start-up.
public enum CommandWords {
    /// maxBytes bounds a command string (Linux's ARG_MAX is far larger; a hook command
    /// longer than this is a mistake, most likely a file pasted into a flag).
    public static let maxBytes = 8192

    /// split turns `cmd 'a b' "c \"d\"" e\ f` into `["cmd", "a b", "c \"d\"", "e f"]`.
    /// Single quotes keep everything literally; inside double quotes a backslash escapes
    /// only `"`, `\`, `$` and `` ` `` (as in sh); outside quotes a backslash escapes
    /// any character. Unbalanced quotes, a trailing backslash and an empty command are
    /// errors that show how to fix them.
    public static func split(_ text: String) throws(HookSyntaxError) -> [String] {
        guard text.utf8.count <= maxBytes else {
            throw HookSyntaxError(message: "the command is \(text.utf8.count) bytes; at most \(maxBytes) are allowed (put a long command in a script and name the script)")
        }
        enum Mode { case plain, single, double }
        var words: [String] = []
        var current = ""
        var inWord = false
        var mode = Mode.plain
        var iterator = text.unicodeScalars.makeIterator()
        while let c = iterator.next() {
            switch mode {
            case .plain:
                switch c {
                case " ", "\t", "\n":
                    if inWord { words.append(current); current = ""; inWord = false }
                case "'": mode = .single; inWord = true
                case "\"": mode = .double; inWord = true
                case "\\":
                    guard let next = iterator.next() else {
                        throw HookSyntaxError(message: "the command ends with a backslash; remove it or write \\\\ for a literal backslash")
                    }
                    // Backslash-newline continues the line and is removed (sh does the same).
                    if next != "\n" { current.unicodeScalars.append(next); inWord = true }
                default:
                    current.unicodeScalars.append(c); inWord = true
                }
            case .single:
                if c == "'" { mode = .plain } else { current.unicodeScalars.append(c) }
            case .double:
                switch c {
                case "\"": mode = .plain
                case "\\":
                    guard let next = iterator.next() else {
                        throw HookSyntaxError(message: "a double quote is not closed; add the closing \"")
                    }
                    if !"\"\\$`".unicodeScalars.contains(next) { current.unicodeScalars.append(c) }
                    current.unicodeScalars.append(next)
                default:
                    current.unicodeScalars.append(c)
                }
            }
        }
        switch mode {
        case .single: throw HookSyntaxError(message: "a single quote is not closed; add the closing ' (inside single quotes nothing is special, not even \\)")
        case .double: throw HookSyntaxError(message: "a double quote is not closed; add the closing \"")
        case .plain: break
        }
        if inWord { words.append(current) }
        guard !words.isEmpty else {
            throw HookSyntaxError(message: "the command is empty; name a program, e.g. /usr/local/bin/promote.sh")
        }
        return words
    }
}
