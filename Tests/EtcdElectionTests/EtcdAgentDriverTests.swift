// The etcd engine's driver in a deterministic world (DriverWorld.swift): the hook
// sequence, the check, resign and shutdown as the Raft driver has them (design S4),
// with etcd's recipe underneath. Each test asserts an order an application relies on.
import AgentDriver
import AgentLogging
import EtcdAPI
import EtcdElection
import RaftCore
import Testing

@Suite struct EtcdAgentDriverTests {
    static func isGrant(_ c: EtcdCall) -> Bool { if case .leaseGrant = c { true } else { false } }
    static func isRevoke(_ c: EtcdCall) -> Bool { if case .leaseRevoke = c { true } else { false } }

    @Test func theStartupHookRunsFirstAndNobodyContendsBeforeItFinished() throws {
        let w = DriverWorld()
        w.hookDuration = .milliseconds(200)
        let a = try w.addAgent("n01")
        let b = try w.addAgent("n02")
        w.run(for: .seconds(2))
        for i in [a, b] {
            let p = w.ports[i]
            #expect(p.hookLines.first == "startup 0")
            let startupEnd = try #require(p.hookEnds.first?.at)
            let grant = try #require(p.firstCall(Self.isGrant))
            #expect(grant >= startupEnd, "agent \(i) asked for a lease before its start-up hook finished")
            #expect(p.env(0, "BATON_EVENT") == "startup")
        }
        #expect(w.inOffice.count == 1)
        let leader = w.inOffice[0]
        let p = w.ports[leader]
        #expect(p.hookLines.count == 2 && p.hookLines[1].hasPrefix("promote "))
        let token = w.drivers[leader].election.office!.token
        #expect(p.env(1, "BATON_TERM") == "\(token)")
        #expect(p.env(1, "BATON_REASON") == "election")
        // The lease's end as the promote started: within a TTL·(1−d)/(1+d) of then.
        let deadlineMs = try #require(Int64(p.env(1, "BATON_LEASE_DEADLINE_MS") ?? ""))
        let promoteMs = p.hooks[1].start.nanoseconds / 1_000_000
        #expect(deadlineMs > promoteMs && deadlineMs <= promoteMs + 1_810)
        // Everyone names the leader and its token.
        for d in w.drivers {
            #expect(d.view.leader == (leader == a ? "n01" : "n02"))
            #expect(d.view.term == token)
        }
    }

    @Test func resignHandsOverAndTheSuccessorsPromoteFollowsTheDemote() throws {
        let w = DriverWorld()
        let a = try w.addAgent("n01")
        w.run(for: .seconds(1))
        let b = try w.addAgent("n02")
        w.run(for: .seconds(1))
        #expect(w.inOffice == [a])
        let token = w.drivers[a].election.office!.token
        w.hookDuration = .milliseconds(300)
        let request = w.resign(a)
        #expect(w.inOffice.isEmpty, "the leader leaves office in the same step")
        w.run(for: .seconds(2))
        #expect(w.inOffice == [b])
        let demote = try #require(w.ports[a].hooks.last)
        #expect(demote.request.job.event == .demote && demote.request.job.term == token)
        #expect(w.ports[a].env(w.ports[a].hooks.count - 1, "BATON_REASON") == "transfer")
        let demoteEnd = try #require(w.ports[a].hookEnds.last?.at)
        let revoke = try #require(w.ports[a].firstCall(Self.isRevoke))
        #expect(revoke >= demoteEnd, "the lease was revoked before the demote hook finished")
        let promote = try #require(w.ports[b].hooks.first { $0.request.job.event == .promote })
        #expect(promote.start >= demoteEnd, "the successor's promote started before the predecessor's demote ended")
        #expect(promote.request.job.term > token)
        #expect(w.ports[b].env(w.ports[b].hooks.firstIndex { $0.request.job.event == .promote }!, "BATON_PREVIOUS_LEADER_ID") == "n01")
        let answer = try #require(w.ports[a].answers.first { $0.request == request }?.answer)
        #expect(answer.status == 200)
        #expect(answer.fields.contains(.init("successor", .string("n02"))))
        #expect(answer.fields.contains(.init("successor_term", .int(Int64(promote.request.job.term)))))
    }

    @Test func resignRefusals() throws {
        let w = DriverWorld()
        let a = try w.addAgent("n01")
        w.run(for: .seconds(1))
        // Alone in line: nobody to hand over to, and the office stays.
        let alone = w.resign(a)
        #expect(w.ports[a].answers.first { $0.request == alone }?.answer.status == 409)
        #expect(w.inOffice == [a])
        let b = try w.addAgent("n02")
        w.run(for: .seconds(1))
        let named = w.resign(a, to: "n02")
        #expect(w.ports[a].answers.first { $0.request == named }?.answer.status == 400)
        let follower = w.resign(b)
        let answer = try #require(w.ports[b].answers.first { $0.request == follower }?.answer)
        #expect(answer.status == 409)
        #expect(answer.fields.contains(.init("leader", .member("n01"))))
        #expect(w.inOffice == [a])
    }

    @Test func aFailingCheckHoldsTheCandidacyAndMakesTheLeaderHandOver() throws {
        let w = DriverWorld()
        let a = try w.addAgent("n01", check: true)
        w.run(for: .seconds(1))
        #expect(w.ports[a].firstCall(Self.isGrant) == nil, "contended before a first passing check")
        #expect(w.drivers[a].view.campaignHeldBy == ["check"])
        w.input(a, .checkResult(passed: true, detail: "ok", duration: .zero))
        w.run(for: .seconds(1))
        #expect(w.inOffice == [a])
        let b = try w.addAgent("n02")
        w.run(for: .seconds(1))
        for _ in 0..<3 { w.input(a, .checkResult(passed: false, detail: "down", duration: .zero)) }
        #expect(w.inOffice.isEmpty)
        w.run(for: .seconds(1))
        #expect(w.inOffice == [b])
        let leave = try #require(w.ports[a].logged("office-leave").last)
        #expect(leave.fields.contains { $0.0 == "reason" && $0.1 == .string("check-failed") })
        // Held back while failing: no new lease after the hand-over.
        #expect(w.drivers[a].election.lease == nil)
    }

    @Test func aFailedPromoteHandsOverAndBacksOff() throws {
        let w = DriverWorld()
        w.failingHooks = ["0 on-promote promote"]
        let a = try w.addAgent("n01")
        w.run(for: .milliseconds(200))
        let b = try w.addAgent("n02")
        w.run(for: .seconds(2))
        #expect(w.inOffice == [b])
        #expect(w.drivers[a].view.campaignHeldBy == ["promote-failure-backoff"])
        #expect(w.ports[a].hookLines.suffix(2).map { $0.split(separator: " ")[0] } == ["promote", "demote"])
        #expect(w.ports[a].logged("office-leave").last?.fields.contains { $0.0 == "reason" && $0.1 == .string("promote-failed") } == true)
        w.run(for: .seconds(11))
        #expect(w.drivers[a].view.campaignAllowed)
        #expect(w.drivers[a].election.lease != nil, "contends again once the back-off ended")
    }

    @Test func sigtermLeavesRunsTheDemoteRevokesThenExits() throws {
        let w = DriverWorld()
        let a = try w.addAgent("n01")
        w.run(for: .seconds(1))
        let b = try w.addAgent("n02")
        w.run(for: .seconds(1))
        w.hookDuration = .milliseconds(250)
        let start = w.now
        w.input(a, .terminate)
        #expect(w.drivers[a].view.phase == .stopping)
        #expect(w.inOffice.isEmpty)
        w.run(for: .seconds(2))
        #expect(w.ports[a].exited)
        #expect(w.inOffice == [b])
        let demoteEnd = try #require(w.ports[a].hookEnds.last?.at)
        let revoke = try #require(w.ports[a].firstCall(Self.isRevoke))
        #expect(revoke >= demoteEnd)
        let promote = try #require(w.ports[b].hooks.first { $0.request.job.event == .promote })
        #expect(promote.start >= demoteEnd)
        // The hand-over takes the demote and a few round trips, not a lease TTL.
        #expect(promote.start - start < .milliseconds(300))
        #expect(!w.ports[a].logged("handed-over").isEmpty)
    }

    @Test func aSecondSigtermExitsAtOnce() throws {
        let w = DriverWorld()
        w.hookDuration = .seconds(20)
        let a = try w.addAgent("n01")
        w.input(a, .terminate)
        #expect(!w.ports[a].exited, "waits for the running start-up hook")
        w.input(a, .terminate)
        #expect(w.ports[a].exited)
    }
}
