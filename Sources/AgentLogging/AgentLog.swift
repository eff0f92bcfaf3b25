/// AgentLog writes the agent's log: one line per event, `key=value` text or JSON, each
/// with the time, a level, the node, its term and role, a stable event name and a short
/// message for people. Lines an outside checker needs (office changes) carry
/// CLOCK_BOOTTIME (`boottime_ns`) so they line up across nodes.
///
/// It never blocks the caller's thread (issue 15 item 3): lines go to a bounded buffer
/// that a non-blocking output drains; when the output stalls, lines are dropped and
/// counted (`droppedLines`, the metric `baton_log_lines_dropped_total`), essential lines
/// last. Repeated lines are rate-limited per cause with a "repeated N times" summary.
///
/// Single-threaded: call it from the event loop only. When it has something to do
/// later (flush a stalled output, write a summary), it asks through `wake`.
public final class AgentLog {
    /// Policy says how a line is treated under load.
    public enum Policy: Sendable {
        /// Rate-limited by event name (the default).
        case ordinary
        /// Rate-limited under a caller's key (e.g. event and peer), counted per key.
        case limited(key: String)
        /// Never rate-limited (bounded by what causes it: hook runs, transitions).
        case always
        /// Never rate-limited and may use the buffer's reserve: office changes, start, stop.
        case essential
    }

    /// Limits are every bound the log keeps, in one place.
    public struct Limits: Sendable {
        public var bufferBytes = 256 * 1024
        /// reserveBytes of the buffer only essential lines may fill.
        public var reserveBytes = 64 * 1024
        /// maxLineBytes: longer messages and field values are cut (with `…`).
        public var maxLineBytes = 8 * 1024
        /// Rate limit per cause: `burst` lines per `windowNs`.
        public var rateWindowNs: UInt64 = 10_000_000_000
        public var rateBurst = 5
        public var rateKeys = 256
        /// retryNs: how soon a stalled output is tried again.
        public var retryNs: UInt64 = 50_000_000
        public init() {}
    }

    /// Clock supplies wall time (for `time`) and CLOCK_BOOTTIME (for `boottime_ns` and
    /// every interval), so tests and simulations can run the log on their own clock.
    public struct Clock: Sendable {
        public var wallNs: @Sendable () -> Int64
        public var bootNs: @Sendable () -> UInt64
        public init(wallNs: @escaping @Sendable () -> Int64, bootNs: @escaping @Sendable () -> UInt64) {
            self.wallNs = wallNs
            self.bootNs = bootNs
        }
    }

    public let node: String
    /// format and minimumLevel can change while running (SIGHUP reload).
    public var format: LogFormat
    public var minimumLevel: LogLevel
    /// context gives the term and role every line carries; set by the agent once its
    /// state exists. Lines before that say term 0 (or the `term:` given) and "follower".
    public var context: (() -> (term: UInt64, role: String))?
    /// wake asks the owner to call `service()` at (or after) a CLOCK_BOOTTIME instant.
    public var wake: ((UInt64) -> Void)?

    /// droppedLines: lines lost because the output did not take them in time.
    public private(set) var droppedLines: UInt64 = 0
    /// suppressedLines: lines held back by the rate limit (each is in a summary).
    public private(set) var suppressedLines: UInt64 = 0

    let limits: Limits
    let output: any LogOutput
    let clock: Clock
    private var buffer: LogBuffer
    private var limiter: RateLimiter
    private var droppedSinceNotice: UInt64 = 0
    private var outputGone = false
    private var wakeRequestedNs: UInt64? = nil

    public init(node: String, format: LogFormat, minimumLevel: LogLevel = .info,
                output: any LogOutput, clock: Clock, limits: Limits = Limits()) {
        self.node = node
        self.format = format
        self.minimumLevel = minimumLevel
        self.output = output
        self.clock = clock
        self.limits = limits
        buffer = LogBuffer(capacity: limits.bufferBytes, reserve: limits.reserveBytes)
        limiter = RateLimiter(.init(windowNs: limits.rateWindowNs, burst: limits.rateBurst, maxKeys: limits.rateKeys))
    }

    /// event writes one line: `name` is the stable event name tools match on, `message`
    /// a short sentence for people, `fields` typed key/values. `term` overrides the
    /// context's term (an office line names the office's term).
    public func event(_ name: String, _ level: LogLevel, _ message: String, _ fields: LogFields = [],
                      _ policy: Policy = .ordinary, term: UInt64? = nil) {
        guard level >= minimumLevel else { return }
        let now = clock.bootNs()
        let key: String?
        switch policy {
        case .ordinary: key = name
        case .limited(let k): key = k
        case .always, .essential: key = nil
        }
        if let key {
            let decision = limiter.admit(key: key, event: name, level: level, message: message, nowNs: now)
            for s in decision.summaries { writeSummary(s, nowNs: now) }
            if let at = decision.wakeAtNs { requestWake(at) }
            guard decision.show else { suppressedLines += 1; return }
        }
        let essential: Bool
        if case .essential = policy { essential = true } else { essential = false }
        write(name, level, message, fields, essential: essential, term: term, bootNs: now)
    }

    /// service writes the summaries of rate-limit windows that ended and retries a
    /// stalled output. Call it when `wake` asked; calling it more often is harmless.
    public func service() {
        let now = clock.bootNs()
        if let at = wakeRequestedNs, at <= now { wakeRequestedNs = nil }
        for s in limiter.expire(nowNs: now) { writeSummary(s, nowNs: now) }
        flush()
        if let next = limiter.nextExpiryNs { requestWake(next) }
    }

    /// drain waits, at most `timeoutMs`, for the output to take every pending line:
    /// on the way out, so the last lines are not lost. It blocks; never call it from a
    /// loop that still serves.
    public func drain(timeoutMs: Int) {
        let deadline = clock.bootNs() &+ UInt64(max(0, timeoutMs)) * 1_000_000
        while !buffer.isEmpty && !outputGone {
            flush()
            let now = clock.bootNs()
            if buffer.isEmpty || now >= deadline { break }
            _ = output.waitWritable(timeoutMs: Int((deadline - now) / 1_000_000) + 1)
        }
    }

    /// writeSummaries writes what every rate-limit window held back so far, ended or
    /// not: before the last line of a process.
    public func writeSummaries() {
        for s in limiter.expire(nowNs: .max) { writeSummary(s, nowNs: clock.bootNs()) }
    }

    public var pendingBytes: Int { buffer.pendingBytes }

    // MARK: Writing

    private func write(_ name: String, _ level: LogLevel, _ message: String, _ fields: LogFields,
                       essential: Bool, term: UInt64?, bootNs: UInt64) {
        if outputGone { droppedLines += 1; return }
        let ctx = context?() ?? (term: 0, role: "follower")
        let line = format(name: name, level: level, message: message, fields: fields,
                          term: term ?? ctx.term, role: ctx.role, bootNs: bootNs)
        // A line that does not fit waits for the output only if the buffer drains now.
        if !buffer.append(line, essential: essential) {
            flush()
            if !buffer.append(line, essential: essential) {
                droppedLines += 1
                droppedSinceNotice += 1
                requestWake(bootNs &+ limits.retryNs)
                return
            }
        }
        flush()
    }

    /// flush hands the buffer to the output; once it drained after lines were lost, a
    /// warning says how many.
    private func flush() {
        var result = buffer.drain({ output.writeSome($0) })
        if result == .empty && droppedSinceNotice > 0 {
            let n = droppedSinceNotice
            droppedSinceNotice = 0
            let ctx = context?() ?? (term: 0, role: "follower")
            let line = format(name: "log-lines-dropped", level: .warning,
                              message: "\(n) log lines were dropped: standard error did not take them in time",
                              fields: [("dropped", .uint(n)), ("dropped_total", .uint(droppedLines))],
                              term: ctx.term, role: ctx.role, bootNs: clock.bootNs())
            _ = buffer.append(line, essential: true)
            result = buffer.drain({ output.writeSome($0) })
        }
        switch result {
        case .empty: break
        case .blocked: requestWake(clock.bootNs() &+ limits.retryNs)
        case .gone:
            outputGone = true
            droppedLines += UInt64(buffer.discard())
        }
    }

    private func requestWake(_ atNs: UInt64) {
        guard let wake else { return }
        if let at = wakeRequestedNs, at <= atNs { return }
        wakeRequestedNs = atNs
        wake(atNs)
    }

    private func writeSummary(_ s: RateLimiter.Summary, nowNs: UInt64) {
        let seconds = Double(s.windowNs / 1_000_000) / 1000
        var fields: LogFields = [("repeated_event", .string(s.event)), ("count", .number(s.count)),
                                 ("window_s", .double(seconds))]
        if s.key != s.event { fields.append(("key", .string(s.key))) }
        fields.append(("last_msg", .string(s.lastMessage)))
        write("log-repeated", s.level,
              "\(s.event) repeated \(s.count) more times in \(LogValue.double(seconds).text)s (not shown)",
              fields, essential: false, term: nil, bootNs: nowNs)
    }

    /// format builds one line, newline included.
    func format(name: String, level: LogLevel, message: String, fields: LogFields,
                term: UInt64, role: String, bootNs: UInt64) -> [UInt8] {
        let time = JSONText.rfc3339(clock.wallNs())
        let msg = cut(message)
        var line = output.wantsPriorityPrefix ? "<\(level.rawValue)>" : ""
        switch format {
        case .text:
            line += "time=\(time) level=\(level.name) boottime_ns=\(bootNs) node=\(LogValue.string(node).text) term=\(term) role=\(role) event=\(name) msg=\(LogValue.string(msg).text)"
            for (k, v) in fields { line += " \(k)=\(cut(v).text)" }
        case .json:
            line += "{\"time\":\"\(time)\",\"level\":\"\(level.name)\",\"boottime_ns\":\(bootNs),\"node\":\(JSONText.quote(node)),\"term\":\(term),\"role\":\(JSONText.quote(role)),\"event\":\(JSONText.quote(name)),\"msg\":\(JSONText.quote(msg))"
            for (k, v) in fields { line += ",\(JSONText.quote(k)):\(cut(v).json)" }
            line += "}"
        }
        line += "\n"
        return Array(line.utf8)
    }

    private func cut(_ s: String) -> String {
        let limit = limits.maxLineBytes / 2
        guard s.utf8.count > limit else { return s }
        var out = ""
        for ch in s {
            if out.utf8.count + ch.utf8.count > limit - 3 { break }
            out.append(ch)
        }
        return out + "…"
    }

    private func cut(_ v: LogValue) -> LogValue {
        if case .string(let s) = v { return .string(cut(s)) }
        return v
    }
}

extension AgentLog {
    /// json quotes a string for JSON; kept here because the API's hand-built answers use it.
    public static func json(_ s: String) -> String { JSONText.quote(s) }
    /// rfc3339 formats wall-clock nanoseconds (UTC).
    public static func rfc3339(_ ns: Int64) -> String { JSONText.rfc3339(ns) }
}
