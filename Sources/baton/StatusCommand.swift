// `baton status`: the agent's /status as a readable table, or the JSON itself.
import ArgumentParser

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this agent's view: role, term, leader, lease, peers.",
        discussion: "Exit status: 0 shown, 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions
    @Flag(help: "Print the agent's JSON answer as it came (for scripts and jq).") var json = false

    func run() throws {
        let answer = get("/status", from: options.address())
        guard answer.status == 200, let s = JSON.parse(answer.body) else {
            die("the agent at \(options.address()) answered /status with \(answer.status): \(answer.body)")
        }
        if json {
            print(answer.body, terminator: answer.body.hasSuffix("\n") ? "" : "\n")
            return
        }
        print(Self.render(s), terminator: "")
    }

    /// render lays /status out for a person: the node first, then one row per peer.
    static func render(_ s: JSON) -> String {
        func text(_ v: JSON) -> String {
            switch v {
            case .null: return "-"
            case .bool(let b): return b ? "yes" : "no"
            case .number: return v.int.map { "\($0)" } ?? "\(v.double!)"
            case .string(let t): return t
            default: return "…"
            }
        }
        var out = ""
        let leader = s["leader"].isNull ? "none known" : "\(text(s["leader"]["id"])) (api \(text(s["leader"]["api"])))"
        let config = s["config"]
        let timeouts = config["election_timeout_ms"].array.map(text).joined(separator: "..")
        let rows: [(String, String)] = [
            ("node", "\(text(s["id"]))\(s["witness"].bool == true ? " (witness)" : "")"),
            ("role", text(s["role"])),
            ("term", text(s["term"])),
            ("in office", s["in_office"].bool == true ? "yes, lease \(text(s["lease_remaining_ms"])) ms left" : "no"),
            ("leader", leader),
            ("leader since", text(s["office_since"])),
            ("log", "commit \(text(s["commit_index"])), last \(text(s["last_log_index"]))"),
            ("storage", s["storage"]["ok"].bool == true ? "ok" : "FAILING: \(text(s["storage"]["error"]))"),
            ("version", text(s["version"])),
            ("config", "members \(config["members"].array.map(text).joined(separator: ",")), election \(timeouts) ms, heartbeat \(text(config["heartbeat_ms"])) ms, max drift \(text(config["max_drift"]))"),
        ]
        for (k, v) in rows { out += pad(k, 14) + v + "\n" }
        for case .object(let fields) in [s] {
            for (key, value) in fields where key == "hooks" {
                out += pad("hooks", 14) + compact(value) + "\n"
            }
        }
        let header = ["PEER", "REACHABLE", "LAST CONTACT", "RTT", "MATCH", "CAN LEAD", "PEER ADDRESS", "API"]
        var table = [header]
        for p in s["peers"].array {
            table.append([text(p["id"]), text(p["reachable"]),
                          p["last_contact_ms_ago"].isNull ? "never" : "\(text(p["last_contact_ms_ago"])) ms ago",
                          p["rtt_ms"].isNull ? "-" : "\(text(p["rtt_ms"])) ms",
                          text(p["match_index"]), text(p["can_lead"]),
                          text(p["peer"]), text(p["api"])])
        }
        let widths = header.indices.map { col in table.map { $0[col].count }.max()! + 2 }
        out += "\n"
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

    /// compact writes a value on one line (for sections added by later features).
    static func compact(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.rounded() == n && abs(n) < 9e15 ? "\(Int(n))" : "\(n)"
        case .string(let t): return t
        case .array(let items): return "[" + items.map(compact).joined(separator: ", ") + "]"
        case .object(let fields): return fields.map { "\($0.0)=\(compact($0.1))" }.joined(separator: " ")
        }
    }
}
