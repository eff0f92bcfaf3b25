// The agent's shell (issue 13): wires an AgentDriver's ports to the real world — the
// storage thread, the peer transport, hook processes, systemd, the HTTP API — all on
// one event loop, and hands the driver every input with CLOCK_BOOTTIME. The logic is
// the driver's; this file only moves bytes and events between it and the loop.
public import AgentConfig
import AgentDriver
public import AgentLogging
public import EventLoop
import HTTPServer
import Hooks
import Membership
public import PeerTransport
public import PeerWire
public import Posix
public import RaftCore
public import Storage

/// Agent is one `baton agent`: everything runs on `loop`'s thread except the fsyncs.
public final class Agent: PeerTransportDelegate {
    /// settings: what the agent runs with; a SIGHUP changes the reloadable part (`reload`).
    public private(set) var settings: AgentSettings
    let loop: EventLoop
    let log: AgentLog
    /// identity: who this data dir belongs to; its fingerprint is learnt once a member
    /// waiting to be added is added, and it is marked when the group removes the member.
    private(set) var identity: MemberIdentity
    /// peerFingerprints: the group fingerprint each peer gave in its handshake.
    private var peerFingerprints: [String: UInt64] = [:]
    /// refusals: the latest refusal each peer sent this node (for /health and /status).
    private(set) var refusals: [String: String] = [:]
    private(set) var driver: AgentDriver!
    /// view is the driver's snapshot as of its last input, the only state answers are
    /// built from (kept here so that an answer reads it in place, allocating nothing).
    private(set) var view: AgentView

    private(set) var transport: PeerTransport!
    private var storage: StorageWorker!
    private var api: HTTPServer!
    /// tick: one timer at the driver's next deadline.
    private let tick = DeadlineTimer()
    private var ports: AgentPorts!
    private let inbox = DriverInbox<DriverInput>()
    /// What the consumers last saw of the view.
    private var seenGeneration: UInt64 = 0
    /// exit: set when the driver finished; the loop stops after the current input.
    var exitRequested = false
    private var onExit: (() -> Void)?
    private var stopNowRequested = false
    /// pendingAnswers: the driver's answers to held API requests, written after its input.
    var pendingAnswers: [(RequestID, ApiAnswer)] = []

    // What HTTP answers are built from besides the view.
    var responses: Responses
    /// historyCache: the last unfiltered GET /history body and the history it renders
    /// (its length and newest index): rendering 1,000 records per request cost ~4 ms.
    var historyCache: (count: Int, last: UInt64, term: UInt64, body: [UInt8])? = nil
    /// apiState: held requests, per-peer observations and counters of the HTTP API.
    let apiState: APIState
    /// lastReachProblem: the last reason each peer could not be dialled (nil: reached).
    private var lastReachProblem: [String: String?] = [:]
    /// The hook executor and the application check (AgentHooks.swift); set by `start`.
    var hooks: AgentHooks!
    /// joiner asks the group to add this member while it waits to be (`--join`).
    private var joiner: Joiner?
    /// sd_notify, the watchdog and `--leader-unit` (AgentSystemd.swift); set by `start`.
    var systemd: AgentSystemd?
    public private(set) var boundAPI: SocketAddress? = nil
    public private(set) var boundPeer: SocketAddress? = nil

    /// memberIDs maps every member name to its core id, refusing a hash collision.
    public static func memberIDs(_ members: [AgentConfig.Member]) throws(ConfigError) -> [String: NodeID] {
        do { return try MemberTable(members.map { DriverMember(name: $0.name, peerAddress: $0.peerAddress.description) }).idOf }
        catch { throw ConfigError(flag: "--peers", error.description) }
    }

    /// driverSettings is what the driver needs of `settings` (and of the data dir's identity).
    static func driverSettings(_ s: AgentSettings, incarnation: UInt64) -> DriverSettings {
        var d = DriverSettings(name: s.id, members: s.members.map { DriverMember(name: $0.name, peerAddress: $0.peerAddress.description) })
        d.incarnation = incarnation
        d.witness = s.witness
        d.raft = s.raft
        d.hooks = hookPlan(s.hooks)
        d.checkConfigured = s.hooks.check != nil || s.hooks.checkURL != nil
        d.checkFailuresToFail = s.hooks.checkFailures
        d.pauseDefault = s.controls.pauseDefault
        d.pauseMax = s.controls.pauseMax
        d.priorityFlag = s.controls.priority
        d.preempt = s.controls.preempt
        d.preemptAfter = s.controls.preemptAfter
        return d
    }

    static func hookPlan(_ h: HookSettings) -> HookPlan {
        var plan = HookPlan()
        plan.onPromote = h.onPromote
        plan.onDemote = h.onDemote
        plan.onChange = h.onChange
        plan.leaderUnit = h.leaderUnit != nil
        plan.timeout = h.hookTimeout
        plan.killGrace = HookProcess.defaultKillGrace
        plan.promoteDelay = h.promoteDelay
        plan.resignOnPromoteFailure = h.promoteFailure == .resign
        plan.promoteFailureBackoff = HookSettings.promoteFailureBackoff
        return plan
    }

    public init(settings: AgentSettings, secret: [UInt8]?, start: consuming DataDirStart,
                loop: EventLoop, log: AgentLog) throws {
        self.settings = settings
        self.loop = loop
        self.log = log
        _ = try Self.memberIDs(settings.members)
        identity = start.identity
        let waitsToBeAdded = start.waitsToBeAdded
        let directory = start.directory
        let placeholder = PreparedResponse(status: 503, body: Array("{\"reason\":\"starting\"}".utf8))
        responses = Responses(placeholder: placeholder)
        apiState = try APIState(settings: settings)
        let restored = directory.state
        let ports = AgentPorts()
        self.ports = ports
        let now = Self.now()
        let driver = try AgentDriver(settings: Self.driverSettings(settings, incarnation: identity.incarnation), restoring: restored,
                                     seed: Clock.boottime() ^ UInt64(UInt32(bitPattern: Process.id)), now: now,
                                     ports: DriverPorts(persist: ports, peers: ports, hooks: ports, responder: ports, log: ports, lifecycle: ports),
                                     foundIfEmpty: false)
        driver.wallClockMs = { Agent.wallClockMs() }
        self.driver = driver
        view = driver.view

        // Completions arrive on the storage thread; they are posted to the loop, the only
        // thread that touches the agent.
        let remote = loop.remote
        let sink = CompletionSink()
        storage = StorageWorker(directory: directory) { completion in
            remote.post { _ in sink.agent?.persisted(completion) }
        }
        sink.agent = self

        // The handshake says who this member is (design S6): its incarnation and group.
        var sessionConfig = SessionConfig(
            clusterID: settings.clusterID, secret: secret,
            local: PeerIdentity(name: settings.id, peerAddress: settings.peerAdvertise.description,
                                apiAddress: settings.apiAdvertise.description, incarnation: identity.incarnation,
                                fingerprint: identity.fingerprint),
            members: Set(settings.members.map(\.name)))
        sessionConfig.acceptsAnyMember = waitsToBeAdded
        // A healed link should be back about as soon as a follower's election timer
        // fires: give up on a connection not up within Emin, and redial within Emin/2.
        var limits = TransportLimits()
        let eminMs = Int(settings.raft.electionTimeoutMin.nanoseconds / 1_000_000)
        limits.connectTimeoutMs = max(50, eminMs)
        limits.reconnectMaxMs = max(50, eminMs / 2)
        let endpoints = settings.members.map { PeerEndpoint(name: $0.name, host: $0.peerAddress.host, port: $0.peerAddress.port) }
        transport = PeerTransport(loop: loop, config: sessionConfig, members: endpoints, limits: limits, delegate: self)
        ports.agent = self
        // --peers on an existing data dir is only a contact list: where it disagrees with
        // the stored membership, say so and what changes membership (design S6).
        if let stored = driver.raft.configuration, !waitsToBeAdded {
            let drift = peersDrift(stored: stored, peers: Self.founders(settings))
            if !drift.isEmpty { log.event("peers-differ", .warning, drift.warning, [], .always) }
        }
        // Lines carry the core's term and role as they are when written (also in the
        // middle of an input, before the view is published).
        log.context = { [unowned self] in (self.driver.raft.term, self.driver.raft.role.rawValue) }
        rebuildResponses()
    }

    /// start binds both listeners (a failure here is fatal: exit 2) and starts the timers.
    public func start() throws {
        let peerAddress = try Self.listenAddress(settings.peerListen, flag: "--peer-listen")
        do { boundPeer = try transport.start(listen: peerAddress) } catch {
            throw Self.bindError(error, flag: "--peer-listen", settings.peerListen, peerAddress)
        }
        let services = try startServices()
        api = services.api
        boundAPI = services.api.localAddress
        systemd = services.systemd
        hooks = services.hooks
        log.event("started", .notice, "\(settings.id) started: peers on \(boundPeer!), API on \(boundAPI!), term \(view.term)", [
            ("peer_listen", "\(boundPeer!)"), ("api_listen", "\(boundAPI!)"),
            ("members", .string(settings.members.map(\.name).joined(separator: ","))),
            ("witness", .bool(settings.witness)), ("log_entries", .number(view.lastLogIndex)),
            ("election_timeout", "\(settings.raft.electionTimeoutMin)..\(settings.raft.electionTimeoutMax)"),
            ("heartbeat", "\(settings.raft.heartbeatInterval)"), ("pid", .number(Process.id))], .essential)
        if settings.bootstrapSkippedAsJoiner {
            log.event("bootstrap-skipped", .notice, "--bootstrap ignored: \(settings.id) is not among --peers (they found the group); it asks to be added (--join)", [], .essential)
        }
        if let join = settings.join { joiner = Joiner(settings: settings, join: join, loop: loop, log: log) }
        // The driver holds campaigns until the start-up hook finished (design S4).
        deliver(.start)
        joiner?.viewChanged(view)
        hooks.startCheck()
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

    // MARK: The driver's inputs

    @inline(__always) static func now() -> Instant { Clock.now() }
    @inline(__always) func now() -> Instant { Self.now() }

    /// deliver hands the driver one input (and any that arrive meanwhile), then lets
    /// every consumer see the new view.
    func deliver(_ input: DriverInput) {
        guard inbox.deliver(input, { driver.handle($0, now: now()) }) else { return }
        afterInputs()
    }

    /// afterInputs publishes a changed view and keeps the timer at the next deadline.
    private func afterInputs() {
        view = driver.view
        if view.generation != seenGeneration {
            seenGeneration = view.generation
            viewChanged()
        }
        completeAnswers()
        forwardHookOutcomesIfDue()
        if exitRequested {
            finishExit()
            return
        }
        tick.keep(at: driver.nextDeadline, on: loop) { [unowned self] in self.deliver(.tick) }
    }

    /// viewChanged hands the new view to every consumer that keeps something of it.
    private func viewChanged() {
        adoptFingerprintOnceAdded()
        apiState.metrics.operatorMetrics.noteLeader(view.leader)
        rebuildResponses()
        systemd?.viewChanged(view)
        joiner?.viewChanged(view)
    }

    /// persisted runs on the loop when the storage thread finished a batch of jobs.
    func persisted(_ completion: PersistCompletion) {
        switch completion.result {
        case .success: deliver(.persisted(upTo: completion.jobs.upperBound))
        case .failure(let error): deliver(.persistFailed(upTo: completion.jobs.upperBound, error: error.description))
        }
    }

    /// submit hands the durable part of a Ready to the storage thread.
    func submit(_ ready: Ready) -> JobID { storage.submit(PersistJob(ready)) }

    /// send puts messages on the peer links (the transport queues them, bounded).
    func send(_ messages: [Message]) {
        for m in messages {
            guard let name = driver.members.nameOf[m.to] else { continue }
            transport.send(to: name, term: m.term, body: m.body)
        }
    }

    /// setPeers points the transport at the driver's peers: the configuration's members
    /// (and, while waiting to be added, the contacts and whoever dialled in).
    func setPeers(_ peers: [DriverMember]) {
        var endpoints: [PeerEndpoint] = []
        for p in peers {
            guard let hp = try? HostPort(parsing: p.peerAddress, flag: "peer") else {
                log.event("peer-address-unusable", .warning, "member \(p.name) has no usable peer address ('\(p.peerAddress)'): it is not dialled",
                          [("peer", .string(p.name))], .limited(key: "peer-address-unusable " + p.name))
                continue
            }
            endpoints.append(PeerEndpoint(name: p.name, host: hp.host, port: hp.port))
        }
        transport.setMembers(endpoints, acceptAnyMember: driver.raft.configuration?.contains(driver.me) != true && !driver.view.membershipIsRemoved)
    }

    /// recordRemoved marks the data dir: the group removed this member.
    func recordRemoved() {
        guard !identity.removed else { return }
        identity.removed = true
        _ = storage.submit(PersistJob(identity: identity))
    }

    /// adoptFingerprintOnceAdded: a member that joined learns its group's fingerprint
    /// from the leader that added it, keeps it in its data dir and says it from now on.
    private func adoptFingerprintOnceAdded() {
        guard identity.fingerprint == 0, case .member = view.membership, let leader = view.leader,
              let fingerprint = peerFingerprints[leader], fingerprint != 0 else { return }
        identity.fingerprint = fingerprint
        _ = storage.submit(PersistJob(identity: identity))
        transport.setLocalFingerprint(fingerprint)
        log.event("member-added", .notice, "\(settings.id) is a member of the group now (added through \(leader))",
                  [("leader", .string(leader))], .always)
    }

    // MARK: Transport events

    public func transport(received term: Term, _ body: Message.Body, from peer: String, incarnation: UInt64) {
        // Still listening while stopping: that is how a leader that handed over learns
        // its successor (the driver no longer lets it campaign).
        noteHeard(from: peer, body)
        deliver(.message(Message(from: nodeID(forName: peer), to: driver.me, term: term, body: body, incarnation: incarnation)))
    }

    public func transport(peerConnected peer: PeerIdentity) {
        log.event("peer-connected", .info, "\(peer.name) connected from \(peer.peerAddress)",
                  [("peer", .string(peer.name)), ("address", .string(peer.peerAddress))], .limited(key: "peer-connected " + peer.name))
        peerFingerprints[peer.name] = peer.fingerprint
        refusals[peer.name] = nil
        deliver(.peerConnected(nodeID(forName: peer.name), apiAddress: peer.apiAddress, name: peer.name, peerAddress: peer.peerAddress))
    }

    public func transport(peerDisconnected peer: String) {
        log.event("peer-disconnected", view.role == .leader ? .warning : .info, "\(peer) disconnected",
                  [("peer", .string(peer))], .limited(key: "peer-disconnected " + peer))
        deliver(.peerDisconnected(nodeID(forName: peer)))
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

    /// Membership decides whom to serve once a peer proved it holds the secret: not a
    /// member bound to another incarnation (a replaced data dir), nor another group.
    public func transport(admit peer: PeerIdentity) -> Refusal? {
        guard let r = admission(name: peer.name, incarnation: peer.incarnation, fingerprint: peer.fingerprint,
                                configuration: driver.raft.configuration, fingerprint: identity.fingerprint) else { return nil }
        log.event("peer-refused", .warning, "refused \(peer.name): \(r.reason)", [("peer", .string(peer.name)), ("reason", .string(r.reason))],
                  .limited(key: "peer-refused " + peer.name))
        return Refusal(r.kind == .otherGroup ? .otherGroup : .staleIncarnation, r.reason)
    }

    public func transport(refusedBy peer: String, _ refusal: Refusal) {
        refusals[peer] = refusal.reason
        log.event("refused-by-peer", .error, "\(peer) refuses this member: \(refusal.reason)",
                  [("peer", .string(peer)), ("reason", .string(refusal.reason))], .limited(key: "refused-by-peer " + peer))
    }

    public func transport(rejected reason: String, address: String) {
        // Limited per source and reason: a flood of one kind from one address is a few
        // lines and a "repeated N times" summary, and hides no other refusal.
        log.event("peer-rejected", .warning, "refused a peer connection from \(address): \(reason)",
                  [("source", .string(address)), ("reason", .string(reason))], .limited(key: "peer-rejected \(address) \(reason)"))
    }

    // MARK: SIGHUP

    /// reload applies what a SIGHUP can change (issue 17 point 1): hooks, the check, the
    /// hook timeout, the log's format and level, the admin token (re-read even when its
    /// path is the same, so a rotated token takes effect). `new` is validated by the
    /// caller; what fails here throws before anything is applied. Returns what changed.
    public func reload(_ new: AgentSettings) throws(ConfigError) -> ReloadPlan {
        let (running, plan, driverPart) = try applyReload(new, hooks: hooks)
        settings = running
        deliver(.reload(driverPart))
        return plan
    }

    // MARK: Shutdown

    /// beginShutdown: SIGTERM or SIGINT. The driver leaves office, runs the demote hook
    /// (bounded), hands over, waits (bounded) for a successor and for what waits on the
    /// disk, then asks to exit; `done` runs then (the process exits 0).
    public func beginShutdown(_ done: @escaping () -> Void) {
        if onExit == nil { onExit = done }
        joiner?.stop()
        hooks?.stopCheck()
        systemd?.stopping()
        deliver(.terminate)
    }

    /// stopNow: a second signal. The driver kills the running hook and finishes at once;
    /// the caller exits the process right after (nothing waits for the disk or peers).
    public func stopNow() {
        stopNowRequested = true
        joiner?.stop()
        deliver(.terminate)
    }

    /// finishExit runs once the driver finished: the links and the disk are closed.
    private func finishExit() {
        tick.cancel(on: loop)
        if !stopNowRequested {
            transport.stop()
            storage.stop()
            systemd?.shutdown()
        }
        let done = onExit
        onExit = nil
        done?()
    }
}

/// CompletionSink carries storage completions to the agent. @unchecked Sendable: the
/// storage thread only captures it; `agent` is read on the loop thread, inside work
/// the loop runs, and written once before the worker's first job.
final class CompletionSink: @unchecked Sendable {
    weak var agent: Agent?
}
