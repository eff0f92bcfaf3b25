// `baton resign`: ask the node in office to hand over (POST /resign).
import JSON
import AgentConfig
import ArgumentParser
import HTTPParser
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct ResignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resign",
        abstract: "Hand leadership over from this node (it must be in office), or schedule a hand-over.",
        discussion: """
        Now: waits until the successor is known (a few election timeouts at most) and \
        prints it.

        Scheduled (--to NAME with --at TIME or --in DURATION, on any member): the leader \
        logs the schedule, so every member shows it (baton status) and a new leader \
        carries it out. At the moment, the leader in office hands over to NAME (demote \
        hook first, then NAME's promote) only if NAME can lead then; otherwise the \
        schedule is dropped and 'baton history' says why (not a voter, priority 0, down, \
        not caught up, holding back — waited out for one election timeout — already \
        leading, or the group paused: a pause drops it). A moment missed by more than \
        10 s (no leader in office then) is dropped too. At most 24 h ahead. One \
        schedule at a time; 'baton resign --cancel' cancels it.

        Exit status: 0 handed over (or scheduled, or cancelled), 1 refused or failed \
        (the message says why: not in office, unknown --to, a bad time, nothing \
        scheduled, wrong token, no successor), 2 the agent cannot be reached or a bad \
        --at or --in or a wrong mix of options (nothing is sent then).
        """)
    @OptionGroup var options: APIOptions
    @Option(help: "The member to hand over to (default: the most up-to-date one; required with --at/--in).") var to: String?
    @Option(help: ArgumentHelp("Schedule the hand-over at this time: RFC 3339 with an offset, e.g. 2026-12-07T19:00:00Z.", valueName: "time"))
    var at: String?
    @Option(name: .customLong("in"), help: ArgumentHelp("Schedule the hand-over after this long, e.g. 90s, 10m, 2h (by the leader's clock).", valueName: "duration"))
    var after: String?
    @Flag(help: "Cancel the scheduled hand-over.") var cancel = false
    @Option(help: "File with the admin token, when the agent has --admin-token-file (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).")
    var tokenFile: String?

    func validate() throws {
        if at != nil && after != nil { throw ValidationError("give one of --at and --in, not both") }
        if cancel && (to != nil || at != nil || after != nil) { throw ValidationError("--cancel takes no --to, --at or --in: it cancels the one scheduled hand-over") }
        if (at != nil || after != nil) && to == nil { throw ValidationError("a scheduled hand-over needs --to NAME: the member to hand over to") }
        if let to, !isValidName(to) { throw ValidationError("--to: '\(to)' is not a member name") }
        if let at {
            do { _ = try parseWallTime(at, flag: "--at") } catch { throw ValidationError(error.description) }
        }
        if let after {
            do { _ = try parseDuration(after, flag: "--in") } catch { throw ValidationError(error.description) }
        }
    }

    func run() throws {
        if cancel { return try schedule("DELETE", body: []) }
        if let to, at != nil || after != nil {
            let when: JSONValue.Member = at.map { JSONValue.Member("at", .string($0)) } ?? JSONValue.Member("in", .string(after ?? ""))
            let body = JSONValue.object([JSONValue.Member("to", .string(to)), when])
            return try schedule("POST", body: Array(body.serialized().utf8))
        }
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

    /// schedule sends POST or DELETE /handover to the agent given, then to the leader it
    /// names (only the leader logs it); while no leader is known it asks again, for at
    /// most `leaderlessRetries` × 250 ms.
    func schedule(_ method: String, body: [UInt8]) throws {
        let headers = adminHeaders(options, tokenFile: tokenFile) + (body.isEmpty ? [] : [("Content-Type", "application/json")])
        let asked = options.target()
        var target = asked
        let leaderlessRetries = 20, followsMax = 3
        var leaderless = 0, follows = 0
        while true {
            let answer: HTTPClientMessage.Answer
            switch HTTPClient.request(method, "/handover", to: target, headers: headers, body: body, timeoutMs: 20_000) {
            case .success(let a): answer = a
            case .failure(let error): die(error.message)
            }
            let reply = JSONValue.read(answer.bodyText) ?? .null
            if answer.status == 200 {
                if method == "DELETE" {
                    print("the scheduled hand-over is cancelled (entry \(reply["index"].int ?? 0), term \(reply["term"].int ?? 0))")
                } else {
                    print("hand-over to \(reply["to"].string ?? to ?? "?") scheduled at entry \(reply["index"].int ?? 0) for "
                          + "\(HistoryCommand.when(reply["at_unix_ms"].int)) UTC (in \((reply["remaining_ms"].int ?? 0) / 1000) s); "
                          + "cancel with 'baton resign --cancel'")
                }
                return
            }
            // A conflict about the schedule itself (one already, none to cancel) is final.
            if answer.status == 409, !reply.has("scheduled_to") {
                if let api = reply["leader"]["api"].string, !api.isEmpty, let leader = reply["leader"]["id"].string, follows < followsMax {
                    follows += 1
                    target = AgentTarget.parse(api, source: "the leader \(leader)'s API, named by \(target)")
                    continue
                }
                if reply["leader"] == .null, leaderless < leaderlessRetries {
                    leaderless += 1
                    target = asked
                    try? PosixThread.sleepMs(250)
                    continue
                }
            }
            printError(reply["reason"].string ?? "the agent answered \(answer.status): \(answer.bodyText)")
            throw ExitCode(answer.status == 503 && reply["reason"].string == nil ? 2 : 1)
        }
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
