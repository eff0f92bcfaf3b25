import HookSyntax
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
        #expect(throws: HookSyntaxError.self) { try CommandWords.split(text) }
        do { _ = try CommandWords.split(text) } catch { #expect(error.message.contains(fragment), "\(error.message)") }
    }

    @Test func refusesOverLongCommandButAcceptsTheLimit() throws {
        let atLimit = "x" + String(repeating: "a", count: CommandWords.maxBytes - 1)
        #expect(try CommandWords.split(atLimit).count == 1)
        #expect(throws: HookSyntaxError.self) { try CommandWords.split(atLimit + "a") }
    }
}

@Suite struct CheckURLTests {
    @Test(arguments: [
        ("http://127.0.0.1:8080/health", "127.0.0.1", 8080, "/health", "127.0.0.1:8080"),
        ("http://app.local/ready?x=1", "app.local", 80, "/ready?x=1", "app.local"),
        ("http://[::1]:9000", "::1", 9000, "/", "::1:9000"),
        ("http://[::1]:81/x?y=1", "::1", 81, "/x?y=1", "::1:81"),
        ("http://localhost", "localhost", 80, "/", "localhost"),
    ] as [(String, String, UInt16, String, String)])
    func parses(url: String, host: String, port: UInt16, path: String, hostHeader: String) throws {
        let u = try CheckURL(parsing: url)
        #expect(u.host == host && u.port == port && u.path == path && u.hostHeader == hostHeader)
    }

    @Test(arguments: [
        ("https://127.0.0.1/health", "must start with http://"),
        ("ftp://a", "must start with http://"),
        ("http://:80/", "no valid host"),
        ("http://host:0/", "not a number in 1...65535"),
        ("http://host:99999/", "not a number in 1...65535"),
        ("http://[::1/", "IPv6 host without ]"),
        ("http://host/a b", "percent-encode"),
    ])
    func refuses(url: String, fragment: String) {
        do { _ = try CheckURL(parsing: url); Issue.record("\(url) accepted") } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }
}
