// The agent's shell with etcd as its election engine (`baton agent --backend etcd`,
// issue 18). Like `Agent` it only moves bytes and events: the etcd client's calls and
// answers, hook processes, systemd and the HTTP API, all on one event loop, with every
// input handed to the driver (`EtcdAgentDriver`) with CLOCK_BOOTTIME. The API, hooks,
// check, systemd and metrics are the same code as the Raft agent's (AgentShell.swift):
// the application cannot tell the engines apart except through /status.
public import AgentConfig
import AgentDriver
public import AgentLogging
import EtcdAPI
import EtcdClient
import EtcdElection
import EtcdEngine
public import EventLoop
import HTTPParser
import HTTPServer
import Membership
import Hooks
public import Posix
import RaftCore
public import Storage

/// EtcdAgent is one `baton agent --backend etcd`: everything runs on `loop`'s thread.
public final class EtcdAgent {
    public private(set) var settings: AgentSettings
    let loop: EventLoop
    let log: AgentLog
    private(set) var driver: EtcdAgentDriver!
    /// view is the driver's snapshot as of its last input (answers read it in place).
    private(set) var view: AgentView
    let client: EtcdClient
    let calls: EtcdCalls
    /// directory: the data dir's lock, held for the process's life.
    private let directory: EtcdDataDirectory
    private var api: HTTPServer!
    private let tick = DeadlineTimer()
    private var ports: EtcdAgentPorts!
    private let inbox = DriverInbox<EtcdDriverInput>()
    private var seenGeneration: UInt64 = 0
    var exitRequested = false
    private var onExit: (() -> Void)?
    private var stopNowRequested = false
    var pendingAnswers: [(RequestID, ApiAnswer)] = []
    var responses: Responses
    let apiState: APIState
    var hooks: AgentHooks!
    var systemd: AgentSystemd?
    let metrics: EtcdMetrics
    public private(set) var boundAPI: SocketAddress? = nil

    /// driverSettings is what the driver needs of `settings` (whose `etcd` is set).
    static func driverSettings(_ s: AgentSettings) -> EtcdDriverSettings {
        let etcd = s.etcd!
        var d = EtcdDriverSettings(election: etcd.electionOptions(id: s.id, apiAddress: s.apiAdvertise.description, maxDrift: s.raft.maxDrift))
        d.hooks = Agent.hookPlan(s.hooks)
        d.checkConfigured = s.hooks.check != nil || s.hooks.checkURL != nil
        d.checkFailuresToFail = s.hooks.checkFailures
        return d
    }

    /// init resolves the endpoints (host names once, now: the loop is not running yet)
    /// and builds the driver; nothing is sent until `start`.
    public init(settings: AgentSettings, directory: consuming EtcdDataDirectory, loop: EventLoop, log: AgentLog) throws {
        precondition(settings.etcd != nil, "EtcdAgent needs --backend etcd settings")
        self.settings = settings
        self.loop = loop
        self.log = log
        self.directory = directory
        let endpoints: [EtcdEndpoint]
        do throws(EtcdEndpoint.ParseError) {
            endpoints = try EtcdEndpoint.parseList(settings.etcd!.endpoints.joined(separator: ","))
            client = try EtcdClient(loop: loop, options: EtcdClientOptions(endpoints: endpoints))
        } catch {
            throw ConfigError(flag: "--etcd-endpoints", error.description)
        }
        calls = EtcdCalls(client: client)
        responses = Responses(placeholder: PreparedResponse(status: 503, body: Array("{\"reason\":\"starting\"}".utf8)))
        apiState = try APIState(settings: settings)
        metrics = EtcdMetrics(registry: apiState.metrics.registry)
        let ports = EtcdAgentPorts()
        self.ports = ports
        let driver = try EtcdAgentDriver(settings: Self.driverSettings(settings), now: Agent.now(),
                                         ports: EtcdDriverPorts(etcd: ports, hooks: ports, responder: ports, log: ports, lifecycle: ports))
        self.driver = driver
        view = driver.view
        ports.agent = self
        // Lines carry the term and role as they are when written (also mid-input).
        log.context = { [unowned self] in
            let office = self.driver.election.office
            return (office?.token ?? self.driver.view.term, office != nil ? "leader" : "follower")
        }
        rebuildResponses()
    }

    /// start binds the API (a failure is fatal: exit 2), then starts the driver.
    public func start() throws {
        let services = try startServices()
        api = services.api
        boundAPI = services.api.localAddress
        systemd = services.systemd
        hooks = services.hooks
        let etcd = settings.etcd!
        let election = driver.settings.election
        log.event("started", .notice, "\(settings.id) started: elections through etcd at \(etcd.endpoints.joined(separator: ",")) under \(etcd.prefix), API on \(boundAPI!)", [
            ("backend", "etcd"), ("api_listen", "\(boundAPI!)"), ("etcd_endpoints", .string(etcd.endpoints.joined(separator: ","))),
            ("etcd_prefix", .string(etcd.prefix)), ("lease_ttl", "\(etcd.leaseTTL)"),
            ("keepalive_interval", "\(election.effectiveKeepAliveInterval)"), ("call_timeout", "\(election.effectiveCallTimeout)"),
            ("pid", .number(Process.id))], .essential)
        step(.start)
        hooks.startCheck()
    }

    // MARK: The driver's inputs

    func now() -> Instant { Agent.now() }

    /// step hands the driver one input (and any that arrive meanwhile), then lets
    /// every consumer see the new view.
    func step(_ input: EtcdDriverInput) {
        guard inbox.deliver(input, { driver.handle($0, now: now()) }) else { return }
        view = driver.view
        if view.generation != seenGeneration {
            seenGeneration = view.generation
            apiState.metrics.operatorMetrics.noteLeader(view.leader)
            rebuildResponses()
            systemd?.viewChanged(view)
        }
        completeAnswers()
        if exitRequested { return finishExit() }
        tick.keep(at: driver.nextDeadline, on: loop) { [unowned self] in self.step(.tick) }
    }

    /// startCall is the etcd port: the answer comes back as an input.
    func startCall(_ request: EtcdRequest) {
        calls.start(request) { [unowned self] id, result in self.step(.etcd(id, result)) }
    }

    // MARK: SIGHUP and shutdown

    /// reload applies what a SIGHUP can change (hooks, check, log, admin token).
    public func reload(_ new: AgentSettings) throws(ConfigError) -> ReloadPlan {
        let (running, plan, driverPart) = try applyReload(new, hooks: hooks)
        settings = running
        step(.reload(driverPart))
        return plan
    }

    /// beginShutdown: SIGTERM or SIGINT. The driver leaves office, runs the demote hook
    /// (bounded), revokes its lease (the next in line takes over), then asks to exit.
    public func beginShutdown(_ done: @escaping () -> Void) {
        if onExit == nil { onExit = done }
        hooks?.stopCheck()
        systemd?.stopping()
        step(.terminate)
    }

    /// stopNow: a second signal; the caller exits right after.
    public func stopNow() {
        stopNowRequested = true
        step(.terminate)
    }

    private func finishExit() {
        tick.cancel(on: loop)
        if !stopNowRequested {
            client.close()
            systemd?.shutdown()
        }
        let done = onExit
        onExit = nil
        done?()
    }
}

extension EtcdAgent: AgentShell {
    var resignWait: Interval { driver.settings.resignWait }

    func deliver(_ input: DriverInput) {
        guard let mine = EtcdDriverInput(input) else { preconditionFailure("a Raft-only input reached the etcd agent: \(input)") }
        step(mine)
    }

    /// registerEngineRoutes: what only the Raft group has answers 404 saying why, not a
    /// bare "no such path": there is no member list with this engine (every agent under
    /// the prefix is a candidate), and the operator controls of issue 16 (pause, history)
    /// live in the Raft group's replicated log, which this engine does not have.
    func registerEngineRoutes(on server: HTTPServer) {
        let members = "--backend etcd has no member list to change: every agent started with the same --etcd-prefix is a candidate (see GET /status for the line)"
        let controls = "pause, resume, history and scheduled hand-overs are not available with --backend etcd yet: they are kept in the Raft group's replicated log"
        let routes: [(HTTPMethod, String, APIRoute, String)] = [
            (.get, "/members", .members, members), (.post, "/members", .members, members),
            (.delete, "/members/*", .members, members), (.patch, "/members/*", .members, members),
            (.post, "/pause", .pause, controls), (.post, "/resume", .resume, controls), (.get, "/history", .history, controls),
            (.post, "/handover", .handover, controls), (.delete, "/handover", .handover, controls),
            (.post, "/history/hooks", .historyHooks, controls)]
        for (method, path, route, reason) in routes {
            server.route(method, path) { [unowned self] _ in self.counted(route, .respond(self.notWithThisEngine(reason))) }
        }
    }

    func notWithThisEngine(_ reason: String) -> PreparedResponse {
        PreparedResponse(status: 404, headers: commonHeaders(term: view.term),
                         body: Array("{\"reason\":\(AgentLog.json(reason)),\"term\":\(view.term)}\n".utf8))
    }

    /// membershipWord: every agent under the prefix is a candidate.
    var membershipWord: String { "candidate" }

    /// knowsMember: any candidate may lead; a name is compared as written.
    func knowsMember(_ name: String) -> Bool { isValidMemberName(name) }

    /// leaderJSON: this agent's own API address, or the one the leader published in its
    /// key. There is no peer address with this engine (empty).
    func leaderJSON(_ name: String) -> String {
        let api = name == settings.id ? settings.apiAdvertise.description : (name == view.leader ? driver.leaderInfo?.apiAddress ?? "" : "")
        return "{\"id\":\(AgentLog.json(name)),\"api\":\(AgentLog.json(api)),\"peer\":\"\"}"
    }
}

/// EtcdAgentPorts is the one object behind the etcd driver's ports.
final class EtcdAgentPorts: EtcdPort, HookPort, ResponderPort, LogPort, LifecyclePort {
    unowned var agent: EtcdAgent!

    func start(_ request: EtcdRequest) { agent.startCall(request) }
    func cancel(_ id: EtcdRequestID) { agent.calls.cancel(id) }
    func start(_ request: HookStepRequest) { agent.hooks.start(request) }
    func killRunning() { agent.hooks.killRunning() }
    func answer(_ request: RequestID, _ answer: ApiAnswer) { agent.pendingAnswers.append((request, answer)) }

    func event(_ event: @autoclosure () -> LogEvent) {
        let e = event()
        agent.log.event(e.name, e.level, e.message, e.fields, e.policy, term: e.term)
    }

    func exit(code: Int32) { agent.exitRequested = true }
}
