import RaftCore
import RaftSimulation
import Testing

/// SimulationTests run the real core under the simulator: clean seeds must pass, the
/// same seed must give the same history, and every injected bug must be caught.
@Suite struct SimulationTests {
    static func settings(_ shape: ClusterShape, witnesses: Bool = false, safetyS: Int64 = 5,
                         bugs: Set<InjectedBug> = [], scenario: Scenario = .random) -> SimulationSettings {
        var s = SimulationSettings()
        s.shape = shape
        s.witnesses = witnesses
        s.safetyPhase = .seconds(safetyS)
        s.injectedBugs = bugs
        s.scenario = scenario
        return s
    }

    /// failures runs `count` seeds and returns those that violated something.
    static func failures(_ s: SimulationSettings, seeds: ClosedRange<UInt64>) -> [String] {
        seeds.compactMap { seed in
            runSimulation(seed: seed, settings: s).violation.map { "seed \(seed): \($0)" }
        }
    }

    @Test func sameSeedSameHistory() {
        var s = Self.settings(.five, safetyS: 3)
        s.traceLimit = 1_000_000
        let a = runSimulation(seed: 42, settings: s)
        let b = runSimulation(seed: 42, settings: s)
        #expect(a.digest == b.digest)
        #expect(a.trace == b.trace)
        #expect(a.events > 1000)
        let c = runSimulation(seed: 43, settings: s)
        #expect(c.digest != a.digest)
        // Tracing must not change the history.
        s.traceLimit = 0
        #expect(runSimulation(seed: 42, settings: s).digest == a.digest)
    }

    @Test func threeNodeSeedsPass() {
        let f = Self.failures(Self.settings(.three), seeds: 1...150)
        #expect(f.isEmpty, "\(f)")
    }

    @Test func fiveNodeSeedsPass() {
        let f = Self.failures(Self.settings(.five), seeds: 1001...1100)
        #expect(f.isEmpty, "\(f)")
    }

    @Test func witnessSeedsPass() {
        let f = Self.failures(Self.settings(.mixed, witnesses: true), seeds: 2001...2060)
        #expect(f.isEmpty, "\(f)")
    }

    /// The runs did real work: leaders, offices, commits, and the liveness bound held.
    @Test func runsExerciseTheCluster() {
        var offices = 0, commits: UInt64 = 0, healed = 0
        for seed: UInt64 in 1...20 {
            let r = runSimulation(seed: seed, settings: Self.settings(.three))
            offices += r.stats.offices
            commits += r.stats.commits
            if let t = r.healToOfficeNs { healed += 1; #expect(t <= r.livenessBoundNs) }
        }
        #expect(offices >= 40)
        #expect(commits >= 200)
        #expect(healed >= 18)
    }

    /// Each targeted scenario is a legal schedule: the correct core passes it.
    @Test(arguments: Scenario.allCases.filter { $0 != .random })
    func targetedScenarioPassesWithoutBug(_ scenario: Scenario) {
        let f = Self.failures(Self.settings(.three, safetyS: 6, scenario: scenario), seeds: 1...12)
        #expect(f.isEmpty, "\(f)")
    }

    /// seedLimit bounds how many seeds of its targeted scenario each bug may take.
    static let seedLimit: UInt64 = 40

    /// expectedProperties: what each bug breaks, so a catch is for the right reason.
    static func expectedProperties(_ bug: InjectedBug) -> Set<String> {
        switch bug {
        case .skipLogCheck: return ["LeaderCompleteness", "StateMachineSafety", "LogMatching"]
        case .noStickiness, .selfVoteIgnoresStickiness, .noLeaseCheck, .leaseIgnoresDrift, .leaseFromAckTime: return ["S2"]
        case .sendBeforePersist: return ["S5", "S1"]
        case .resumeOfficeAfterTransfer: return ["S3"]
        }
    }

    /// Every injected bug is caught by its targeted scenario within `seedLimit` seeds,
    /// and by the property it breaks.
    @Test(arguments: InjectedBug.allCases)
    func injectedBugIsCaught(_ bug: InjectedBug) {
        let s = Self.settings(.three, safetyS: 6, bugs: [bug], scenario: Scenario.targeted(for: bug))
        var caught: (UInt64, Violation)?
        for seed in 1...Self.seedLimit {
            if let v = runSimulation(seed: seed, settings: s).violation { caught = (seed, v); break }
        }
        #expect(caught != nil, "\(bug.rawValue) not caught in \(Self.seedLimit) seeds")
        if let (_, v) = caught { #expect(Self.expectedProperties(bug).contains(v.property), "\(v)") }
    }

    /// With the direct send check off, send-before-persist must still show through a
    /// crash inside the fsync window: the restarted node has forgotten a vote it gave.
    @Test func crashInsideTheFsyncWindowExposesSendBeforePersist() {
        var s = Self.settings(.three, safetyS: 6, bugs: [.sendBeforePersist], scenario: .crashAfterVote)
        s.checkDurableBeforeSend = false
        let caught = (UInt64(1)...Self.seedLimit).lazy.compactMap { runSimulation(seed: $0, settings: s).violation }.first
        #expect(caught?.property == "S5", "\(String(describing: caught))")
        #expect(caught?.detail.contains("restarted") == true, "\(String(describing: caught))")
        // And the same schedule is legal: without the bug it passes.
        var clean = s
        clean.injectedBugs = []
        #expect(Self.failures(clean, seeds: 1...10).isEmpty)
    }
}
