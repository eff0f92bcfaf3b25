// A deterministic world for whole etcd-engine drivers (EtcdAgentDriver): the simulated
// etcd of SimEtcd.swift, a latency, hook processes that take a set time and succeed or
// fail, and check results — all events on one queue with one clock. Everything the
// drivers send out is recorded with its time, so tests assert the order of hooks,
// calls and answers as an observer outside the agents saw them.
import AgentDriver
import AgentLogging
import EtcdAPI
import EtcdElection
import RaftCore

final class DriverWorld {
    /// Ports records what one driver sends out and queues what comes back.
    final class Ports: EtcdPort, HookPort, ResponderPort, LogPort, LifecyclePort {
        unowned let world: DriverWorld
        let agent: Int
        var watches: [EtcdRequestID: (request: WatchCreateRequest, sentUpTo: Revision)] = [:]
        var calls: [(at: Instant, call: EtcdCall)] = []
        var hooks: [(start: Instant, request: HookStepRequest)] = []
        var hookEnds: [(at: Instant, run: RunID)] = []
        var answers: [(at: Instant, request: RequestID, answer: ApiAnswer)] = []
        var events: [LogEvent] = []
        var exited = false

        init(world: DriverWorld, agent: Int) { self.world = world; self.agent = agent }

        func start(_ request: EtcdRequest) {
            calls.append((world.now, request.call))
            world.push(world.now + world.latency, .arrive(agent, request))
        }
        func cancel(_ id: EtcdRequestID) { watches[id] = nil }
        func start(_ request: HookStepRequest) {
            hooks.append((world.now, request))
            let fails = world.failingHooks.contains("\(agent) \(request.hook) \(request.job.event.rawValue)")
            world.push(world.now + world.hookDuration, .hookDone(agent, request.run, fails ? HookStepOutcome(succeeded: false, exitCode: 1, summary: "exit 1", duration: world.hookDuration) : .ok(world.hookDuration)))
        }
        func killRunning() {}
        func answer(_ request: RequestID, _ answer: ApiAnswer) { answers.append((world.now, request, answer)) }
        func event(_ event: @autoclosure () -> LogEvent) { events.append(event()) }
        func exit(code: Int32) { exited = true }

        /// hookLines lists hook steps as "event token" in the order they started.
        var hookLines: [String] { hooks.map { "\($0.request.job.event.rawValue) \($0.request.job.term)" } }
        func env(_ i: Int, _ key: String) -> String? {
            hooks[i].request.environment.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        func firstCall(_ matching: (EtcdCall) -> Bool) -> Instant? { calls.first { matching($0.call) }?.at }
        func logged(_ name: String) -> [LogEvent] { events.filter { $0.name == name } }
    }

    enum Action {
        case arrive(Int, EtcdRequest)
        case input(Int, EtcdDriverInput)
        case hookDone(Int, RunID, HookStepOutcome)
        case tick(Int)
        case lessor
    }
    struct Pending { var at: Instant; var seq: Int; var action: Action }

    var etcd = SimEtcd()
    var now = Instant(nanoseconds: 1_000_000_000)
    var latency: Interval = .milliseconds(1)
    var hookDuration: Interval = .milliseconds(10)
    /// failingHooks: "AGENT HOOK EVENT" entries whose steps exit 1.
    var failingHooks: Set<String> = []
    var drivers: [EtcdAgentDriver] = []
    var ports: [Ports] = []
    var tickAt: [Instant?] = []
    var queue: [Pending] = []
    var seq = 0
    var nextRequest: RequestID = 1

    init() { push(now + .milliseconds(500), .lessor) }

    @discardableResult
    func addAgent(_ name: String, hooks: HookPlan = DriverWorld.plan(), check: Bool = false) throws -> Int {
        let i = drivers.count
        let p = Ports(world: self, agent: i)
        var s = EtcdDriverSettings(election: SimCluster.options(name))
        s.hooks = hooks
        s.checkConfigured = check
        let d = try EtcdAgentDriver(settings: s, now: now, ports: EtcdDriverPorts(etcd: p, hooks: p, responder: p, log: p, lifecycle: p))
        drivers.append(d)
        ports.append(p)
        tickAt.append(nil)
        input(i, .start)
        return i
    }

    static func plan() -> HookPlan {
        var p = HookPlan()
        p.onPromote = ["promote"]
        p.onDemote = ["demote"]
        return p
    }

    func push(_ at: Instant, _ action: Action) {
        seq += 1
        queue.append(Pending(at: at, seq: seq, action: action))
    }

    /// input hands agent i one input now and keeps its timer.
    func input(_ i: Int, _ e: EtcdDriverInput) {
        guard !ports[i].exited else { return }
        drivers[i].handle(e, now: now)
        let next = drivers[i].nextDeadline
        if next < .distantFuture, tickAt[i] == nil || next < tickAt[i]! {
            tickAt[i] = max(now, next)
            push(tickAt[i]!, .tick(i))
        }
        pushWatchEvents()
    }

    /// resign sends agent i a `POST /resign` and returns its request id.
    func resign(_ i: Int, to: String? = nil) -> RequestID {
        let id = nextRequest
        nextRequest += 1
        input(i, .resign(id, to: to, client: "test"))
        return id
    }

    func run(for d: Interval) {
        let end = now + d
        var steps = 0
        while let k = queue.indices.min(by: { (queue[$0].at, queue[$0].seq) < (queue[$1].at, queue[$1].seq) }), queue[k].at <= end {
            let p = queue.remove(at: k)
            steps += 1
            precondition(steps < 1_000_000, "runaway world")
            now = max(now, p.at)
            switch p.action {
            case .lessor:
                etcd.expire(now: now)
                pushWatchEvents()
                push(now + .milliseconds(500), .lessor)
            case .input(let i, let e):
                input(i, e)
            case .hookDone(let i, let run, let outcome):
                ports[i].hookEnds.append((now, run))
                input(i, .hookStepFinished(run, outcome))
            case .tick(let i):
                guard tickAt[i] == p.at else { continue }
                tickAt[i] = nil
                input(i, .tick)
            case .arrive(let i, let req):
                guard !ports[i].exited else { continue }
                if case .watch(let w) = req.call {
                    ports[i].watches[req.id] = (w, max(0, w.startRevision - 1))
                    push(now + latency, .input(i, .etcd(req.id, .success(.watch(WatchResponse(header: etcd.header, created: true))))))
                } else {
                    push(now + latency, .input(i, .etcd(req.id, etcd.apply(req.call, now: now))))
                }
                pushWatchEvents()
            }
        }
        now = max(now, end)
    }

    func pushWatchEvents() {
        for i in ports.indices where !ports[i].exited {
            for (id, w) in ports[i].watches {
                let events = etcd.events(w.request, after: w.sentUpTo)
                guard !events.isEmpty else { continue }
                ports[i].watches[id]?.sentUpTo = events.last!.kv.modRevision
                push(now + latency, .input(i, .etcd(id, .success(.watch(WatchResponse(header: etcd.header, events: events))))))
            }
        }
    }

    /// inOffice lists the agents whose view says "in office" now.
    var inOffice: [Int] { drivers.indices.filter { !ports[$0].exited && drivers[$0].view.isInOffice(at: now) } }
}
