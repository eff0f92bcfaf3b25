// baton-sim: runs the deterministic cluster simulator (RaftSimulation) over one seed
// (replay, with an optional event trace) or many (a summary line), in parallel.
import ArgumentParser
import Dispatch
import Glibc
import RaftCore
import RaftSimulation
import Synchronization

/// BatonSim is the command line: `--seed N [--trace]` replays one history,
/// `--seeds COUNT` runs many and prints `SEEDS seeds, V violations, X simulated s per wall s`.
@main
struct BatonSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton-sim",
        abstract: "Deterministic simulator for Baton: Raft cores (--layer core) or whole agents (--layer agent); faults, then healing; checks S1–S5, Log Matching, Leader Completeness, hook pairing and liveness.")

    @Option(help: "What is simulated: core (RaftNode cores on a simulated network) or agent (whole AgentDrivers: disks, hooks, checks, SIGTERM, resign, SIGHUP).")
    var layer: String = "core"

    @Option(help: "Replay exactly this seed.")
    var seed: UInt64?

    @Option(help: "Run this many seeds (from --first-seed on).")
    var seeds: Int?

    @Option(help: "The first seed of a --seeds run.")
    var firstSeed: UInt64 = 1

    @Option(help: "Cluster size: 3, 5, 7 or mixed (3/5/7 drawn per seed).")
    var nodes: String = "3"

    @Flag(help: "Make some voters witnesses (vote-only), e.g. 2 voters + 1 witness.")
    var witnesses = false

    @Option(help: "Parallel workers for --seeds (threads; each run is single-threaded).")
    var jobs: Int = 1

    @Option(help: "Length of the safety (fault) phase, e.g. 10s, 30s, 1500ms.")
    var duration: String = "10s"

    @Option(help: "Switch on a deliberate bug: with --layer core, in every core (only in the fault-injection build, scripts/sim-faults): \(injectedBugNames.joined(separator: ", ")); with --layer agent, in the agents' environment (any build): \(AgentFault.allCases.map(\.rawValue).joined(separator: ", ")), or in the fault-injection build the core's bugs and the operator controls' \(controlsBugNames.joined(separator: ", ")).")
    var injectBug: [String] = []

    @Option(help: "Membership changes among the faults: off, sometimes (most seeds) or always (every seed, from a just-bootstrapped group).")
    var membership: String = "sometimes"

    @Option(help: "Fault schedule: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")); 'targeted' picks the one made for --inject-bug.")
    var scenario: String = "random"

    @Option(help: "Count but do not fail on this property (repeatable): only while a known core bug is being fixed.")
    var tolerate: [String] = []

    @Flag(help: "Do not compare sends with durable state: a send-before-persist defect must then show after a crash.")
    var noDurableSendCheck = false

    @Flag(help: "Print the event trace of --seed.")
    var trace = false

    @Option(help: "Most trace lines kept.")
    var traceLimit: Int = 200_000

    @Flag(help: "Print one line per seed.")
    var verbose = false

    @Flag(help: "With --inject-bug: succeed when a violation is found (prints how many seeds it took).")
    var expectViolation = false

    func validate() throws {
        if (seed == nil) == (seeds == nil) { throw ValidationError("give exactly one of --seed N or --seeds COUNT") }
        if let seeds, seeds < 1 || seeds > 100_000_000 { throw ValidationError("--seeds must be in 1...100000000") }
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be in 1...256") }
        if ClusterShape(rawValue: nodes) == nil { throw ValidationError("--nodes must be 3, 5, 7 or mixed") }
        _ = try safetyPhase(duration)
        guard layer == "core" || layer == "agent" else { throw ValidationError("--layer must be core or agent") }
        if layer == "agent" {
            for name in injectBug where AgentFault(rawValue: name) == nil && !injectedBugNames.contains(name) {
                throw ValidationError("unknown agent-layer bug '\(name)'; known: \(AgentFault.allCases.map(\.rawValue).joined(separator: ", "))"
                    + (injectedBugNames.isEmpty ? "; the operator controls' bugs (\(controlsBugNames.joined(separator: ", "))) and the core's are in the fault-injection build (scripts/sim-faults)"
                                                : ", and in this build the core and driver bugs \(injectedBugNames.joined(separator: ", "))"))
            }
            if witnesses || scenario != "random" || !tolerate.isEmpty || noDurableSendCheck || membership != "sometimes" {
                throw ValidationError("--layer agent takes --seed/--seeds, --first-seed, --nodes, --duration, --jobs, --inject-bug, --trace and --verbose only")
            }
            if traceLimit < 1 || traceLimit > 10_000_000 { throw ValidationError("--trace-limit must be in 1...10000000") }
            return
        }
        if !injectBug.isEmpty && injectedBugNames.isEmpty {
            throw ValidationError("this baton-sim was built without injected bugs; build it with scripts/sim-faults (swift build -Xswiftc -DBATON_FAULT_INJECTION --scratch-path .build-faults)")
        }
        for name in injectBug where !injectedBugNames.contains(name) {
            throw ValidationError("unknown bug '\(name)'; known: \(injectedBugNames.joined(separator: ", "))")
        }
        if MembershipMode(rawValue: membership) == nil { throw ValidationError("--membership must be off, sometimes or always") }
        if scenario != "targeted" && Scenario(rawValue: scenario) == nil {
            throw ValidationError("unknown scenario '\(scenario)'; known: targeted, \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if scenario == "targeted" && injectBug.count != 1 { throw ValidationError("--scenario targeted needs exactly one --inject-bug") }
        if traceLimit < 1 || traceLimit > 10_000_000 { throw ValidationError("--trace-limit must be in 1...10000000") }
    }

    func settings() -> SimulationSettings {
        var s = SimulationSettings()
        s.shape = ClusterShape(rawValue: nodes)!
        s.witnesses = witnesses
        s.safetyPhase = try! safetyPhase(duration)  // checked by validate()
        s.membership = MembershipMode(rawValue: membership)!
        s.tolerated = Set(tolerate)
        s.checkDurableBeforeSend = !noDurableSendCheck
        s.scenario = Scenario(rawValue: scenario) ?? .random
        #if BATON_FAULT_INJECTION
        s.injectedBugs = Set(injectBug.compactMap(InjectedBug.init(rawValue:)))
        if scenario == "targeted" { s.scenario = Scenario.targeted(for: s.injectedBugs.first!) }
        #endif
        return s
    }

    func agentSettings() -> AgentSimulationSettings {
        var s = AgentSimulationSettings()
        s.shape = ClusterShape(rawValue: nodes)!
        s.safetyPhase = try! safetyPhase(duration)  // checked by validate()
        s.faults = Set(injectBug.compactMap(AgentFault.init(rawValue:)))
        #if BATON_FAULT_INJECTION
        s.injectedBugs = Set(injectBug.compactMap(InjectedBug.init(rawValue:)))
        #endif
        return s
    }

    func run() throws {
        if layer == "agent" { return try runAgent() }
        var s = settings()
        if let seed {
            if trace { s.traceLimit = traceLimit }
            let r = runSimulation(seed: seed, settings: s)
            for line in r.trace { print(line) }
            print(describeRun(r))
            if r.violation != nil {
                print("FAIL seed \(seed): \(r.violation!)")
                throw ExitCode(1)
            }
            return
        }
        try runMany(s, count: seeds!)
    }

    /// replayFlags are the flags that, with `--seed N`, replay a run of this command.
    var replayFlags: String {
        var f = "--nodes \(nodes) --duration \(duration)"
        if layer != "core" { f = "--layer \(layer) " + f }
        if membership != "sometimes" { f += " --membership \(membership)" }
        if witnesses { f += " --witnesses" }
        for b in injectBug { f += " --inject-bug \(b)" }
        if scenario != "random" { f += " --scenario \(scenario)" }
        for t in tolerate { f += " --tolerate \(t)" }
        if noDurableSendCheck { f += " --no-durable-send-check" }
        return f
    }

    func describeRun(_ r: RunResult) -> String {
        let office = r.healToOfficeNs.map { "\(Interval(nanoseconds: $0))" } ?? "-"
        return "seed \(r.seed): \(r.nodeCount) nodes (\(r.witnessCount) witnesses), \(Interval(nanoseconds: r.simulatedNs)) simulated, \(r.events) events, \(r.stats.elections) elections, \(r.stats.offices) offices, \(r.stats.commits) committed, \(r.stats.crashes) crashes, \(r.stats.pauses) pauses, \(r.stats.transfers) transfers, \(r.stats.messagesSent) sent/\(r.stats.messagesDropped) dropped; heal→office \(office) (bound \(Interval(nanoseconds: r.livenessBoundNs))); digest \(String(r.digest, radix: 16))"
            + "; membership \(r.membership.appended) changes (\(r.membership.refused) refused), \(r.membership.wipes) wipes, \(r.membership.compactions) compactions, \(r.membership.snapshotsInstalled) snapshots installed, \(r.membership.identityConflicts) identity refusals"
            + (r.violation.map { "; VIOLATION \($0)" } ?? "")
    }

    func describeAgentRun(_ r: RunResult) -> String {
        let office = r.healToOfficeNs.map { "\(Interval(nanoseconds: $0))" } ?? "-"
        let t = r.stats
        return "seed \(r.seed): \(r.nodeCount) agents, \(Interval(nanoseconds: r.simulatedNs)) simulated, \(r.events) events, \(t.elections) elections, \(t.offices) offices, \(t.crashes) crashes, \(t.pauses) pauses, \(t.terminations) SIGTERMs, \(t.resigns) resigns (\(t.resignsAnswered) answered), \(t.hookSteps) hook steps (\(t.hookFailures) failed, \(t.hookTimeouts) timed out), \(t.diskFailures) disk failures, \(t.checkFlips) check flips, \(t.reloads) SIGHUPs, \(t.probes) answers; heal→office \(office) (bound \(Interval(nanoseconds: r.livenessBoundNs))); digest \(String(r.digest, radix: 16))"
            + (r.violation.map { "; VIOLATION \($0)" } ?? "")
    }

    func runAgent() throws {
        var s = agentSettings()
        if let seed {
            if trace { s.traceLimit = traceLimit }
            let r = runAgentSimulation(seed: seed, settings: s)
            for line in r.trace { print(line) }
            print(describeAgentRun(r))
            if let v = r.violation {
                print("FAIL seed \(seed): \(v)")
                throw ExitCode(1)
            }
            return
        }
        let label = "\(injectBug.joined(separator: ",")) (agent layer)"
        let settings = s
        try runMany(count: seeds!, bugLabel: label, tolerated: []) { seed in
            let r = runAgentSimulation(seed: seed, settings: settings)
            return (r, describeAgentRun(r))
        }
    }

    /// Aggregate is what the workers fold their results into, under a lock.
    struct Aggregate {
        var runs = 0
        var violations: [(UInt64, Violation)] = []
        var simulatedNs: Int64 = 0
        var histogram = Histogram()
        /// elections: only the runs where nobody healed was in office at the heal.
        var electionHistogram = Histogram()
        var stats = RunStats()
        var membership = MembershipStats()
        var livenessSkipped = 0
        var tolerated = 0
        var firstViolationIndex: Int?
    }

    func runMany(_ s: SimulationSettings, count: Int) throws {
        try runMany(count: count, bugLabel: "\(injectBug.joined(separator: ",")) with scenario \(s.scenario.rawValue)",
                    tolerated: s.tolerated) { seed in
            let r = runSimulation(seed: seed, settings: s)
            return (r, describeRun(r))
        }
    }

    /// runMany plays `count` seeds of either layer on `jobs` threads and prints the summary.
    func runMany(count: Int, bugLabel: String, tolerated: Set<String>,
                 _ play: @escaping @Sendable (UInt64) -> (RunResult, String)) throws {
        let next = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let aggregate = Mutex(Aggregate())
        let first = firstSeed
        let verbose = verbose
        let expect = expectViolation
        let start = monotonicNs()
        let cpuStart = cpuNs()
        let workers = min(jobs, count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while !stop.load(ordering: .relaxed) {
                let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if k >= count { break }
                let seed = first &+ UInt64(k)
                let (r, line) = play(seed)
                if verbose { print(line) }
                aggregate.withLock { a in
                    a.runs += 1
                    a.simulatedNs += r.simulatedNs
                    a.stats.add(r.stats)
                    a.membership.add(r.membership)
                    if !r.livenessApplies { a.livenessSkipped += 1 }
                    a.tolerated += r.toleratedCount
                    if let ns = r.healToOfficeNs {
                        a.histogram.add(ns)
                        if !r.officeAtHeal { a.electionHistogram.add(ns) }
                    }
                    if let v = r.violation {
                        a.violations.append((seed, v))
                        if a.firstViolationIndex == nil || k < a.firstViolationIndex! { a.firstViolationIndex = k }
                    }
                }
                if expect && r.violation != nil { stop.store(true, ordering: .relaxed) }
            }
        }
        let wallNs = max(1, monotonicNs() - start)
        let cpuUsedNs = max(1, cpuNs() - cpuStart)
        let a = aggregate.withLock { $0 }
        let speed = Double(a.simulatedNs) / Double(wallNs)
        print("\(a.runs) seeds, \(a.violations.count) violations, \(formatted(speed)) simulated s per wall s\(layer == "agent" ? " (agent layer)" : "")")
        print("speed: \(formatted(Double(a.simulatedNs) / Double(cpuUsedNs))) simulated s per CPU s (one core's worth); \(formatted(Double(a.simulatedNs) / 1e9)) simulated s in total")
        let h = a.histogram
        print("liveness (heal to office, \(h.count) runs): p50 \(Interval(nanoseconds: h.percentile(50))), p99 \(Interval(nanoseconds: h.percentile(99))), max \(Interval(nanoseconds: h.maxNs))")
        let e = a.electionHistogram
        print("liveness (runs with nobody healed in office at the heal, \(e.count) runs): p50 \(Interval(nanoseconds: e.percentile(50))), p99 \(Interval(nanoseconds: e.percentile(99))), max \(Interval(nanoseconds: e.maxNs))")
        let wall = "wall \(formatted(Double(wallNs) / 1e9)) s, \(workers) jobs"
        let t = a.stats
        if layer == "agent" {
            print("exercised: \(t.elections) elections, \(t.offices) offices, \(t.crashes) crashes, \(t.pauses) pauses, \(t.terminations) SIGTERMs, \(t.resigns) resigns (\(t.resignsAnswered) answered), \(t.hookSteps) hook steps (\(t.hookFailures) failed, \(t.hookTimeouts) timed out), \(t.diskFailures) disk failures, \(t.checkFlips) check flips, \(t.reloads) SIGHUPs, \(t.groupPauses) group pauses, \(t.priorityChanges) priority changes (\(t.preemptionWindows) preemption windows), \(t.scheduledHandovers) scheduled hand-over requests, \(t.probes) /is-leader answers checked, \(t.messagesSent) messages; \(wall)")
            let m = a.membership
            print("membership: \(m.proposed) operator requests (\(m.configurationsCommitted) committed, \(m.refused) refused), \(m.wipes) data dirs wiped, \(m.wrongPeersRestarts) restarts with a wrong --peers; \(a.livenessSkipped) runs with no electable set (liveness not checked)")
        } else {
            print("exercised: \(t.elections) elections, \(t.offices) offices, \(t.commits) committed entries, \(t.crashes) crashes, \(t.pauses) pauses, \(t.transfers) transfers, \(t.messagesSent) messages (\(t.messagesDropped) dropped); \(wall)")
            let m = a.membership
            print("membership: \(m.appended) changes appended (\(m.refused) refused), \(m.wipes) data dirs wiped, \(m.compactions) compactions, \(m.snapshotsInstalled) snapshots installed, \(m.identityConflicts) messages refused for a stale incarnation; \(a.livenessSkipped) runs ended with no electable set (liveness not checked)")
        }
        if !tolerated.isEmpty { print("tolerated \(tolerated.sorted()): seen \(a.tolerated) times") }
        for (seed, v) in a.violations.sorted(by: { $0.0 < $1.0 }).prefix(20) {
            print("FAIL seed \(seed): \(v)")
            print("  replay: baton-sim --seed \(seed) \(replayFlags) --trace")
        }
        if expect {
            guard let k = a.firstViolationIndex else {
                print("EXPECTED a violation with \(bugLabel); none in \(a.runs) seeds")
                throw ExitCode(1)
            }
            print("CAUGHT \(bugLabel) at seed \(first &+ UInt64(k)) (\(k + 1) seeds)")
            return
        }
        if !a.violations.isEmpty { throw ExitCode(1) }
    }
}

/// injectedBugNames lists the deliberate core bugs this build can switch on (none in a
/// build without -DBATON_FAULT_INJECTION: the production core has no such branches).
#if BATON_FAULT_INJECTION
let injectedBugNames = InjectedBug.allCases.map(\.rawValue)
#else
let injectedBugNames: [String] = []
#endif
/// controlsBugNames: the operator controls' bugs (issue 16), compiled into the cores and
/// drivers of the fault-injection build and caught by the agent layer's checkers.
let controlsBugNames = ["pause-ignored-by-candidate", "priority-zero-campaigns", "preempt-without-demote"]

/// safetyPhase reads `--duration` in the one duration grammar (`10s`, `1500ms`, `2m`,
/// `1m30s`), between 1 s and 1 h.
func safetyPhase(_ text: String) throws(ValidationError) -> Interval {
    let value: Interval
    do { value = try Interval(parsing: text) } catch { throw ValidationError("--duration: \(error)") }
    guard value >= .seconds(1) && value <= .seconds(3600) else {
        throw ValidationError("--duration: \(value.formatted) is outside 1s...1h")
    }
    return value
}

func monotonicNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// cpuNs is the CPU time of the whole process (all workers), to state speed per core
/// on a machine shared with other builds.
func cpuNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

func formatted(_ x: Double) -> String {
    let scaled = (x * 10).rounded() / 10
    return scaled >= 100 ? "\(Int(scaled))" : "\(scaled)"
}
