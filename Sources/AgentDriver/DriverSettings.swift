// What the driver needs to know about this member and its cluster: pure values, built
// by the shell from AgentSettings (or by the simulator from a seed), so the driver
// depends on no configuration parser.
public import Membership
public import RaftCore

/// DriverMember is one member as the driver names it: its name and the peer address
/// others dial (for `/leader` answers), with its core id derived from the name
/// (`Membership.nodeID(forName:)`).
public struct DriverMember: Hashable, Sendable {
    public var name: String
    public var peerAddress: String
    public var id: NodeID { nodeID(forName: name) }

    public init(name: String, peerAddress: String) {
        self.name = name
        self.peerAddress = peerAddress
    }
}

/// HookPlan is the configured hooks and their bounds.
public struct HookPlan: Hashable, Sendable {
    public var onPromote: [String]? = nil
    public var onDemote: [String]? = nil
    public var onChange: [String]? = nil
    /// leaderUnit: a `--leader-unit` is configured (started on promote, stopped on
    /// demote and at start-up); the shell knows which unit.
    public var leaderUnit = false
    public var timeout: Interval = .seconds(30)
    /// killGrace is the time between SIGTERM and SIGKILL for a step over its timeout (the
    /// executor enforces both and reports `timedOut`).
    public var killGrace: Interval = .seconds(2)
    public var promoteDelay: Interval = .zero
    /// resignOnPromoteFailure: `--promote-failure resign` (the default).
    public var resignOnPromoteFailure = true
    /// promoteFailureBackoff: after a failed promote the node hands over and does not
    /// campaign for this long, so a node that cannot serve does not keep winning.
    public var promoteFailureBackoff: Interval = .seconds(10)

    public init() {}

    /// steps lists what a job runs, in order. The leader unit nests inside the hooks:
    /// a promote prepares (`--on-promote`) before the unit starts acting as leader; a
    /// demote stops the unit first, then undoes (`--on-demote`). `--on-change` is last.
    public func steps(for event: HookEvent) -> [(hook: String, step: HookStep)] {
        var out: [(String, HookStep)] = []
        switch event {
        case .promote:
            if let c = onPromote { out.append(("on-promote", .command(c))) }
            if leaderUnit { out.append(("leader-unit", .unit(start: true))) }
        case .demote, .startup:
            if leaderUnit { out.append(("leader-unit", .unit(start: false))) }
            if let c = onDemote { out.append(("on-demote", .command(c))) }
        case .change:
            break
        }
        if let c = onChange { out.append(("on-change", .command(c))) }
        return out
    }

    /// stepBound is the longest one step can take before its executor reports it:
    /// the timeout, then the kill grace.
    public var stepBound: Interval { timeout + killGrace }
}

/// DriverSettings are the whole of the driver's configuration.
public struct DriverSettings: Hashable, Sendable {
    /// name is this member's name.
    public var name: String
    /// members is `--peers`: on a state that holds no membership yet (nothing stored, a
    /// test or the simulator), the founding members, all voters; otherwise only a list
    /// of addresses to try. The membership is the replicated configuration (design S6).
    public var members: [DriverMember]
    /// incarnation is this member's (its data dir's); messages carry it.
    public var incarnation: UInt64 = 1
    /// witness: `--witness` — this node never campaigns, whatever the stored role says.
    public var witness = false
    /// compactAfterEntries: the log is compacted into a snapshot once it holds this
    /// many entries past the last one (the data dir stays bounded, issue 14).
    public var compactAfterEntries = 1_000
    /// queuedMembershipRequests bounds the operator requests held while the leader's own
    /// membership bookkeeping commits (beyond it: 503, retry).
    public static let queuedMembershipRequests = 16
    /// membershipChangeWait bounds a held membership request: the change must commit.
    public var membershipChangeWait: Interval = .seconds(10)
    /// removedLinger: how long a member that learnt of its removal keeps its peer
    /// connections (a removed leader hands over meanwhile) before it talks to nobody.
    public var removedLinger: Interval = .seconds(3)
    /// pauseDefault: how long `baton pause` without --for pauses (`--pause-default`).
    public var pauseDefault: Interval = .seconds(3_600)
    /// pauseMax: the longest pause accepted (`--pause-max`): a pause always ends.
    public var pauseMax: Interval = .seconds(86_400)
    /// priorityFlag: `--priority` when given; 0 holds this node back from campaigns at
    /// once, another value that differs from the stored one is warned about.
    public var priorityFlag: UInt16? = nil
    /// preempt / preemptAfter: see Preemption.swift.
    public var preempt = true
    public var preemptAfter: Interval = .seconds(10)
    public var raft = Options()
    public var hooks = HookPlan()
    /// checkConfigured: `--check` or `--check-url` is set; results arrive as inputs.
    public var checkConfigured = false
    public var checkFailuresToFail = 3
    /// storageRetryInterval: after a failed write, how long until the driver asks the
    /// disk again (a retry writes whatever the failure left unwritten).
    public var storageRetryInterval: Interval = .milliseconds(500)

    public init(name: String, members: [DriverMember]) {
        self.name = name
        self.members = members
    }

    /// resignWait bounds a held `POST /resign`: the demote hook runs first (up to its
    /// timeout and kill grace), then the core gives the transfer one election timeout
    /// (max) before it steps down, and an ordinary election may take about one more.
    public var resignWait: Interval {
        raft.electionTimeoutMax * 2 + .milliseconds(100) + hooks.stepBound
    }

    /// shutdownHookBound bounds the wait for hooks when stopping: a promote may still
    /// be running ahead of the demote, each with its timeout and kill grace.
    public var shutdownHookBound: Interval { hooks.stepBound * 2 + .seconds(1) }

    /// shutdownSuccessorBound: after the hooks, how long a leader that handed over waits
    /// to hear a successor (a few election timeouts).
    public var shutdownSuccessorBound: Interval { max(.seconds(1), raft.electionTimeoutMax * 4) }

    /// shutdownFlushBound: after the successor wait, how long messages still waiting
    /// for the disk may hold the exit.
    public static let shutdownFlushBound: Interval = .seconds(2)
}

/// MemberTable maps member names to core ids and back.
public struct MemberTable: Sendable {
    public let members: [DriverMember]
    public let idOf: [String: NodeID]
    public let nameOf: [NodeID: String]

    /// MemberTableError names the two members whose ids collide.
    public struct CollisionError: Error, Hashable, Sendable, CustomStringConvertible {
        public var first: String
        public var second: String
        public var description: String {
            "member names '\(first)' and '\(second)' collide in Baton's 32-bit id; rename one"
        }
    }

    public init(_ members: [DriverMember]) throws(CollisionError) {
        var ids: [String: NodeID] = [:]
        var names: [NodeID: String] = [:]
        for m in members {
            let id = m.id
            if let other = names[id], other != m.name { throw CollisionError(first: other, second: m.name) }
            ids[m.name] = id
            names[id] = m.name
        }
        self.members = members
        idOf = ids
        nameOf = names
    }

    /// init(configuration:contacts:) is the table of a configuration's members. Who is a
    /// member is the configuration's alone; how this node reaches one is its `--peers`
    /// entry when it has one (its own route: a proxy, NAT), else the address the
    /// configuration stores. Contacts that are not members are kept for names only.
    /// `retiring` are former members still reached (see `AgentDriver.retiringMembers`).
    init(configuration: Configuration?, contacts: [DriverMember], retiring: [DriverMember] = []) {
        var list: [DriverMember] = []
        for m in configuration?.members ?? [] {
            let address = contacts.first { $0.name == m.name }?.peerAddress ?? m.peerAddress
            list.append(DriverMember(name: m.name, peerAddress: address))
        }
        for r in retiring where !list.contains(where: { $0.name == r.name }) { list.append(r) }
        var ids: [String: NodeID] = [:]
        var names: [NodeID: String] = [:]
        for m in list { ids[m.name] = m.id; names[m.id] = m.name }
        for c in contacts where ids[c.name] == nil && names[c.id] == nil { ids[c.name] = c.id; names[c.id] = c.name }
        self.members = list
        idOf = ids
        nameOf = names
    }

    public func name(_ id: NodeID?) -> String? { id.flatMap { nameOf[$0] } }
    public func member(named name: String) -> DriverMember? { members.first { $0.name == name } }
}
