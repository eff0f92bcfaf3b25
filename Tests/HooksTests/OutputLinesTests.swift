import Hooks
import Testing

@Suite struct OutputLinesTests {
    @Test func splitsChunksIntoLinesAcrossBoundaries() {
        var lines = OutputLines(maxLineBytes: 100, budget: .init(limit: 1000))
        #expect(lines.feed(Array("one\ntw".utf8)) == ["one"])
        #expect(lines.feed(Array("o\r\nthree".utf8)) == ["two"])
        #expect(lines.finish() == "three")
        #expect(lines.finish() == nil)
    }

    @Test func cutsLongLinesAtTheLimitAndMarksThem() {
        var lines = OutputLines(maxLineBytes: 4, budget: .init(limit: 1000))
        #expect(lines.feed(Array("abcd\nabcde\nxy\n".utf8)) == ["abcd", "abcd…[cut]", "xy"])
    }

    @Test func stopsLoggingAfterTheRunBudgetSharedByBothStreams() {
        let budget = OutputLines.Budget(limit: 10)
        var out = OutputLines(maxLineBytes: 100, budget: budget)
        var err = OutputLines(maxLineBytes: 100, budget: budget)
        #expect(out.feed(Array("12345\n".utf8)) == ["12345"])
        #expect(err.feed(Array("abc\ndefgh\n".utf8)) == ["abc"])
        #expect(err.finish() == nil)
        #expect(budget.used == 10)
        #expect(budget.dropped == 6)
        #expect(out.feed(Array("more\n".utf8)) == [])
        #expect(budget.dropped == 11)
    }
}
