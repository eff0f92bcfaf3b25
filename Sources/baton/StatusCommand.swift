// `baton status`: the agent's /status as a readable table, or the JSON itself.
import JSON
import ArgumentParser
import HTTPParser

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this agent's view: role, term, leader, lease, peers.",
        discussion: "Exit status: 0 shown, 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions
    @Flag(help: "Print the agent's JSON answer as it came (for scripts and jq).") var json = false

    func run() throws {
        let target = options.target()
        let answer = get("/status", from: target)
        guard answer.status == 200, let s = JSONValue.read(answer.bodyText) else {
            die("the agent at \(target) answered /status with \(answer.status): \(answer.bodyText)")
        }
        if json {
            print(answer.bodyText, terminator: answer.bodyText.hasSuffix("\n") ? "" : "\n")
            return
        }
        print(Self.render(s), terminator: "")
    }

    /// render lays /status out for a person: the node first, then one row per peer.
    static func render(_ s: JSONValue) -> String {
        func text(_ v: JSONValue) -> String {
            switch v {
            case .null: return "-"
            case .bool(let b): return b ? "yes" : "no"
            case .number(let n): return n
            case .string(let t): return t
            default: return "…"
            }
        }
        var out = ""
        let leader = s["leader"].isNull ? "none known" : "\(text(s["leader"]["id"])) (api \(text(s["leader"]["api"])))"
        let config = s["config"]
        let timeouts = config["election_timeout_ms"].items.map(text).joined(separator: "..")
        let rows: [(String, String)] = [
            ("node", "\(text(s["id"]))\(s["witness"].bool == true ? " (witness)" : "")"),
            ("role", text(s["role"])),
            ("membership", "\(text(s["membership"]))\(s["membership_change_in_progress"].bool == true ? ", a change is in progress" : ""); configuration at index \(text(s["configuration_index"])) (baton members lists it)"),
            ("term", text(s["term"])),
            ("in office", s["in_office"].bool == true ? "yes, lease \(text(s["lease_remaining_ms"])) ms left" : "no"),
            ("leader", leader),
            ("leader since", text(s["office_since"])),
            ("log", "commit \(text(s["commit_index"])), last \(text(s["last_log_index"]))"),
            ("storage", s["storage"]["ok"].bool == true ? "ok" : "FAILING: \(text(s["storage"]["error"]))"),
            ("version", text(s["version"])),
            ("config", "members \(config["members"].items.map(text).joined(separator: ",")), election \(timeouts) ms, heartbeat \(text(config["heartbeat_ms"])) ms, max drift \(text(config["max_drift"]))"),
        ]
        for (k, v) in rows { out += pad(k, 14) + v + "\n" }
        if s["pause"]["paused"].bool == true {
            let p = s["pause"]
            let why = p["reason"].string.map { $0.isEmpty ? "" : ": \($0)" } ?? ""
            out += pad("paused", 14) + "yes, \((p["remaining_ms"].int ?? 0) / 1000) s left, by \(p["by"].string ?? "?")\(why)"
                + (p["committed"].bool == false ? " (not yet committed)" : "") + "\n"
        }
        if s["handover"]["to"].string != nil {
            let h = s["handover"]
            out += pad("hand-over", 14) + "to \(h["to"].string ?? "?") at \(HistoryCommand.when(h["at_unix_ms"].int)) UTC, "
                + "\((h["remaining_ms"].int ?? 0) / 1000) s left, asked by \(h["by"].string ?? "?") (cancel: baton resign --cancel)\n"
        }
        out += pad("campaigning", 14) + (s["campaign_allowed"].bool == false ? "held back (start-up hook, check, promote back-off or stopping)" : "allowed") + "\n"
        let check = s["check"]
        if !check.isNull {
            let state = check["healthy"].bool == true ? "healthy" : "FAILING (\(text(check["consecutive_failures"])) in a row)"
            out += pad("check", 14) + "\(state), \(text(check["passes"])) passed, \(text(check["failures"])) failed, last took \(text(check["last_duration_ms"])) ms"
            if let detail = check["last_detail"].string, !detail.isEmpty { out += ": \(detail)" }
            out += "\n"
        }
        let hooks = s["hooks"]
        if !hooks.isNull {
            out += pad("hooks", 14) + "\(text(hooks["runs"])) runs, \(text(hooks["failures"])) failed, \(text(hooks["timeouts"])) timed out, \(text(hooks["skipped_pairs"])) skipped pairs; start-up hook \(hooks["startup_finished"].bool == true ? "finished" : "running")\n"
            var table = [["HOOK", "LAST EVENT", "TERM", "RESULT", "DURATION"]]
            if case .object(let last) = hooks["last"] {
                for member in last {
                    let (name, run) = (member.name, member.value)
                    let running = run["running"].bool == true
                    table.append([name, text(run["event"]), text(run["term"]), running ? "running" : text(run["result"]),
                                  running ? "-" : "\(text(run["duration_ms"])) ms"])
                }
            }
            if table.count > 1 { out += "\n" + columns(table) }
        }
        let header = ["PEER", "ROLE", "REACHABLE", "LAST CONTACT", "RTT", "MATCH", "CAN LEAD", "PEER ADDRESS", "API"]
        var table = [header]
        for p in s["peers"].items {
            table.append([text(p["id"]), text(p["role"]), text(p["reachable"]),
                          p["last_contact_ms_ago"].isNull ? "never" : "\(text(p["last_contact_ms_ago"])) ms ago",
                          p["rtt_ms"].isNull ? "-" : "\(text(p["rtt_ms"])) ms",
                          text(p["match_index"]), text(p["can_lead"]),
                          text(p["peer"]), text(p["api"])])
        }
        out += "\n" + columns(table)
        return out
    }

    /// columns lays out rows of cells, each column as wide as its widest cell.
    static func columns(_ table: [[String]]) -> String {
        let widths = table[0].indices.map { col in table.map { $0[col].count }.max()! + 2 }
        var out = ""
        for row in table {
            var line = ""
            for (col, cell) in row.enumerated() { line += col == row.count - 1 ? cell : pad(cell, widths[col]) }
            out += line + "\n"
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
