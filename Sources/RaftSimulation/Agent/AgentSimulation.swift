import AgentDriver
import RaftCore

/// AgentSimulation runs one seeded history of whole agents: each node runs the real
/// `AgentDriver` (the core inside it, the persist pipeline, hooks, checks, start-up,
/// shutdown, resign) over simulated ports — a network, disks with fsync latency and
/// failures where a crash loses everything not yet durable, hook processes that are
/// slow, failing or hanging, application checks that flip, drifting clocks, crashes,
/// restarts, pauses, SIGTERM hand-overs and resign requests. One seed drives all, so a
/// failing seed replays exactly. A safety phase with faults is followed by a liveness
/// phase that heals a majority and requires a node of it in office within a bound.
/// `AgentChecker` judges from outside the nodes.
public final class AgentSimulation {
    enum Phase { case safety, liveness }

    public let seed: UInt64
    let settings: AgentSimulationSettings
    var rng: SeededGenerator
    var nodes: [AgentSimNode] = []
    var indexOf: [NodeID: Int] = [:]
    var network: Network
    var queue: EventQueue<AgentEventKind>
    var checker: AgentChecker
    var options: Options
    var chaos: ChaosProfile
    var nowNs: Int64 = 0
    var phase = Phase.safety
    var finished = false
    var events = 0
    var digest: UInt64 = 0
    var stats = RunStats()
    let traceLog: TraceLog?
    var tracing: Bool { traceLog != nil }
    var nextRequest: RequestID = 1
    /// checkIntervalNs: how often a node with a check probes it.
    var checkIntervalNs: Int64

    // Liveness phase.
    var healed: [Bool]
    var healNs: Int64 = 0
    var livenessDeltaNs: Int64
    var healToOfficeNs: Int64? = nil
    var officeAtHeal = false

    var nodeCount: Int { nodes.count }

    // Membership (issue 14): founders, spare machines to add, wipes and repairs.
    /// foundingCount: the members `--bootstrap` founds the group with; the rest are spares.
    let foundingCount: Int
    /// founders is the founding `--peers` list (also every agent's contact list).
    let founders: [DriverMember]
    /// membershipPpm: how often a chaos action is a membership operation (0: none).
    let membershipPpm: UInt64
    var membershipStats = MembershipStats()
    var membershipRequests: Set<RequestID> = []
    /// stateLost: wiped members whose new incarnation the committed configuration does
    /// not bind yet; repairs: those the "operator" will remove and add back.
    var stateLost: Set<Int> = []
    var repairs: [Int] = []
    /// livenessApplies is false when too many voters lost their state for any set to elect.
    var livenessApplies = true
    static let spinTickLimit = 1000
    var spinTicks: [Int]

    // Operator controls (issue 16): priorities and preemption, and their checkers.
    var priorities: PriorityPlan
    var controls: ControlsCheckState
    /// endAfterOfficeNs: with preemption to check, the liveness phase runs to here.
    var endAfterOfficeNs: Int64 = 0

    public init(seed: UInt64, settings: AgentSimulationSettings) {
        self.seed = seed
        self.settings = settings
        traceLog = settings.traceLimit > 0 ? TraceLog(limit: settings.traceLimit) : nil
        var root = SeededGenerator(seed: mix(seed, 0xA6E7_0001))
        rng = root.fork()
        let n = settings.shape.drawCount(&root)
        // Most runs change the membership; the rest keep the founders (as the first
        // release's runs did), so both kinds of history stay covered.
        membershipPpm = root.chance(ppm: 700_000) ? UInt64(root.uniform(150_000, 450_000)) : 0
        foundingCount = n
        founders = (1...n).map { DriverMember(name: "n\($0)", peerAddress: "10.0.0.\($0):7000") }
        let total = n + (membershipPpm > 0 ? 2 : 0)
        options = ChaosProfile.drawOptions(&root, scenario: .random)
        #if BATON_FAULT_INJECTION
        options.injectedBugs = settings.injectedBugs
        #endif
        chaos = ChaosProfile.draw(&root, scenario: .random)
        // Agents propose nothing, so a run's events are mostly faults: denser than the
        // core layer's (a fault every 30–600 ms on average).
        chaos.meanGapNs = root.uniform(30_000_000, 600_000_000)
        livenessDeltaNs = root.uniform(500_000, 20_000_000)
        var netGen = root.fork()
        network = Network(nodeCount: total, generator: &netGen, slabLimit: settings.messagesInFlightLimit)
        queue = EventQueue(capacity: settings.queueCapacity)
        checker = AgentChecker(nodeCount: total)
        priorities = PriorityPlan(seed: seed)
        controls = ControlsCheckState(nodeCount: total)
        healed = Array(repeating: true, count: total)
        spinTicks = Array(repeating: 0, count: total)
        checkIntervalNs = root.uniform(50_000_000, 500_000_000)

        // What every member shares: the hooks, their bounds, and which members check.
        var plan = HookPlan()
        plan.onPromote = ["on-promote"]
        plan.onDemote = ["on-demote"]
        if root.chance(ppm: 500_000) { plan.onChange = ["on-change"] }
        plan.leaderUnit = root.chance(ppm: 250_000)
        plan.timeout = .milliseconds(root.uniform(100, 1500))
        plan.killGrace = .milliseconds(root.uniform(20, 300))
        plan.promoteDelay = root.chance(ppm: 200_000) ? .milliseconds(root.uniform(5, 200)) : .zero
        plan.resignOnPromoteFailure = root.chance(ppm: 700_000)
        plan.promoteFailureBackoff = .milliseconds(root.uniform(200, 2000))
        let checkFailures = Int(root.uniform(1, 3))
        let storageRetry = Interval.milliseconds(root.uniform(50, 500))
        for i in 0..<total {
            var g = root.fork()
            var s = DriverSettings(name: "n\(i + 1)", members: founders)
            s.raft = options
            s.hooks = plan
            s.checkConfigured = g.chance(ppm: 400_000)
            s.checkFailuresToFail = checkFailures
            s.storageRetryInterval = storageRetry
            let clock = SimClock.draw(&g, maxDrift: options.maxDrift)
            nodes.append(AgentSimNode(sim: self, index: i, settings: s, clock: clock, rng: g.fork()))
            let node = nodes[i]
            node.fsyncMinNs = g.uniform(20_000, 1_000_000)
            node.fsyncMaxNs = node.fsyncMinNs + g.uniform(0, 3_000_000)
            if g.chance(ppm: 300_000) {
                node.fsyncSpikePpm = UInt64(g.uniform(1_000, 20_000))
                node.fsyncSpikeMaxNs = node.fsyncMaxNs + g.uniform(5_000_000, 50_000_000)
            }
            // Founders run with --bootstrap on every start, as the README says; spares
            // start without it and wait to be added.
            node.bootstrapFlag = i < n
            indexOf[node.id] = i
        }
        for from in 0..<total {
            for to in 0..<total where from != to {
                network.profiles[network.link(from, to)] = chaos.drawLink(&root)
            }
        }
    }

    /// run plays the whole history and returns what it found.
    public func run() -> RunResult {
        applyPriorityPlan()
        for i in 0..<nodeCount where i < foundingCount || rng.chance(ppm: 300_000) { startProcess(i) }
        schedule(settings.safetyPhase.nanoseconds, .heal, node: 0)
        schedule(chaos.nextGapNs(&rng), .chaos, node: 0)
        schedule(chaos.probeGapNs, .probe, node: 0)
        while checker.violation == nil && !finished, let e = queue.popFolding(into: &digest) {
            events += 1
            if events > settings.eventLimit {
                fail("simulator", "event limit \(settings.eventLimit) reached")
                break
            }
            nowNs = e.timeNs
            dispatch(e)
        }
        if checker.violation == nil && !finished { fail("simulator", "event queue ran dry") }
        if checker.violation == nil {
            for i in 0..<nodeCount where nodes[i].isUp && !nodes[i].paused {
                checker.settled(node: i, view: nodes[i].driver!.view, realNs: nowNs)
                checker.overdue(node: i, realNs: nowNs)
            }
        }
        let trace = traceLog?.linesWithDrops ?? []
        stats.offices = checker.officesEntered
        stats.elections = checker.leaderOfTerm.count
        stats.preemptionWindows = controls.windows
        return RunResult(seed: seed, nodeCount: foundingCount, witnessCount: 0, violation: checker.violation, simulatedNs: nowNs,
                         events: events, healToOfficeNs: healToOfficeNs, officeAtHeal: officeAtHeal,
                         livenessBoundNs: livenessBoundNs, digest: digest, toleratedCount: 0, trace: trace, stats: stats,
                         membership: membershipStats, livenessApplies: livenessApplies)
    }

    // MARK: - Events

    func dispatch(_ e: EventQueue<AgentEventKind>.ScheduledEvent) {
        let i = Int(e.node)
        let node = nodes[i]
        switch e.kind {
        case .deliver, .tick, .diskAck, .hookDone, .checkProbe, .connectionLost, .terminate, .resign, .groupPause, .groupResume:
            if node.paused && node.isUp {
                guard node.deferred.count < 100_000 else { return fail("simulator", "\(node.name) deferred-event limit") }
                node.deferred.append(e)
                return
            }
            switch e.kind {
            case .deliver: deliver(e)
            case .tick:
                guard node.isUp, e.life == node.life, UInt32(e.payload) == node.tickToken else { return }
                node.scheduledTickNs = SimClock.neverRealNs
                step(i, .tick)
                if let d = node.driver, d.nextDeadline <= node.clock.reading(atReal: nowNs) {
                    spinTicks[i] += 1
                    if spinTicks[i] > Self.spinTickLimit {
                        fail("timer-livelock", "\(node.name) asked for a tick at or before now after \(Self.spinTickLimit) ticks in a row")
                    }
                    node.scheduledTickNs = SimClock.neverRealNs
                    schedule(nowNs + 1_000_000, .tick, node: i, payload: UInt64(bumpTickToken(node)), life: node.life)
                } else {
                    spinTicks[i] = 0
                }
            case .diskAck:
                guard node.isUp, e.life == node.life else { return }
                diskAck(i)
            case .hookDone:
                guard node.isUp, e.life == node.life, let r = node.running, r.request.run == e.payload else { return }
                node.running = nil
                if r.executed { checker.hookEnded(node: i, realNs: nowNs) }
                note { "\(node.name) HOOK end #\(r.request.run) \(r.request.hook): \(r.outcome.summary)" }
                step(i, .hookStepFinished(r.request.run, r.outcome))
            case .checkProbe:
                guard node.isUp, e.life == node.life, node.settings.checkConfigured else { return }
                step(i, .checkResult(passed: node.appHealthy, detail: node.appHealthy ? "exit 0" : "exit 1", duration: .milliseconds(1)))
                schedule(nowNs + checkIntervalNs, .checkProbe, node: i, life: node.life)
            case .connectionLost:
                guard node.isUp, e.life == node.life, Int(e.payload) < nodeCount else { return }
                note { "\(node.name) hint: connection to n\(e.payload + 1) lost" }
                step(i, .peerDisconnected(nodes[Int(e.payload)].id))
            case .terminate:
                guard node.isUp, e.life == node.life else { return }
                terminate(i, twice: e.payload == 1)
            case .resign:
                guard node.isUp, e.life == node.life else { return }
                resign(i, target: Int(e.payload) - 1)
            case .groupPause:
                guard node.isUp, e.life == node.life else { return }
                groupPause(i, ms: e.payload)
            case .groupResume:
                guard node.isUp, e.life == node.life else { return }
                groupResume(i)
            default: break
            }
        case .diskDurable:
            guard e.life == node.life, !node.acked.isEmpty else { return }
            let batch = node.acked.removeFirst()
            makeDurable(i, batch.writes)
        case .crash:
            guard node.isUp, e.life == node.life else { return }
            if phase == .liveness && healed[i] { return }
            crash(i, restartAfterNs: Int64(e.payload))
        case .restart:
            guard !node.isUp, e.life == node.life else { return }
            if phase == .liveness && !healed[i] { return }
            startProcess(i)
        case .resume:
            guard node.paused, UInt32(e.payload) == node.pauseToken else { return }
            resume(i)
        case .priorityAct:
            priorityAct()
        case .priorityChange:
            priorityChange(e.payload)
        case .handoverAct:
            handoverAct()
        case .chaos:
            guard phase == .safety else { return }
            chaosAct()
            schedule(nowNs + chaos.nextGapNs(&rng), .chaos, node: 0)
        case .probe:
            probeAll()
            schedule(nowNs + chaos.probeGapNs, .probe, node: 0)
        case .diskRecovers:
            node.diskFailing = false
            note { "\(node.name) DISK works again" }
        case .appRecovers:
            if !node.appHealthy { stats.checkFlips += 1 }
            node.appHealthy = true
        case .heal:
            heal()
        case .end:
            // A run checking preemption (PR) goes on past the liveness bound once in office.
            if e.payload == 1 && healToOfficeNs != nil && nowNs < endAfterOfficeNs { return }
            if e.payload == 1 && healToOfficeNs == nil && livenessApplies {
                fail("L1", "no node of the healed majority \(healedNames) in office within \(Interval(nanoseconds: livenessBoundNs)) of the heal (δ = \(Interval(nanoseconds: livenessDeltaNs)))")
            }
            finished = true
        }
    }

    func deliver(_ e: EventQueue<AgentEventKind>.ScheduledEvent) {
        let m = network.take(Int32(truncatingIfNeeded: e.payload))
        let i = Int(e.node)
        guard nodes[i].isUp, let from = indexOf[m.from] else { return }
        if network.isBlocked(from: from, to: i) {
            note { "drop (partition) \(self.describe(m))" }
            return
        }
        note { "deliver \(self.describe(m))" }
        noteDelivered(i, m)
        step(i, .message(m))
    }

    // MARK: - Driving one node

    /// step hands node i's driver one input at the node's own clock, then lets the
    /// checkers look at it: its view, and its `/is-leader` answer right after.
    func step(_ i: Int, _ input: DriverInput) {
        let node = nodes[i]
        guard let driver = node.driver else { return }
        driver.handle(input, now: node.clock.reading(atReal: nowNs))
        if node.exitRequested {
            note { "\(node.name) EXIT 0\(node.forcedExit ? " (second SIGTERM: now)" : "")" }
            // A second SIGTERM asks for an exit now, hooks killed: like a crash, it
            // owes no demote.
            endLife(i, clean: !node.forcedExit)
            let delay = phase == .liveness && healed[i] ? rng.uniform(1_000_000, 20_000_000) : rng.uniform(50_000_000, 2_000_000_000)
            schedule(nowNs + delay, .restart, node: i, life: node.life)
            return
        }
        checker.observe(node: i, view: driver.view, durableTerm: node.durable.hardState.term, realNs: nowNs)
        checker.observePause(node: i, view: driver.view, raft: driver.raft, realNs: nowNs)
        checkControls(i, driver)
        answerIsLeader(i)
        scheduleTick(i)
    }

    /// answerIsLeader is node i's HTTP consumer answering `/is-leader` now, from the
    /// view and its own clock — or, with the stale-is-leader fault, from the view alone.
    func answerIsLeader(_ i: Int) {
        let node = nodes[i]
        guard let view = node.driver?.view, !node.paused else { return }
        stats.probes += 1
        let now = node.clock.reading(atReal: nowNs)
        let yes: Bool
        if settings.faults.contains(.staleIsLeader) {
            yes = view.office != nil && view.storageError == nil
        } else {
            yes = view.isInOffice(at: now)
        }
        let leaseEnd = view.office.map { node.clock.realTime(reaching: $0.leaseDeadline - view.leaseMargin) } ?? nowNs
        checker.answer(node: i, yes: yes, term: view.office?.term ?? 0, leaseEndNs: leaseEnd, realNs: nowNs)
        if yes && phase == .liveness && healed[i] && healToOfficeNs == nil { reachedOffice() }
    }

    func probeAll() {
        for i in 0..<nodeCount where nodes[i].isUp && !nodes[i].paused {
            answerIsLeader(i)
            checker.overdue(node: i, realNs: nowNs)
            if let due = nodes[i].shutdownDueNs, due < nowNs {
                fail("shutdown", "\(nodes[i].name) got SIGTERM at \(Interval(nanoseconds: nodes[i].terminatedAtNs ?? 0)) and has not exited by its bound \(Interval(nanoseconds: due))")
            }
        }
        checkPreemption()
    }

    func scheduleTick(_ i: Int) {
        let node = nodes[i]
        guard let d = node.driver else { return }
        let deadline = d.nextDeadline
        guard deadline < .distantFuture else {
            if node.scheduledTickNs != SimClock.neverRealNs { node.scheduledTickNs = SimClock.neverRealNs; _ = bumpTickToken(node) }
            return
        }
        let real = max(nowNs, node.clock.realTime(reaching: deadline))
        if real == node.scheduledTickNs { return }
        node.scheduledTickNs = real
        // Timers fire a little late now and then (timer slack, a busy machine).
        let slack = rng.chance(ppm: 50_000) ? rng.uniform(0, 2_000_000) : 0
        schedule(real + slack, .tick, node: i, payload: UInt64(bumpTickToken(node)), life: node.life)
    }

    func bumpTickToken(_ node: AgentSimNode) -> UInt32 {
        node.tickToken &+= 1
        return node.tickToken
    }

    // MARK: - Disk

    func diskAck(_ i: Int) {
        let node = nodes[i]
        guard let last = node.writing.last?.0 else { return }
        let writes = node.writing
        node.writing = []
        if node.diskFailing {
            node.kept = writes
            note { "\(node.name) DISK write up to #\(last) failed" }
            step(i, .persistFailed(upTo: last, error: "EIO (simulated)"))
        } else {
            if !settings.faults.contains(.sendBeforeFsync) { makeDurable(i, writes) }
            step(i, .persisted(upTo: last))
        }
        if node.isUp && node.writing.isEmpty && !node.queued.isEmpty { node.startWrite() }
    }

    func makeDurable(_ i: Int, _ writes: [(JobID, Ready)]) {
        let node = nodes[i]
        for (_, w) in writes {
            if let h = w.hardState {
                checker.durableWrite(node: i, old: node.durable.hardState, new: h, realNs: nowNs)
                node.durable.hardState = h
            }
            if let snap = w.snapshot {
                node.durable.snapshot = snap
                node.durable.log.removeAll { $0.index <= snap.index }
            }
            if let t = w.truncateFrom { node.durable.log.removeAll { $0.index >= t } }
            node.durable.log.append(contentsOf: w.entries)
        }
    }

    // MARK: - The wire

    func send(from i: Int, _ m: Message) {
        stats.messagesSent += 1
        checker.send(node: i, message: m, durable: nodes[i].durable, realNs: nowNs)
        checkTimeoutNow(i, m)
        guard let to = indexOf[m.to] else { return }
        let copies = network.draw(from: i, to: to)
        if copies.count == 0 { return }
        for k in 0..<copies.count {
            guard let slot = network.store(m) else { return fail("simulator", "messages-in-flight limit \(settings.messagesInFlightLimit)") }
            schedule(nowNs + (k == 0 ? copies.firstDelayNs : copies.secondDelayNs), .deliver, node: to, payload: UInt64(UInt32(bitPattern: slot)))
        }
    }

    // MARK: - Processes

    func startProcess(_ i: Int) {
        let node = nodes[i]
        let now = node.clock.reading(atReal: nowNs)
        if node.removedMark {
            note { "\(node.name) EXIT 2: this member was removed (its data dir says so)" }
            return
        }
        var flags = node.settings
        flags.incarnation = node.incarnation
        if let wrong = node.flagPeers { flags.members = wrong }
        let restored = loadDataDir(i, peers: flags.members)
        do {
            // As the agent does (Agent.swift): the stored state is the membership; an
            // empty one waits to be added, never founds from the flags.
            node.driver = try AgentDriver(settings: flags, restoring: restored, seed: node.rng.next(), now: now,
                                          ports: DriverPorts(persist: node, peers: node, hooks: node, responder: node, log: node, lifecycle: node),
                                          foundIfEmpty: false)
        } catch {
            return fail("simulator", "\(node.name) cannot start: \(error)")
        }
        node.nextJob = 1
        node.scheduledTickNs = SimClock.neverRealNs
        spinTicks[i] = 0
        note { "\(node.name) START term \(node.durable.hardState.term) vote \(node.durable.hardState.votedFor.flatMap { self.indexOf[$0] }.map { "n\($0 + 1)" } ?? "-") log \(node.durable.log.count) (clock \(now))" }
        step(i, .start)
        if node.settings.checkConfigured {
            schedule(nowNs + rng.uniform(0, checkIntervalNs), .checkProbe, node: i, life: node.life)
        }
    }

    /// endLife tears node i's process down: what was not durable is lost, timers and
    /// hooks die, peers that followed it learn the connection dropped.
    func endLife(_ i: Int, clean: Bool) {
        let node = nodes[i]
        let id = node.id
        checker.lifeEnded(node: i, cleanExit: clean, realNs: nowNs)
        node.driver = nil
        node.life &+= 1
        node.exitRequested = false
        node.forcedExit = false
        node.terminatedAtNs = nil
        node.shutdownDueNs = nil
        node.queued = []; node.kept = []; node.writing = []; node.acked = []
        node.lastDurableAtNs = 0
        node.running = nil
        node.paused = false
        node.flagPeers = nil
        node.deferred.removeAll()
        node.scheduledTickNs = SimClock.neverRealNs
        for j in 0..<nodeCount where j != i {
            if let leader = nodes[j].driver?.view.leader, leader == node.name {
                schedule(nowNs + rng.uniform(1_000_000, 5_000_000), .connectionLost, node: j, payload: UInt64(i), life: nodes[j].life)
            }
        }
        _ = id
    }

    func crash(_ i: Int, restartAfterNs: Int64) {
        note { "\(self.nodes[i].name) CRASH (\(self.nodes[i].writing.count + self.nodes[i].queued.count + self.nodes[i].acked.count) writes lost)" }
        stats.crashes += 1
        endLife(i, clean: false)
        if restartAfterNs > 0 { schedule(nowNs + restartAfterNs, .restart, node: i, life: nodes[i].life) }
    }

    func pause(_ i: Int, forNs: Int64) {
        let node = nodes[i]
        guard node.isUp, !node.paused else { return }
        node.paused = true
        node.pauseToken &+= 1
        node.pausedAtNs = nowNs
        stats.pauses += 1
        note { "\(node.name) PAUSE for \(Interval(nanoseconds: forNs))" }
        schedule(nowNs + forNs, .resume, node: i, payload: UInt64(node.pauseToken))
    }

    func resume(_ i: Int) {
        let node = nodes[i]
        node.paused = false
        let pausedNs = nowNs - node.pausedAtNs
        for (request, due) in checker.outstanding[i] { checker.outstanding[i][request] = due + pausedNs }
        if let due = node.shutdownDueNs { node.shutdownDueNs = due + pausedNs }
        note { "\(node.name) RESUME (\(node.deferred.count) events waited)" }
        // On waking, an HTTP request may be answered before the loop runs its timers.
        answerIsLeader(i)
        let waiting = node.deferred
        node.deferred.removeAll()
        for var e in waiting {
            e.timeNs = nowNs
            if !queue.push(e) { return fail("simulator", "event queue limit \(settings.queueCapacity)") }
        }
    }

    func terminate(_ i: Int, twice: Bool) {
        let node = nodes[i]
        stats.terminations += 1
        if node.terminatedAtNs != nil || twice { node.forcedExit = true }
        if node.terminatedAtNs == nil {
            node.terminatedAtNs = nowNs
            // The bounds the driver runs with now (a SIGHUP's hooks wait for the running job).
            let s = node.driver?.settings ?? node.settings
            let bound = (s.shutdownHookBound + s.shutdownSuccessorBound + DriverSettings.shutdownFlushBound).nanoseconds
            node.shutdownDueNs = nowNs + bound + bound / 4 + 1_000_000_000
        }
        note { "\(node.name) SIGTERM\(twice ? " ×2" : "")" }
        step(i, .terminate)
        if twice && node.isUp { step(i, .terminate) }
    }

    func resign(_ i: Int, target: Int) {
        let node = nodes[i]
        let request = nextRequest
        nextRequest += 1
        stats.resigns += 1
        // The bound the driver runs with now (a SIGHUP's hooks wait for the running job).
        let wait = (node.driver?.settings ?? node.settings).resignWait.nanoseconds
        checker.asked(node: i, request: request, dueNs: nowNs + wait + wait / 4 + 100_000_000)
        let to = target >= 0 && target < nodeCount ? nodes[target].name : nil
        note { "\(node.name) RESIGN req \(request) to \(to ?? "any")" }
        step(i, .resign(request, to: to, client: "simulated client"))
    }

    /// drawHookOutcome decides how a hook step the executor runs ends, and after how long.
    func drawHookOutcome(_ node: AgentSimNode, _ request: HookStepRequest) -> (HookStepOutcome, Int64) {
        if phase == .liveness && healed[node.index] {
            let d = node.rng.uniform(0, 20_000_000)
            return (.ok(Interval(nanoseconds: d)), d)
        }
        switch node.rng.pick([70, 12, 10, 8]) {
        case 0:
            let d = node.rng.uniform(0, 20_000_000)
            return (.ok(Interval(nanoseconds: d)), d)
        case 1:
            let d = node.rng.uniform(20_000_000, 300_000_000)
            return (.ok(Interval(nanoseconds: d)), d)
        case 2:
            let d = node.rng.uniform(0, 50_000_000)
            return (HookStepOutcome(succeeded: false, exitCode: 1, summary: "exit 1", duration: Interval(nanoseconds: d)), d)
        default:
            // Hangs: ended at the timeout (SIGTERM), or a kill grace later (SIGKILL).
            let ignoresTerm = node.rng.chance(ppm: 500_000)
            let d = request.timeout.nanoseconds + (ignoresTerm ? node.settings.hooks.killGrace.nanoseconds : node.rng.uniform(0, 5_000_000))
            return (HookStepOutcome(succeeded: false, timedOut: true, summary: ignoresTerm ? "timeout (signal 9)" : "timeout (signal 15)",
                                    duration: Interval(nanoseconds: d)), d)
        }
    }

    // MARK: - Liveness

    var healedNames: String { (0..<nodeCount).filter { healed[$0] }.map { "n\($0 + 1)" }.joined(separator: ",") }

    /// livenessBoundNs: the core layer's bound `Emin·(1+d) + 5·(Emax + 2δ)`, plus what an
    /// agent may still be held by at the heal: a promote-failure back-off, a hook step
    /// running to its bound (promote, then demote), two check intervals.
    var livenessBoundNs: Int64 {
        let backoff = nodes.map { $0.settings.hooks.promoteFailureBackoff.nanoseconds }.max() ?? 0
        let step = nodes.map { $0.settings.hooks.stepBound.nanoseconds }.max() ?? 0
        return options.electionTimeoutMin.scaled(by: 1 + options.maxDrift).nanoseconds
            + 5 * (options.electionTimeoutMax.nanoseconds + 2 * livenessDeltaNs)
            + backoff + 2 * step + 2 * checkIntervalNs
    }

    func heal() {
        phase = .liveness
        healNs = nowNs
        let n = nodeCount
        if membershipPpm > 0 || priorities.active {
            // Which majority can elect depends on the configuration in force, who was
            // wiped and who was removed (and, with priorities, which members may lead at
            // all): heal every machine, and check liveness only when some member could
            // win an election (see `electable`).
            livenessApplies = electable()
            for k in 0..<n { healed[k] = true }
        } else if (0..<n).contains(where: { k in prospect(k).configuration.map { $0.electionQuorum > $0.quorum } ?? false }) {
            // A group whose incarnations are not all bound yet elects only with every
            // voter (design S6): heal them all.
            for k in 0..<n { healed[k] = true }
        } else {
            let quorum = n / 2 + 1
            let size = quorum + rng.below(n - quorum + 1)
            var order = Array(0..<n)
            for k in stride(from: n - 1, to: 0, by: -1) { order.swapAt(k, rng.below(k + 1)) }
            for k in 0..<n { healed[order[k]] = k < size }
        }
        note { "HEAL majority \(self.healedNames); δ = \(Interval(nanoseconds: self.livenessDeltaNs)), bound \(Interval(nanoseconds: self.livenessBoundNs))" }
        network.heal(majority: healed, deltaNs: livenessDeltaNs)
        for i in 0..<n where healed[i] {
            nodes[i].diskFailing = false
            nodes[i].appHealthy = true
            if nodes[i].paused { resume(i) }
            if !nodes[i].isUp { startProcess(i) }
        }
        for i in 0..<n where healed[i] && nodes[i].isUp {
            if let view = nodes[i].driver?.view, view.isInOffice(at: nodes[i].clock.reading(atReal: nowNs)) {
                officeAtHeal = true
                reachedOffice()
                break
            }
        }
        schedule(nowNs + livenessBoundNs, .end, node: 0, payload: 1)
    }

    func reachedOffice() {
        healToOfficeNs = nowNs - healNs
        note { "liveness: office reached \(Interval(nanoseconds: self.nowNs - self.healNs)) after the heal" }
        var endNs = nowNs + options.electionTimeoutMax.nanoseconds * 2
        if priorities.active && priorities.preempt {
            // Room for a stable window longer than the preemption bound (PR).
            endNs = max(endNs, nowNs + preemptBoundNs + 2 * chaos.probeGapNs + 1_000_000_000)
            endAfterOfficeNs = endNs
        }
        schedule(endNs, .end, node: 0, payload: 0)
    }

    // MARK: - Helpers

    func schedule(_ atNs: Int64, _ kind: AgentEventKind, node: Int, payload: UInt64 = 0, life: UInt32 = 0) {
        if !queue.push(timeNs: atNs, kind: kind, node: node, payload: payload, life: life) {
            fail("simulator", "event queue limit \(settings.queueCapacity)")
        }
    }

    func fail(_ property: String, _ detail: String) { checker.fail(property, detail, nowNs) }

    @inline(__always)
    func note(_ line: () -> String) {
        guard let log = traceLog else { return }
        log.append("\(Interval(nanoseconds: nowNs)) \(line())")
    }

    func describe(_ m: Message) -> String {
        // The trace names nodes n1…nN: renumber the ids the drivers derive from names.
        let from = NodeID(UInt32((indexOf[m.from] ?? -1) + 1)), to = NodeID(UInt32((indexOf[m.to] ?? -1) + 1))
        return RaftSimulation.describe(Message(from: from, to: to, term: m.term, body: m.body))
    }
}

/// runAgentSimulation plays one agent-layer seed.
public func runAgentSimulation(seed: UInt64, settings: AgentSimulationSettings) -> RunResult {
    AgentSimulation(seed: seed, settings: settings).run()
}
