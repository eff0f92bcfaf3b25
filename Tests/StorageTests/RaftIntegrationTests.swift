import RaftCore
@testable import Storage
import Testing

@Suite("Storage with the Raft core")
struct RaftIntegrationTests {
    /// A one-node group elects itself, commits proposals, and everything it persisted
    /// restores into a new RaftNode after the data dir is reopened.
    @Test func singleNodePersistsEveryReadyAndRestores() throws {
        let tmp = TempDir()
        let config = Configuration(voters: [NodeID(1)])
        var dir = try openDir(tmp.dataDir, bootstrap: true)
        var node = try RaftNode(id: NodeID(1), configuration: config, options: Options(),
                                restoring: dir.state, seed: 1, now: .zero)
        var now = Instant.zero
        var proposed = 0
        for _ in 0..<200 {
            now = max(now, node.nextDeadline)
            var ready = node.handle(proposed < 5 && node.isInOffice(at: now) ? .propose(Array("p\(proposed)".utf8)) : .tick, now: now)
            if node.isInOffice(at: now) && proposed < 5 { proposed += 1 }
            // Persist, then tell the core, as the agent does (it may then commit or take
            // office, which is persisted in turn).
            while true {
                try dir.persist(ready)
                #expect(dir.isDurable == true)
                guard let id = ready.persistID else { break }
                ready = node.handle(.persisted(persistID: id), now: now)
            }
        }
        #expect(node.role == .leader)
        #expect(node.commitIndex >= 5)
        let term = node.term
        let lastIndex = node.lastLogIndex
        _ = consume dir

        let reopened = try openDir(tmp.dataDir)
        #expect(reopened.state.hardState.term == term)
        #expect(reopened.state.hardState.votedFor == NodeID(1))
        #expect(LogIndex(reopened.state.log.count) == lastIndex)
        let restored = try RaftNode(id: NodeID(1), configuration: config, options: Options(),
                                    restoring: reopened.state, seed: 2, now: now)
        #expect(restored.term == term)
        #expect(restored.lastLogIndex == lastIndex)
    }
}
