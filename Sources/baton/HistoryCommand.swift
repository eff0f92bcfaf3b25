// `baton history`: the replicated leadership history (GET /history), the same on every
// member: who led, from when, why they left, hook outcomes, pauses.
import ArgumentParser
import HTTPParser
import JSON

#if canImport(Glibc)
import Glibc
#endif

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show who led, when and why: office changes, hook outcomes, pauses (the same on every member).",
        discussion: "Exit status: 0 shown, 1 refused (bad --since or --limit), 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions
    @Option(help: "Only records about this term and later.") var since: UInt64?
    @Option(help: "Only the newest N records.") var limit: Int?
    @Flag(help: "Print the agent's JSON answer as it came (for scripts and jq).") var json = false

    func run() throws {
        var query: [String] = []
        if let since { query.append("since=\(since)") }
        if let limit { query.append("limit=\(limit)") }
        let target = options.target()
        let answer = get("/history" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), from: target)
        guard answer.status == 200, let h = JSONValue.read(answer.bodyText) else {
            let reason = JSONValue.read(answer.bodyText)?["reason"].string ?? answer.bodyText
            printError("the agent at \(target) answered /history with \(answer.status): \(reason)")
            throw ExitCode(answer.status == 400 ? 1 : 2)
        }
        if json {
            print(answer.bodyText, terminator: answer.bodyText.hasSuffix("\n") ? "" : "\n")
            return
        }
        print(Self.render(h), terminator: "")
    }

    static func render(_ h: JSONValue) -> String {
        let records = h["history"].array ?? []
        guard !records.isEmpty else { return "no history yet\n" }
        var table = [["INDEX", "TERM", "WHEN (UTC)", "EVENT", "MEMBER", "DETAIL"]]
        for r in records {
            let detail: String
            switch r["event"].string ?? "" {
            case "enter":
                detail = "by \(r["reason"].string ?? "?")" + (r["previous"].string.map { ", after \($0)" } ?? "")
            case "hand-over", "hand-over-refused":
                detail = (r["reason"].string ?? "") + (r["by"].string.map { ", asked by \($0)" } ?? "")
            case "hook":
                detail = "\(r["hook"].string ?? "?"): \(r["result"].string ?? "?") in \(r["duration_ms"].int ?? 0) ms"
            case "handover-scheduled":
                detail = "hand-over to \(r["member"].string ?? "?") at \(when(r["at_unix_ms"].int)) UTC (in \((r["delay_ms"].int ?? 0) / 1000) s)"
                    + (r["by"].string.map { ", asked by \($0)" } ?? "")
            case "handover-cancelled", "handover-carried-out", "handover-dropped":
                detail = "scheduled at \(r["scheduled_index"].int ?? 0): \(r["reason"].string ?? "")" + (r["by"].string.map { " (\($0))" } ?? "")
            case "pause":
                detail = "for \((r["duration_ms"].int ?? 0) / 1000) s" + (r["reason"].string.map { ": \($0)" } ?? "")
                    + (r["by"].string.map { " (\($0))" } ?? "")
            default:
                detail = (r["reason"].string ?? "") + (r["by"].string.map { " (\($0))" } ?? "")
            }
            table.append(["\(r["index"].int ?? 0)", "\(r["term"].int ?? 0)", when(r["unix_ms"].int), r["event"].string ?? "?",
                          r["member"].string ?? "-", detail])
        }
        return StatusCommand.columns(table)
    }

    /// when formats Unix milliseconds as UTC, "-" when unknown.
    static func when(_ ms: Int?) -> String {
        guard let ms else { return "-" }
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(String(1000 + ms % 1000).dropFirst())"
    }
}
