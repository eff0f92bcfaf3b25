import Hooks
import Testing

@Suite struct CommandWordsTests {
    @Test(arguments: [
        ("/bin/true", ["/bin/true"]),
        ("  cmd   a\tb  ", ["cmd", "a", "b"]),
        ("cmd 'a b' c", ["cmd", "a b", "c"]),
        ("cmd \"a b\" c", ["cmd", "a b", "c"]),
        ("cmd a\\ b", ["cmd", "a b"]),
        ("cmd 'it'\\''s'", ["cmd", "it's"]),
        ("cmd \"say \\\"hi\\\" \\$HOME \\n\"", ["cmd", "say \"hi\" $HOME \\n"]),
        ("cmd '$HOME' \"$HOME\" *", ["cmd", "$HOME", "$HOME", "*"]),
        ("cmd '' \"\"", ["cmd", "", ""]),
        ("cmd a'b'\"c\"d", ["cmd", "abcd"]),
        ("sh -c 'echo one; echo two >&2'", ["sh", "-c", "echo one; echo two >&2"]),
        ("cmd 'single \\ stays'", ["cmd", "single \\ stays"]),
        ("cmd a|b>c", ["cmd", "a|b>c"]),
        ("cmd \\\n next", ["cmd", "next"]),
    ])
    func splits(_ text: String, _ expected: [String]) throws {
        #expect(try CommandWords.split(text) == expected)
    }

    @Test(arguments: [
        ("cmd 'open", "single quote is not closed"),
        ("cmd \"open", "double quote is not closed"),
        ("cmd \"open\\", "double quote is not closed"),
        ("cmd trailing\\", "ends with a backslash"),
        ("", "empty"),
        ("   \t ", "empty"),
    ])
    func refuses(_ text: String, _ fragment: String) {
        #expect(throws: CommandWordsError.self) { try CommandWords.split(text) }
        do { _ = try CommandWords.split(text) } catch { #expect(error.message.contains(fragment), "\(error.message)") }
    }

    @Test func refusesOverLongCommandButAcceptsTheLimit() throws {
        let atLimit = "x" + String(repeating: "a", count: CommandWords.maxBytes - 1)
        #expect(try CommandWords.split(atLimit).count == 1)
        #expect(throws: CommandWordsError.self) { try CommandWords.split(atLimit + "a") }
    }
}
