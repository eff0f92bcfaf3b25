// Client commands: talk to the local agent's HTTP API. Exit status is part of the
// interface (`baton is-leader && run-job`): 0 yes, 1 no, 2 cannot tell.
import JSON
import AgentConfig
import ArgumentParser
import BlockingHTTP
import HTTPParser
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// APIOptions names the agent to ask (issue 17 point 7): `--api`, else $BATON_API, else
/// the agent's own settings file (`--config`, $BATON_CONFIG or /etc/default/baton: its
/// BATON_API_LISTEN), else the agent's default 127.0.0.1:7480. The answer says which, so
/// "cannot reach" messages can tell the user where the address came from.
struct APIOptions: ParsableArguments {
    @Option(help: "The agent's API, HOST:PORT or http://HOST:PORT (default: $BATON_API, else the agent's --config, else 127.0.0.1:7480).")
    var api: String?
    @Option(help: ArgumentHelp("The agent's settings file, read for its API address and admin token file (default: $BATON_CONFIG, else /etc/default/baton when it exists).", valueName: "file"))
    var config: String?

    static let defaultConfigFile = "/etc/default/baton"

    /// target resolves where to send requests; a bad address exits 2 naming its source.
    func target() -> AgentTarget {
        let environment = AgentOptions.batonEnvironment()
        if let api { return AgentTarget.parse(api, source: "--api") }
        if let env = environment["BATON_API"] { return AgentTarget.parse(env, source: "$BATON_API") }
        if let file = agentSettingsFile(environment), let listen = file.settings["BATON_API_LISTEN"] {
            return AgentTarget.parse(listen.value, source: "BATON_API_LISTEN in \(file.name)", listening: true)
        }
        return AgentTarget.parse(AgentSettings.defaultAPIListen.description, source: "the default (set --api or BATON_API)")
    }

    /// agentSettingsFile reads the agent's settings file, if there is one to read: given
    /// (`--config`, $BATON_CONFIG; unreadable is an error) or the packaged default (only
    /// if present and readable).
    func agentSettingsFile(_ environment: [String: String]) -> SettingsFile? {
        let given = config ?? environment["BATON_CONFIG"]
        let path = given ?? Self.defaultConfigFile
        let bytes: [UInt8]
        do { bytes = try readSmallFile(path, limit: AgentOptions.maxConfigBytes) } catch {
            if given != nil { die("--config: cannot read \(path) (\(error))") }
            return nil
        }
        do { return try SettingsFile.parse(String(decoding: bytes, as: UTF8.self), name: path) } catch {
            if given != nil { die(error.description) }
            return nil
        }
    }
}

/// AgentTarget is the agent's address and where it came from.
struct AgentTarget: CustomStringConvertible {
    var host: String
    var port: UInt16
    var source: String
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// parse reads `HOST:PORT` or `http://HOST:PORT[/]`. With `listening`, a wildcard
    /// listen address (0.0.0.0, [::]) becomes the loopback address of its family.
    static func parse(_ text: String, source: String, listening: Bool = false) -> AgentTarget {
        var t = Substring(text)
        if let scheme = t.range(of: "://") {
            let name = t[..<scheme.lowerBound].lowercased()
            guard name == "http" else {
                die("\(source): '\(text)' uses \(name)://; the agent's API is plain HTTP: write HOST:PORT or http://HOST:PORT")
            }
            t = t[scheme.upperBound...]
        }
        while t.hasSuffix("/") { t = t.dropLast() }
        let hp: HostPort
        do { hp = try HostPort(parsing: String(t), flag: source) } catch { die(error.description) }
        var host = hp.host
        if listening && host == "0.0.0.0" { host = "127.0.0.1" }
        if listening && host == "::" { host = "::1" }
        return AgentTarget(host: host, port: hp.port, source: source)
    }
}

extension Substring {
    func range(of needle: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}

/// ClientError says why the agent could not be asked; `message` is for the user.
struct ClientError: Error {
    var message: String
}

/// HTTPClient is the executable's one HTTP client: a blocking request over TCP with
/// bounded waits (BlockingHTTP, shared with the agent), its failures worded for a CLI user.
enum HTTPClient {
    /// request makes one request to `target` and reads the whole answer, waiting at most
    /// `timeoutMs` for the connection and then for the answer.
    static func request(_ method: String, _ path: String, to target: AgentTarget, headers: [(String, String)] = [],
                        body: [UInt8] = [], timeoutMs: Int = 2_000, userAgent: String = "baton") -> Result<HTTPClientMessage.Answer, ClientError> {
        BlockingHTTP.request(method, path, host: target.host, port: target.port, headers: headers, body: body,
                             timeoutMs: timeoutMs, userAgent: userAgent).mapError { error in
            ClientError(message: "cannot reach the agent at \(target) (from \(target.source)): \(error.message); is `baton agent` running there?")
        }
    }
}

/// get makes one GET bounded to 2 s; any failure (nothing listening, timeout, garbage)
/// exits 2 with a message saying what to check.
func get(_ path: String, from target: AgentTarget) -> HTTPClientMessage.Answer {
    switch HTTPClient.request("GET", path, to: target) {
    case .success(let answer): return answer
    case .failure(let error): die(error.message)
    }
}

/// printError writes `baton: message` to standard error.
func printError(_ message: String) {
    var line = "baton: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

struct LeaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Print the leader's name.",
        discussion: "With --json, the agent's answer: the leader (id, api, peer), the term (the fencing token), whether this node is the leader (self) and since when. Exit status: 0 a leader is known, 1 none is (an election is on), 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions
    @Flag(help: "Print the answer as JSON: {\"leader\":{…},\"term\":…,\"self\":…,\"since\":…}, or the reason and term when none is known.")
    var json = false

    func run() throws {
        let target = options.target()
        let answer = get("/leader", from: target)
        let body = JSONValue.read(answer.bodyText) ?? .null
        if json {
            guard !body.isNull else { die("the agent at \(target) answered /leader with \(answer.status) and no JSON") }
            print(answer.bodyText, terminator: answer.bodyText.hasSuffix("\n") ? "" : "\n")
            if answer.status != 200 { throw ExitCode(1) }
            return
        }
        guard answer.status == 200, let name = body["leader"]["id"].string else {
            printError(body["reason"].string ?? "no leader (the agent answered \(answer.status))")
            throw ExitCode(1)
        }
        print(name)
    }
}

struct IsLeaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "is-leader",
        abstract: "Succeed only on the node in office: `baton is-leader && run-job`.",
        discussion: "Exit status: 0 this node is in office (decided from its lease now), 1 it is not, 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions

    func run() throws {
        let answer = get("/is-leader", from: options.target())
        if answer.status != 200 { throw ExitCode(1) }
    }
}
