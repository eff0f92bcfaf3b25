/// MemberRole is what a member does in the group (design S6).
///
/// Voters and witnesses count for quorums; learners and observers receive the log and
/// never count. A learner is a voter (or witness) on its way in: it catches up first and
/// is promoted by a logged change (Raft thesis §4.2.1, "catching up new servers"; etcd-io/raft
/// calls these learners). An observer stays non-voting: it exists to tell a local
/// application who leads.
public enum MemberRole: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case voter = 1
    case witness = 2
    case learner = 3
    case observer = 4

    /// countsForQuorum: votes and acknowledgements of this role form majorities.
    @inlinable public var countsForQuorum: Bool { self == .voter || self == .witness }

    public var description: String {
        switch self {
        case .voter: return "voter"
        case .witness: return "witness"
        case .learner: return "learner"
        case .observer: return "observer"
        }
    }
}

/// Member is one member of the group as the replicated configuration records it: who it
/// is (name and incarnation), what it does, and where to reach it. The core uses the id,
/// role, priority and incarnation; names and addresses are carried for the agent.
public struct Member: Hashable, Sendable {
    /// The member's core id (the agent derives it from the name).
    public var id: NodeID
    public var name: String
    public var role: MemberRole
    /// For a learner, the role it takes when promoted (`.voter` or `.witness`); for every
    /// other role, equal to `role`.
    public var promotesTo: MemberRole
    /// Higher leads first; 0 never takes office (it still votes if it is a voter).
    public var priority: UInt16
    /// The random id its data dir was created with; 0 while not yet bound (a founding
    /// member before the first leader recorded it, or a learner before promotion).
    /// A member that shows another incarnation than the bound one is refused (S6).
    public var incarnation: UInt64
    public var peerAddress: String
    public var apiAddress: String

    public static let defaultPriority: UInt16 = 100

    public init(id: NodeID, name: String, role: MemberRole, promotesTo: MemberRole? = nil,
                priority: UInt16 = Member.defaultPriority, incarnation: UInt64 = 0,
                peerAddress: String = "", apiAddress: String = "") {
        self.id = id; self.name = name; self.role = role
        self.promotesTo = role == .learner ? (promotesTo ?? .voter) : role
        self.priority = priority; self.incarnation = incarnation
        self.peerAddress = peerAddress; self.apiAddress = apiAddress
    }

    /// mayLead: a voter (not a witness) with a priority above zero.
    @inlinable public var mayLead: Bool { role == .voter && priority > 0 }
}

/// Configuration is the membership of the group at one point of the log. It takes effect
/// on a node as soon as it is appended to that node's log, committed or not (Raft thesis
/// §4.1), and changes one voter at a time.
public struct Configuration: Hashable, Sendable {
    /// Every member, in ascending id order.
    public private(set) var members: [Member]
    /// Members that count for quorums (voters and witnesses), in ascending order.
    public private(set) var voters: [NodeID]
    /// Voters that vote and acknowledge but never campaign nor hold office.
    public private(set) var witnesses: Set<NodeID>

    /// Limits on a configuration (style 11): quorums of more than nine voters buy no
    /// safety for a leader-election group and cost every heartbeat; observers are many.
    public static let votersMax = 9
    public static let membersMax = 128

    public init(members: [Member]) {
        self.members = members.sorted { $0.id < $1.id }
        voters = self.members.filter { $0.role.countsForQuorum }.map(\.id)
        witnesses = Set(self.members.filter { $0.role == .witness }.map(\.id))
    }

    /// A configuration of voters with placeholder names (`n<id>`) and bound incarnations:
    /// the form the simulator and the core's tests use.
    public init(voters: [NodeID], witnesses: Set<NodeID> = []) {
        self.init(members: voters.map {
            Member(id: $0, name: "\($0)", role: witnesses.contains($0) ? .witness : .voter, incarnation: 1)
        })
    }

    /// quorum: the acknowledgements that commit an entry or anchor a lease (a majority).
    @inlinable public var quorum: Int { voters.count / 2 + 1 }

    /// electionQuorum: the votes that win an election. While any voter's incarnation is
    /// not yet bound (a group that has just been bootstrapped), an election needs every
    /// voter: a founding member whose data dir is wiped before the first leader recorded
    /// its incarnation could otherwise vote twice in one term, once as each incarnation,
    /// and two candidates could each gather a majority. With every vote required, two
    /// candidates of one term would each need the other's vote (design S6).
    public var electionQuorum: Int {
        members.contains { $0.role.countsForQuorum && $0.incarnation == 0 } ? voters.count : quorum
    }

    public func member(_ id: NodeID) -> Member? {
        var lo = 0, hi = members.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if members[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < members.count && members[lo].id == id ? members[lo] : nil
    }

    public func member(named name: String) -> Member? { members.first { $0.name == name } }

    public func contains(_ id: NodeID) -> Bool { member(id) != nil }
    public func isVoter(_ id: NodeID) -> Bool { member(id)?.role.countsForQuorum ?? false }
    public func mayLead(_ id: NodeID) -> Bool { member(id)?.mayLead ?? false }

    /// validate checks what every configuration must satisfy; the message names the
    /// problem (the agent shows it to the operator who asked for the change).
    public func validate() throws(ConfigurationError) {
        if members.isEmpty { throw ConfigurationError("a configuration needs at least one member") }
        if members.count > Self.membersMax {
            throw ConfigurationError("\(members.count) members is over the limit of \(Self.membersMax)")
        }
        if voters.count > Self.votersMax {
            throw ConfigurationError("\(voters.count) voters is over the limit of \(Self.votersMax); add further members as observers")
        }
        for i in members.indices.dropFirst() where members[i].id == members[i - 1].id {
            throw ConfigurationError("members '\(members[i - 1].name)' and '\(members[i].name)' have the same id \(members[i].id)")
        }
        var names = Set<String>()
        for m in members {
            if m.name.isEmpty { throw ConfigurationError("member \(m.id) has no name") }
            if m.name.utf8.count > Limits.maxMemberNameBytes {
                throw ConfigurationError("member name '\(m.name.prefix(20))…' is longer than \(Limits.maxMemberNameBytes) bytes")
            }
            if m.peerAddress.utf8.count > Limits.maxAddressBytes || m.apiAddress.utf8.count > Limits.maxAddressBytes {
                throw ConfigurationError("member '\(m.name)': an address is longer than \(Limits.maxAddressBytes) bytes")
            }
            if !names.insert(m.name).inserted { throw ConfigurationError("the name '\(m.name)' is used twice") }
            if m.role == .learner ? !m.promotesTo.countsForQuorum : m.promotesTo != m.role {
                throw ConfigurationError("member '\(m.name)': a learner promotes to voter or witness; other roles promote to themselves")
            }
        }
        if encodedBytes > Limits.maxEntryDataBytes {
            throw ConfigurationError("the configuration takes \(encodedBytes) bytes, over the \(Limits.maxEntryDataBytes)-byte limit of a log entry; use shorter names or addresses")
        }
        if !members.contains(where: { $0.mayLead }) {
            throw ConfigurationError("no voter can lead (every voter is a witness or has priority 0): at least one must")
        }
    }

    /// encodedBytes is the size of this configuration in the wire and disk encodings
    /// (PeerWire's and Storage's codecs write exactly this layout; tests check it): a
    /// member count, then per member id (4), role (1), promotes-to (1), priority (2),
    /// incarnation (8) and three length-prefixed (2) strings.
    public var encodedBytes: Int {
        4 + members.reduce(0) { $0 + 16 + 6 + $1.name.utf8.count + $1.peerAddress.utf8.count + $1.apiAddress.utf8.count }
    }

    /// votersDifferByAtMostOne: a single-server change (thesis §4.1) — any majority of the
    /// old voters and any of the new share a voter, so the two cannot elect two leaders.
    public func votersDifferByAtMostOne(from old: Configuration) -> Bool {
        let a = Set(voters), b = Set(old.voters)
        return a.symmetricDifference(b).count <= 1
    }
}

/// ConfigurationError says why a configuration is not acceptable.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Snapshot stands for the log up to `index`: the configuration in force there and the
/// agent's replicated state (leadership history, pause, …) as opaque bytes. Compaction
/// replaces a committed prefix of the log by one; a follower too far behind receives one.
public struct Snapshot: Hashable, Sendable {
    public var index: LogIndex
    public var term: Term
    public var configuration: Configuration
    public var appState: [UInt8]

    public init(index: LogIndex, term: Term, configuration: Configuration, appState: [UInt8] = []) {
        self.index = index; self.term = term; self.configuration = configuration; self.appState = appState
    }

    /// bootstrap is the state every founding member starts from: the initial
    /// configuration, at index 0 and term 0, identical on all of them.
    public static func bootstrap(_ configuration: Configuration) -> Snapshot {
        Snapshot(index: 0, term: 0, configuration: configuration)
    }
}

/// MembershipRefusal says why a proposed configuration was not appended.
public enum MembershipRefusal: Hashable, Sendable, CustomStringConvertible {
    /// This node is not the leader (or is handing over).
    case notLeader
    /// A change is already appended and not yet committed: one at a time.
    case changeInProgress
    /// The leader has not committed an entry of its own term yet (the rule that avoids
    /// the single-server change bug; Ongaro, raft-dev, 2015).
    case termNotCommitted
    /// More than one voter would change at once.
    case notSingleChange
    /// Nothing would change.
    case unchanged
    case invalid(String)

    public var description: String {
        switch self {
        case .notLeader: return "this node is not the leader"
        case .changeInProgress: return "another membership change is in progress; retry when it has committed"
        case .termNotCommitted: return "the leader has not yet committed an entry of its term; retry in a moment"
        case .notSingleChange: return "only one voter may be added or removed per change"
        case .unchanged: return "the membership would not change"
        case .invalid(let why): return why
        }
    }
}

/// MembershipOutcome is what became of a `.changeMembership` input.
public enum MembershipOutcome: Hashable, Sendable {
    /// Appended at `index`; in force on this node now, committed once `commitIndex` reaches it.
    case appended(index: LogIndex)
    case refused(MembershipRefusal)
}

/// IdentityConflict: a message claimed to come from `member` with an incarnation other
/// than the one the configuration binds: a wiped or replaced data dir (design S6). The
/// message was dropped; the agent logs and counts it with the fix.
public struct IdentityConflict: Hashable, Sendable {
    public var member: NodeID
    public var bound: UInt64
    public var seen: UInt64
}
