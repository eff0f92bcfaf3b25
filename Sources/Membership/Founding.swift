// The founding configuration of a new (or migrated) group, and how a contact list
// (--peers) compares with the stored membership afterwards.
public import RaftCore

/// Founder is one founding member as the command line names it.
public struct Founder: Hashable, Sendable {
    public var name: String
    public var peerAddress: String
    public var witness: Bool
    public init(name: String, peerAddress: String, witness: Bool = false) {
        self.name = name; self.peerAddress = peerAddress; self.witness = witness
    }
}

/// foundingConfiguration is the membership `--bootstrap` writes (and a data dir of the
/// first release is migrated to): every founder a voter, or a witness when its entry
/// says so (this node also when it runs with `--witness`). `incarnation` gives each
/// member's: 0 on a new group (bound by the first leader), derived legacy values on a
/// migrated one.
public func foundingConfiguration(_ founders: [Founder], selfName: String, selfAPIAddress: String,
                                  selfWitness: Bool, incarnation: (String) -> UInt64) -> Configuration {
    Configuration(members: founders.map { p in
        let isSelf = p.name == selfName
        return Member(id: nodeID(forName: p.name), name: p.name,
                      role: p.witness || (isSelf && selfWitness) ? .witness : .voter,
                      incarnation: incarnation(p.name), peerAddress: p.peerAddress,
                      apiAddress: isSelf ? selfAPIAddress : "")
    })
}

/// groupFingerprint(of:) is the fingerprint of the group the founders make.
public func groupFingerprint(clusterName: String, founders: [Founder]) -> UInt64 {
    groupFingerprint(clusterName: clusterName, founders: founders.map { ($0.name, $0.peerAddress) })
}

/// PeersDrift is how `--peers` differs from the stored membership on an existing data
/// dir. The stored membership is what the agent uses; the difference is only warned
/// about, naming the command that changes membership (design S6: no flag changes it).
public struct PeersDrift: Hashable, Sendable {
    /// Stored members that `--peers` does not list.
    public var unlisted: [String] = []
    /// `--peers` names that are not members.
    public var notMembers: [String] = []
    /// Members whose stored peer address differs from `--peers`.
    public var moved: [String] = []

    public var isEmpty: Bool { unlisted.isEmpty && notMembers.isEmpty && moved.isEmpty }

    /// warning is the log line: what differs, what is used, and how to change it.
    public var warning: String {
        var parts: [String] = []
        if !notMembers.isEmpty { parts.append("--peers lists \(notMembers.joined(separator: ", ")), not members of the group") }
        if !unlisted.isEmpty { parts.append("members \(unlisted.joined(separator: ", ")) are not in --peers") }
        if !moved.isEmpty { parts.append("--peers gives other addresses for \(moved.joined(separator: ", "))") }
        return parts.joined(separator: "; ")
            + ". The stored membership is used (--peers on an existing data dir is only a list of addresses to try); "
            + "to change the membership run 'baton members add NAME HOST:PORT' or 'baton members remove NAME' on any member, then update --peers"
    }
}

/// peersDrift compares `--peers` with the stored membership.
public func peersDrift(stored: Configuration, peers: [Founder]) -> PeersDrift {
    var d = PeersDrift()
    for m in stored.members where !peers.contains(where: { $0.name == m.name }) { d.unlisted.append(m.name) }
    for p in peers {
        guard let m = stored.member(named: p.name) else { d.notMembers.append(p.name); continue }
        if !m.peerAddress.isEmpty && m.peerAddress.lowercased() != p.peerAddress.lowercased() { d.moved.append(p.name) }
    }
    return d
}
