// What both engines' shells do the same way: bring up the HTTP API, systemd and the hook
// executor at start, hand the driver its inputs one at a time, and keep one timer at
// the driver's next deadline. `Agent` and `EtcdAgent` differ in their engine (the peer
// transport and the disk, or the etcd client), not in these.
import AgentConfig
import AgentLogging
import EventLoop
import HTTPServer
import Posix
import RaftCore

/// ShellServices are what `start` brings up beside the engine.
struct ShellServices {
    let api: HTTPServer
    let systemd: AgentSystemd
    let hooks: AgentHooks
}

extension AgentShell {
    /// startServices binds the HTTP API (a failure is fatal: exit 2, naming the flag and
    /// the fix), registers its routes, starts the systemd notifier and watchdog, and
    /// makes the hook executor. The driver is not started: the caller does that last.
    func startServices() throws -> ShellServices {
        var http = Agent.apiServerConfiguration()
        // The API's timeouts are seconds long; sweeping for them twice a second instead
        // of ten times keeps an idle agent from waking up for nothing.
        http.timeoutCheckInterval = .milliseconds(500)
        let apiAddress = try Agent.listenAddress(settings.apiListen, flag: "--api-listen")
        let server: HTTPServer
        do { server = try HTTPServer(loop: loop, address: apiAddress, configuration: http) } catch {
            throw Agent.bindError(error, flag: "--api-listen", settings.apiListen, apiAddress)
        }
        registerRoutes(on: server)
        let systemd = try AgentSystemd(agent: self)
        systemd.start()
        return ShellServices(api: server, systemd: systemd, hooks: try AgentHooks(agent: self))
    }
}

/// DriverInbox hands a driver its inputs one at a time. An input that arrives while the
/// driver handles another (a port whose callee answers at once, e.g. a refused unit
/// job) waits and is handled right after: the driver is never re-entered.
final class DriverInbox<Input> {
    private var pending: [Input] = []
    private var delivering = false

    /// deliver runs `handle` on `input` and on every input queued meanwhile. Returns
    /// false when it only queued `input`, because an outer call is delivering (that
    /// call handles it, and publishes what changed).
    func deliver(_ input: Input, _ handle: (Input) -> Void) -> Bool {
        if delivering {
            pending.append(input)
            return false
        }
        delivering = true
        handle(input)
        while !pending.isEmpty { handle(pending.removeFirst()) }
        delivering = false
        return true
    }
}

/// DeadlineTimer keeps one loop timer at a deadline that moves, touching the loop only
/// when the deadline changed: most inputs leave it where it was (a follower's answer
/// does not move the next heartbeat), and an idle agent's wake-ups are mostly such checks.
final class DeadlineTimer {
    private var timer: TimerID?
    private var deadline: Instant = .distantFuture

    func keep(at next: Instant, on loop: EventLoop, fire: @escaping () -> Void) {
        if timer != nil && next == deadline { return }
        cancel(on: loop)
        deadline = next
        guard next < .distantFuture else { return }
        timer = loop.schedule(at: next) { [unowned self] _ in
            self.timer = nil
            fire()
        }
    }

    func cancel(on loop: EventLoop) {
        if let t = timer { loop.cancel(t); timer = nil }
    }
}
