// The demo's three agents: where they live (a fresh temporary directory), how they are
// started and stopped, and the one place that waits — `pump` — which reads their
// output, notices their exits and notices SIGINT/SIGTERM/SIGHUP sent to the demo.
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// DemoInterrupted is thrown out of any wait when the demo received a stop signal.
struct DemoInterrupted: Error {
    var signal: Int32
}

/// DemoFailure is a step that did not happen in time, or an agent that died unasked.
struct DemoFailure: Error, CustomStringConvertible {
    var description: String
}

/// DemoNode is one member: its name, ports and data dir, and its process while it runs.
final class DemoNode {
    let name: String
    let apiPort: Int
    let peerPort: Int
    let dataDirectory: String
    var child: DemoChild?
    /// expectingExit is set when the demo itself stops or kills the node.
    var expectingExit = false
    /// lastExit is how the previous process of this node ended.
    var lastExit: ChildExit?
    /// pending holds output bytes after the last complete line.
    var pending: [UInt8] = []
    /// lastLines keeps the node's latest output, to explain an unexpected exit.
    var lastLines: [String] = []

    init(name: String, apiPort: Int, peerPort: Int, dataDirectory: String) {
        self.name = name
        self.apiPort = apiPort
        self.peerPort = peerPort
        self.dataDirectory = dataDirectory
    }

    var pid: Int32? { child?.pid }
    var isRunning: Bool { child != nil }
}

/// DemoCluster owns the temporary directory and every agent process.
final class DemoCluster {
    /// An output line longer than this is cut (the agent's lines are far shorter).
    static let maximumLineBytes = 16 * 1024
    /// Agent output kept per node to explain an unexpected exit.
    static let keptLines = 5
    /// How long the agents get to stop after SIGTERM before SIGKILL (the agent bounds its
    /// own hand-over at 2 s).
    static let stopGraceMs = 3_000

    let directory: String
    let secretFile: String
    let nodes: [DemoNode]
    let executable: String
    let feed: any TransitionFeed
    let signals: SignalFD
    var onTransition: (DemoTransition) -> Void = { _ in }
    var onRawLine: ((DemoNode, String) -> Void)?
    /// unplannedExitIsFailure: an agent exiting unasked ends the demo (during its
    /// steps), or is only reported (with --keep-running, where the user kills nodes).
    var unplannedExitIsFailure = true

    /// create makes the directory and the secret; `basePort` numbers the API ports
    /// (base, base+1, base+2) and the peer ports (base+100, …).
    init(basePort: Int, executable: String, feed: any TransitionFeed, signals: consuming SignalFD) throws {
        self.executable = executable
        self.feed = feed
        self.signals = signals
        directory = try DemoFiles.makeTemporaryDirectory(prefix: "baton-demo.")
        secretFile = directory + "/cluster-secret"
        var nodes: [DemoNode] = []
        for i in 0..<3 {
            nodes.append(DemoNode(name: "n\(i + 1)", apiPort: basePort + i, peerPort: basePort + 100 + i,
                                  dataDirectory: "\(directory)/n\(i + 1)"))
        }
        self.nodes = nodes
        do { try DemoFiles.writeRandomSecret(to: secretFile, bytes: 32) } catch {
            DemoFiles.removeTree(directory)
            throw DemoFailure(description: "cannot write the cluster secret in \(directory): \(error)")
        }
    }

    var peersFlag: String { nodes.map { "\($0.name)=127.0.0.1:\($0.peerPort)" }.joined(separator: ",") }

    /// agentArguments is the argv of one agent (argv[0] included).
    func agentArguments(_ node: DemoNode, bootstrap: Bool) -> [String] {
        var argv = ["baton", "agent", "--id", node.name, "--peers", peersFlag,
                    "--api-listen", "127.0.0.1:\(node.apiPort)", "--data-dir", node.dataDirectory,
                    "--cluster-secret-file", secretFile]
        if bootstrap { argv.append("--bootstrap") }
        return argv + feed.agentArguments(dataDirectory: node.dataDirectory)
    }

    /// agentEnvironment is the demo's environment without BATON_* variables, so a
    /// setting exported for some other agent cannot change the demo's cluster.
    static func agentEnvironment() -> [String] {
        var out: [String] = []
        var envp = environ
        while let p = envp.pointee {
            let entry = String(cString: p)
            if !entry.hasPrefix("BATON_") { out.append(entry) }
            envp += 1
        }
        return out
    }

    func start(_ node: DemoNode, bootstrap: Bool) throws {
        precondition(!node.isRunning, "\(node.name) is already running")
        node.expectingExit = false
        node.pending = []
        do {
            node.child = try DemoChild.spawn(executable: executable, arguments: agentArguments(node, bootstrap: bootstrap),
                                             environment: Self.agentEnvironment())
        } catch {
            throw DemoFailure(description: "cannot start \(node.name) (\(executable)): \(error)")
        }
    }

    /// signal sends `number` to the node's process; `expectExit` marks its exit as planned.
    func signal(_ node: DemoNode, _ number: Int32, expectExit: Bool = true) {
        guard let pid = node.pid else { return }
        if expectExit { node.expectingExit = true }
        _ = kill(pid, number)
    }

    /// pump waits up to `ms` (0: just look) for agent output, agent exits and stop
    /// signals, and handles whatever arrived. Throws on a stop signal, and on an agent
    /// that exited while nobody asked it to.
    func pump(ms: Int) throws {
        var fds: [pollfd] = [pollfd(fd: signals.descriptor.rawValue, events: Int16(POLLIN), revents: 0)]
        var owners: [(DemoNode, isExit: Bool)] = []
        for node in nodes {
            guard let child = node.child else { continue }
            fds.append(pollfd(fd: child.output.rawValue, events: Int16(POLLIN), revents: 0)); owners.append((node, false))
            fds.append(pollfd(fd: child.exitWatch.descriptor.rawValue, events: Int16(POLLIN), revents: 0)); owners.append((node, true))
        }
        let ready = poll(&fds, nfds_t(fds.count), Int32(ms))
        if ready < 0 {
            if errno == EINTR { return }
            throw DemoFailure(description: "poll failed: \(Errno(rawValue: errno))")
        }
        if ready == 0 { return }
        if fds[0].revents != 0, let number = try? signals.next() { throw DemoInterrupted(signal: number) }
        // Transitions read from several pipes in one pass are shown in the order they
        // happened (their CLOCK_BOOTTIME stamps), not in the order the pipes were read.
        defer { flushTransitions() }
        for (i, (node, isExit)) in owners.enumerated() where fds[i + 1].revents != 0 && !isExit {
            readOutput(node)
        }
        for (i, (node, isExit)) in owners.enumerated() where fds[i + 1].revents != 0 && isExit {
            try reapIfExited(node)
        }
    }

    private var unsorted: [DemoTransition] = []

    private func flushTransitions() {
        let batch = unsorted.enumerated().sorted { a, b in
            (a.element.bootNs ?? .max, a.offset) < (b.element.bootNs ?? .max, b.offset)
        }
        unsorted = []
        for (_, transition) in batch { onTransition(transition) }
    }

    /// wait pumps until `condition` holds, checking it every `everyMs`; false when
    /// `timeoutMs` passed first.
    func wait(timeoutMs: Int, everyMs: Int = 10, until condition: () -> Bool) throws -> Bool {
        let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
        while true {
            if condition() { return true }
            let now = Clock.boottime()
            if now >= deadline { return false }
            try pump(ms: min(everyMs, Int((deadline - now) / 1_000_000) + 1))
        }
    }

    /// readOutput reads what the node wrote and hands each complete line on.
    private func readOutput(_ node: DemoNode) {
        guard let child = node.child else { return }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let result = try? buffer.withUnsafeMutableBytes { try child.output.read(into: $0) }
            guard case .ready(let n) = result, n > 0 else { break }
            node.pending += buffer[0..<n]
            while let newline = node.pending.firstIndex(of: 0x0A) {
                handleLine(node, Array(node.pending[..<newline]))
                node.pending.removeSubrange(...newline)
            }
            if node.pending.count > Self.maximumLineBytes {
                handleLine(node, Array(node.pending.prefix(Self.maximumLineBytes)))
                node.pending = []
            }
        }
    }

    private func handleLine(_ node: DemoNode, _ bytes: [UInt8]) {
        let line = String(decoding: bytes, as: UTF8.self)
        node.lastLines.append(line)
        if node.lastLines.count > Self.keptLines { node.lastLines.removeFirst() }
        onRawLine?(node, line)
        if let transition = feed.transition(from: line, node: node.name) { unsorted.append(transition) }
    }

    /// reapIfExited collects the node's exit status once its pidfd fired; an exit
    /// nobody asked for is a failure naming the node's last words.
    private func reapIfExited(_ node: DemoNode) throws {
        guard let child = node.child, let exit = try? child.exitWatch.reap() else { return }
        readOutput(node)   // what it wrote before dying
        if !node.pending.isEmpty { handleLine(node, node.pending); node.pending = [] }
        node.child = nil
        node.lastExit = exit
        if !node.expectingExit && !unplannedExitIsFailure {
            unsorted.append(DemoTransition(node: node.name, kind: .problem("exited, \(Self.describe(exit))"), bootNs: nil))
        } else if !node.expectingExit {
            let said = node.lastLines.last.map { ": \($0)" } ?? ""
            throw DemoFailure(description: "\(node.name) (pid \(child.pid)) exited unexpectedly, \(Self.describe(exit))\(said)")
        }
    }

    static func describe(_ exit: ChildExit) -> String {
        switch exit {
        case .exited(let code): return "status \(code)"
        case .signalled(let signal): return signal == SIGKILL ? "killed (SIGKILL)" : "killed by signal \(signal)"
        }
    }

    /// stopAll sends SIGTERM to every running agent, waits for them within
    /// `stopGraceMs`, then SIGKILLs the rest and reaps everything. Never throws: it is
    /// the way out of every path; a second stop signal while it waits skips to SIGKILL.
    func stopAll(graceMs: Int = DemoCluster.stopGraceMs) {
        for node in nodes where node.isRunning { signal(node, SIGTERM) }
        let deadline = Clock.boottime() + UInt64(graceMs) * 1_000_000
        while nodes.contains(where: \.isRunning) && Clock.boottime() < deadline {
            do { try pump(ms: 20) } catch is DemoInterrupted { break } catch { continue }
        }
        killAll()
    }

    /// killAll SIGKILLs and reaps every agent still running (blocking, but a SIGKILLed
    /// process exits at once).
    func killAll() {
        for node in nodes {
            guard let child = node.child else { continue }
            node.expectingExit = true
            _ = kill(child.pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(child.pid, &status, 0) == -1 && errno == EINTR {}
            node.child = nil
        }
    }

    /// removeDirectory deletes the data dirs and the secret.
    func removeDirectory() {
        DemoFiles.removeTree(directory)
    }
}
