import AgentDriver
import Testing

@Suite struct CheckTrackerTests {
    @Test func failingUntilFirstPassThenAfterNFailuresInARow() {
        var t = CheckTracker(failuresToFail: 3)
        #expect(!t.healthy)
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: true) == true)
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: true) == nil)   // the run of failures is broken
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: false) == false)
        #expect(t.record(passed: false) == nil)
        #expect(t.record(passed: true) == true)
        #expect(t.passes == 3 && t.failures == 7)
    }
}
