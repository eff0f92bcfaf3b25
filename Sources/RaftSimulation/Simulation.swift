import RaftCore

/// Simulation runs one seeded history of a Baton cluster: nodes running the real
/// `RaftNode`, a simulated network and disks, drifting clocks, and faults, driven by an
/// event queue whose time jumps from event to event (no fixed ticks). One seed decides
/// every choice, so a failing seed replays exactly (TigerBeetle's VOPR and
/// hashicorp/raft's fuzzy tests are the models for the idea, not the code).
///
/// The driver applies each `Ready` in the order its type prescribes: office changes at
/// once; the durable part through the node's disk queue, becoming durable only after a
/// simulated fsync; the messages only after that and every earlier write are durable.
/// A crash drops the writes still in flight with their messages.
///
/// Phases: a safety phase with faults (random or a targeted scenario), then a liveness
/// phase that heals a majority (delay bounded by δ, no loss) and requires a node of that
/// majority in office within `Emin·(1+d) + 5·(Emax + 2δ)`.
public struct Simulation {
    enum Phase { case safety, liveness }

    public let seed: UInt64
    let settings: SimulationSettings
    var rng: SeededGenerator
    var nodes: [SimNode]
    var network: Network
    var queue: EventQueue<EventKind>
    var checker: InvariantChecker
    /// founding is the group's first configuration; `spares` more machines start empty
    /// and join through membership changes.
    let founding: Configuration
    let foundingCount: Int
    var options: Options
    var nowNs: Int64 = 0
    var phase = Phase.safety
    var violation: Violation?
    var finished = false
    /// traceLog is nil unless tracing (a reference, so that noting needs no mutation).
    let traceLog: TraceLog?
    var digest: UInt64 = 0
    var events = 0
    var stats = RunStats()

    // Liveness phase.
    var healed: [Bool]
    var healNs: Int64 = 0
    var livenessDeltaNs: Int64
    var healToOfficeNs: Int64?
    /// livenessApplies is false when no healed majority could elect anyone (a witness
    /// holds entries no leader-capable healed node has); the run then checks safety only.
    var livenessApplies = true
    var officeAtHeal = false

    // Fault schedule.
    var chaos: ChaosProfile
    var proposalsLeft = 0
    var proposalCounter: UInt64 = 0
    var scenarioNode = -1
    var scenarioTargets: [Int] = []
    /// proposeOnNextLeader: the membership-churn scenario proposes a change the moment
    /// a node becomes leader.
    var proposeOnNextLeader = false
    /// repairs: wiped machines the "operator" will remove and add back.
    var repairs: [Int] = []
    /// stateLost: wiped machines whose new incarnation no committed configuration binds
    /// yet (see `mayWipe`).
    var stateLost: Set<Int> = []

    var nodeCount: Int { nodes.count }
    /// membershipPpm: how often a chaos action is a membership change or a wipe (0 for
    /// some seeds, so the fixed-membership paths keep their share).
    var membershipPpm: UInt64 = 0
    /// compactAfterEntries: a node compacts its log once it holds this many entries.
    var compactAfterEntries = 64
    var membershipStats = MembershipStats()
    /// spinTickLimit is how many back-to-back ticks that leave the deadline in the past
    /// count as a livelock.
    static let spinTickLimit = 1000

    public init(seed: UInt64, settings: SimulationSettings) {
        self.seed = seed
        self.settings = settings
        traceLog = settings.traceLimit > 0 ? TraceLog(limit: settings.traceLimit) : nil
        var root = SeededGenerator(seed: mix(seed, 0xBA70_0001))
        rng = root.fork()

        let n = settings.shape.drawCount(&root)
        var witnessSet = Set<NodeID>()
        if settings.witnesses {
            let count = 1 + root.below((n - 1) / 2)
            var candidates = Array(1...n)
            for _ in 0..<count {
                witnessSet.insert(NodeID(UInt32(candidates.remove(at: root.below(candidates.count)))))
            }
        }
        options = ChaosProfile.drawOptions(&root, scenario: settings.scenario)
        #if BATON_FAULT_INJECTION
        options.injectedBugs = settings.injectedBugs
        #endif
        chaos = ChaosProfile.draw(&root, scenario: settings.scenario)
        livenessDeltaNs = root.uniform(500_000, 20_000_000)
        if settings.membership != .off {
            membershipPpm = settings.membership == .always || root.chance(ppm: 700_000) ? UInt64(root.uniform(100_000, 350_000)) : 0
            compactAfterEntries = Int(root.uniform(8, 200))
        }
        if settings.scenario == .membershipChurn { membershipPpm = 600_000 }
        if settings.scenario == .wipeAfterVote { membershipPpm = max(membershipPpm, 1) }
        let spares = membershipPpm > 0 ? 2 : 0
        let total = n + spares
        // Half the runs start as a group just bootstrapped (no incarnation bound: the
        // first election needs every voter), half as one whose incarnations are bound.
        let bound = settings.scenario == .wipeAfterVote
            || !(settings.membership == .always || (membershipPpm > 0 && root.chance(ppm: 500_000)))
        var incarnations: [UInt64] = []
        for _ in 0..<total { incarnations.append(root.next() | 1) }
        founding = Configuration(members: (1...n).map { k in
            Member(id: NodeID(UInt32(k)), name: "n\(k)", role: witnessSet.contains(NodeID(UInt32(k))) ? .witness : .voter,
                   incarnation: bound ? incarnations[k - 1] : 0)
        })
        foundingCount = n

        var netGen = root.fork()
        network = Network(nodeCount: total, generator: &netGen, slabLimit: settings.messagesInFlightLimit)
        queue = EventQueue(capacity: settings.queueCapacity)
        checker = InvariantChecker(nodeCount: total)
        checker.tolerated = settings.tolerated
        checker.checkDurableBeforeSend = settings.checkDurableBeforeSend
        healed = Array(repeating: true, count: total)

        nodes = []
        for i in 0..<total {
            var g = root.fork()
            let clock = SimClock.draw(&g, maxDrift: options.maxDrift)
            var node = SimNode(id: NodeID(UInt32(i + 1)), incarnation: incarnations[i], clock: clock, rng: g.fork())
            chaos.drawDisk(&node.disk, &g)
            if i < n { node.disk.snapshot = .bootstrap(founding) }
            nodes.append(node)
        }
        for from in 0..<total {
            for to in 0..<total where from != to {
                network.profiles[network.link(from, to)] = chaos.drawLink(&root)
            }
        }
        setUpScenario()
    }

    /// run plays the whole history and returns what it found.
    public mutating func run() -> RunResult {
        for i in 0..<foundingCount { startProcess(i) }
        let safetyNs = settings.safetyPhase.nanoseconds
        schedule(safetyNs, .heal, node: 0)
        if chaos.enabled { schedule(chaos.nextGapNs(&rng), .chaos, node: 0) }
        if chaos.proposalGapNs > 0 {
            proposalsLeft = chaos.proposalLimit
            schedule(chaos.proposalGapNs, .propose, node: 0)
        }
        schedule(chaos.probeGapNs, .probe, node: 0)
        if settings.scenario != .random { schedule(scenarioStartNs(), .scenarioStep, node: 0, payload: 0) }

        while violation == nil && !finished, let e = queue.popFolding(into: &digest) {
            events += 1
            if events > settings.eventLimit {
                fail("simulator", "event limit \(settings.eventLimit) reached")
                break
            }
            nowNs = e.timeNs
            dispatch(e)
        }
        if violation == nil && !finished { fail("simulator", "event queue ran dry") }
        let trace = traceLog?.linesWithDrops ?? []
        stats.offices = checker.officesEntered
        stats.elections = checker.elections
        stats.commits = UInt64(checker.committedTerm.count)
        return RunResult(seed: seed, nodeCount: foundingCount, witnessCount: founding.witnesses.count,
                         violation: violation, simulatedNs: nowNs, events: events,
                         healToOfficeNs: healToOfficeNs, officeAtHeal: officeAtHeal, livenessBoundNs: livenessBoundNs,
                         digest: digest, toleratedCount: checker.toleratedCount, trace: trace, stats: stats,
                         membership: membershipStats, livenessApplies: livenessApplies)
    }

    /// livenessBoundNs is `Emin·(1+d) + 5·(Emax + 2δ)` in real nanoseconds.
    var livenessBoundNs: Int64 {
        options.electionTimeoutMin.scaled(by: 1 + options.maxDrift).nanoseconds
            + 5 * (options.electionTimeoutMax.nanoseconds + 2 * livenessDeltaNs)
    }

    // MARK: - Events

    mutating func dispatch(_ e: EventQueue<EventKind>.ScheduledEvent) {
        let i = Int(e.node)
        switch e.kind {
        case .deliver, .tick, .fsyncDone, .connectionLost, .demoteFinished, .releaseCampaign:
            if nodes[i].paused {
                guard nodes[i].deferred.count < 100_000 else { return fail("simulator", "n\(i + 1) deferred-event limit") }
                nodes[i].deferred.append(e)
                return
            }
            switch e.kind {
            case .deliver: deliver(e)
            case .tick:
                guard nodes[i].isUp, e.life == nodes[i].life, UInt32(e.payload) == nodes[i].tickToken else { return }
                nodes[i].scheduledTickNs = SimClock.neverRealNs
                step(i, .tick)
                // A core that still wants a tick right after one would spin an event loop;
                // the timer floor (1 ms) keeps simulated time moving, the limit reports it.
                if nodes[i].isUp, nodes[i].raft!.nextDeadline <= nodes[i].clock.reading(atReal: nowNs) {
                    nodes[i].spinTicks += 1
                    if nodes[i].spinTicks > Self.spinTickLimit {
                        fail("timer-livelock", "n\(i + 1) asked for a tick at or before now after \(Self.spinTickLimit) ticks in a row (role \(nodes[i].raft!.role), term \(nodes[i].raft!.term))")
                    }
                    nodes[i].scheduledTickNs = SimClock.neverRealNs
                    scheduleTick(i)
                } else {
                    nodes[i].spinTicks = 0
                }
            case .fsyncDone: fsyncDone(i, life: e.life)
            case .connectionLost:
                guard nodes[i].isUp, e.life == nodes[i].life else { return }
                note { "n\(i + 1) hint: connection to leader lost" }
                step(i, .leaderConnectionLost)
            case .releaseCampaign:
                guard nodes[i].isUp, e.life == nodes[i].life else { return }
                note { "n\(i + 1) CHECK recovered: may campaign" }
                step(i, .setCampaignAllowed(true))
            case .demoteFinished:
                guard nodes[i].isUp, e.life == nodes[i].life else { return }
                note { "n\(i + 1) demote hook finished (term \(e.payload))" }
                step(i, .demoteFinished(term: Term(e.payload)))
            default: break
            }
        case .wipe:
            guard nodes[i].isUp, e.life == nodes[i].life, phase == .safety, mayWipe(i) else { return }
            wipe(i, bootstrap: true, restartAfterNs: Int64(e.payload))
        case .crash:
            guard nodes[i].isUp, e.life == nodes[i].life else { return }
            if phase == .liveness && healed[i] { return }
            crash(i, restartAfterNs: Int64(e.payload))
        case .restart:
            guard !nodes[i].isUp, e.life == nodes[i].life else { return }
            if phase == .liveness && !healed[i] { return }
            startProcess(i)
        case .resume:
            guard nodes[i].paused, UInt32(e.payload) == nodes[i].pauseToken else { return }
            resume(i)
        case .chaos:
            guard phase == .safety else { return }
            chaosAct()
            schedule(nowNs + chaos.nextGapNs(&rng), .chaos, node: 0)
        case .scenarioStep:
            guard phase == .safety else { return }
            scenarioStep(Int(e.payload))
        case .propose:
            guard phase == .safety, proposalsLeft > 0 else { return }
            propose()
            schedule(nowNs + chaos.proposalGapNs, .propose, node: 0)
        case .probe:
            let j = rng.below(nodeCount)
            if nodes[j].isUp && !nodes[j].paused {
                if let v = checker.probe(j, realNs: nowNs, now: nodes[j].clock.reading(atReal: nowNs), raft: nodes[j].raft!) { violation = v }
                if violation == nil { maintain(j) }
            }
            schedule(nowNs + chaos.probeGapNs, .probe, node: 0)
        case .heal:
            heal()
        case .end:
            if e.payload == 1 {
                if healToOfficeNs == nil && livenessApplies {
                    fail("L1", "no node of the healed majority \(healedNames) in office within \(Interval(nanoseconds: livenessBoundNs)) of the heal (δ = \(Interval(nanoseconds: livenessDeltaNs)))")
                }
                finished = true
            } else {
                finished = true
            }
        }
    }

    mutating func deliver(_ e: EventQueue<EventKind>.ScheduledEvent) {
        let i = Int(e.node)
        let m = network.take(Int32(truncatingIfNeeded: e.payload))
        let from = Int(m.from.rawValue) - 1
        guard nodes[i].isUp else { return }
        if network.isBlocked(from: from, to: i) {
            stats.messagesDropped += 1
            note { "drop (partition) \(describe(m))" }
            return
        }
        note { "deliver \(describe(m))" }
        step(i, .message(m))
    }

    // MARK: - Driving one node

    /// step hands one event to node i's core and applies the resulting Ready in order.
    mutating func step(_ i: Int, _ event: Event) {
        let now = nodes[i].clock.reading(atReal: nowNs)
        let wasLeader = nodes[i].raft!.role == .leader
        let ready = nodes[i].raft!.handle(event, now: now)
        membershipStats.note(ready)
        if !stateLost.isEmpty {
            for e in ready.committedEntries {
                guard case .configuration(let c) = e.payload else { continue }
                membershipStats.configurationsCommitted += 1
                for k in stateLost where c.member(nodes[k].id)?.incarnation == nodes[k].incarnation { stateLost.remove(k) }
            }
        }
        if proposeOnNextLeader && !wasLeader && nodes[i].raft!.role == .leader {
            schedule(nowNs, .scenarioStep, node: 0, payload: 1)
        }
        if let v = checker.afterStep(node: i, isWitness: nodes[i].isWitness, realNs: nowNs, now: now,
                                     clock: nodes[i].clock, raft: nodes[i].raft!, ready: ready, wasTick: event == .tick) {
            violation = v
        }
        if ready.isEmpty {
            scheduleTick(i)
            return
        }
        // 1. Office changes: visible at once (the agent's HTTP state, then hooks).
        for change in ready.officeChanges {
            switch change {
            case .enter(let term, let deadline, _, _):
                note { "n\(i + 1) ENTER office term \(term) lease to \(deadline) (clock \(now))" }
                if phase == .liveness && healed[i] && healToOfficeNs == nil { reachedOffice() }
            case .leave(let term, let reason):
                note { "n\(i + 1) LEAVE office term \(term) (\(reason.rawValue))" }
                // The agent runs the demote hook on every leave; a transfer waits for it.
                if reason != .leaseLost && reason != .higherTerm {
                    let hookNs: Int64 = rng.chance(ppm: 250_000) ? 0 : rng.uniform(0, rng.chance(ppm: 100_000) ? 400_000_000 : 30_000_000)
                    schedule(nowNs + hookNs, .demoteFinished, node: i, payload: UInt64(term), life: nodes[i].life)
                }
            }
        }
        // 2. Durable part through the disk queue; 3. messages after it.
        if ready.needsPersist || (!ready.messages.isEmpty && nodes[i].disk.hasPending) {
            var latencyNs: Int64 = 0
            if ready.needsPersist {
                var g = nodes[i].rng
                latencyNs = nodes[i].disk.sampleFsyncNs(&g)
                nodes[i].rng = g
            }
            let completeNs = max(nowNs, nodes[i].disk.lastCompleteNs) + latencyNs
            nodes[i].disk.lastCompleteNs = completeNs
            guard nodes[i].disk.pending.count < 100_000 else { return fail("simulator", "n\(i + 1) disk queue limit") }
            nodes[i].disk.pending.append(PendingWrite(hardState: ready.hardState, snapshot: ready.snapshot, truncateFrom: ready.truncateFrom,
                                                      persistID: ready.persistID,
                                                      entries: ready.entries, messages: ready.messages,
                                                      completeAtNs: completeNs))
            schedule(completeNs, .fsyncDone, node: i, life: nodes[i].life)
        } else {
            for m in ready.messages { send(i, m) }
        }
        scheduleTick(i)
    }

    mutating func fsyncDone(_ i: Int, life: UInt32) {
        guard nodes[i].isUp, life == nodes[i].life, nodes[i].disk.hasPending else { return }
        let write = nodes[i].disk.popPending()
        if let v = checker.durableWrite(node: i, disk: &nodes[i].disk, write: write, realNs: nowNs) {
            violation = v
            return
        }
        // The core hears that its state is durable before the messages that waited leave.
        if let id = write.persistID { step(i, .persisted(persistID: id)) }
        guard violation == nil, nodes[i].isUp else { return }
        for m in write.messages { send(i, m) }
    }

    mutating func send(_ i: Int, _ m: Message) {
        let j = Int(m.to.rawValue) - 1
        guard j >= 0, j < nodeCount, j != i else { return fail("simulator", "n\(i + 1) sent to unknown \(m.to)") }
        if let v = checker.send(node: i, message: m, disk: nodes[i].disk, realNs: nowNs) {
            violation = v
            return
        }
        stats.messagesSent += 1
        if case .timeoutNow = m.body, network.dropTimeoutNow {
            stats.messagesDropped += 1
            note { "lose (scenario) \(describe(m))" }
            return
        }
        if settings.scenario == .wipeAfterVote, case .voteResponse(true) = m.body, phase == .safety,
           rng.chance(ppm: 400_000) {
            schedule(nowNs + rng.uniform(0, 2_000_000), .wipe, node: i, payload: UInt64(rng.uniform(1_000_000, 30_000_000)), life: nodes[i].life)
        }
        if settings.scenario == .crashAfterVote, case .voteResponse(true) = m.body, phase == .safety,
           rng.chance(ppm: 500_000) {
            let windowNs = max(nodes[i].disk.fsyncMaxNs, 1)
            schedule(nowNs + rng.uniform(0, windowNs), .crash, node: i, payload: UInt64(rng.uniform(20_000_000, 400_000_000)), life: nodes[i].life)
        }
        let copies = network.draw(from: i, to: j)
        if copies.count == 0 {
            stats.messagesDropped += 1
            note { "lose \(describe(m))" }
            return
        }
        note { "send \(describe(m)) +\(Interval(nanoseconds: copies.firstDelayNs))\(copies.count == 2 ? " (dup +\(Interval(nanoseconds: copies.secondDelayNs)))" : "")" }
        enqueueDelivery(m, to: j, atNs: nowNs + copies.firstDelayNs)
        if copies.count == 2 { enqueueDelivery(m, to: j, atNs: nowNs + copies.secondDelayNs) }
    }

    mutating func enqueueDelivery(_ m: Message, to j: Int, atNs: Int64) {
        guard let slot = network.store(m) else { return fail("simulator", "messages in flight limit \(settings.messagesInFlightLimit)") }
        schedule(atNs, .deliver, node: j, payload: UInt64(UInt32(bitPattern: slot)))
    }

    /// scheduleTick arms node i's timer for its core's next deadline, with up to 100 µs
    /// of timer slack (the lease margin covers it). An earlier timer already armed stays:
    /// an early tick is harmless, and this keeps at most a few timer events per node.
    mutating func scheduleTick(_ i: Int) {
        guard nodes[i].isUp else { return }
        let dueNs = nodes[i].clock.realTime(reaching: nodes[i].raft!.nextDeadline)
        if dueNs >= SimClock.neverRealNs { return }
        if nodes[i].scheduledTickNs <= dueNs && nodes[i].scheduledTickNs >= nowNs { return }
        nodes[i].tickToken &+= 1
        let floorNs = nodes[i].spinTicks > 0 ? nowNs + 1_000_000 : nowNs
        let atNs = max(floorNs, dueNs + nodes[i].rng.uniform(0, 100_000))
        nodes[i].scheduledTickNs = atNs
        schedule(atNs, .tick, node: i, payload: UInt64(nodes[i].tickToken), life: nodes[i].life)
    }

    // MARK: - Processes

    /// startProcess starts (or restarts) node i's agent from its durable state. The
    /// clock continues: CLOCK_BOOTTIME does not restart with the process.
    mutating func startProcess(_ i: Int) {
        prepareDisk(i)
        let state = nodes[i].disk.persistentState
        let now = nodes[i].clock.reading(atReal: nowNs)
        do {
            let raft = try RaftNode(id: nodes[i].id, incarnation: nodes[i].incarnation, options: options,
                                    restoring: state, seed: nodes[i].rng.next(), now: now)
            nodes[i].raft = raft
            if let v = checker.restarted(node: i, raft: raft, disk: nodes[i].disk, realNs: nowNs) { violation = v }
        } catch {
            return fail("simulator", "n\(i + 1) state rejected: \(error.message)")
        }
        nodes[i].scheduledTickNs = SimClock.neverRealNs
        note { "n\(i + 1) START term \(state.hardState.term) vote \(state.hardState.votedFor.map { "\($0)" } ?? "-") snapshot \(state.snapshot.map { "\($0.index)" } ?? "none") log \(state.log.count) incarnation \(nodes[i].incarnation) (clock \(now))" }
        scheduleTick(i)
    }

    /// crash kills node i's process: writes not yet durable vanish with their messages,
    /// timers die, the office ends (nothing answers). Peers that followed it get the
    /// truthful connection-lost hint a few milliseconds later.
    mutating func crash(_ i: Int, restartAfterNs: Int64) {
        let leaderID = nodes[i].id
        note { "n\(i + 1) CRASH (\(nodes[i].disk.pending.count - nodes[i].disk.pendingHead) writes lost)" }
        checker.crashed(node: i, realNs: nowNs)
        nodes[i].raft = nil
        nodes[i].disk.dropPending()
        nodes[i].disk.lastCompleteNs = 0
        nodes[i].life &+= 1
        nodes[i].paused = false
        nodes[i].deferred.removeAll()
        nodes[i].scheduledTickNs = SimClock.neverRealNs
        nodes[i].spinTicks = 0
        stats.crashes += 1
        for j in 0..<nodeCount where j != i && nodes[j].raft?.leader == leaderID {
            schedule(nowNs + rng.uniform(1_000_000, 5_000_000), .connectionLost, node: j, life: nodes[j].life)
        }
        if restartAfterNs > 0 {
            schedule(nowNs + restartAfterNs, .restart, node: i, life: nodes[i].life)
        }
    }

    /// pause stops node i (SIGSTOP): it handles nothing, its clock runs on.
    mutating func pause(_ i: Int, forNs: Int64) {
        guard nodes[i].isUp, !nodes[i].paused else { return }
        nodes[i].paused = true
        nodes[i].pauseToken &+= 1
        stats.pauses += 1
        note { "n\(i + 1) PAUSE for \(Interval(nanoseconds: forNs))" }
        schedule(nowNs + forNs, .resume, node: i, payload: UInt64(nodes[i].pauseToken))
    }

    mutating func resume(_ i: Int) {
        nodes[i].paused = false
        note { "n\(i + 1) RESUME (\(nodes[i].deferred.count) events waited)" }
        let waiting = nodes[i].deferred
        nodes[i].deferred.removeAll()
        for var e in waiting {
            e.timeNs = nowNs
            if !queue.push(e) { return fail("simulator", "event queue limit \(settings.queueCapacity)") }
        }
    }

    // MARK: - Application traffic

    /// propose hands a command to a node that believes it leads (a client's guess).
    mutating func propose() {
        var leaders: [Int] = []
        for i in 0..<nodeCount where nodes[i].raft?.role == .leader && !nodes[i].paused { leaders.append(i) }
        guard !leaders.isEmpty else { return }
        let i = leaders[rng.below(leaders.count)]
        proposalCounter += 1
        proposalsLeft -= 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8)
        var v = proposalCounter ^ (seed << 20)
        for _ in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
        note { "n\(i + 1) propose #\(proposalCounter)" }
        step(i, .propose(bytes))
    }

    // MARK: - Liveness phase

    var healedNames: String { (0..<nodeCount).filter { healed[$0] }.map { "n\($0 + 1)" }.joined(separator: ",") }

    /// heal ends the safety phase: a majority able to elect someone (see `electableSet`)
    /// is restarted, resumed and reconnected with delay at most δ and no loss; the rest
    /// stay as they are and are cut off from it.
    mutating func heal() {
        phase = .liveness
        healNs = nowNs
        network.dropTimeoutNow = false
        let n = nodeCount
        let chosen = electableSet()
        livenessApplies = chosen != nil
        for k in 0..<n { healed[k] = chosen?.contains(k) ?? (nodes[k].isUp || nodes[k].disk.snapshot != nil) }
        note { "HEAL majority \(healedNames)\(livenessApplies ? "" : " (cannot elect: no voter set able to elect is left)"); δ = \(Interval(nanoseconds: livenessDeltaNs)), bound \(Interval(nanoseconds: livenessBoundNs))" }
        network.heal(majority: healed, deltaNs: livenessDeltaNs)
        for i in 0..<n where healed[i] {
            if nodes[i].paused { resume(i) }
            if !nodes[i].isUp {
                startProcess(i)
            }
        }
        for i in 0..<n where healed[i] && checker.isInOffice(i, atReal: nowNs) {
            officeAtHeal = true
            reachedOffice()
            break
        }
        schedule(nowNs + livenessBoundNs, .end, node: 0, payload: 1)
    }

    mutating func reachedOffice() {
        healToOfficeNs = nowNs - healNs
        note { "liveness: office reached \(Interval(nanoseconds: nowNs - healNs)) after the heal" }
        // Keep checking for one more maximum election timeout, then stop.
        schedule(nowNs + options.electionTimeoutMax.nanoseconds * 2, .end, node: 0, payload: 0)
    }

    // MARK: - Helpers

    mutating func schedule(_ atNs: Int64, _ kind: EventKind, node: Int, payload: UInt64 = 0, life: UInt32 = 0) {
        if !queue.push(timeNs: atNs, kind: kind, node: node, payload: payload, life: life) {
            fail("simulator", "event queue limit \(settings.queueCapacity)")
        }
    }

    mutating func fail(_ property: String, _ detail: String) {
        if violation == nil { violation = Violation(property: property, detail: detail, timeNs: nowNs) }
    }

    /// note records a trace line when tracing; the string is never built otherwise.
    @inline(__always)
    func note(_ line: () -> String) {
        guard let log = traceLog else { return }
        log.append("\(Interval(nanoseconds: nowNs)) \(line())")
    }

    /// officeHolder is a node the checker sees in office now, if any.
    func officeHolder() -> Int? {
        (0..<nodeCount).first { nodes[$0].isUp && checker.isInOffice($0, atReal: nowNs) }
    }

    /// setRate changes node i's clock rate from now on, keeping its reading continuous,
    /// and re-derives everything that was converted with the old rate.
    mutating func setRate(_ i: Int, ratePpm: Int64) {
        let reading = nodes[i].clock.reading(atReal: nowNs).nanoseconds
        nodes[i].clock = SimClock(offsetNs: reading - (nowNs * ratePpm) / 1_000_000, ratePpm: ratePpm)
        if checker.offices[i].open {
            checker.offices[i].deadlineRealNs = max(nowNs, nodes[i].clock.realTime(reaching: checker.offices[i].deadline))
        }
        nodes[i].scheduledTickNs = SimClock.neverRealNs
        scheduleTick(i)
    }
}

/// runSimulation plays one seed with the given settings.
public func runSimulation(seed: UInt64, settings: SimulationSettings) -> RunResult {
    var simulation = Simulation(seed: seed, settings: settings)
    return simulation.run()
}

/// TraceLog holds the trace lines of one run, up to `limit` (then it counts drops).
final class TraceLog {
    let limit: Int
    var lines: [String] = []
    var dropped = 0
    init(limit: Int) { self.limit = limit }
    func append(_ line: String) {
        if lines.count >= limit { dropped += 1 } else { lines.append(line) }
    }
    /// linesWithDrops is the trace, ending with how many lines did not fit.
    var linesWithDrops: [String] {
        dropped > 0 ? lines + ["... \(dropped) trace lines dropped (limit \(limit))"] : lines
    }
}

/// describe renders a message for the trace.
func describe(_ m: Message) -> String {
    let head = "\(m.from)→\(m.to) t\(m.term)"
    switch m.body {
    case .preVote(let li, let lt): return "\(head) preVote last=(\(li),\(lt))"
    case .preVoteResponse(let g, let s): return "\(head) preVoteResponse \(g ? "granted" : "refused")\(s > .zero ? " sticky \(s)" : "")"
    case .vote(let li, let lt, let tr): return "\(head) vote last=(\(li),\(lt))\(tr ? " transfer" : "")"
    case .voteResponse(let g): return "\(head) voteResponse \(g ? "granted" : "refused")"
    case .append(let pi, let pt, let es, let c, let st): return "\(head) append prev=(\(pi),\(pt)) n=\(es.count) commit=\(c) sent=\(st)"
    case .appendResponse(let ok, let mi, let hi, let st, let canLead):
        return "\(head) appendResponse \(ok ? "ok match=\(mi)" : "reject hint=\(hi)") echo=\(st)\(canLead ? "" : " cannot-lead")"
    case .timeoutNow: return "\(head) timeoutNow"
    case .installSnapshot(let snap, let st): return "\(head) installSnapshot index=\(snap.index) term=\(snap.term) voters=\(snap.configuration.voters.map { "\($0)" }) sent=\(st)"
    }
}
