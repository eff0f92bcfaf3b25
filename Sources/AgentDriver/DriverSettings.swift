// What the driver needs to know about this member and its cluster: pure values, built
// by the shell from AgentSettings (or by the simulator from a seed), so the driver
// depends on no configuration parser.
public import RaftCore

/// DriverMember is one member as the driver names it: its name and the peer address
/// others dial (for `/leader` answers), with its core id derived from the name.
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
    /// name is this member's name; it must be one of `members`.
    public var name: String
    public var members: [DriverMember]
    public var witness = false
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

/// nodeID derives a member's core id from its name (FNV-1a, 32 bits), so a persisted
/// vote keeps naming the same member when the member list is reordered or grows.
/// Collisions are refused at start-up by `MemberTable`.
public func nodeID(forName name: String) -> NodeID {
    var h: UInt32 = 2_166_136_261
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
    return NodeID(h == 0 ? 1 : h)
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

    public func name(_ id: NodeID?) -> String? { id.flatMap { nameOf[$0] } }
    public func member(named name: String) -> DriverMember? { members.first { $0.name == name } }
}
