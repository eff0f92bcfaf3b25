// `baton demo`: a 3-node cluster on loopback, made of children of this process, that
// shows what Baton does — who leads, a failover after kill -9 and its time, a restarted
// node rejoining without deposing anyone, a planned hand-over on SIGTERM — then stops
// every agent and removes its files. The README's first command runs it.
import ArgumentParser
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local 3-node cluster and show an election, a failover and a hand-over.",
        discussion: """
        Starts three agents (n1, n2, n3) as children of this process, on 127.0.0.1, in a \
        fresh temporary directory holding their data dirs and a generated 32-byte cluster \
        secret, and prints each step with the time since the start: (1) it waits for a \
        leader and shows all three agree on it (GET /leader); (2) it kills the leader \
        with SIGKILL and measures the failover, from the kill until another node answers \
        GET /is-leader with 200; (3) it restarts the killed node from its data dir and \
        shows it rejoining as a follower while the leader keeps its office and term; (4) \
        it sends SIGTERM to the leader and measures the planned hand-over the same way; \
        (5) it stops every agent (SIGTERM, then SIGKILL after 3 s) and removes the \
        directory. A summary of the times ends the output.

        Lines marked `·` are what the agents themselves logged (role changes, entering \
        and leaving office with the term, which is the fencing token), as it happens.

        API ports are --base-port, +1, +2 (n1, n2, n3); peer ports are --base-port+100, \
        +101, +102. Every port must be free on 127.0.0.1.

        Ctrl-C (SIGINT), SIGTERM or SIGHUP at any point stop every agent and remove the \
        directory; the agents also die with the demo if it is killed with SIGKILL. \
        Exit status: 0 the demo ran (or --keep-running ended with Ctrl-C), 1 a step did \
        not happen in time or an agent failed, 2 a bad --base-port or a port in use, 128+N \
        stopped by signal N.
        """)

    @Option(help: "First of the API ports (n1 = PORT, n2 = PORT+1, n3 = PORT+2); peer ports are PORT+100…PORT+102.")
    var basePort: Int = 7101

    @Flag(help: "After the demo, leave the three agents running (restarted as needed) until Ctrl-C, and print how to curl them.")
    var keepRunning = false

    @Flag(help: "Also print every log line of every agent.")
    var verbose = false

    /// Largest wait for any one step; far above what a healthy cluster needs (about
    /// Emin + a few round trips), so only a broken or starved machine hits it.
    static let stepTimeoutMs = 15_000
    /// How long the demo watches a rejoined node for a disturbance of the leader: more
    /// than twice the largest election timeout (300 ms).
    static let rejoinWatchMs = 1_500
    /// Pause between steps, so the cluster is seen settled before it is disturbed.
    static let settleMs = 700
    /// Polling interval of /is-leader while timing a failover: it bounds the error of
    /// the measured time (each poll itself costs well under a millisecond on loopback).
    static let failoverPollMs = 1


    /// feed is the source of the transitions printed as they happen. Hook-printed
    /// transitions (issue 6: --on-change) become one more flag choosing another feed here.
    func feed() -> any TransitionFeed { AgentLogFeed() }

    func run() throws {
        guard (1024...(65535 - 102)).contains(basePort) else {
            die("--base-port must be between 1024 and \(65535 - 102) (the demo uses PORT…PORT+2 and PORT+100…PORT+102), got \(basePort)")
        }
        let ports = (0..<3).map { basePort + $0 } + (0..<3).map { basePort + 100 + $0 }
        if let taken = ports.first(where: { !DemoFiles.portIsFree($0) }) {
            die("port \(taken) on 127.0.0.1 is in use (another demo or agent?); choose other ports with --base-port, e.g. --base-port \(basePort + 1000)")
        }
        // The agents are this very binary: /proc/self/exe names it even when the file was
        // replaced or removed since (a rebuild while the demo runs), so a restart works.
        let executable = "/proc/self/exe"
        guard access(executable, X_OK) == 0 else { die("cannot execute /proc/self/exe (is /proc mounted?)") }
        // Block the stop signals before any child exists; they are read in DemoCluster.pump.
        let signals: SignalFD
        do { signals = try SignalFD(signals: [SignalNumber.interrupt, SignalNumber.terminate, SignalNumber.hangup]) }
        catch { die("cannot watch signals: \(error)") }

        // A reader that goes away (`baton demo | head`) must not kill the demo before it
        // stopped its agents: writes then fail quietly instead (children get SIGPIPE back).
        _ = signal(SIGPIPE, SIG_IGN)
        let out = DemoPrinter()
        let cluster: DemoCluster
        do { cluster = try DemoCluster(basePort: basePort, executable: executable, feed: feed(), signals: signals) }
        catch { die("\(error)") }
        cluster.onTransition = { out.agent($0) }
        if verbose { cluster.onRawLine = { node, line in out.raw(node.name, line) } }

        var status: Int32 = 0
        do {
            try DemoScenario(cluster: cluster, out: out, keepRunning: keepRunning).run()
        } catch let stop as DemoInterrupted {
            out.say("\(Self.signalName(stop.signal)) received: stopping every agent")
            status = keepRunning && stop.signal == SIGINT ? 0 : 128 + stop.signal
        } catch {
            out.say("FAILED: \(error)")
            status = 1
        }
        cluster.stopAll()
        cluster.removeDirectory()
        let left = cluster.nodes.filter(\.isRunning).map(\.name)
        if !left.isEmpty || DemoFiles.exists(cluster.directory) {
            out.say("could not clean up: agents \(left) still running, directory \(cluster.directory)")
            status = 1
        } else {
            out.say("all agents stopped; \(cluster.directory) removed")
        }
        out.flushSummary()
        throw ExitCode(status)
    }

    static func signalName(_ number: Int32) -> String {
        switch number {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(number)"
        }
    }
}

/// DemoPrinter writes the demo's lines, each stamped with the time since the start.
/// Lines go straight to standard output with write(2), so a pipe reader (a test, `tee`)
/// sees each step when it happens, not when a buffer fills.
final class DemoPrinter {
    let startNs = Clock.boottime()
    /// summary collects the figures printed again at the end.
    var summary: [String] = []

    func stamp(_ ns: UInt64?) -> String {
        let at = ns ?? Clock.boottime()
        let ms = at >= startNs ? Int((at - startNs) / 1_000_000) : 0
        let text = "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000)"
        return String(repeating: " ", count: max(0, 7 - text.count)) + "+" + text + "s"
    }

    /// say prints one step of the demo.
    func say(_ text: String) { emit("\(stamp(nil))  \(text)") }

    /// agent prints a transition an agent reported, at the time it happened.
    func agent(_ transition: DemoTransition) { emit("\(stamp(transition.bootNs))    · \(transition.summary)") }

    func raw(_ node: String, _ line: String) { emit("\(stamp(nil))      \(node)| \(line)") }

    /// note records a figure for the closing summary.
    func note(_ line: String) { summary.append(line) }

    func flushSummary() {
        guard !summary.isEmpty else { return }
        emit("summary:")
        for line in summary { emit("  \(line)") }
    }

    func emit(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
