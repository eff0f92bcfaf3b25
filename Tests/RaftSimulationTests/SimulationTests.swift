import RaftCore
import RaftSimulation
import Testing

/// SimulationTests run the real core under the simulator: clean seeds must pass, the
/// same seed must give the same history, and every injected bug must be caught.
@Suite struct SimulationTests {
    static func settings(_ shape: ClusterShape, witnesses: Bool = false, safetyS: Int64 = 5,
                         scenario: Scenario = .random) -> SimulationSettings {
        var s = SimulationSettings()
        s.shape = shape
        s.witnesses = witnesses
        s.safetyPhase = .seconds(safetyS)
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

    /// Membership changes (add, promote, remove, remove the leader), data-dir wipes with
    /// and without --bootstrap, and compaction, under every other fault: clean.
    @Test func membershipSeedsPass() {
        var s = Self.settings(.three)
        s.membership = .always
        #expect(Self.failures(s, seeds: 3001...3080).isEmpty)
        s.shape = .five
        #expect(Self.failures(s, seeds: 4001...4040).isEmpty)
    }

    /// A wiped member, removed meanwhile, installed a snapshot whose configuration had its
    /// *earlier* incarnation as sole voter, and elected itself without the group's later
    /// entries (LeaderCompleteness; `baton-sim --seed 112003 --nodes 3 --duration 10s
    /// --membership always`). A record bound to another incarnation of this node must not
    /// let it campaign.
    @Test func aWipedMembersOldSelfInASnapshotNeverCampaigns() {
        var s = Self.settings(.three, safetyS: 10)
        s.membership = .always
        #expect(Self.failures(s, seeds: 112003...112003).isEmpty)
    }

    /// The membership runs did membership work: changes committed, wipes, snapshots.
    @Test func membershipRunsExerciseChanges() {
        var s = Self.settings(.three)
        s.membership = .always
        var m = MembershipStats()
        for seed: UInt64 in 1...60 { m.add(runSimulation(seed: seed, settings: s).membership) }
        #expect(m.appended >= 40)
        #expect(m.wipes >= 20)
        #expect(m.compactions >= 10)
        #expect(m.snapshotsInstalled >= 1)
        #expect(m.identityConflicts >= 1)
    }

    // The injected bugs exist only in the fault-injection build (scripts/sim-faults runs
    // them through baton-sim); the production core has no such branches.
}
