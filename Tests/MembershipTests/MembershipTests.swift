import RaftCore
import Testing
@testable import Membership

@Suite struct FoundingTests {
    static let peers = [Founder(name: "n1", peerAddress: "10.0.0.1:7001"), Founder(name: "n2", peerAddress: "10.0.0.2:7001"),
                        Founder(name: "w", peerAddress: "10.0.0.3:7001", witness: true)]

    @Test func everyFounderBuildsTheSameMembershipAndFingerprint() throws {
        let a = foundingConfiguration(Self.peers, selfName: "n1", selfAPIAddress: "10.0.0.1:8001", selfWitness: false) { _ in 0 }
        let b = foundingConfiguration(Self.peers, selfName: "n2", selfAPIAddress: "10.0.0.2:8001", selfWitness: false) { _ in 0 }
        #expect(a.voters == b.voters)
        #expect(a.member(named: "w")?.role == .witness)
        #expect(a.electionQuorum == 3)  // nothing bound yet: every voter
        try a.validate()
        let f = groupFingerprint(clusterName: "prod", founders: Self.peers)
        #expect(f == groupFingerprint(clusterName: "prod", founders: Array(Self.peers.reversed())))
        #expect(f != groupFingerprint(clusterName: "prod", founders: Array(Self.peers.prefix(2))))
        #expect(f != groupFingerprint(clusterName: "test", founders: Self.peers))
        #expect(f != 0)
        // Each member may route to the others its own way: addresses do not count.
        #expect(f == groupFingerprint(clusterName: "prod", founders: Self.peers.map { Founder(name: $0.name, peerAddress: "proxy:1") }))
    }

    @Test func aMigratedGroupIsBoundToTheSameLegacyIncarnationsEverywhere() {
        let c = foundingConfiguration(Self.peers, selfName: "n2", selfAPIAddress: "", selfWitness: false, incarnation: legacyIncarnation)
        #expect(c.members.allSatisfy { $0.incarnation == legacyIncarnation(memberName: $0.name) && $0.incarnation != 0 })
        #expect(c.electionQuorum == 2)
        #expect(legacyIncarnation(memberName: "n1") != legacyIncarnation(memberName: "n2"))
    }

    @Test func peersThatDisagreeWithTheStoredMembershipAreNamedInTheWarning() throws {
        let stored = foundingConfiguration(Self.peers, selfName: "n1", selfAPIAddress: "", selfWitness: false) { _ in 7 }
        #expect(peersDrift(stored: stored, peers: Self.peers).isEmpty)
        let drift = peersDrift(stored: stored, peers: [Founder(name: "n1", peerAddress: "10.0.0.1:7001"),
                                                       Founder(name: "n3", peerAddress: "10.0.0.9:7001"),
                                                       Founder(name: "n2", peerAddress: "10.0.0.22:7001")])
        #expect(drift.notMembers == ["n3"])
        #expect(drift.unlisted == ["w"])
        #expect(drift.moved == ["n2"])
        #expect(drift.warning.contains("baton members add"))
        #expect(drift.warning.contains("stored membership is used"))
    }

    @Test func addressesAreCheckedAsHostPort() {
        for good in ["10.0.0.1:7001", "db-1.example:7001", "[::1]:7001", "localhost:1"] { #expect(isHostPort(good), "\(good)") }
        for bad in ["10.0.0.1", ":7001", "host:0", "host:70000", "::1:7001", "a b:1", ""] { #expect(!isHostPort(bad), "\(bad)") }
    }
}

@Suite struct MembershipRequestTests {
    static let base = foundingConfiguration(FoundingTests.peers, selfName: "n1", selfAPIAddress: "", selfWitness: false) { _ in 5 }

    @Test func addingAVoterMakesALearnerOnItsWayToVoter() throws {
        let c = try MembershipRequest.add(name: "n4", peerAddress: "10.0.0.4:7001", apiAddress: "10.0.0.4:8001",
                                          role: .voter, priority: 150).apply(to: Self.base)
        let m = try #require(c.member(named: "n4"))
        #expect(m.role == .learner && m.promotesTo == .voter && m.priority == 150 && m.incarnation == 0)
        #expect(c.voters == Self.base.voters)
        let o = try MembershipRequest.add(name: "o1", peerAddress: "10.0.0.5:7001", apiAddress: "", role: .observer,
                                          priority: 100).apply(to: Self.base)
        #expect(o.member(named: "o1")?.role == .observer)
    }

    @Test(arguments: [
        (MembershipRequest.add(name: "n1", peerAddress: "10.0.0.9:7001", apiAddress: "", role: .voter, priority: 100), 409),
        (.add(name: "bad name", peerAddress: "10.0.0.9:7001", apiAddress: "", role: .voter, priority: 100), 400),
        (.add(name: "n9", peerAddress: "nonsense", apiAddress: "", role: .voter, priority: 100), 400),
        (.add(name: "n9", peerAddress: "", apiAddress: "", role: .voter, priority: 100), 400),
        (.add(name: "n9", peerAddress: "10.0.0.2:7001", apiAddress: "", role: .voter, priority: 100), 409),
        (.add(name: "n9", peerAddress: "10.0.0.9:7001", apiAddress: "", role: .learner, priority: 100), 400),
        (.remove(name: "n7"), 404),
        (.setPriority(name: "n2", priority: 100), 409),
    ] as [(MembershipRequest, Int)])
    func badRequestsAreRefusedWithTheirStatus(request: MembershipRequest, status: Int) {
        do {
            _ = try request.apply(to: Self.base)
            Issue.record("\(request) accepted")
        } catch {
            #expect(error.status == status, "\(error)")
        }
    }

    @Test func removingTheLastMemberThatMayLeadIsRefused() throws {
        let two = try MembershipRequest.remove(name: "n2").apply(to: Self.base)
        #expect(throws: MembershipRequestError.self) { try MembershipRequest.remove(name: "n1").apply(to: two) }
        #expect(throws: MembershipRequestError.self) { try MembershipRequest.setPriority(name: "n1", priority: 0).apply(to: two) }
    }

    @Test func aLearnerIsPromotedOnlyOnceCaughtUpAndAbleToLead() throws {
        let c = try MembershipRequest.add(name: "n4", peerAddress: "10.0.0.4:7001", apiAddress: "", role: .voter, priority: 100).apply(to: Self.base)
        let n4 = nodeID(forName: "n4")
        #expect(promotion(in: c, commitIndex: 10, progress: { $0 == n4 ? (9, true) : nil }, seenIncarnation: { _ in 42 }) == nil)
        #expect(promotion(in: c, commitIndex: 10, progress: { $0 == n4 ? (10, false) : nil }, seenIncarnation: { _ in 42 }) == nil)
        #expect(promotion(in: c, commitIndex: 10, progress: { $0 == n4 ? (10, true) : nil }, seenIncarnation: { _ in nil }) == nil)
        let p = try #require(promotion(in: c, commitIndex: 10, progress: { $0 == n4 ? (10, true) : nil }, seenIncarnation: { _ in 42 }))
        #expect(p.member == "n4")
        #expect(p.configuration.member(named: "n4")?.role == .voter)
        #expect(p.configuration.member(named: "n4")?.incarnation == 42)
        #expect(p.configuration.votersDifferByAtMostOne(from: c))
    }
}

@Suite struct AdmissionTests {
    static let config = MembershipRequestTests.base

    @Test func aBoundMemberIsServedOnlyAsItsIncarnation() {
        #expect(admission(name: "n2", incarnation: 5, fingerprint: 9, configuration: Self.config, fingerprint: 9) == nil)
        let r = admission(name: "n2", incarnation: 6, fingerprint: 9, configuration: Self.config, fingerprint: 9)
        #expect(r?.kind == .staleIncarnation)
        #expect(r?.reason.contains("baton members remove n2") == true)
    }

    @Test func anotherGroupIsRefusedAndAJoinerIsServed() {
        #expect(admission(name: "n2", incarnation: 5, fingerprint: 8, configuration: Self.config, fingerprint: 9)?.kind == .otherGroup)
        // A member waiting to be added knows no fingerprint yet, nor any configuration.
        #expect(admission(name: "n2", incarnation: 5, fingerprint: 8, configuration: nil, fingerprint: 0) == nil)
        #expect(admission(name: "n9", incarnation: 77, fingerprint: 0, configuration: Self.config, fingerprint: 9) == nil)
    }
}
