import RaftCore

/// ChaosProfile is the fault mix of one run, drawn from its seed: some seeds are calm,
/// some stormy, so that both long stable leaderships (lease renewals, commits) and
/// constant churn get covered.
struct ChaosProfile {
    /// enabled turns the random fault generator on (off for most targeted scenarios).
    var enabled = true
    var meanGapNs: Int64 = 500_000_000
    var proposalGapNs: Int64 = 100_000_000
    /// proposalLimit bounds the log (and the checkers' work) per run.
    var proposalLimit = 400
    var probeGapNs: Int64 = 20_000_000
    /// benign: no loss, no duplication, short delays (targeted scenarios start here).
    var benign = false
    var lossMaxPpm: UInt64 = 0
    var duplicateMaxPpm: UInt64 = 0
    var delayMaxNs: Int64 = 5_000_000
    var tailPpm: UInt64 = 0
    var tailMaxNs: Int64 = 0
    var slowDisks = false

    static func draw(_ g: inout SeededGenerator, scenario: Scenario) -> ChaosProfile {
        var p = ChaosProfile()
        p.meanGapNs = g.uniform(80_000_000, 1_500_000_000)
        p.proposalGapNs = g.uniform(10_000_000, 300_000_000)
        p.probeGapNs = g.uniform(5_000_000, 40_000_000)
        p.lossMaxPpm = g.chance(ppm: 300_000) ? 0 : UInt64(g.uniform(0, 200_000))
        p.duplicateMaxPpm = g.chance(ppm: 500_000) ? 0 : UInt64(g.uniform(0, 50_000))
        p.delayMaxNs = g.uniform(200_000, 40_000_000)
        p.tailPpm = g.chance(ppm: 500_000) ? 0 : UInt64(g.uniform(0, 30_000))
        p.tailMaxNs = g.uniform(50_000_000, 400_000_000)
        switch scenario {
        case .random, .wipeAfterVote: break
        case .membershipChurn:
            p.meanGapNs = g.uniform(100_000_000, 400_000_000)
        case .crashAfterVote:
            p.slowDisks = true
        case .cutOneFollower, .driftedLeader, .slowAcks, .lostTimeoutNow, .isolateLeader:
            p.enabled = false
            p.benign = true
            p.lossMaxPpm = 0; p.duplicateMaxPpm = 0; p.tailPpm = 0
            p.delayMaxNs = g.uniform(200_000, 1_000_000)
        }
        return p
    }

    /// drawOptions gives the run's timing: half the seeds use the defaults, the rest a
    /// random valid setting (every node of a run shares it).
    static func drawOptions(_ g: inout SeededGenerator, scenario: Scenario) -> Options {
        var o = Options()
        if scenario == .driftedLeader {
            // A wider drift bound makes the window a drift-blind lease opens wide
            // enough to hit within a few elections (2·50 + 10 < 150·0.9/1.1 holds).
            o.maxDrift = 0.10
            return o
        }
        if scenario != .random && scenario != .crashAfterVote && scenario != .membershipChurn && scenario != .wipeAfterVote { return o }
        if g.chance(ppm: 500_000) { return o }
        let eminMs = g.uniform(100, 400)
        o.electionTimeoutMin = .milliseconds(eminMs)
        o.electionTimeoutMax = .milliseconds(eminMs + g.uniform(eminMs / 2, eminMs * 2))
        o.maxDrift = Double(g.uniform(0, 100)) / 1000
        o.leaseMargin = .milliseconds(g.uniform(5, 20))
        let usable = o.electionTimeoutMin.scaled(by: (1 - o.maxDrift) / (1 + o.maxDrift))
        let hbMaxNs = (usable - o.leaseMargin).nanoseconds / 2 - 1_000_000
        o.heartbeatInterval = Interval(nanoseconds: g.uniform(max(5_000_000, hbMaxNs / 4), max(5_000_000, hbMaxNs)))
        o.earlyCampaignStagger = .milliseconds(g.uniform(2, 20))
        return o
    }

    mutating func drawDisk(_ disk: inout SimDisk, _ g: inout SeededGenerator) {
        if slowDisks {
            disk.fsyncMinNs = g.uniform(500_000, 2_000_000)
            disk.fsyncMaxNs = disk.fsyncMinNs + g.uniform(1_000_000, 8_000_000)
        } else {
            disk.fsyncMinNs = g.uniform(20_000, 1_000_000)
            disk.fsyncMaxNs = disk.fsyncMinNs + g.uniform(0, 3_000_000)
        }
        if !benign && g.chance(ppm: 300_000) {
            disk.fsyncSpikePpm = UInt64(g.uniform(1_000, 20_000))
            disk.fsyncSpikeMaxNs = disk.fsyncMaxNs + g.uniform(5_000_000, 50_000_000)
        }
    }

    func drawLink(_ g: inout SeededGenerator) -> LinkProfile {
        var l = LinkProfile()
        l.lossPpm = lossMaxPpm > 0 ? UInt64(g.uniform(0, Int64(lossMaxPpm))) : 0
        l.duplicatePpm = duplicateMaxPpm > 0 ? UInt64(g.uniform(0, Int64(duplicateMaxPpm))) : 0
        l.delayMinNs = g.uniform(20_000, min(1_000_000, delayMaxNs))
        l.delayMaxNs = g.uniform(l.delayMinNs, delayMaxNs)
        l.tailPpm = tailPpm
        l.tailMaxNs = tailMaxNs
        return l
    }

    func nextGapNs(_ g: inout SeededGenerator) -> Int64 { g.uniform(meanGapNs / 4, meanGapNs * 7 / 4) }
}

extension Simulation {
    /// chaosAct takes one random fault action (the safety phase's generator).
    mutating func chaosAct() {
        if membershipPpm > 0 && rng.chance(ppm: membershipPpm) { return membershipAct() }
        let n = nodeCount
        let i = rng.below(n)
        let roll = rng.below(100)
        let leader = (0..<n).first { nodes[$0].raft?.role == .leader && !nodes[$0].paused }
        let blockedBefore = network.blocked
        switch roll {
        case 0..<10:  // crash any node; most come back
            if nodes[i].isUp { crash(i, restartAfterNs: rng.chance(ppm: 900_000) ? rng.uniform(10_000_000, 3_000_000_000) : 0) }
            else {
                startProcess(i)
            }
        case 10..<18:  // crash the leader
            if let l = leader { crash(l, restartAfterNs: rng.uniform(10_000_000, 2_000_000_000)) }
        case 18..<26:  // pause (SIGSTOP) for a while; the clock runs on
            pause(i, forNs: rng.chance(ppm: 300_000) ? rng.uniform(200_000_000, 2_000_000_000) : rng.uniform(1_000_000, 200_000_000))
        case 26..<32:  // pause the leader
            if let l = leader { pause(l, forNs: rng.uniform(20_000_000, 1_000_000_000)) }
        case 32..<40:  // isolate one node both ways
            network.isolate(i, true)
            note { "PARTITION isolate n\(i + 1)" }
        case 40..<46:  // split into two random groups
            var side = (0..<n).map { _ in rng.chance(ppm: 500_000) }
            side[i] = !side[(i + 1) % n]
            for a in 0..<n { for b in 0..<n where a != b && side[a] != side[b] { network.setBlocked(from: a, to: b, true) } }
            note { "PARTITION split \((0..<n).filter { side[$0] }.map { "n\($0 + 1)" }) | rest" }
        case 46..<54:  // asymmetric: cut some directed links
            for _ in 0..<(1 + rng.below(n)) {
                let a = rng.below(n), b = rng.below(n)
                if a != b { network.setBlocked(from: a, to: b, true); note { "PARTITION cut n\(a + 1)→n\(b + 1)" } }
            }
        case 54..<60:  // cut the leader from one follower
            if let l = leader {
                let f = (l + 1 + rng.below(n - 1)) % n
                network.setBlocked(from: l, to: f, true); network.setBlocked(from: f, to: l, true)
                note { "PARTITION cut leader n\(l + 1) from n\(f + 1)" }
            }
        case 60..<72:  // heal partitions
            network.healAll()
            note { "PARTITION heal all" }
        case 72..<78:  // new weather on some links
            for _ in 0..<(1 + rng.below(n)) {
                let a = rng.below(n), b = rng.below(n)
                if a != b { network.profiles[network.link(a, b)] = drawWeather() }
            }
        case 78..<85:  // planned hand-over
            if let l = leader {
                let target: NodeID? = rng.chance(ppm: 500_000) ? nil : NodeID(UInt32(rng.below(n) + 1))
                stats.transfers += 1
                note { "n\(l + 1) TRANSFER to \(target.map { "\($0)" } ?? "most up-to-date")" }
                step(l, .transferLeadership(to: target))
            }
        case 85..<88:  // graceful shutdown of the leader, back later
            if let l = leader {
                note { "n\(l + 1) SHUTDOWN" }
                step(l, .shutdown)
                schedule(nowNs + rng.uniform(50_000_000, 600_000_000), .crash, node: l,
                         payload: UInt64(rng.uniform(100_000_000, 2_000_000_000)), life: nodes[l].life)
            }
        case 88..<93:  // the application's check fails for a while: held back from campaigns
            if nodes[i].isUp && !nodes[i].paused {
                note { "n\(i + 1) CHECK failing: held back from campaigns" }
                step(i, .setCampaignAllowed(false))
                if nodes[i].raft?.role == .leader {
                    step(i, .transferLeadership(to: nil, reason: .checkFailed))
                }
                schedule(nowNs + rng.uniform(10_000_000, 1_500_000_000), .releaseCampaign, node: i, life: nodes[i].life)
            }
        default:  // a false "connection lost" hint
            if nodes[i].isUp && !nodes[i].paused {
                note { "n\(i + 1) false hint" }
                step(i, .leaderConnectionLost)
            }
        }
        if blockedBefore != network.blocked { hintCutFollowers(blockedBefore) }
    }

    /// drawWeather is a fresh random profile for one link (a congested or lossy path).
    mutating func drawWeather() -> LinkProfile {
        var l = chaos.drawLink(&rng)
        if rng.chance(ppm: 300_000) { l.delayMaxNs = l.delayMinNs + rng.uniform(10_000_000, 150_000_000) }
        return l
    }

    /// hintCutFollowers sends the truthful connection-lost hint to followers whose link to
    /// their leader was just cut (TCP notices within milliseconds).
    mutating func hintCutFollowers(_ before: [Bool]) {
        for j in 0..<nodeCount {
            guard let leaderID = nodes[j].raft?.leader else { continue }
            let l = Int(leaderID.rawValue) - 1
            guard l != j, l >= 0, l < nodeCount else { continue }
            let a = network.link(l, j), b = network.link(j, l)
            if (network.blocked[a] && !before[a]) || (network.blocked[b] && !before[b]) {
                schedule(nowNs + rng.uniform(1_000_000, 5_000_000), .connectionLost, node: j, life: nodes[j].life)
            }
        }
    }
}
