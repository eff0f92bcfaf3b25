// What the engine-independent parts of the agent's shell — the HTTP API's answers and
// long-poll, held resignations, the hook executor and the check, systemd, the shared
// metrics — need from the agent that holds them. Two agents provide it: `Agent` (Baton's
// own Raft group) and `EtcdAgent` (elections through an existing etcd, issue 18), so the
// application sees one API whichever engine elects.
public import AgentConfig
import AgentDriver
import AgentLogging
import EventLoop
import HTTPServer
import RaftCore

protocol AgentShell: AnyObject {
    var settings: AgentSettings { get }
    var loop: EventLoop { get }
    var log: AgentLog { get }
    /// view is the driver's snapshot as of its last input.
    var view: AgentView { get }
    var responses: Responses { get set }
    var apiState: APIState { get }
    var systemd: AgentSystemd? { get }
    /// pendingAnswers: the driver's answers to held requests, written after its input.
    var pendingAnswers: [(RequestID, ApiAnswer)] { get set }
    /// resignWait is how long the driver may take to answer a held resignation.
    var resignWait: Interval { get }
    func now() -> Instant
    /// deliver hands the driver one of the inputs every engine takes (hook steps, check
    /// results, resignations).
    func deliver(_ input: DriverInput)
    /// knowsMember: `name` could be named as leader (a long-poll's `leader=`).
    func knowsMember(_ name: String) -> Bool
    /// leaderJSON is a member as answers name it: `{"id","api","peer"}`.
    func leaderJSON(_ name: String) -> String
    func statusAnswer() -> PreparedResponse
    /// registerEngineRoutes adds what only this engine answers (`/members` for Raft).
    func registerEngineRoutes(on server: HTTPServer)
    /// membershipWord says what this node is to the group, in one word (`/health`).
    var membershipWord: String { get }
    func metricsAnswer() -> PreparedResponse
}

extension Agent: AgentShell {
    var resignWait: Interval { driver.settings.resignWait }
    func knowsMember(_ name: String) -> Bool { driver.members.idOf[name] != nil }
    func registerEngineRoutes(on server: HTTPServer) {
        registerMemberRoutes(on: server)
        registerPauseRoutes(on: server)
        registerHandoverRoutes(on: server)
    }
}

extension AgentShell {
    /// applyReload applies what a SIGHUP changes outside the driver — the admin token,
    /// the check, the log's format and level — and returns the settings to run with,
    /// what changed, and the driver's part. `new` is validated by the caller; what fails
    /// here throws before anything is applied.
    func applyReload(_ new: AgentSettings, hooks: AgentHooks) throws(ConfigError) -> (AgentSettings, ReloadPlan, DriverReload) {
        let plan = settings.reloadPlan(to: new)
        let running = settings.reloading(new)
        let access = try AdminAccess(settings: running)
        let checkReplaced = try hooks.reload(running)
        apiState.access = access
        log.format = running.logFormat
        log.minimumLevel = running.logLevel
        let h = running.hooks
        let driverPart = DriverReload(hooks: Agent.hookPlan(h), checkConfigured: h.check != nil || h.checkURL != nil,
                                      checkFailuresToFail: h.checkFailures, checkReplaced: checkReplaced)
        return (running, plan, driverPart)
    }
}

/// RunningAgent is what the process's signal handling needs of either engine's agent.
public protocol RunningAgent: AnyObject {
    /// start binds the listeners and starts the driver (a failure is fatal: exit 2).
    func start() throws
    /// beginShutdown: SIGTERM or SIGINT; `done` runs once the agent finished.
    func beginShutdown(_ done: @escaping () -> Void)
    /// stopNow: a second signal; the caller exits right after.
    func stopNow()
    /// reload applies a SIGHUP's settings (validated by the caller).
    func reload(_ new: AgentSettings) throws(ConfigError) -> ReloadPlan
}

extension Agent: RunningAgent {}
extension EtcdAgent: RunningAgent {}
