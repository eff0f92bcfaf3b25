// A deterministic world for EtcdElection: agents, one simulated etcd, a network with a
// latency, and faults placed in the environment (etcd down, an agent cut off, an agent
// killed), never in the machine under test (style rule 24). An observer outside the
// agents checks that offices never overlap and tokens only grow.
import EtcdAPI
import EtcdElection
import Time
import Testing

final class SimCluster {
    struct Agent {
        var election: EtcdElection
        var alive = true
        /// cutOff: the agent's calls to etcd fail (a partition between it and etcd).
        var cutOff = false
        var watches: [EtcdRequestID: (request: WatchCreateRequest, sentUpTo: Revision)] = [:]
        /// clockRate: the agent's clock runs this fast relative to etcd's (drift).
        var clockRate = 1.0
        var officeStart: Instant? = nil
        var officeDeadline: Instant? = nil
        var tickAt: Instant? = nil
    }

    struct Pending { var at: Instant; var seq: Int; var action: Action }
    enum Action {
        case arriveAtEtcd(agent: Int, EtcdRequest)
        case reply(agent: Int, EtcdRequestID, Result<EtcdReply, EtcdFailure>)
        case tick(agent: Int)
        case demote(agent: Int, FencingToken)
        case lessor
    }

    /// Office is one closed or open interval of office, on the global (etcd) clock.
    struct Office { var agent: Int; var token: FencingToken; var start: Instant; var end: Instant?; var reason: String? }

    var etcd = SimEtcd()
    var etcdUp = true
    var agents: [Agent] = []
    var now = Instant(nanoseconds: 1_000_000_000)
    var latency: Interval = .milliseconds(1)
    var queue: [Pending] = []
    var seq = 0
    var steps = 0
    var offices: [Office] = []
    var log: [String] = []
    /// autoDemote: answer every leave with demoteFinished at once (no demote hook).
    var autoDemote = true

    init() { push(now + .milliseconds(500), .lessor) }

    static func options(_ name: String, ttl: Int64 = 2) -> EtcdElectionOptions {
        var o = EtcdElectionOptions(candidate: CandidateInfo(name: name, apiAddress: "127.0.0.1:80\(name.suffix(2))"), prefix: "/baton/test")
        o.leaseTTL = .seconds(ttl)
        return o
    }

    @discardableResult
    func addAgent(_ name: String, ttl: Int64 = 2, allowed: Bool = true, clockRate: Double = 1.0) -> Int {
        let e = try! EtcdElection(options: Self.options(name, ttl: ttl), campaignAllowed: allowed)
        agents.append(Agent(election: e, clockRate: clockRate))
        let i = agents.count - 1
        let r = agents[i].election.start(now: local(i))
        apply(i, r)
        return i
    }

    /// local(_:) is agent i's clock reading now (its own rate from a common origin).
    func local(_ i: Int) -> Instant { Instant(nanoseconds: Int64(Double(now.nanoseconds) * agents[i].clockRate)) }
    func global(_ i: Int, _ t: Instant) -> Instant { Instant(nanoseconds: Int64(Double(t.nanoseconds) / agents[i].clockRate)) }

    func push(_ at: Instant, _ action: Action) {
        seq += 1
        queue.append(Pending(at: at, seq: seq, action: action))
    }

    func step(_ i: Int, _ event: EtcdElectionEvent) {
        guard agents[i].alive else { return }
        let r = agents[i].election.handle(event, now: local(i))
        apply(i, r)
    }

    func apply(_ i: Int, _ r: EtcdElectionReady) {
        let name = agents[i].election.options.candidate.name
        for change in r.officeChanges {
            switch change {
            case .enter(let token, let deadline, let reason):
                log.append("\(now) \(name) enter \(token) \(reason.rawValue)")
                offices.append(Office(agent: i, token: token, start: now, end: nil, reason: nil))
                agents[i].officeDeadline = global(i, deadline)
            case .leave(let token, let reason):
                log.append("\(now) \(name) leave \(token) \(reason.rawValue)")
                if let k = offices.lastIndex(where: { $0.agent == i && $0.end == nil }) {
                    // The office ended at the leave or at the lease deadline, whichever
                    // came first: answers check the clock (design §2).
                    offices[k].end = min(now, agents[i].officeDeadline ?? now)
                    offices[k].reason = reason.rawValue
                }
                if autoDemote { pushDemote(i, token) }
            }
        }
        if let o = agents[i].election.office { agents[i].officeDeadline = global(i, o.leaseDeadline) }
        for req in r.requests { send(i, req) }
        for c in r.cancels { agents[i].watches[c] = nil }
        let next = agents[i].election.nextDeadline
        // Rounded up by a microsecond, so the agent's clock has surely reached `next`.
        if next < .distantFuture {
            let at = max(now, global(i, next) + .microseconds(1))
            // One pending tick per agent: an earlier one replaces a later one.
            if agents[i].tickAt == nil || at < agents[i].tickAt! {
                agents[i].tickAt = at
                push(at, .tick(agent: i))
            }
        }
    }

    /// pushDemote delivers demoteFinished as a step of its own, as the driver would
    /// after the demote hook (`demoteDelay` long).
    func pushDemote(_ i: Int, _ token: FencingToken) { push(now + demoteDelay, .demote(agent: i, token)) }
    var demoteDelay: Interval = .zero

    func send(_ i: Int, _ req: EtcdRequest) {
        if agents[i].cutOff {
            push(now + req.timeout, .reply(agent: i, req.id, .failure(.timedOut)))
        } else if !etcdUp {
            push(now + latency, .reply(agent: i, req.id, .failure(.unreachable("connection refused"))))
        } else {
            push(now + latency, .arriveAtEtcd(agent: i, req))
        }
    }

    func run(for d: Interval) { run(until: now + d) }

    func run(until end: Instant) {
        while true {
            guard let k = queue.indices.min(by: { (queue[$0].at, queue[$0].seq) < (queue[$1].at, queue[$1].seq) }), queue[k].at <= end else { break }
            let p = queue.remove(at: k)
            steps += 1
            precondition(steps < 5_000_000, "runaway simulation at \(now): \(p.action)")
            now = max(now, p.at)
            switch p.action {
            case .lessor:
                if etcdUp { etcd.expire(now: now); pushWatchEvents() }
                push(now + .milliseconds(500), .lessor)
            case .demote(let i, let token):
                step(i, .demoteFinished(token: token))
            case .tick(let i):
                guard agents[i].tickAt == p.at else { continue }  // replaced by an earlier one
                agents[i].tickAt = nil
                step(i, .tick)
            case .reply(let i, let id, let result):
                step(i, .reply(id, result))
            case .arriveAtEtcd(let i, let req):
                guard etcdUp, !agents[i].cutOff else {
                    push(now + req.timeout, .reply(agent: i, req.id, .failure(.timedOut)))
                    continue
                }
                if case .watch(let w) = req.call {
                    if w.startRevision > 0 && w.startRevision < etcd.compactedBelow {
                        push(now + latency, .reply(agent: i, req.id, .success(.watch(WatchResponse(header: etcd.header, created: true)))))
                        push(now + latency, .reply(agent: i, req.id, .failure(.server(code: 11, message: "compacted"))))
                        continue
                    }
                    agents[i].watches[req.id] = (w, max(0, w.startRevision - 1))
                    push(now + latency, .reply(agent: i, req.id, .success(.watch(WatchResponse(header: etcd.header, created: true)))))
                    pushWatchEvents()
                    continue
                }
                let result = etcd.apply(req.call, now: now)
                push(now + latency, .reply(agent: i, req.id, result))
                pushWatchEvents()
            }
            checkSafety()
        }
        now = max(now, end)
        checkSafety()
    }

    /// pushWatchEvents sends each open watch the events it has not had yet.
    func pushWatchEvents() {
        for i in agents.indices where !agents[i].cutOff {
            for (id, w) in agents[i].watches {
                let events = etcd.events(w.request, after: w.sentUpTo)
                guard !events.isEmpty else { continue }
                agents[i].watches[id]?.sentUpTo = events.last!.kv.modRevision
                push(now + latency, .reply(agent: i, id, .success(.watch(WatchResponse(header: etcd.header, events: events)))))
            }
        }
    }

    /// End every watch (etcd went down or the agent was cut off): the client reports it.
    func breakWatches(_ i: Int) {
        for id in agents[i].watches.keys { push(now + latency, .reply(agent: i, id, .failure(.unreachable("watch stream ended")))) }
        agents[i].watches = [:]
    }

    func kill(_ i: Int) {
        agents[i].alive = false
        agents[i].watches = [:]
        if let k = offices.lastIndex(where: { $0.agent == i && $0.end == nil }) {
            offices[k].end = min(now, agents[i].officeDeadline ?? now)
            offices[k].reason = "killed"
        }
    }

    func stopEtcd() {
        etcdUp = false
        for i in agents.indices { breakWatches(i) }
    }

    /// startEtcd restarts etcd from its data: leases come back with a full TTL, as
    /// etcd 3.4 restores them.
    func startEtcd() {
        etcdUp = true
        for id in etcd.leases.keys { etcd.leases[id]!.expiresAt = now + .seconds(etcd.leases[id]!.ttlSeconds) }
    }

    func cut(_ i: Int, _ on: Bool) {
        agents[i].cutOff = on
        if on { breakWatches(i) }
    }

    /// inOffice lists the agents in office now, by their own clocks.
    var inOffice: [Int] { agents.indices.filter { agents[$0].alive && agents[$0].election.isInOffice(at: local($0)) } }

    var stepViolations: Set<String> = []

    /// checkSafety (after every event): at most one agent in office, by their clocks.
    func checkSafety() {
        let ins = inOffice
        if ins.count > 1 { stepViolations.insert("\(now): \(ins.count) agents in office: \(ins)") }
    }

    /// safetyViolations adds the whole-run check: office intervals (closed at the lease
    /// deadline) never overlap, and tokens strictly increase in the order offices begin.
    var safetyViolations: Set<String> {
        var found = stepViolations
        let sorted = offices.sorted { $0.start < $1.start }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let aEnd = a.end ?? (agents[a.agent].alive ? (agents[a.agent].officeDeadline ?? now) : now)
            if b.start < aEnd && !(a.agent == b.agent) {
                found.insert("office of \(b.agent) at \(b.start) began before \(a.agent)'s ended at \(aEnd)")
            }
            if b.token <= a.token { found.insert("token \(b.token) after \(a.token)") }
        }
        return found
    }

    func leaderName(seenBy i: Int) -> String? { agents[i].election.leader?.info?.name }
}
