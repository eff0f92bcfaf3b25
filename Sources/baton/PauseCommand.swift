// `baton pause` and `baton resume` (issue 16): the maintenance pause, logged by the
// leader (found through the agent --api names) and answered once committed.
import AgentConfig
import ArgumentParser
import JSON

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause the group: no member campaigns and a failing check does not make the leader hand over.",
        discussion: """
        For maintenance of the application ("I am restarting the database: do not fail \
        over"). The leader keeps office while it holds its lease; if it dies, the group \
        stays without a leader until 'baton resume' or the pause's end. Planned hand-overs \
        ('baton resign', stopping an agent) still work. A pause always ends: --for, else \
        the agents' --pause-default, at most their --pause-max. Exit status: 0 paused, \
        1 refused (the message says why), 2 the agent cannot be reached.
        """)
    @OptionGroup var options: APIOptions
    @Option(name: .customLong("for"), help: ArgumentHelp("How long (e.g. 30m, 2h; default: the agents' --pause-default).", valueName: "duration"))
    var duration: String?
    @Option(help: "Why, for /status and the history.") var reason: String?
    @Option(help: "File with the admin token, when the agent has --admin-token-file (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).")
    var tokenFile: String?

    func validate() throws {
        if let duration {
            do { _ = try parseDuration(duration, flag: "--for") } catch { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        var fields: [(String, JSONValue)] = []
        if let duration { fields.append(("for", .string(duration))) }
        if let reason { fields.append(("reason", .string(reason))) }
        try change("POST", "/pause", body: .object(fields.map { JSONValue.Member($0.0, $0.1) }),
                   options: options, tokenFile: tokenFile) { reply in
            "paused at index \(reply["index"].int ?? 0), term \(reply["term"].int ?? 0), for \((reply["remaining_ms"].int ?? 0) / 1000) s"
        }
    }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End the pause (on any member; one of a leaderless paused group campaigns to log it).",
        discussion: "Exit status: 0 resumed or not paused, 1 refused or failed (the message says why), 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions
    @Option(help: "File with the admin token, when the agent has --admin-token-file (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).")
    var tokenFile: String?

    func run() throws {
        try change("POST", "/resume", body: nil, options: options, tokenFile: tokenFile) { reply in
            reply["changed"].bool == false ? "the group is not paused" : "resumed at index \(reply["index"].int ?? 0), term \(reply["term"].int ?? 0)"
        }
    }
}
