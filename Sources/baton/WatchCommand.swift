// `baton watch`: one line per leadership change, through the /leader long-poll.
import JSON
import ArgumentParser
import HTTPParser
import Posix
import Time

#if canImport(Glibc)
import Glibc
#endif

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print one line per leadership change until interrupted.",
        discussion: """
        Each line: the wall time, the term (fencing token) and the leader, or 'none' while \
        no leader is in office. Uses GET /leader?wait=… (long-poll), so it costs nothing \
        between changes. If the agent goes away it says so on stderr and keeps trying \
        every second; exit 2 only when the agent cannot be reached at start.
        """)
    @OptionGroup var options: APIOptions
    @Option(help: "How long each long-poll waits before asking again (at most 5m).") var wait = "60s"

    func validate() throws {
        guard let ms = Self.waitMs(wait), ms >= 1_000, ms <= 300_000 else {
            throw ValidationError("--wait: '\(wait)' must be a duration of 1s to 5m, like 60s or 2m")
        }
    }

    /// waitMs reads --wait in the one duration grammar (Time), as the agent reads ?wait=.
    static func waitMs(_ text: String) -> Int? {
        guard let interval = try? Interval(parsing: text), interval.nanoseconds >= 0 else { return nil }
        return Int(interval.nanoseconds / 1_000_000)
    }

    func run() throws {
        let api = options.target()
        let waitMs = Self.waitMs(wait)!
        var seen: (term: Int, leader: String?)? = nil
        var down = false
        while true {
            let path = seen.map { "/leader?wait=\(wait)&term=\($0.term)&leader=\($0.leader ?? "")" } ?? "/leader"
            switch HTTPClient.request("GET", path, to: api, timeoutMs: waitMs + 5_000) {
            case .failure(let error):
                if seen == nil && !down { die(error.message) }
                if !down { printError("\(error.message); retrying every second") }
                down = true
                seen = nil
                try? Sleep.ms(1_000)
            case .success(let answer):
                if down { printError("the agent at \(api) answers again") }
                down = false
                guard let body = JSONValue.read(answer.bodyText), let term = body["term"].int else {
                    printError("unexpected answer \(answer.status) from \(api): \(answer.bodyText)")
                    try? Sleep.ms(1_000)
                    continue
                }
                if answer.status == 400 { die(body["reason"].string ?? answer.bodyText) }
                let leader = answer.status == 200 ? body["leader"]["id"].string : nil
                if seen == nil || seen!.term != term || seen!.leader != leader {
                    let time = Self.wallClock()
                    // write(2) at once: a pipe reader sees each change as it happens.
                    var line = "\(time) term=\(term) leader=\(leader ?? "none")\n"
                    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
                    seen = (term, leader)
                }
            }
        }
    }

    static func wallClock() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = Int(ts.tv_nsec / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(msText)Z"
    }
}

/// Sleep pauses the client (not the agent, which never sleeps on its loop).
enum Sleep {
    static func ms(_ ms: Int) throws {
        try PosixThread.sleepMs(ms)
    }
}
