/// RateLimiter keeps one cause from flooding the log: per key (an event name, or a
/// caller's finer key), at most `burst` lines per `windowNs`; the rest are counted and
/// summarized once the window ends ("repeated N times"), the way journald's
/// RateLimitBurst/RateLimitIntervalSec treat a whole service — here per cause, so a
/// flood of rejected peers does not hide the line saying the leader changed.
struct RateLimiter {
    struct Limits: Sendable {
        var windowNs: UInt64
        var burst: Int
        /// maxKeys bounds the table; a new key past it evicts the window that started first.
        var maxKeys: Int
    }

    /// Summary is what a window suppressed.
    struct Summary: Equatable {
        var key: String
        var event: String
        var level: LogLevel
        var count: Int
        var lastMessage: String
        var windowNs: UInt64
    }

    private struct Window {
        var startNs: UInt64
        var shown = 0
        var suppressed = 0
        var event: String
        var level: LogLevel = .debug
        var lastMessage = ""
    }

    let limits: Limits
    private var windows: [String: Window] = [:]

    init(_ limits: Limits) { self.limits = limits }

    /// admit decides whether a line is shown. `summaries` are the windows that ended
    /// before it (write them first, so counts come before the line that follows them);
    /// `wakeAtNs` is set when this line is the first suppressed in its window, so the
    /// caller can come back and write the summary when the window ends.
    mutating func admit(key: String, event: String, level: LogLevel, message: String, nowNs: UInt64)
        -> (show: Bool, summaries: [Summary], wakeAtNs: UInt64?) {
        var summaries: [Summary] = []
        if var w = windows[key], nowNs &- w.startNs >= limits.windowNs || nowNs < w.startNs {
            if w.suppressed > 0 { summaries.append(summary(key, w)) }
            w = Window(startNs: nowNs, event: event)
            windows[key] = w
        }
        if windows[key] == nil {
            if windows.count >= limits.maxKeys {
                summaries += expire(nowNs: nowNs)
                if windows.count >= limits.maxKeys, let oldest = windows.min(by: { $0.value.startNs < $1.value.startNs }) {
                    if oldest.value.suppressed > 0 { summaries.append(summary(oldest.key, oldest.value)) }
                    windows[oldest.key] = nil
                }
            }
            windows[key] = Window(startNs: nowNs, event: event)
        }
        var w = windows[key]!
        defer { windows[key] = w }
        if w.shown < limits.burst {
            w.shown += 1
            return (true, summaries, nil)
        }
        w.suppressed += 1
        w.lastMessage = message
        w.level = max(w.level, level)
        return (false, summaries, w.suppressed == 1 ? w.startNs + limits.windowNs : nil)
    }

    /// expire closes every window that has ended and returns what they suppressed.
    mutating func expire(nowNs: UInt64) -> [Summary] {
        var out: [Summary] = []
        for (key, w) in windows where nowNs &- w.startNs >= limits.windowNs {
            if w.suppressed > 0 { out.append(summary(key, w)) }
            windows[key] = nil
        }
        return out.sorted { $0.key < $1.key }
    }

    /// nextExpiryNs: when the earliest window holding suppressed lines ends.
    var nextExpiryNs: UInt64? {
        windows.values.filter { $0.suppressed > 0 }.map { $0.startNs + limits.windowNs }.min()
    }

    var keyCount: Int { windows.count }

    private func summary(_ key: String, _ w: Window) -> Summary {
        Summary(key: key, event: w.event, level: w.level, count: w.suppressed, lastMessage: w.lastMessage, windowNs: limits.windowNs)
    }
}
