// The driver: joins the Raft core, the storage thread, the peer transport and the HTTP
// API on one event loop. Data flows one way (design §3): bytes in → events → core →
// Ready → office changes (the HTTP view), then fsync on the storage thread, then sends.
public import AgentConfig
public import AgentLogging
public import EventLoop
import HTTPParser
import HTTPServer
import Hooks
public import PeerTransport
public import PeerWire
public import Posix
public import RaftCore
public import Storage

/// nodeID derives a member's core id from its name (FNV-1a, 32 bits), so a persisted
/// vote keeps naming the same member when the member list is reordered or grows.
/// Collisions are refused at start-up by `Agent.memberIDs`.
public func nodeID(forName name: String) -> NodeID {
    var h: UInt32 = 2_166_136_261
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
    return NodeID(h == 0 ? 1 : h)
}

/// Agent is one `baton agent`: everything runs on `loop`'s thread except the fsyncs.
public final class Agent: PeerTransportDelegate {
    /// settings: what the agent runs with; a SIGHUP changes the reloadable part (`reload`).
    public private(set) var settings: AgentSettings
    let loop: EventLoop
    let log: AgentLog
    private(set) var raft: RaftNode
    let me: NodeID
    let nameOf: [NodeID: String]
    let idOf: [String: NodeID]

    private(set) var transport: PeerTransport!
    private var storage: StorageWorker!
    private var api: HTTPServer!
    private var tickTimer: TimerID?
    private var tickDeadline: Instant = .distantFuture

    // The persistence pipeline: messages wait for the job that made their state durable.
    private var lastSubmittedJob: UInt64 = 0
    private var durableJob: UInt64 = 0
    private var waiting: [(job: UInt64, messages: [Message])] = []
    /// The core's number for each submitted job's Ready, reported back with `.persisted`.
    private var persistIDs: [(job: UInt64, persistID: UInt64)] = []
    var storageError: String? = nil
    private var storageRetryTimer: TimerID?

    // What HTTP answers are built from.
    var peerAPI: [String: String] = [:]
    private var lastRole: Role = .follower
    private var lastTerm: Term = 0
    private var lastLeader: NodeID? = nil
    var leaderSinceWallNs: Int64 = 0
    var responses: Responses
    /// apiState: held requests, per-peer observations and counters of the HTTP API.
    let apiState: APIState
    private var shuttingDown = false
    /// lastReachProblem: the last reason each peer could not be dialled (nil: reached).
    private var lastReachProblem: [String: String?] = [:]
    /// Hooks, checks and campaign holds (AgentHooks.swift); set by `start`.
    var hooks: AgentHooks?
    /// sd_notify, the watchdog and `--leader-unit` (AgentSystemd.swift); set by `start`.
    var systemd: AgentSystemd?
    public private(set) var boundAPI: SocketAddress? = nil
    public private(set) var boundPeer: SocketAddress? = nil

    /// memberIDs maps every member name to its core id, refusing a hash collision.
    public static func memberIDs(_ members: [AgentConfig.Member]) throws(ConfigError) -> [String: NodeID] {
        var ids: [String: NodeID] = [:]
        for m in members {
            let id = nodeID(forName: m.name)
            if let other = ids.first(where: { $0.value == id }) {
                throw ConfigError(flag: "--peers", "member names '\(other.key)' and '\(m.name)' collide in Baton's 32-bit id; rename one")
            }
            ids[m.name] = id
        }
        return ids
    }

    public init(settings: AgentSettings, secret: [UInt8]?, directory: consuming DataDirectory,
                loop: EventLoop, log: AgentLog) throws {
        self.settings = settings
        self.loop = loop
        self.log = log
        idOf = try Self.memberIDs(settings.members)
        nameOf = Dictionary(uniqueKeysWithValues: idOf.map { ($0.value, $0.key) })
        me = idOf[settings.id]!
        let configuration = Configuration(voters: Array(idOf.values), witnesses: settings.witness ? [me] : [])
        let now = Clock.now()
        raft = try RaftNode(id: me, configuration: configuration, options: settings.raft,
                            restoring: directory.state, seed: Clock.boottime() ^ UInt64(UInt32(bitPattern: Process.id)), now: now)
        lastTerm = raft.term
        let placeholder = PreparedResponse(status: 503, body: Array("{\"reason\":\"starting\"}".utf8))
        responses = Responses(placeholder: placeholder)
        apiState = try APIState(settings: settings)
        peerAPI[settings.id] = settings.apiAdvertise.description

        // Completions arrive on the storage thread; they are posted to the loop, the only
        // thread that touches the agent.
        let remote = loop.remote
        let sink = CompletionSink()
        storage = StorageWorker(directory: directory) { completion in
            remote.post { _ in sink.agent?.persisted(completion) }
        }
        sink.agent = self

        let sessionConfig = SessionConfig(
            clusterID: settings.clusterID, secret: secret,
            // Until membership is stored (issue 14), every member is incarnation 1, as the
            // configuration built from --peers binds it.
            local: PeerIdentity(name: settings.id, peerAddress: settings.peerAdvertise.description,
                                apiAddress: settings.apiAdvertise.description, incarnation: 1),
            members: Set(settings.members.map(\.name)))
        // A healed link should be back about as soon as a follower's election timer
        // fires: give up on a connection not up within Emin, and redial within Emin/2.
        var limits = TransportLimits()
        let eminMs = Int(settings.raft.electionTimeoutMin.nanoseconds / 1_000_000)
        limits.connectTimeoutMs = max(50, eminMs)
        limits.reconnectMaxMs = max(50, eminMs / 2)
        let endpoints = settings.members.map { PeerEndpoint(name: $0.name, host: $0.peerAddress.host, port: $0.peerAddress.port) }
        transport = PeerTransport(loop: loop, config: sessionConfig, members: endpoints, limits: limits, delegate: self)
        log.context = { [unowned self] in (self.raft.term, self.raft.role.rawValue) }
        rebuildResponses()
    }

    /// start binds both listeners (a failure here is fatal: exit 2) and starts the timers.
    public func start() throws {
        let peerAddress = try Self.listenAddress(settings.peerListen, flag: "--peer-listen")
        do { boundPeer = try transport.start(listen: peerAddress) } catch {
            throw Self.bindError(error, flag: "--peer-listen", settings.peerListen, peerAddress)
        }
        var http = Self.apiServerConfiguration()
        // The API's timeouts are seconds long; sweeping for them twice a second instead
        // of ten times keeps an idle agent from waking up for nothing.
        http.timeoutCheckInterval = .milliseconds(500)
        let apiAddress = try Self.listenAddress(settings.apiListen, flag: "--api-listen")
        let server: HTTPServer
        do { server = try HTTPServer(loop: loop, address: apiAddress, configuration: http) } catch {
            throw Self.bindError(error, flag: "--api-listen", settings.apiListen, apiAddress)
        }
        api = server
        boundAPI = server.localAddress
        registerRoutes(on: server)
        let service = try AgentSystemd(agent: self)
        systemd = service
        service.start()
        let officeHooks = try AgentHooks(agent: self)
        hooks = officeHooks
        log.event("started", .notice, "\(settings.id) started: peers on \(boundPeer!), API on \(boundAPI!), term \(raft.term)", [
            ("peer_listen", "\(boundPeer!)"), ("api_listen", "\(boundAPI!)"),
            ("members", .string(settings.members.map(\.name).joined(separator: ","))),
            ("witness", .bool(settings.witness)), ("log_entries", .number(raft.lastLogIndex)),
            ("election_timeout", "\(settings.raft.electionTimeoutMin)..\(settings.raft.electionTimeoutMax)"),
            ("heartbeat", "\(settings.raft.heartbeatInterval)"), ("pid", .number(Process.id))], .essential)
        // Holds campaigning until the start-up hook finished (design S4), then starts it.
        officeHooks.start()
        rescheduleTick()
    }

    /// listenAddress resolves a listen address (a host name such as `localhost` too,
    /// issue 17 point 6) to the first address the resolver gives.
    static func listenAddress(_ hp: HostPort, flag: String) throws(ConfigError) -> SocketAddress {
        do {
            guard let first = try Resolver.resolve(host: hp.host, port: hp.port).first else {
                throw ConfigError(flag: flag, "'\(hp)': the name has no address")
            }
            return first
        } catch let error as Resolver.ResolveError {
            throw ConfigError(flag: flag, "'\(hp)': \(error); give an address or a name this machine resolves")
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(flag: flag, "'\(hp)': \(error)")
        }
    }

    /// bindError names the flag, the address and the fix for a listener that failed.
    static func bindError(_ error: any Error, flag: String, _ hp: HostPort, _ address: SocketAddress) -> ConfigError {
        let shown = hp.description == address.description ? hp.description : "\(hp) (\(address))"
        switch error as? Errno {
        case Errno.addressInUse?:
            return ConfigError(flag: flag, "\(shown) is in use (EADDRINUSE): another process listens there (ss -ltnp 'sport = :\(hp.port)' shows which); stop it or choose another port")
        case Errno.addressNotAvailable?:
            return ConfigError(flag: flag, "\(shown) is not an address of this machine (EADDRNOTAVAIL); listen on one of its addresses or 0.0.0.0")
        case Errno.permissionDenied?:
            return ConfigError(flag: flag, "\(shown): permission denied (EACCES); ports below 1024 need privileges")
        default:
            return ConfigError(flag: flag, "cannot listen on \(shown): \(error)")
        }
    }

    // MARK: The core's inputs

    func step(_ event: Event) {
        let now = Clock.now()
        hooks?.noteEvent(event)
        let ready = raft.handle(event, now: now)
        apply(ready)
        // After the whole Ready: what the hook queue steps in return comes after it.
        hooks?.afterApply(ready.officeChanges)
    }

    private func apply(_ ready: Ready) {
        // 1. Office changes first: the view that answers HTTP must not say "in office"
        //    a moment after the core decided otherwise (design §2).
        for change in ready.officeChanges { logOffice(change) }
        if noteStateChanges() || !ready.officeChanges.isEmpty { rebuildResponses() }
        // 2. Durable state goes to the storage thread; 3. messages wait for it.
        if ready.needsPersist {
            lastSubmittedJob = storage.submit(PersistJob(ready))
            if let id = ready.persistID { persistIDs.append((lastSubmittedJob, id)) }
            if !ready.messages.isEmpty { waiting.append((lastSubmittedJob, ready.messages)) }
        } else if !ready.messages.isEmpty {
            if storageError != nil {
                // A node whose disk fails neither votes nor acknowledges (issue 4): what
                // it would say may rest on state it could not make durable.
            } else if lastSubmittedJob <= durableJob {
                send(ready.messages)
            } else {
                // An earlier write is still in flight: these may rest on it (a term
                // adopted without a message of its own), so they wait for it too.
                waiting.append((lastSubmittedJob, ready.messages))
            }
        }
        rescheduleTick()
    }

    private func send(_ messages: [Message]) {
        for m in messages {
            guard let name = nameOf[m.to] else { continue }
            transport.send(to: name, term: m.term, body: m.body)
        }
    }

    /// rescheduleTick keeps one timer at the core's next deadline. Most events leave the
    /// deadline where it was (a follower's answer does not move the next heartbeat), and
    /// then nothing is touched: an idle leader's CPU is mostly such wake-ups.
    private func rescheduleTick() {
        let deadline = raft.nextDeadline
        if tickTimer != nil && deadline == tickDeadline { return }
        if let t = tickTimer { loop.cancel(t); tickTimer = nil }
        tickDeadline = deadline
        guard deadline < .distantFuture else { return }
        tickTimer = loop.schedule(at: deadline) { [unowned self] _ in
            self.tickTimer = nil
            self.step(.tick)
        }
    }

    /// persisted runs on the loop when the storage thread finished a batch of jobs.
    func persisted(_ completion: PersistCompletion) {
        switch completion.result {
        case .success:
            durableJob = max(durableJob, completion.jobs.upperBound)
            // The core hears that its state is durable before the messages that waited go.
            var confirmed: UInt64? = nil
            while let first = persistIDs.first, first.job <= durableJob { confirmed = first.persistID; persistIDs.removeFirst() }
            if let confirmed { step(.persisted(persistID: confirmed)) }
            if storageError != nil {
                log.event("storage-recovered", .notice, "the data dir accepts writes again; voting and acknowledging resume", [], .always)
                storageError = nil
                rebuildResponses()
            }
            while let first = waiting.first, first.job <= durableJob {
                waiting.removeFirst()
                send(first.messages)
            }
        case .failure(let error):
            let first = storageError == nil
            storageError = error.description
            // Never send what rests on state that is not on disk.
            waiting.removeAll { $0.job <= completion.jobs.upperBound }
            if first {
                log.event("storage-failed", .error, "cannot make state durable: \(error.description); not voting or acknowledging until the disk recovers",
                          [("error", .string(error.description))], .always)
                rebuildResponses()
            }
            if storageRetryTimer == nil {
                storageRetryTimer = loop.schedule(after: .milliseconds(500)) { [unowned self] _ in
                    self.storageRetryTimer = nil
                    if self.storageError != nil { self.lastSubmittedJob = self.storage.retry() }
                }
            }
        }
    }

    // MARK: Transport events

    public func transport(received term: Term, _ body: Message.Body, from peer: String, incarnation: UInt64) {
        // Still listening while stopping: that is how a leader that handed over learns
        // its successor (it no longer campaigns: AgentHooks holds it back).
        guard let from = idOf[peer] else { return }
        noteHeard(from: peer, body)
        step(.message(Message(from: from, to: me, term: term, body: body, incarnation: incarnation)))
    }

    public func transport(peerConnected peer: PeerIdentity) {
        log.event("peer-connected", .info, "\(peer.name) connected from \(peer.peerAddress)",
                  [("peer", .string(peer.name)), ("address", .string(peer.peerAddress))], .limited(key: "peer-connected " + peer.name))
        if peerAPI[peer.name] != peer.apiAddress {
            peerAPI[peer.name] = peer.apiAddress
            rebuildResponses()
        }
    }

    public func transport(peerDisconnected peer: String) {
        log.event("peer-disconnected", raft.role == .leader ? .warning : .info, "\(peer) disconnected",
                  [("peer", .string(peer))], .limited(key: "peer-disconnected " + peer))
        if let id = idOf[peer], raft.leader == id, raft.role == .follower {
            log.event("leader-connection-lost", .warning, "lost the connection to the leader \(peer)", [("leader", .string(peer))], .limited(key: "leader-connection-lost " + peer))
            step(.leaderConnectionLost)
        }
    }

    public func transport(cannotReach peer: String, reason: String?) {
        // Logged when the reason changes, not on every retry: a dead peer is retried
        // every Emin/2, and one line per outage says enough.
        let previous: String? = lastReachProblem[peer] ?? nil
        guard reason != previous else { return }
        lastReachProblem[peer] = .some(reason)
        if let reason {
            log.event("peer-unreachable", .warning, "cannot reach \(peer): \(reason)",
                      [("peer", .string(peer)), ("error", .string(reason))], .limited(key: "peer-unreachable " + peer))
        } else {
            log.event("peer-reachable", .info, "reached \(peer) again", [("peer", .string(peer))], .limited(key: "peer-reachable " + peer))
        }
    }

    public func transport(rejected reason: String, address: String) {
        // Limited per source and reason: a flood of one kind from one address is a few
        // lines and a "repeated N times" summary, and hides no other refusal.
        log.event("peer-rejected", .warning, "refused a peer connection from \(address): \(reason)",
                  [("source", .string(address)), ("reason", .string(reason))], .limited(key: "peer-rejected \(address) \(reason)"))
    }

    // MARK: Reload

    /// reload applies what a SIGHUP can change (issue 17 point 1): hooks, the check, the
    /// hook timeout, the log's format and level, the admin token (re-read even when its
    /// path is the same, so a rotated token takes effect). `new` is validated by the
    /// caller; what fails here throws before anything is applied. Returns what changed.
    public func reload(_ new: AgentSettings) throws(ConfigError) -> ReloadPlan {
        let plan = settings.reloadPlan(to: new)
        let running = settings.reloading(new)
        let access = try AdminAccess(settings: running)
        try hooks?.reload(running)
        apiState.access = access
        log.format = running.logFormat
        log.minimumLevel = running.logLevel
        settings = running
        return plan
    }

    // MARK: Shutdown

    /// beginShutdown: a leader leaves office, runs its demote hook to completion
    /// (bounded by the hook timeout), hands over to the most up-to-date follower
    /// (TimeoutNow goes out once the demote finished), and waits, bounded, until a
    /// successor leads in a higher term; `done` runs then (the process exits 0).
    public func beginShutdown(_ done: @escaping () -> Void) {
        guard !shuttingDown else { return }
        shuttingDown = true
        log.event("stopping", .notice, raft.role == .leader ? "stopping: handing over first" : "stopping", [], .essential)
        systemd?.stopping()
        hooks?.beginStopping()
        // A single member has nobody to hand over to: it only runs its demote hook.
        let wasLeader = raft.role == .leader && settings.members.count > 1
        let term = raft.term
        if raft.role == .leader { step(.shutdown) }
        // Bounds: a promote may still be running ahead of the demote, each with its
        // timeout and kill grace; then the successor gets a few election timeouts.
        let h = settings.hooks
        let hookBound = (h.hookTimeout + HookProcess.defaultKillGrace) * 2 + .seconds(1)
        let successorBound = max(.seconds(1), settings.raft.electionTimeoutMax * 4)
        let start = Clock.now()
        var hooksDone: Instant? = nil
        var reported = false
        func poll(_ loop: EventLoop) {
            let now = Clock.now()
            let hooksIdle = hooks?.isIdle ?? true
            if hooksDone == nil && (hooksIdle || now - start > hookBound) {
                hooksDone = now
                if !hooksIdle { log.event("stopping-hook-timeout", .warning, "stopping without waiting longer for a running hook", [], .always) }
            }
            var finished = false
            if let hd = hooksDone {
                let successor = raft.term > term && raft.leader != nil && raft.leader != me
                if !wasLeader || successor || now - hd > successorBound {
                    if wasLeader && !reported {
                        reported = true
                        var fields: LogFields = [("after_ms", .number((now - start).wholeMilliseconds))]
                        let successorName = successor ? raft.leader.flatMap { nameOf[$0] } : nil
                        if let successorName { fields.append(("successor", .string(successorName))) }
                        if successor {
                            log.event("handed-over", .notice, "handed over to \(successorName ?? "?"), term \(raft.term)", fields, .essential)
                        } else {
                            log.event("hand-over-unconfirmed", .warning, "no successor was heard before stopping", fields, .essential)
                        }
                    }
                    finished = waiting.isEmpty || now - hd > successorBound + .seconds(2)
                }
            }
            if finished {
                transport.stop()
                storage.stop()
                systemd?.shutdown()
                done()
            } else {
                loop.schedule(after: .milliseconds(1)) { poll($0) }
            }
        }
        poll(loop)
    }

    // MARK: The view answered over HTTP

    /// noteStateChanges logs a change of role, term or leader; true when there was one.
    private func noteStateChanges() -> Bool {
        let role = raft.role, term = raft.term, leader = raft.leader
        guard role != lastRole || term != lastTerm || leader != lastLeader else { return false }
        if leader != lastLeader || term != lastTerm { leaderSinceWallNs = Clock.realtimeNanoseconds() }
        var fields: LogFields = [("from_role", .string(lastRole.rawValue))]
        let leaderName = leader.flatMap { nameOf[$0] }
        if let leaderName { fields.append(("leader", .string(leaderName))) }
        log.event("role", role == .follower && leaderName == nil ? .info : .notice,
                  Self.roleMessage(role, term: term, leader: leaderName, me: settings.id), fields, .essential, term: term)
        lastRole = role; lastTerm = term; lastLeader = leader
        systemd?.stateChanged()
        return true
    }

    /// roleMessage says a role change in words, as the demo prints it.
    static func roleMessage(_ role: Role, term: Term, leader: String?, me: String) -> String {
        switch role {
        case .leader: "\(me) won the election of term \(term)"
        case .candidate: "\(me) campaigns in term \(term)"
        case .preCandidate: "\(me) asks for pre-votes for term \(term + 1)"
        case .follower: leader.map { "\(me) follows \($0), term \(term)" } ?? "\(me) knows no leader in term \(term)"
        }
    }

    private func logOffice(_ change: OfficeChange) {
        switch change {
        case .enter(let term, let leaseDeadline, _, _):
            leaderSinceWallNs = Clock.realtimeNanoseconds()
            log.event("office-enter", .notice, "\(settings.id) enters office, term \(term) (its fencing token)",
                      [("token", .number(term)), ("lease_deadline_boottime_ns", .number(leaseDeadline.nanoseconds))], .essential, term: term)
        case .leave(let term, let reason):
            log.event("office-leave", .notice, "\(settings.id) leaves office, term \(term) (\(reason.rawValue))",
                      [("token", .number(term)), ("reason", .string(reason.rawValue))], .essential, term: term)
        }
    }
}

/// CompletionSink carries storage completions to the agent. @unchecked Sendable: the
/// storage thread only captures it; `agent` is read on the loop thread, inside work
/// the loop runs, and written once before the worker's first job.
final class CompletionSink: @unchecked Sendable {
    weak var agent: Agent?
}
