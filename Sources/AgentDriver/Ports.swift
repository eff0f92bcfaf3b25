// The driver's I/O, behind small interfaces. The driver calls a port; a port never
// calls the driver back from inside that call (design §3, style rule 21): whatever
// follows (a write made durable, a step finished, a message delivered) comes back
// later as a `DriverInput`. The real agent wires these to the storage thread, the peer
// transport, processes and the HTTP server; the simulator to simulated ones.
public import AgentLogging
public import RaftCore

/// JobID names one durable write; ids increase in submission order, and a completion
/// for id N covers every job up to N.
public typealias JobID = UInt64

/// RequestID names one API request the driver owes an answer to.
public typealias RequestID = UInt64

/// PersistPort makes the durable part of a `Ready` (its hard state, truncation and
/// entries; not its messages) durable (fsync) off the driver's thread. Completions come
/// back as `persisted(upTo:)` or `persistFailed(upTo:error:)`, in submission order.
/// After a failure the disk keeps the failed jobs' content and writes it with the next
/// job (the driver submits an empty `Ready` to retry).
public protocol PersistPort: AnyObject {
    func submit(_ ready: Ready) -> JobID
    /// recordRemoved marks the data dir as removed from the group (durably, in its own
    /// time): an agent started on it refuses to run.
    func recordRemoved()
}

/// PeerPort sends messages to peers (best effort; the core retries).
public protocol PeerPort: AnyObject {
    func send(_ messages: [Message])
    /// setPeers names the peers to dial and accept: the configuration's members (and,
    /// while this node waits to be added, its contacts). Called when the membership
    /// in force changes.
    func setPeers(_ peers: [DriverMember])
}

/// HookPort runs one hook step at a time: a process (with its timeout and kill grace)
/// or a leader-unit job. Its end comes back as `hookStepFinished`.
public protocol HookPort: AnyObject {
    func start(_ request: HookStepRequest)
    /// killRunning ends the running step at once (a second SIGTERM: exit now).
    func killRunning()
}

/// ResponderPort delivers the answer to an API action (`POST /resign`), never from
/// inside the HTTP handler that asked (the shell queues actions until it returns).
public protocol ResponderPort: AnyObject {
    func answer(_ request: RequestID, _ answer: ApiAnswer)
}

/// LogPort writes the driver's structured events. The event is built only if the
/// port asks for it (the simulator does not, unless it traces).
public protocol LogPort: AnyObject {
    func event(_ event: @autoclosure () -> LogEvent)
}

/// LifecyclePort ends the process once shutdown has completed.
public protocol LifecyclePort: AnyObject {
    func exit(code: Int32)
}

/// DriverPorts bundles the ports one driver uses.
public struct DriverPorts {
    public var persist: any PersistPort
    public var peers: any PeerPort
    public var hooks: any HookPort
    public var responder: any ResponderPort
    public var log: any LogPort
    public var lifecycle: any LifecyclePort

    public init(persist: any PersistPort, peers: any PeerPort, hooks: any HookPort,
                responder: any ResponderPort, log: any LogPort, lifecycle: any LifecyclePort) {
        self.persist = persist; self.peers = peers; self.hooks = hooks
        self.responder = responder; self.log = log; self.lifecycle = lifecycle
    }
}

/// LogEvent is one structured event (the AgentLogging module's line, before it has a
/// time and a node): a stable name tools match on, a level, a short message for people,
/// typed fields, a rate-limit policy, and the term when it is not the current one.
public struct LogEvent: Sendable {
    public var name: String
    public var level: LogLevel
    public var message: String
    public var fields: LogFields
    public var policy: AgentLog.Policy
    public var term: Term?

    public init(_ name: String, _ level: LogLevel, _ message: String, _ fields: LogFields = [],
                _ policy: AgentLog.Policy = .ordinary, term: Term? = nil) {
        self.name = name; self.level = level; self.message = message; self.fields = fields
        self.policy = policy; self.term = term
    }
}

/// ApiAnswer is the driver's answer to an API action: a status and JSON fields in
/// order; the shell adds the headers every answer carries and writes the bytes.
public struct ApiAnswer: Hashable, Sendable {
    public var status: Int
    public var fields: [Field]

    /// Field is one key and its JSON value.
    public struct Field: Hashable, Sendable {
        public var key: String
        public var value: Value
        public init(_ key: String, _ value: Value) { self.key = key; self.value = value }
    }

    /// Value is a JSON value; `member` is a member's object (`{"id","api","peer"}`),
    /// filled in by the shell, which knows the addresses.
    public enum Value: Hashable, Sendable {
        case string(String)
        case int(Int64)
        case bool(Bool)
        case null
        case member(String)
    }

    public init(status: Int, _ fields: [Field]) {
        self.status = status
        self.fields = fields
    }

    /// reason is the `reason` field, if any (tests and logs).
    public var reason: String? {
        for f in fields where f.key == "reason" { if case .string(let s) = f.value { return s } }
        return nil
    }
}
