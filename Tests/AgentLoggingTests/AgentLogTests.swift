import Testing
@testable import AgentLogging

/// TestClock is a clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    var bootNs: UInt64 = 1_000_000_000
    var wallNs: Int64 = 1_796_000_000_000_000_000
    var clock: AgentLog.Clock { AgentLog.Clock(wallNs: { self.wallNs }, bootNs: { self.bootNs }) }
}

private func makeLog(_ format: LogFormat = .json, output: MemoryLogOutput = MemoryLogOutput(),
                     clock: TestClock = TestClock(), limits: AgentLog.Limits = AgentLog.Limits()) -> (AgentLog, MemoryLogOutput, TestClock) {
    let log = AgentLog(node: "n1", format: format, output: output, clock: clock.clock, limits: limits)
    return (log, output, clock)
}

@Suite struct LineFormatTests {
    @Test func jsonLineHasLevelTimeMessageAndTypedFields() {
        let (log, out, _) = makeLog()
        log.context = { (7, "leader") }
        log.event("office-enter", .notice, "n1 enters office, term 7",
                  [("token", .number(UInt64(7))), ("ok", true), ("ratio", 0.25), ("peer", "n\"2")], .essential)
        #expect(out.lines == [#"{"time":"2026-11-30T00:53:20.000Z","level":"notice","boottime_ns":1000000000,"node":"n1","term":7,"role":"leader","event":"office-enter","msg":"n1 enters office, term 7","token":7,"ok":true,"ratio":0.25,"peer":"n\"2"}"#])
    }

    @Test func textLineQuotesOnlyWhatNeedsIt() {
        let (log, out, _) = makeLog(.text)
        log.event("peer-rejected", .warning, "refused a peer", [("peer", "10.0.0.9:4000"), ("reason", "bad secret"), ("empty", "")])
        #expect(out.lines == [#"time=2026-11-30T00:53:20.000Z level=warning boottime_ns=1000000000 node=n1 term=0 role=follower event=peer-rejected msg="refused a peer" peer=10.0.0.9:4000 reason="bad secret" empty="""#])
    }

    @Test func journaldStreamGetsPriorityPrefixes() {
        let (log, out, _) = makeLog(.text, output: MemoryLogOutput(priorityPrefix: true))
        log.event("a", .warning, "w")
        log.event("b", .notice, "n")
        log.event("c", .error, "e")
        #expect(out.lines.map { String($0.prefix(3)) } == ["<4>", "<5>", "<3>"])
    }

    @Test func levelFilterDropsLessSevereLines() {
        let (log, out, _) = makeLog()
        log.minimumLevel = .warning
        log.event("i", .info, "info")
        log.event("d", .debug, "debug")
        log.event("w", .warning, "warning")
        log.event("e", .error, "error")
        #expect(out.lines.count == 2)
        #expect(LogLevel(name: "WARNING") == .warning && LogLevel(name: "verbose") == nil)
        #expect(LogLevel.error > LogLevel.warning && LogLevel.debug < LogLevel.info)
    }

    @Test func nonFiniteNumbersAreNullAndControlCharactersEscaped() {
        #expect(LogValue.double(.nan).json == "null")
        #expect(LogValue.double(2).json == "2")
        #expect(LogValue.int(-3).json == "-3")
        #expect(JSONText.quote("a\u{1}b\n") == #""a\u0001b\n""#)
        #expect(LogValue.string("x\ny").text == #""x\ny""#)
    }

    @Test func longValuesAreCut() {
        var limits = AgentLog.Limits()
        limits.maxLineBytes = 200
        let (log, out, _) = makeLog(.text, limits: limits)
        log.event("hook-output", .info, String(repeating: "x", count: 5000), [("line", .string(String(repeating: "é", count: 5000)))], .always)
        #expect(out.bytes.count < 600)
        #expect(out.lines[0].contains("…"))
    }

    @Test func rfc3339() {
        #expect(JSONText.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(JSONText.rfc3339(951_782_400_123_000_000) == "2000-02-29T00:00:00.123Z")
    }
}

@Suite struct RateLimitTests {
    @Test func floodIsCutToTheBurstAndSummarizedWhenTheWindowEnds() {
        var wakes: [UInt64] = []
        let (log, out, clock) = makeLog()
        log.wake = { wakes.append($0) }
        for i in 0..<100 {
            log.event("peer-rejected", .warning, "refused \(i)", [("n", .number(i))])
            clock.bootNs += 10_000_000   // 100 lines a second
        }
        #expect(out.lines.count == 5)
        #expect(log.suppressedLines == 95)
        #expect(wakes == [1_000_000_000 + 10_000_000_000])
        // Nothing more until the window ends; then one summary.
        log.service()
        #expect(out.lines.count == 5)
        clock.bootNs = 11_000_000_000
        log.service()
        #expect(out.lines.count == 6)
        let summary = out.lines[5]
        #expect(summary.contains(#""event":"log-repeated""#) && summary.contains(#""count":95"#))
        #expect(summary.contains(#""repeated_event":"peer-rejected""#) && summary.contains(#""last_msg":"refused 99""#))
        #expect(summary.contains(#""level":"warning""#))
        // A new window shows lines again.
        log.event("peer-rejected", .warning, "again")
        #expect(out.lines.count == 7)
    }

    @Test func summaryComesBeforeTheFirstLineOfTheNextWindowWithoutAWake() {
        let (log, out, clock) = makeLog()
        for _ in 0..<8 { log.event("check-failed", .warning, "failed") }
        clock.bootNs += 10_000_000_000
        log.event("check-failed", .warning, "failed")
        #expect(out.lines.count == 7)
        #expect(out.lines[5].contains("repeated 3 more times"))
    }

    @Test func essentialAndAlwaysLinesAreNeverLimited() {
        let (log, out, _) = makeLog()
        for _ in 0..<50 { log.event("office-enter", .notice, "x", [], .essential) }
        for _ in 0..<50 { log.event("hook-output", .info, "x", [], .always) }
        #expect(out.lines.count == 100)
        #expect(log.suppressedLines == 0)
    }

    @Test func keysAreLimitedSeparatelyAndTheTableIsBounded() {
        var limits = AgentLog.Limits()
        limits.rateKeys = 4
        let (log, out, clock) = makeLog(limits: limits)
        for peer in 0..<3 {
            for _ in 0..<10 { log.event("peer-disconnected", .info, "p\(peer)", [], .limited(key: "p\(peer)")) }
            clock.bootNs += 1_000_000
        }
        #expect(out.lines.count == 15)
        // 10 more keys: the table stays at 4, the oldest windows are evicted and print
        // their summaries.
        for k in 0..<10 { log.event("e\(k)", .info, "x"); clock.bootNs += 1_000_000 }
        #expect(out.lines.filter { $0.contains("log-repeated") }.count == 3)
    }
}

@Suite struct BackpressureTests {
    @Test func aStalledOutputNeverBlocksAndDropsAreCountedThenReported() {
        let output = MemoryLogOutput(room: 0)   // a pipe nobody reads
        var limits = AgentLog.Limits()
        limits.bufferBytes = 4096
        limits.reserveBytes = 1024
        var wakes = 0
        let (log, out, _) = makeLog(output: output, limits: limits)
        log.wake = { _ in wakes += 1 }
        for i in 0..<200 { log.event("noise-\(i)", .info, "ordinary line \(i)") }
        #expect(log.droppedLines > 150)
        #expect(log.pendingBytes <= 3072)
        #expect(wakes >= 1)
        // The reserve still takes office changes.
        log.event("office-leave", .notice, "n1 leaves office, term 3", [], .essential)
        let droppedBefore = log.droppedLines
        #expect(log.pendingBytes > 3072)
        // The reader comes back: everything pending is written, office line included,
        // then a warning with the count.
        output.room = nil
        log.service()
        #expect(log.pendingBytes == 0)
        #expect(out.lines.contains { $0.contains("office-leave") })
        let last = out.lines.last!
        #expect(last.contains(#""event":"log-lines-dropped""#) && last.contains(#""dropped":\#(droppedBefore)"#))
        #expect(droppedBefore == log.droppedLines)
    }

    @Test func aGoneOutputCountsEverythingAsDropped() {
        let output = MemoryLogOutput()
        output.gone = true
        let (log, _, _) = makeLog(output: output)
        log.event("a", .info, "x")
        log.event("b", .info, "y")
        #expect(log.droppedLines == 2)
    }

    @Test func drainWritesWhatIsPendingWithinItsTime() {
        let output = MemoryLogOutput(room: 10)
        let (log, out, _) = makeLog(output: output)
        log.event("stopped", .notice, "n1 stopped", [], .essential)
        #expect(log.pendingBytes > 0)
        output.room = nil
        log.drain(timeoutMs: 100)
        #expect(log.pendingBytes == 0 && out.lines.count == 1)
    }
}
