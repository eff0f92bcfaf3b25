import AgentConfig
import PeerWire
import RaftCore
import Testing
@testable import Membership

@Suite struct FoundingTests {
    static let peers = try! parsePeers("n1=10.0.0.1:7001,n2=10.0.0.2:7001,w=10.0.0.3:7001/witness")

    @Test func everyFounderBuildsTheSameMembershipAndFingerprint() throws {
        let a = foundingConfiguration(peers: Self.peers, selfName: "n1", selfAPIAddress: "10.0.0.1:8001", selfWitness: false) { _ in 0 }
        let b = foundingConfiguration(peers: Self.peers, selfName: "n2", selfAPIAddress: "10.0.0.2:8001", selfWitness: false) { _ in 0 }
        #expect(a.voters == b.voters)
        #expect(a.member(named: "w")?.role == .witness)
        #expect(a.electionQuorum == 3)  // nothing bound yet: every voter
        try a.validate()
        let f = groupFingerprint(clusterName: "prod", peers: Self.peers)
        #expect(f == groupFingerprint(clusterName: "prod", peers: Self.peers.reversed()))
        #expect(f != groupFingerprint(clusterName: "prod", peers: Array(Self.peers.prefix(2))))
        #expect(f != groupFingerprint(clusterName: "test", peers: Self.peers))
        #expect(f != 0)
    }

    @Test func aMigratedGroupIsBoundToTheSameLegacyIncarnationsEverywhere() {
        let c = foundingConfiguration(peers: Self.peers, selfName: "n2", selfAPIAddress: "", selfWitness: false, incarnation: legacyIncarnation)
        #expect(c.members.allSatisfy { $0.incarnation == legacyIncarnation(memberName: $0.name) && $0.incarnation != 0 })
        #expect(c.electionQuorum == 2)
        #expect(legacyIncarnation(memberName: "n1") != legacyIncarnation(memberName: "n2"))
    }

    @Test func peersThatDisagreeWithTheStoredMembershipAreNamedInTheWarning() throws {
        let stored = foundingConfiguration(peers: Self.peers, selfName: "n1", selfAPIAddress: "", selfWitness: false) { _ in 7 }
        #expect(peersDrift(stored: stored, peers: Self.peers).isEmpty)
        let drift = peersDrift(stored: stored, peers: try parsePeers("n1=10.0.0.1:7001,n3=10.0.0.9:7001,n2=10.0.0.22:7001"))
        #expect(drift.notMembers == ["n3"])
        #expect(drift.unlisted == ["w"])
        #expect(drift.moved == ["n2"])
        #expect(drift.warning.contains("baton members add"))
        #expect(drift.warning.contains("stored membership is used"))
    }

    @Test func aRoleOtherThanWitnessInPeersIsRefused() {
        #expect(throws: ConfigError.self) { try parsePeers("n1=10.0.0.1:7001/observer") }
    }
}

@Suite struct MembershipRequestTests {
    static let base = foundingConfiguration(peers: FoundingTests.peers, selfName: "n1", selfAPIAddress: "", selfWitness: false) { _ in 5 }

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
        let ok = PeerIdentity(name: "n2", peerAddress: "", apiAddress: "", incarnation: 5, fingerprint: 9)
        #expect(admission(of: ok, configuration: Self.config, fingerprint: 9) == nil)
        var wiped = ok
        wiped.incarnation = 6
        let r = admission(of: wiped, configuration: Self.config, fingerprint: 9)
        #expect(r?.code == .staleIncarnation)
        #expect(r?.reason.contains("baton members remove n2") == true)
    }

    @Test func anotherGroupIsRefusedAndAJoinerIsServed() {
        let other = PeerIdentity(name: "n2", peerAddress: "", apiAddress: "", incarnation: 5, fingerprint: 8)
        #expect(admission(of: other, configuration: Self.config, fingerprint: 9)?.code == .otherGroup)
        // A member waiting to be added knows no fingerprint yet, nor any configuration.
        #expect(admission(of: other, configuration: nil, fingerprint: 0) == nil)
        let newcomer = PeerIdentity(name: "n9", peerAddress: "", apiAddress: "", incarnation: 77, fingerprint: 0)
        #expect(admission(of: newcomer, configuration: Self.config, fingerprint: 9) == nil)
    }
}
