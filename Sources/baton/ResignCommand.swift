// `baton resign`: ask the node in office to hand over (POST /resign).
import JSON
import AgentConfig
import ArgumentParser
import HTTPParser

#if canImport(Glibc)
import Glibc
#endif

struct ResignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resign",
        abstract: "Hand leadership over from this node (it must be in office).",
        discussion: """
        Waits until the successor is known (a few election timeouts at most) and prints \
        it. Exit status: 0 handed over, 1 refused or failed (the message says why: not in \
        office, unknown --to, wrong token, no successor), 2 the agent cannot be reached.
        """)
    @OptionGroup var options: APIOptions
    @Option(help: "The member to hand over to (default: the most up-to-date one).") var to: String?
    @Option(help: "File with the admin token, when the agent has --admin-token-file (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).")
    var tokenFile: String?

    func run() throws {
        let headers = adminHeaders(options, tokenFile: tokenFile)
        var path = "/resign"
        if let to {
            guard isValidName(to) else { die("--to: '\(to)' is not a member name") }
            path += "?to=\(to)"
        }
        let answer: HTTPClientMessage.Answer
        switch HTTPClient.request("POST", path, to: options.target(), headers: headers, timeoutMs: 30_000) {
        case .success(let a): answer = a
        case .failure(let error): die(error.message)
        }
        let body = JSONValue.read(answer.bodyText) ?? .null
        if answer.status == 200, let successor = body["successor"].string {
            print("resigned office of term \(body["term"].int ?? 0); \(successor) leads now (term \(body["successor_term"].int ?? 0))")
            return
        }
        var reason = body["reason"].string ?? "the agent answered \(answer.status)"
        if answer.status == 409, let leader = body["leader"]["id"].string {
            reason += " (the leader is \(leader), api \(body["leader"]["api"].string ?? "?"))"
        }
        printError(reason)
        throw ExitCode(1)
    }

    func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 < 0x80 && ($0 == 0x2d || $0 == 0x5f || $0 == 0x2e || (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0)) }
    }
}

/// adminHeaders is the `Authorization` header of an admin request: the token from
/// `--token-file`, else $BATON_ADMIN_TOKEN_FILE, else the agent's --config; none when no
/// token file is configured (the agent then accepts admin requests from loopback only).
func adminHeaders(_ options: APIOptions, tokenFile: String?) -> [(String, String)] {
    let environment = AgentOptions.batonEnvironment()
    let configured = tokenFile ?? environment["BATON_ADMIN_TOKEN_FILE"]
        ?? (options.api == nil && environment["BATON_API"] == nil ? options.agentSettingsFile(environment)?.settings["BATON_ADMIN_TOKEN_FILE"]?.value : nil)
    guard let path = configured, !path.isEmpty else { return [] }
    guard let bytes = try? readSmallFile(path, limit: 4096) else { die("--token-file: cannot read \(path)") }
    var token = String(decoding: bytes, as: UTF8.self)
    while let last = token.last, last.isWhitespace { token.removeLast() }
    guard !token.isEmpty else { die("--token-file: \(path) is empty") }
    return [("Authorization", "Bearer \(token)")]
}
