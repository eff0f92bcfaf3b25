// `baton members`: the group's membership (GET /members) and changes to it (issue 14),
// sent to the leader whichever member --api names. Exit status: 0 done (a change: once
// committed), 1 refused (the reason says why), 2 an agent cannot be reached.
import JSON
import ArgumentParser
import HTTPParser
import Posix

struct MembersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "List the group's members, or add, remove or change one.",
        discussion: """
        The membership is stored in the group's replicated log, never in flags: --peers \
        on an existing data dir is only a list of addresses to try. A new member is \
        started on an empty data dir without --bootstrap and waits until it is added (in \
        either order); a voter or witness joins as a learner and is promoted once it has \
        caught up. To replace a member whose data dir was lost: remove it, then add it \
        again. Changes go to the leader, one at a time (a change in flight is refused).
        """,
        subcommands: [List.self, Add.self, Remove.self, Set.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Print every member: role, addresses, incarnation, whether it is reachable and caught up.")
        @OptionGroup var options: APIOptions
        @Flag(help: "Print the agent's answer (GET /members) as JSON.") var json = false

        func run() throws {
            let answer = get("/members", from: options.target())
            guard answer.status == 200, let body = JSONValue.read(answer.bodyText) else {
                printError("the agent answered \(answer.status): \(answer.bodyText)")
                throw ExitCode(2)
            }
            if json { print(answer.bodyText, terminator: answer.bodyText.hasSuffix("\n") ? "" : "\n"); return }
            var rows: [[String]] = [["NAME", "ROLE", "PRIORITY", "PEER", "API", "INCARNATION", "REACHABLE", "CAUGHT UP", "LAST CONTACT"]]
            for m in body["members"].array ?? [] {
                var role = m["role"].string ?? "?"
                if let to = m["promotes_to"].string { role += " (to be \(to))" }
                if m["self"].bool == true { role += " *" }
                rows.append([m["name"].string ?? "?", role, "\(m["priority"].int ?? 0)", m["peer"].string ?? "",
                             m["api"].string ?? "", m["incarnation"].string ?? "unbound",
                             m["reachable"].bool.map { $0 ? "yes" : "no" } ?? "?",
                             m["caught_up"].bool.map { $0 ? "yes" : "no" } ?? "-",
                             m["last_contact_ms_ago"].int.map { "\($0) ms ago" } ?? "-"])
            }
            let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
            for r in rows {
                print(r.indices.map { $0 == r.count - 1 ? r[$0] : r[$0].padding(widths[$0]) }.joined(separator: "  "))
            }
            var footer = "this node: \(body["membership"].string ?? "?")"
            if body["change_in_progress"].bool == true { footer += "; a change is in progress" }
            footer += "; leader: \(body["leader"].string ?? "none known"), term \(body["term"].int ?? 0)"
            print(footer)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a member: a voter (the default), a witness or an observer.",
            discussion: "A voter or witness joins as a learner and is promoted once caught up (and, with a check, healthy); an observer receives the log, answers /leader and runs --on-change hooks, but never votes or leads. Start the new member's agent without --bootstrap, before or after.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The new member's name (its --id).") var name: String
        @Argument(help: ArgumentHelp("Where its peers reach it: HOST:PORT (its --peer-advertise).", valueName: "peer-host:port")) var peer: String
        @Option(help: ArgumentHelp("Where its HTTP API is reached (its --api-advertise), for /leader answers.", valueName: "host:port")) var apiAddress: String?
        @Flag(help: "Add a witness: votes and acknowledges, never leads.") var witness = false
        @Flag(help: "Add an observer: follows the log, never votes or leads, does not count for quorum.") var observer = false
        @Option(help: "Higher leads first; 0 never leads (default: 100).") var priority: Int?
        @Option(help: "File with the admin token (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).") var tokenFile: String?

        func validate() throws {
            if witness && observer { throw ValidationError("--witness and --observer exclude each other") }
            if let priority, !(0...65535).contains(priority) { throw ValidationError("--priority must be in 0...65535") }
        }

        func run() throws {
            var fields: [JSONValue.Member] = [.init("name", .string(name)), .init("peer", .string(peer)),
                                              .init("role", .string(witness ? "witness" : observer ? "observer" : "voter"))]
            if let apiAddress { fields.append(.init("api", .string(apiAddress))) }
            if let priority { fields.append(.init("priority", .number(priority))) }
            try change("POST", "/members", body: JSONValue.object(fields), options: options, tokenFile: tokenFile,
                       settled: Settled(path: "/members") { member(name, in: $0) != nil })
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Remove a member (the leader too: it hands over once the change commits).",
            discussion: "A removed member never votes or campaigns again; an agent started on its data dir refuses to run. To bring it back: an empty data dir, then 'baton members add'.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The member's name.") var name: String
        @Option(help: "File with the admin token (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).") var tokenFile: String?

        func run() throws {
            try change("DELETE", "/members/\(name)", body: nil, options: options, tokenFile: tokenFile,
                       settled: Settled(path: "/members") { member(name, in: $0) == nil })
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a member's priority (a logged change).")
        @OptionGroup var options: APIOptions
        @Argument(help: "The member's name.") var name: String
        @Option(help: "Higher leads first; 0 never leads.") var priority: Int
        @Option(help: "File with the admin token (default: $BATON_ADMIN_TOKEN_FILE, else the agent's --config).") var tokenFile: String?

        func validate() throws {
            if !(0...65535).contains(priority) { throw ValidationError("--priority must be in 0...65535") }
        }

        func run() throws {
            try change("PATCH", "/members/\(name)", body: .object([.init("priority", .number(priority))]), options: options, tokenFile: tokenFile,
                       settled: Settled(path: "/members") { member(name, in: $0)?["priority"].int == Int(priority) })
        }
    }
}

/// Settled tells, from what GET `path` answers, whether a change took effect: the way to
/// learn the outcome of a change whose answer was lost to a change of leader.
struct Settled {
    var path: String
    var holds: (JSONValue) -> Bool
}

/// member is `name`'s entry in a GET /members answer.
func member(_ name: String, in members: JSONValue) -> JSONValue? {
    guard case .array(let list) = members["members"] else { return nil }
    return list.first { $0["name"].string == name }
}

/// change sends one membership change to the leader — found through the agent `--api`
/// names — and waits for it to commit. When the leadership moves before the answer,
/// `settled` (if given) tells whether it took effect; if not, it is sent again (twice
/// at most).
func change(_ method: String, _ path: String, body: JSONValue?, options: APIOptions, tokenFile: String?,
            settled: Settled? = nil,
            done: (JSONValue) -> String = { "\($0["change"].string ?? "changed"): committed at index \($0["index"].int ?? 0), term \($0["term"].int ?? 0)" }) throws {
    let headers = adminHeaders(options, tokenFile: tokenFile) + (body == nil ? [] : [("Content-Type", "application/json")])
    let bytes = body.map { Array($0.serialized().utf8) } ?? []
    let asked = options.target()
    var target = asked
    // Ask the agent given; if it is not the leader, it names the leader: ask that one.
    // While no leader is known (an election), ask the given agent again, for at most
    // `leaderlessRetries` × 250 ms.
    let leaderlessRetries = 40, movedRetries = 2
    var leaderless = 0, moved = 0
    for _ in 0..<(3 + leaderlessRetries + movedRetries) {
        let answer: HTTPClientMessage.Answer
        switch HTTPClient.request(method, path, to: target, headers: headers, body: bytes, timeoutMs: 20_000) {
        case .success(let a): answer = a
        case .failure(let error): die(error.message)
        }
        let reply = JSONValue.read(answer.bodyText) ?? .null
        if answer.status == 200 {
            print(done(reply))
            return
        }
        if answer.status == 409, let api = reply["leader"]["api"].string, !api.isEmpty, let leader = reply["leader"]["id"].string {
            target = AgentTarget.parse(api, source: "the leader \(leader)'s API, named by \(target)")
            continue
        }
        // (Only an answer that names no leader — `"leader": null` — means an election is
        // on; a refusal of the change itself has no such field and is final.)
        if answer.status == 409, reply.has("leader"), reply["leader"] == .null, leaderless < leaderlessRetries {
            leaderless += 1
            target = asked
            try? PosixThread.sleepMs(250)
            continue
        }
        if answer.status == 503, reply.has("changed"), reply["changed"] == .null, let settled, moved < movedRetries {
            // The leadership moved while the change waited: look, once a new leader has
            // had time to be elected, whether it took effect; if not, send it again.
            moved += 1
            try? PosixThread.sleepMs(500)
            if settledNow(settled, at: asked) { return printCommittedMeanwhile(reply) }
            target = asked
            continue
        }
        // A change sent again after the leadership moved may be refused because the first
        // sending did commit after all ("not a member" for a removal): look once more.
        if moved > 0, let settled, settledNow(settled, at: asked) { return printCommittedMeanwhile(reply) }
        printError(reply["reason"].string ?? "the agent answered \(answer.status): \(answer.bodyText)")
        throw ExitCode(answer.status == 503 && reply["reason"].string == nil ? 2 : 1)
    }
    printError("the leadership kept moving; try again")
    throw ExitCode(1)
}

/// printCommittedMeanwhile: a change learnt, by reading the membership back, to have
/// committed although its own answer was lost to a change of leader.
func printCommittedMeanwhile(_ reply: JSONValue) {
    print("\(reply["change"].string ?? "changed"): committed (the leadership moved meanwhile)")
}

/// settledNow: the agent at `target` shows `settled` holding in a *committed*
/// membership. A configuration is in force once appended, so while a change is in
/// progress GET /members may show one that a new leader will still cut (a change that
/// did not commit read back as done: the fault soak, seed 1017); wait up to 3 s for it
/// to settle, and count only a settled answer.
func settledNow(_ settled: Settled, at target: AgentTarget) -> Bool {
    for attempt in 0..<12 {
        if attempt > 0 { try? PosixThread.sleepMs(250) }
        guard case .success(let look) = HTTPClient.request("GET", settled.path, to: target, headers: [], body: [], timeoutMs: 5_000),
              look.status == 200, let now = JSONValue.read(look.bodyText) else { return false }
        if now["change_in_progress"].bool == true { continue }
        return settled.holds(now)
    }
    return false
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
