// baton-etcd-probe: one election candidate through etcd in a process of its own, for the
// real-etcd tests and the benchmark (until `baton agent --backend etcd` exists). It runs
// EtcdElectionRunner on an event loop and prints one JSON line per event on stdout, each
// with `t`, CLOCK_BOOTTIME in nanoseconds (one clock for every process on the host, so an
// outside checker can line up offices of several probes).
//
//   baton-etcd-probe --name N --endpoints http://H:P[,…] [--prefix /baton/test]
//                    [--ttl SECONDS] [--keepalive-ms MS] [--api ADDR] [--demote-ms MS] [--observer]
//
// Signals: SIGTERM/SIGINT → shutdown (hand over, revoke, exit 0); SIGUSR1 → resign;
// SIGUSR2 → toggle whether it may contend.
// Lines: {"event":"enter","token":T,"deadline":NS,"reason":R}, {"event":"leave","token":T,
// "reason":R}, {"event":"renew","deadline":NS} (while in office), {"event":"leader",
// "name":N,"token":T} (or "name":null), {"event":"stopped"}.
import EtcdClient
import EtcdElection
import EtcdEngine
import EventLoop
import Glibc
import JSON
import Posix
import Time

func emit(_ members: [JSONValue.Member]) {
    let line = JSONValue.object([.init("t", .number(Clock.boottime()))] + members).serialized() + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    let line = "baton-etcd-probe: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// Flags is the parsed command line.
struct Flags {
    var values: [String: String] = [:]
    var observer = false
    init(_ arguments: [String]) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--observer" { observer = true; i += 1; continue }
            guard a.hasPrefix("--"), i + 1 < arguments.count else { fail("unknown or incomplete argument \(a)") }
            values[a] = arguments[i + 1]
            i += 2
        }
    }
    func string(_ flag: String, default value: String? = nil) -> String {
        if let v = values[flag] ?? value { return v }
        fail("\(flag) is required")
    }
    func int(_ flag: String, default value: Int) -> Int {
        guard let text = values[flag] else { return value }
        guard let v = Int(text) else { fail("\(flag) needs a whole number") }
        return v
    }
}
let flags = Flags(Array(CommandLine.arguments.dropFirst()))
let name = flags.string("--name")
let endpointsText = flags.string("--endpoints")
let prefix = flags.string("--prefix", default: "/baton/test")
let ttl = Int64(flags.int("--ttl", default: 2))
let api = flags.string("--api", default: "127.0.0.1:0")
let demoteMs = flags.int("--demote-ms", default: 0)
let observerOnly = flags.observer
let keepAliveMs = flags.int("--keepalive-ms", default: 0)

do {
    let signals = try SignalFD(signals: [SIGTERM, SIGINT, SIGUSR1, SIGUSR2])
    let loop = try EventLoop()
    let endpoints: [EtcdEndpoint]
    do throws(EtcdEndpoint.ParseError) { endpoints = try EtcdEndpoint.parseList(endpointsText) } catch { fail(error.description) }
    let client: EtcdClient
    do throws(EtcdEndpoint.ParseError) { client = try EtcdClient(loop: loop, options: EtcdClientOptions(endpoints: endpoints)) } catch { fail(error.description) }
    var options = EtcdElectionOptions(candidate: CandidateInfo(name: name, apiAddress: api), prefix: prefix)
    options.leaseTTL = Interval.seconds(ttl)
    if keepAliveMs > 0 { options.keepAliveInterval = .milliseconds(Int64(keepAliveMs)) }
    let election: EtcdElection
    do throws(EtcdElectionOptions.OptionError) { election = try EtcdElection(options: options, campaignAllowed: !observerOnly) } catch { fail(error.description) }

    var lastDeadline: Instant? = nil
    var runnerRef: EtcdElectionRunner? = nil
    let runner = EtcdElectionRunner(loop: loop, client: client, election: election) { ready, e, _ in
        for change in ready.officeChanges {
            switch change {
            case .enter(let token, let deadline, let reason):
                emit([.init("event", .string("enter")), .init("token", .number(token)), .init("deadline", .number(deadline.nanoseconds)),
                      .init("reason", .string(reason.rawValue))])
                lastDeadline = deadline
            case .leave(let token, let reason):
                emit([.init("event", .string("leave")), .init("token", .number(token)), .init("reason", .string(reason.rawValue))])
                lastDeadline = nil
                // The demote "hook": done at once, or after --demote-ms.
                loop.schedule(after: .milliseconds(Int64(demoteMs))) { _ in runnerRef?.send(.demoteFinished(token: token)) }
            }
        }
        if let o = e.office, o.leaseDeadline != lastDeadline {
            lastDeadline = o.leaseDeadline
            emit([.init("event", .string("renew")), .init("deadline", .number(o.leaseDeadline.nanoseconds))])
        }
        if ready.leaderChanged {
            let l = e.leader
            emit([.init("event", .string("leader")), .init("name", l?.info.map { .string($0.name) } ?? .null),
                  .init("token", l.map { .number($0.token) } ?? .null)])
        }
        if ready.stopped {
            emit([.init("event", .string("stopped"))])
            loop.stop()
        }
    }
    runnerRef = runner

    final class SignalHandler: EventHandler {
        let signals: SignalFD
        let onSignal: (Int32) -> Void
        init(_ signals: consuming SignalFD, _ onSignal: @escaping (Int32) -> Void) { self.signals = signals; self.onSignal = onSignal }
        func handleEvents(_ events: EpollEvents, descriptor: Int32) {
            while let s = try? signals.next() { onSignal(s) }
        }
    }
    var allowed = !observerOnly
    let handler = SignalHandler(signals) { s in
        switch s {
        case SIGUSR1: runner.send(EtcdElectionEvent.resign(.transfer))
        case SIGUSR2:
            allowed.toggle()
            runner.send(.setCampaignAllowed(allowed))
        default: runner.send(.shutdown)
        }
    }
    try loop.register(handler.signals.descriptor.rawValue, interest: .readable, handler: handler)
    emit([.init("event", .string("started")), .init("name", .string(name))])
    runner.start()
    try loop.run()
    client.close()
} catch {
    fail("\(error)")
}
