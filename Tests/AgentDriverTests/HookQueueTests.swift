import AgentDriver
import Testing

/// Table tests of the S4 ordering rules: each row feeds office changes and hook
/// completions and checks every action that comes out.
@Suite struct HookQueueTests {
    enum Input {
        case begin, enter(UInt64, String), leave(UInt64, String), done(Bool), delay(UInt64), leader(UInt64)
    }

    static func run(_ inputs: [Input], delayed: Bool = false, resign: Bool = true) -> [HookAction] {
        var q = HookQueue(promoteDelayed: delayed, resignOnPromoteFailure: resign)
        var out: [HookAction] = []
        for i in inputs {
            switch i {
            case .begin: out += q.begin()
            case .enter(let t, let r): out += q.officeEntered(term: t, reason: r)
            case .leave(let t, let r): out += q.officeLeft(term: t, reason: r)
            case .done(let ok): out += q.finished(succeeded: ok)
            case .delay(let t): out += q.promoteDelayElapsed(term: t)
            case .leader(let t): out += q.leaderChanged(term: t, reason: "leader-changed")
            }
        }
        return out
    }

    static let startup = HookJob(event: .startup, term: 0, reason: "startup")
    static func promote(_ t: UInt64, _ r: String = "election") -> HookJob { HookJob(event: .promote, term: t, reason: r) }
    static func demote(_ t: UInt64, _ r: String) -> HookJob { HookJob(event: .demote, term: t, reason: r) }

    static func change(_ t: UInt64) -> HookJob { HookJob(event: .change, term: t, reason: "leader-changed") }

    @Test func aLeaderElsewhereIsOneChangeRunAndOnlyTheLatestOfThoseWaiting() {
        // The leader of term 2 seen during the start-up run, those of terms 3 and 4
        // while 2's change runs: 3's is replaced by 4's before it starts; no pairing.
        #expect(Self.run([.begin, .leader(2), .done(true), .leader(3), .leader(4), .done(true), .done(true)]) == [
            .start(Self.startup), .startupFinished, .start(Self.change(2)), .start(Self.change(4)),
        ])
        // A change run waiting ahead of this node's own promote runs first, in order.
        #expect(Self.run([.begin, .done(true), .leader(2), .enter(3, "election"), .done(true), .done(true)]) == [
            .start(Self.startup), .startupFinished, .start(Self.change(2)), .start(Self.promote(3)),
        ])
    }

    @Test func startupRunsFirstAndAloneThenPromoteWaitsForIt() {
        #expect(Self.run([.begin, .enter(3, "election"), .done(true), .done(true)]) == [
            .start(Self.startup), .startupFinished, .start(Self.promote(3)),
        ])
    }

    @Test func promoteThenDemoteInOrderAndDemoteFinishedReported() {
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .leave(3, "shutdown"), .done(true), .done(true)]) == [
            .start(Self.startup), .startupFinished,
            .start(Self.promote(3)),
            // the leave arrives while the promote runs: the demote waits its turn
            .start(Self.demote(3, "shutdown")), .demoteFinished(term: 3),
        ])
    }

    @Test func promoteNotStartedBeforeOfficeEndedIsSkippedWithItsDemote() {
        // Start-up still runs when the office comes and goes: both hooks are skipped,
        // and the core hears "demote finished" only when the start-up run is over.
        #expect(Self.run([.begin, .enter(4, "election"), .leave(4, "lease-lost"), .done(true)]) == [
            .start(Self.startup), .skipped(term: 4), .startupFinished, .demoteFinished(term: 4),
        ])
    }

    @Test func manyOfficesWhileAHookRunsKeepOrderAndPairing() {
        let out = Self.run([.begin, .done(true), .enter(2, "election"),
                            .leave(2, "higher-term"), .enter(5, "transfer"), .leave(5, "transfer"),
                            .enter(7, "election"),
                            .done(true), .done(true), .done(true), .leave(7, "shutdown"), .done(true), .done(true)])
        #expect(out == [
            .start(Self.startup), .startupFinished,
            .start(Self.promote(2)),
            .skipped(term: 5),
            .start(Self.demote(2, "higher-term")), .demoteFinished(term: 2),
            .demoteFinished(term: 5),
            .start(Self.promote(7)),
            .start(Self.demote(7, "shutdown")), .demoteFinished(term: 7),
        ])
    }

    @Test func failedPromoteResignsOnlyWhileStillInOfficeAndWithResignPolicy() {
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .done(false)]) == [
            .start(Self.startup), .startupFinished, .start(Self.promote(3)), .resign(term: 3),
        ])
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .done(false)], resign: false) == [
            .start(Self.startup), .startupFinished, .start(Self.promote(3)),
        ])
        // Office already gone: the demote is queued anyway, no resign.
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .leave(3, "lease-lost"), .done(false), .done(true)]) == [
            .start(Self.startup), .startupFinished, .start(Self.promote(3)),
            .start(Self.demote(3, "lease-lost")), .demoteFinished(term: 3),
        ])
    }

    @Test func failedDemoteStillCountsAsFinished() {
        #expect(Self.run([.begin, .done(false), .enter(3, "election"), .done(true), .leave(3, "transfer"), .done(false)]) == [
            .start(Self.startup), .startupFinished, .start(Self.promote(3)),
            .start(Self.demote(3, "transfer")), .demoteFinished(term: 3),
        ])
    }

    @Test func promoteDelayWaitsThenRunsOrIsSkippedWhenOfficeEndsMeanwhile() {
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .delay(3), .leave(3, "transfer"), .done(true), .done(true)], delayed: true) == [
            .start(Self.startup), .startupFinished, .waitPromoteDelay(term: 3), .start(Self.promote(3)),
            .start(Self.demote(3, "transfer")), .demoteFinished(term: 3),
        ])
        #expect(Self.run([.begin, .done(true), .enter(3, "election"), .leave(3, "lease-lost"), .delay(3), .enter(5, "election")], delayed: true) == [
            .start(Self.startup), .startupFinished, .waitPromoteDelay(term: 3),
            .skipped(term: 3), .demoteFinished(term: 3),
            // the stale timer of term 3 does nothing
            .waitPromoteDelay(term: 5),
        ])
    }

    @Test func completionsWithNothingRunningAndStrayLeavesChangeNothing() {
        var q = HookQueue(promoteDelayed: false, resignOnPromoteFailure: true)
        _ = q.begin()
        _ = q.finished(succeeded: true)
        #expect(q.isIdle)
        #expect(q.finished(succeeded: true) == [])
        #expect(q.promoteDelayElapsed(term: 9) == [])
    }
}
