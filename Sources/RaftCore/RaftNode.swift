/// RaftNode is one member's Raft state machine (skeleton: the interface is fixed,
/// the behaviour lands next).
public struct RaftNode: Sendable {
    public let id: NodeID
    public let configuration: Configuration
    public let options: Options
    public private(set) var role: Role = .follower
    public private(set) var hardState: HardState
    public private(set) var leader: NodeID? = nil
    public private(set) var office: Office? = nil
    public private(set) var log: [Entry]
    public private(set) var lastContact: Instant
    public private(set) var nextDeadline: Instant
    var rng: SeededGenerator

    public init(id: NodeID, configuration: Configuration, options: Options,
                restoring state: PersistentState, seed: UInt64, now: Instant) throws(OptionsError) {
        try options.validate()
        self.id = id
        self.configuration = configuration
        self.options = options
        self.hardState = state.hardState
        self.log = state.log
        self.lastContact = now
        self.nextDeadline = now + options.electionTimeoutMax
        self.rng = SeededGenerator(seed: seed)
    }

    public var term: Term { hardState.term }
    public var commitIndex: LogIndex { hardState.commitIndex }
    public func isInOffice(at now: Instant) -> Bool {
        guard let office else { return false }
        return now < office.leaseDeadline
    }

    public mutating func handle(_ event: Event, now: Instant) -> Ready {
        Ready()
    }
}
