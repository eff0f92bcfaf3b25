import RaftCore

/// Targeted scenarios: fault schedules, still seeded, that set up the one situation an
/// injected bug needs to show, and repeat it for the whole safety phase. Each also runs
/// against the correct core (no bug) and must then pass: the schedule itself is legal.
extension Simulation {
    /// retryNs is how long a scenario waits before looking for a leader again.
    static let retryNs: Int64 = 200_000_000

    mutating func scenarioStartNs() -> Int64 { 1_000_000_000 + rng.uniform(0, 500_000_000) }

    mutating func setUpScenario() {
        switch settings.scenario {
        case .random, .crashAfterVote, .cutOneFollower, .slowAcks, .lostTimeoutNow, .isolateLeader,
             .membershipChurn, .wipeAfterVote:
            break
        case .driftedLeader:
            // Every clock fast; the leader's is slowed once known.
            let fast = 1_000_000 + Int64(options.maxDrift * 1_000_000)
            for i in 0..<nodeCount {
                nodes[i].clock = SimClock(offsetNs: nodes[i].clock.offsetNs, ratePpm: fast)
            }
        }
        if settings.scenario == .lostTimeoutNow { network.dropTimeoutNow = true }
    }

    /// scenarioStep runs step `k` of the targeted scenario; each step schedules the next.
    mutating func scenarioStep(_ k: Int) {
        let n = nodeCount
        let emin = options.electionTimeoutMin.nanoseconds
        let fastest = emin + emin / 5
        func next(_ afterNs: Int64, _ step: Int) { schedule(nowNs + afterNs, .scenarioStep, node: 0, payload: UInt64(step)) }
        func followers(of l: Int) -> [Int] { (0..<n).filter { $0 != l } }

        switch settings.scenario {
        case .random, .crashAfterVote, .wipeAfterVote:
            return

        case .membershipChurn:
            // A change proposed, its leader cut off at once (the entry stays on it
            // alone) and later healed; the next leader is asked for a change the moment
            // it wins, before its own no-op can commit. The single-server change bug
            // needs exactly that (Ongaro, raft-dev 2015).
            switch k {
            case 0:
                guard let l = leaderIndex() else { return next(20_000_000, 0) }
                scenarioNode = l
                membershipAct()
                if rng.chance(ppm: 600_000) {
                    let before = network.blocked
                    network.isolate(l, true)
                    note { "SCENARIO isolate n\(l + 1) with its change" }
                    hintCutFollowers(before)
                }
                proposeOnNextLeader = true
                next(emin * 3 + rng.uniform(0, emin * 4), 2)
            case 1:
                // Armed by `step` the moment a node becomes leader.
                guard let l = leaderIndex() else { return }
                membershipAct()
                _ = l
            default:
                proposeOnNextLeader = false
                network.healAll()
                note { "SCENARIO heal" }
                next(rng.uniform(50_000_000, 400_000_000), 0)
            }

        case .cutOneFollower:
            switch k {
            case 0:
                guard let l = officeHolder() else { return next(Self.retryNs, 0) }
                // Cut the leader from just enough followers that it keeps a bare quorum.
                var others = followers(of: l)
                for k in stride(from: others.count - 1, to: 0, by: -1) { others.swapAt(k, rng.below(k + 1)) }
                let cut = Array(others.prefix(n - founding.quorum))
                scenarioNode = l
                scenarioTargets = Array(others.dropFirst(cut.count))
                let before = network.blocked
                for f in cut { network.setBlocked(from: l, to: f, true); network.setBlocked(from: f, to: l, true) }
                note { "SCENARIO cut leader n\(l + 1) from \(cut.map { "n\($0 + 1)" })" }
                hintCutFollowers(before)
                next(fastest + rng.uniform(20_000_000, 150_000_000), 1)
            case 1...6:
                // A false hint to one follower that still hears the leader (two at once
                // would split the cut followers' votes between them).
                // Its acks stop reaching the leader, so the leader cannot learn a higher
                // term from it while its last echo still holds the lease up.
                if k == 1, let c = scenarioTargets.first { network.setBlocked(from: c, to: scenarioNode, true) }
                for c in scenarioTargets.prefix(1) where nodes[c].isUp {
                    note { "SCENARIO n\(c + 1) false hint" }
                    step(c, .leaderConnectionLost)
                }
                next(rng.uniform(10_000_000, 40_000_000), k + 1)
            default:
                network.healAll()
                note { "SCENARIO heal" }
                next(1_000_000_000, 0)
            }

        case .driftedLeader:
            let d = Int64(options.maxDrift * 1_000_000)
            switch k {
            case 0:
                guard let l = officeHolder() else { return next(Self.retryNs, 0) }
                scenarioNode = l
                setRate(l, ratePpm: 1_000_000 - d)
                note { "SCENARIO slow clock on leader n\(l + 1)" }
                next(rng.uniform(300_000_000, 700_000_000), 1)
            case 1:
                let l = scenarioNode
                let before = network.blocked
                network.isolate(l, true)
                note { "SCENARIO isolate n\(l + 1)" }
                hintCutFollowers(before)
                next(1_000_000_000, 2)
            default:
                network.healAll()
                if nodes[scenarioNode].isUp { setRate(scenarioNode, ratePpm: 1_000_000 + d) }
                note { "SCENARIO heal" }
                next(1_000_000_000, 0)
            }

        case .slowAcks:
            switch k {
            case 0:
                guard let l = officeHolder() else { return next(Self.retryNs, 0) }
                scenarioNode = l
                // Acks late by most of what the lease can absorb: a heartbeat plus the
                // ack delay must stay under the lease, or the leader steps down.
                let lease = options.leaseDuration.nanoseconds
                let hb = options.heartbeatInterval.nanoseconds
                let slowMax = max(1_000_000, (lease - hb) * 9 / 10)
                for f in followers(of: l) {
                    network.profiles[network.link(f, l)].delayMinNs = slowMax * 8 / 10
                    network.profiles[network.link(f, l)].delayMaxNs = slowMax
                }
                note { "SCENARIO slow acks to n\(l + 1): up to \(Interval(nanoseconds: slowMax))" }
                next(rng.uniform(500_000_000, 800_000_000), 1)
            case 1:
                let l = scenarioNode
                let before = network.blocked
                for f in followers(of: l) { network.setBlocked(from: l, to: f, true) }
                note { "SCENARIO cut n\(l + 1)'s outgoing links" }
                hintCutFollowers(before)
                next(1_000_000_000, 2)
            default:
                network.healAll()
                for f in followers(of: scenarioNode) {
                    network.profiles[network.link(f, scenarioNode)].delayMinNs = 100_000
                    network.profiles[network.link(f, scenarioNode)].delayMaxNs = 800_000
                }
                note { "SCENARIO heal" }
                next(1_000_000_000, 0)
            }

        case .lostTimeoutNow:
            guard let l = officeHolder() else { return next(Self.retryNs, 0) }
            let target: NodeID? = rng.chance(ppm: 300_000) ? nil : nodes[followers(of: l)[rng.below(n - 1)]].id
            stats.transfers += 1
            note { "SCENARIO n\(l + 1) TRANSFER to \(target.map { "\($0)" } ?? "most up-to-date") (TimeoutNow will be lost)" }
            step(l, .transferLeadership(to: target))
            next(rng.uniform(800_000_000, 1_500_000_000), 0)

        case .isolateLeader:
            switch k {
            case 0:
                guard let l = officeHolder() else { return next(Self.retryNs, 0) }
                scenarioNode = l
                let before = network.blocked
                network.isolate(l, true)
                note { "SCENARIO isolate n\(l + 1)" }
                hintCutFollowers(before)
                next(rng.uniform(500_000_000, 1_200_000_000), 1)
            default:
                network.healAll()
                note { "SCENARIO heal" }
                next(rng.uniform(500_000_000, 1_000_000_000), 0)
            }
        }
    }
}
