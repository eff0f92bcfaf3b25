// Scenarios for the election against the simulated etcd: who leads, how fast a
// successor follows, and that no fault lets two agents be in office at once.
import EtcdAPI
import EtcdElection
import RaftCore
import Time
import Testing

@Suite struct EtcdElectionScenarioTests {
    @Test func oneLeaderAmongThreeAndEveryoneKnowsIt() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(5))
        #expect(sim.inOffice == [0])
        for i in 0..<3 { #expect(sim.leaderName(seenBy: i) == "n01") }
        #expect(sim.agents[0].election.leader?.isSelf == true)
        #expect(sim.agents[1].election.leader?.isSelf == false)
        // Keep-alives hold the office indefinitely: one office in 5 s, still open.
        #expect(sim.offices.count == 1 && sim.offices[0].end == nil)
        #expect(sim.agents[1].election.candidates.count == 3)
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func killedLeaderIsSucceededWithinTTLAndLessorPeriod() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(3))
        let killedAt = sim.now
        sim.kill(0)
        sim.run(for: .seconds(4))
        #expect(sim.inOffice == [1])
        let next = sim.offices.first { $0.agent == 1 }!
        let failover = next.start - killedAt
        // TTL 2 s + etcd's 500 ms expiry scan + a few round trips.
        #expect(failover <= .milliseconds(2600), "failover \(failover)")
        #expect(next.token > sim.offices[0].token)
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func resignHandsOverInRoundTripsToTheOldestWaitingCandidate() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(1))
        let resignedAt = sim.now
        sim.step(0, .resign(.transfer))
        sim.run(for: .seconds(1))
        #expect(sim.inOffice == [1])
        let next = sim.offices.first { $0.agent == 1 }!
        #expect(next.start - resignedAt <= .milliseconds(10))
        #expect(sim.offices[0].reason == "transfer")
        // The old leader is back in line, last.
        #expect(sim.agents[0].election.myKey != nil)
        #expect(sim.agents[0].election.candidates.last?.key == sim.agents[0].election.myKey?.key)
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func successorWaitsForTheDemoteHookBeforeTheLeaseIsRevoked() throws {
        let sim = SimCluster()
        sim.demoteDelay = .milliseconds(300)
        for n in ["n01", "n02"] { sim.addAgent(n) }
        sim.run(for: .seconds(1))
        let resignedAt = sim.now
        sim.step(0, .resign(.transfer))
        sim.run(for: .milliseconds(290))
        #expect(sim.inOffice.isEmpty, "nobody leads while the demote hook runs")
        sim.run(for: .milliseconds(100))
        #expect(sim.inOffice == [1], "\(sim.log)")
        try #require(sim.offices.count == 2)
        #expect(sim.offices[1].start - resignedAt >= .milliseconds(300))
    }

    @Test func etcdDownEndsTheOfficeBeforeTheLeaseCouldExpireAndOneLeaderReturns() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(2))
        // The last renewal etcd saw bounds when etcd could have let the lease go.
        let lastRenewalAtEtcd = sim.etcd.leases[sim.agents[0].election.lease!.id]!.expiresAt - .seconds(2)
        sim.stopEtcd()
        sim.run(for: .seconds(5))
        #expect(sim.inOffice.isEmpty)
        let first = sim.offices[0]
        #expect(first.reason == "lease-lost")
        #expect(first.end! < lastRenewalAtEtcd + .seconds(2), "left at \(first.end!), etcd's lease ran to \(lastRenewalAtEtcd + .seconds(2))")
        sim.startEtcd()
        sim.run(for: .seconds(6))
        #expect(sim.inOffice.count == 1)
        let last = sim.offices.last!
        #expect(last.token > first.token)
        // The old leader's lease was revoked once etcd came back: nobody waits on it.
        #expect(sim.agents[0].election.abandonedLeaseCount == 0)
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func leaderCutOffFromEtcdLeavesBeforeTheSuccessorEnters() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(2))
        sim.cut(0, true)
        sim.run(for: .seconds(5))
        #expect(sim.inOffice == [1])
        #expect(sim.offices[0].reason == "lease-lost")
        #expect(sim.offices[0].end! <= sim.offices[1].start)
        sim.cut(0, false)
        sim.run(for: .seconds(5))
        #expect(sim.inOffice == [1], "the healed agent does not depose the leader")
        #expect(sim.agents[0].election.myKey != nil, "it is back in line")
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func driftWithinTheBoundKeepsOfficesApart() {
        // The leader's clock runs 4.9 % slow: its office still ends before etcd's lease.
        let sim = SimCluster()
        sim.addAgent("n01", clockRate: 0.951)
        sim.addAgent("n02", clockRate: 1.049)
        sim.run(for: .seconds(2))
        sim.cut(0, true)
        sim.run(for: .seconds(5))
        #expect(sim.inOffice == [1])
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func twentyContendersFollowCreateRevisionOrder() {
        let sim = SimCluster()
        for k in 1...20 { sim.addAgent("n" + String(k + 100).dropFirst()) }
        sim.run(for: .seconds(2))
        #expect(sim.inOffice == [0])
        for k in 0..<5 {
            sim.step(k, .shutdown)
            sim.run(for: .milliseconds(50))
            #expect(sim.inOffice == [k + 1], "after \(k) stopped")
            #expect(sim.agents[k].election.isStopped)
        }
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func heldBackCandidateLeavesTheLineAndRejoinsLast() {
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(1))
        sim.step(1, .setCampaignAllowed(false))
        sim.run(for: .milliseconds(50))
        #expect(sim.agents[0].election.candidates.count == 2)
        sim.step(1, .setCampaignAllowed(true))
        sim.run(for: .milliseconds(50))
        sim.step(0, .resign(.checkFailed))
        sim.run(for: .milliseconds(50))
        #expect(sim.inOffice == [2], "n03 was ahead of the rejoined n02")
        #expect(sim.offices[0].reason == "check-failed")
    }

    @Test func observerNeverContends() {
        let sim = SimCluster()
        sim.addAgent("n01", allowed: false)
        sim.addAgent("n02")
        sim.run(for: .seconds(3))
        #expect(sim.inOffice == [1])
        #expect(sim.leaderName(seenBy: 0) == "n02")
        #expect(sim.agents[0].election.lease == nil)
    }

    @Test func shutdownWhileEtcdIsDownStopsAfterOneTry() {
        let sim = SimCluster()
        sim.addAgent("n01")
        sim.run(for: .seconds(1))
        sim.stopEtcd()
        sim.step(0, .shutdown)
        sim.run(for: .seconds(2))
        #expect(sim.agents[0].election.isStopped)
        #expect(sim.offices[0].reason == "shutdown")
    }

    @Test func compactedWatchRereadsTheLine() {
        let sim = SimCluster()
        sim.addAgent("n01")
        sim.addAgent("n02")
        sim.run(for: .seconds(1))
        // Cut n02 off, change the line meanwhile, compact, and heal: its watch cannot
        // resume from its revision and it must read the line again.
        sim.cut(1, true)
        sim.step(0, .resign(.transfer))
        sim.run(for: .milliseconds(100))
        sim.etcd.compact(sim.etcd.revision)
        sim.cut(1, false)
        sim.run(for: .seconds(3))
        #expect(sim.inOffice.count == 1)
        #expect(sim.leaderName(seenBy: 0) == sim.leaderName(seenBy: 1))
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func deletingTheWholeLineAtOnceIsSeenByEveryone() {
        // An operator deletes every key under the prefix in one revision (several events
        // in one watch message): the leader leaves, everyone contends afresh, one leads.
        let sim = SimCluster()
        for n in ["n01", "n02", "n03"] { sim.addAgent(n) }
        sim.run(for: .seconds(1))
        let prefix = Array("/baton/test/election/".utf8)
        _ = sim.etcd.apply(.deleteRange(DeleteRangeRequest(key: prefix, rangeEnd: prefixEnd(prefix))), now: sim.now)
        sim.pushWatchEvents()
        sim.run(for: .seconds(1))
        #expect(sim.offices[0].reason == "key-deleted")
        #expect(sim.inOffice.count == 1)
        for i in 0..<3 { #expect(sim.agents[i].election.candidates.count == 3, "agent \(i) knows the new line") }
        #expect(sim.safetyViolations.isEmpty, "\(sim.safetyViolations)")
    }

    @Test func seededFaultsNeverOverlapOffices() {
        // Random kills, restarts of etcd, cut-offs and resigns over 60 simulated seconds,
        // 30 seeds: the observer must never see two offices at once or a token go back.
        for seed in 1...25 {
            var rng = SeededGenerator(seed: UInt64(seed))
            let sim = SimCluster()
            let n = 3 + Int(rng.next() % 3)
            for k in 0..<n { sim.addAgent("n0\(k)", clockRate: 1.0 + (Double(rng.next() % 91) - 45) / 1000) }
            for _ in 0..<60 {
                switch rng.next() % 8 {
                case 0: if sim.etcdUp { sim.stopEtcd() } else { sim.startEtcd() }
                case 1: let k = Int(rng.next() % UInt64(n)); sim.cut(k, !sim.agents[k].cutOff)
                case 2: let k = Int(rng.next() % UInt64(n)); sim.step(k, .resign(.transfer))
                case 3: if sim.agents.filter(\.alive).count > 2 { sim.kill(Int(rng.next() % UInt64(n))) }
                default: break
                }
                sim.run(for: .milliseconds(Int64(200 + rng.next() % 1800)))
            }
            if !sim.etcdUp { sim.startEtcd() }
            for k in 0..<n where sim.agents[k].cutOff { sim.cut(k, false) }
            sim.run(for: .seconds(8))
            #expect(sim.safetyViolations.isEmpty, "seed \(seed): \(sim.safetyViolations.sorted().prefix(3))")
            #expect(sim.inOffice.count == 1, "seed \(seed): nobody leads after healing\n\(sim.log.suffix(10).joined(separator: "\n"))")
        }
    }
}
