// The thin shell that runs the pure EtcdElection on the event loop: it starts the calls
// the election asks for with the etcd client, feeds the answers back through an inbox
// (the election is never re-entered: style rule 21), and ticks it at its deadline. The
// agent's driver can use it as is, or do the same few steps itself.
public import EtcdClient
public import EtcdElection
public import EventLoop
import EtcdAPI
import Posix
public import Time

/// EtcdElectionRunner owns one election and drives it on `loop`.
public final class EtcdElectionRunner {
    /// Observer sees every step's output after the election changed, before the
    /// step's requests are started (office changes first: design §2).
    public typealias Observer = (EtcdElectionReady, EtcdElection, Instant) -> Void

    public let loop: EventLoop
    public let client: EtcdClient
    public private(set) var election: EtcdElection
    private let observer: Observer
    private var inbox: [EtcdElectionEvent] = []
    private var draining = false
    private var drainScheduled = false
    private var tickTimer: TimerID?
    private let calls: EtcdCalls
    private var started = false

    public init(loop: EventLoop, client: EtcdClient, election: EtcdElection, observer: @escaping Observer) {
        self.loop = loop
        self.client = client
        self.election = election
        self.observer = observer
        calls = EtcdCalls(client: client)
    }

    /// now is CLOCK_BOOTTIME as the election's Instant (pauses count, design S2).
    public static func now() -> Instant { Instant(nanoseconds: Int64(Clock.boottime())) }

    /// start begins the election (call once, on the loop).
    public func start() {
        precondition(!started, "start called twice")
        started = true
        let now = Self.now()
        let ready = election.start(now: now)
        apply(ready, now)
    }

    /// send queues an input; it is applied from the loop, after the current step.
    public func send(_ event: EtcdElectionEvent) {
        inbox.append(event)
        scheduleDrain()
    }

    private func scheduleDrain() {
        guard !draining, !drainScheduled else { return }
        drainScheduled = true
        loop.schedule(after: .zero) { [weak self] _ in
            guard let self else { return }
            self.drainScheduled = false
            self.drain()
        }
    }

    private func drain() {
        draining = true
        defer { draining = false }
        while !inbox.isEmpty {
            let event = inbox.removeFirst()
            let now = Self.now()
            let ready = election.handle(event, now: now)
            apply(ready, now)
        }
    }

    private func apply(_ ready: EtcdElectionReady, _ now: Instant) {
        observer(ready, election, now)
        for id in ready.cancels { calls.cancel(id) }
        for request in ready.requests {
            calls.start(request) { [weak self] id, result in self?.send(.reply(id, result)) }
        }
        armTick()
    }

    private func armTick() {
        let next = election.nextDeadline
        if let t = tickTimer { loop.cancel(t); tickTimer = nil }
        guard next < .distantFuture, !election.isStopped else { return }
        let at = next + .microseconds(100)  // past the deadline by 0.1 ms
        tickTimer = loop.schedule(at: at) { [weak self] _ in
            guard let self else { return }
            self.tickTimer = nil
            self.send(.tick)
        }
    }
}
