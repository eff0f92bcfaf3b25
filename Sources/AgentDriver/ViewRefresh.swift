// Keeping the one AgentView up to date: after every input, each field is compared and
// set only when it changed (so an unchanged view costs no allocation), and
// `generation` moves when anything an answer says moved.
import RaftCore

extension AgentDriver {
    /// refreshOffice brings the office part of the view up to date at once (a leave
    /// must be visible before anything else of the step happens).
    func refreshOffice() {
        let office = raft.office.map { AgentView.OfficeView(term: $0.term, since: $0.since, leaseDeadline: $0.leaseDeadline) }
        if office?.term != view.office?.term || office?.since != view.office?.since || view.storageError != pipeline.error {
            view.generation &+= 1
            view.storageError = pipeline.error
        }
        // The lease deadline moves with every quorum of echoes: answers read it at
        // answer time, so it does not change the generation.
        view.office = office
    }

    /// refreshView sets every field that changed.
    func refreshView(now: Instant) {
        refreshOffice()
        var changed = false
        if view.role != raft.role { view.role = raft.role; changed = true }
        if view.term != raft.term { view.term = raft.term; changed = true }
        if raft.leader != lastViewLeader {
            lastViewLeader = raft.leader
            view.leader = name(raft.leader)
            changed = true
        }
        if refreshPartsView() { changed = true }
        if view.commitIndex != raft.commitIndex { view.commitIndex = raft.commitIndex; changed = true }
        if view.lastLogIndex != raft.lastLogIndex { view.lastLogIndex = raft.lastLogIndex; changed = true }
        if view.counters != counters { view.counters = counters; changed = true }
        if view.configurationIndex != raft.configurationIndex { view.configurationIndex = raft.configurationIndex; changed = true }
        if view.changeInProgress != raft.isChangingMembership { view.changeInProgress = raft.isChangingMembership; changed = true }
        for i in view.peers.indices {
            let id = peerIDs[i]
            let api = peerAPI[id]
            let progress = raft.progress(of: id)
            let match = progress?.matchIndex, canLead = progress?.canLead
            if view.peers[i].apiAddress != api || view.peers[i].matchIndex != match || view.peers[i].canLead != canLead {
                view.peers[i].apiAddress = api
                view.peers[i].matchIndex = match
                view.peers[i].canLead = canLead
                changed = true
            }
        }
        // Last contact moves with every heartbeat; answers compare it with the clock.
        view.lastContact = raft.lastContact
        if changed { view.generation &+= 1 }
    }
}
