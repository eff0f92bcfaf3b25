import AgentDriver
import RaftCore

extension AgentSimulation {
    /// leaderIndex is a node whose view says it leads (not paused), if any.
    var leaderIndex: Int? {
        (0..<nodeCount).first { nodes[$0].driver?.view.role == .leader && !nodes[$0].paused }
    }

    /// chaosAct takes one random fault action of the safety phase: the core layer's
    /// (crashes, pauses, partitions, weather, false hints) and the agent's own (SIGTERM,
    /// resign requests, disks that fail, applications whose check fails).
    func chaosAct() {
        let n = nodeCount
        let i = rng.below(n)
        let leader = leaderIndex
        if membershipPpm > 0 && rng.chance(ppm: membershipPpm) { return membershipAct() }
        let blockedBefore = network.blocked
        switch rng.pick([8, 6, 6, 6, 6, 4, 4, 4, 10, 4, 8, 3, 5, 3, 1, 4, 5, 3, 3, 3, 3]) {
        case 0:  // crash any node; most come back
            if nodes[i].isUp { crash(i, restartAfterNs: rng.chance(ppm: 900_000) ? rng.uniform(10_000_000, 3_000_000_000) : 0) }
            else { startProcess(i) }
        case 1:
            if let l = leader { crash(l, restartAfterNs: rng.uniform(10_000_000, 2_000_000_000)) }
        case 2:
            pause(i, forNs: rng.chance(ppm: 300_000) ? rng.uniform(200_000_000, 2_000_000_000) : rng.uniform(1_000_000, 200_000_000))
        case 3:
            if let l = leader { pause(l, forNs: rng.uniform(20_000_000, 1_000_000_000)) }
        case 4:
            network.isolate(i, true)
            note { "PARTITION isolate n\(i + 1)" }
        case 5:
            var side = (0..<n).map { _ in rng.chance(ppm: 500_000) }
            side[i] = !side[(i + 1) % n]
            for a in 0..<n { for b in 0..<n where a != b && side[a] != side[b] { network.setBlocked(from: a, to: b, true) } }
            note { "PARTITION split" }
        case 6:
            for _ in 0..<(1 + rng.below(n)) {
                let a = rng.below(n), b = rng.below(n)
                if a != b { network.setBlocked(from: a, to: b, true) }
            }
            note { "PARTITION asymmetric cuts" }
        case 7:
            if let l = leader {
                let f = (l + 1 + rng.below(n - 1)) % n
                network.setBlocked(from: l, to: f, true); network.setBlocked(from: f, to: l, true)
                note { "PARTITION cut leader n\(l + 1) from n\(f + 1)" }
            }
        case 8:
            network.healAll()
            note { "PARTITION heal all" }
        case 9:
            for _ in 0..<(1 + rng.below(n)) {
                let a = rng.below(n), b = rng.below(n)
                if a != b {
                    var l = chaos.drawLink(&rng)
                    if rng.chance(ppm: 300_000) { l.delayMaxNs = l.delayMinNs + rng.uniform(10_000_000, 150_000_000) }
                    network.profiles[network.link(a, b)] = l
                }
            }
        case 10:  // POST /resign to the leader, to anyone or to a named member
            if let l = leader {
                let target = rng.chance(ppm: 500_000) ? -1 : rng.below(n)
                schedule(nowNs, .resign, node: l, payload: UInt64(target + 1), life: nodes[l].life)
            }
        case 11:  // POST /resign to any node (most are refused)
            schedule(nowNs, .resign, node: i, payload: UInt64(rng.chance(ppm: 500_000) ? 0 : rng.below(n) + 1), life: nodes[i].life)
        case 12:  // SIGTERM to the leader: hand over, exit, come back later
            if let l = leader { schedule(nowNs, .terminate, node: l, life: nodes[l].life) }
        case 13:
            schedule(nowNs, .terminate, node: i, life: nodes[i].life)
        case 14:  // SIGTERM twice: now
            schedule(nowNs, .terminate, node: i, payload: 1, life: nodes[i].life)
        case 15:  // the disk fails writes for a while
            if !nodes[i].diskFailing {
                nodes[i].diskFailing = true
                stats.diskFailures += 1
                note { "n\(i + 1) DISK fails" }
                schedule(nowNs + rng.uniform(20_000_000, 1_500_000_000), .diskRecovers, node: i)
            }
        case 16:  // the application's check fails for a while
            if nodes[i].appHealthy {
                nodes[i].appHealthy = false
                stats.checkFlips += 1
                note { "n\(i + 1) APP unhealthy" }
                schedule(nowNs + rng.uniform(50_000_000, 3_000_000_000), .appRecovers, node: i)
            }
        case 18:  // SIGHUP: new hook commands and bounds, maybe a new check
            if nodes[i].isUp && !nodes[i].paused { reload(i) }
        case 19:  // POST /pause (issue 16) to any node, for 50 ms to 3 s
            schedule(nowNs, .groupPause, node: i, payload: UInt64(rng.uniform(50, 3_000)), life: nodes[i].life)
        case 20:  // POST /resume to any node
            schedule(nowNs, .groupResume, node: i, life: nodes[i].life)
        default:  // a false "connection lost" hint
            if let d = nodes[i].driver, let name = d.view.leader, let j = (0..<n).first(where: { nodes[$0].name == name }), j != i {
                schedule(nowNs, .connectionLost, node: i, payload: UInt64(j), life: nodes[i].life)
            }
        }
        if blockedBefore != network.blocked { hintCutFollowers(blockedBefore) }
    }

    /// reload edits node i's configuration and sends SIGHUP: the hook timeout, the
    /// promote delay and policy, `--on-change` and the check may all change (the
    /// leader unit needs a restart, so it stays).
    func reload(_ i: Int) {
        let node = nodes[i]
        var plan = node.settings.hooks
        plan.timeout = .milliseconds(rng.uniform(100, 1500))
        plan.promoteDelay = rng.chance(ppm: 200_000) ? .milliseconds(rng.uniform(5, 200)) : .zero
        plan.resignOnPromoteFailure = rng.chance(ppm: 700_000)
        plan.onChange = rng.chance(ppm: 500_000) ? ["on-change"] : nil
        let replaced = rng.chance(ppm: 400_000)
        let checked = replaced ? rng.chance(ppm: 500_000) : node.settings.checkConfigured
        let failures = replaced ? Int(rng.uniform(1, 3)) : node.settings.checkFailuresToFail
        let wasChecked = node.settings.checkConfigured
        node.settings.hooks = plan
        node.settings.checkConfigured = checked
        node.settings.checkFailuresToFail = failures
        stats.reloads += 1
        note { "\(node.name) SIGHUP (hook timeout \(plan.timeout), on-change \(plan.onChange != nil), check \(replaced ? (checked ? "replaced" : "removed") : "kept"))" }
        step(i, .reload(DriverReload(hooks: plan, checkConfigured: checked, checkFailuresToFail: failures, checkReplaced: replaced)))
        if checked && !wasChecked && node.isUp {
            schedule(nowNs + rng.uniform(0, checkIntervalNs), .checkProbe, node: i, life: node.life)
        }
    }

    /// hintCutFollowers gives followers whose link to their leader was just cut the
    /// truthful connection-lost hint a few milliseconds later (TCP notices).
    func hintCutFollowers(_ before: [Bool]) {
        for j in 0..<nodeCount {
            guard let name = nodes[j].driver?.view.leader,
                  let l = (0..<nodeCount).first(where: { nodes[$0].name == name }), l != j else { continue }
            let a = network.link(l, j), b = network.link(j, l)
            if (network.blocked[a] && !before[a]) || (network.blocked[b] && !before[b]) {
                schedule(nowNs + rng.uniform(1_000_000, 5_000_000), .connectionLost, node: j, payload: UInt64(l), life: nodes[j].life)
            }
        }
    }
}
