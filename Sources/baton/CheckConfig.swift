// `baton agent --check-config` (issue 17 point 2): everything the agent would check at
// start-up, without starting it, changing nothing; for the unit's ExecStartPre and for
// an operator before a restart.
import AgentConfig

#if canImport(Glibc)
import Glibc
#endif

enum CheckConfigReport {
    /// run prints the effective settings with their sources and every check, then exits:
    /// 0 when the agent would start with these settings, 2 when not.
    static func run(_ settings: AgentSettings, sources: SettingSources) -> Never {
        var out = "Effective settings of member \(settings.id)"
        if let file = sources.file { out += " (--config \(file.name))" }
        out += ":\n"
        // With --backend etcd the Raft group's settings are refused when set, so their
        // defaults would only mislead here.
        let hidden = settings.etcd != nil ? Set(AgentSettings.raftOnlyFlags + AgentSettings.raftControlFlags) : []
        let rows = sources.effective().filter { $0.value != nil && !hidden.contains($0.flag) }
        let flagWidth = rows.map { $0.flag.count }.max() ?? 0
        let valueWidth = min(48, rows.map { $0.value!.count }.max() ?? 0)
        for row in rows {
            let value = row.value!.isEmpty ? "\"\"" : row.value!
            out += "  " + pad(row.flag, flagWidth) + "  " + pad(value, valueWidth) + "  " + (row.source?.description ?? "") + "\n"
        }
        if !settings.hookEnvironment.isEmpty {
            out += "  application variables for hooks (\(sources.file?.name ?? "")): \(settings.hookEnvironment.map(\.name).joined(separator: ", "))\n"
        }
        var findings = Preflight.report(settings)
        for stray in sources.strayEnvironment() {
            findings.append(.init(kind: .warning, flag: stray.name,
                                  message: "in the environment but not a setting, so ignored\(stray.suggestion.map { "; did you mean \($0)?" } ?? "")"))
        }
        out += "Checks:\n"
        let kindWidth = 4
        for f in findings {
            out += "  " + pad(f.kind.rawValue, kindWidth) + "  " + pad(f.flag, flagWidth) + "  " + f.message + "\n"
        }
        let errors = findings.filter { $0.kind == .error }.count
        let warnings = findings.filter { $0.kind == .warning }.count
        if errors == 0 {
            out += "baton agent --check-config: the agent would start (\(warnings) warning\(warnings == 1 ? "" : "s"))\n"
        } else {
            out += "baton agent --check-config: \(errors) problem\(errors == 1 ? "" : "s"); the agent would not start (exit 2)\n"
        }
        print(out, terminator: "")
        exit(errors == 0 ? 0 : 2)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
