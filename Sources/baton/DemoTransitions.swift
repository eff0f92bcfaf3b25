// What the demo prints as it happens: transitions reported by the agents themselves,
// from their JSON log lines, and what an `--on-change` hook prints on every promote,
// demote and start-up (the agent logs a hook's output tagged with the hook and term),
// so the demo shows the hooks your application would get.

/// DemoTransition is one change an agent reported. `bootNs` is when it happened on
/// CLOCK_BOOTTIME (the agents and the demo share the machine's clock), nil if unknown.
struct DemoTransition {
    enum Kind: Equatable {
        /// The node took office in `term`: the term is its fencing token.
        case enteredOffice(term: UInt64)
        /// The node left office in `term`, for `reason` (lease-lost, shutdown, …).
        case leftOffice(term: UInt64, reason: String)
        /// The node's Raft role changed from `from`; `leader` is whom it follows, if known.
        case role(String, term: UInt64, leader: String?, from: String)
        /// A follower's connection to its leader dropped (it may campaign early).
        case lostLeader(String)
        /// The agent began a clean shutdown (SIGTERM).
        case stopping
        /// A warning or error the user should see, as the agent worded it.
        case problem(String)
        /// A line the `--on-change` hook printed.
        case hook(String)
    }

    var node: String
    var kind: Kind
    var bootNs: UInt64?
}

/// TransitionFeed turns one line of an agent's output into a transition.
protocol TransitionFeed {
    /// agentArguments are the extra `baton agent` arguments this feed needs.
    func agentArguments(dataDirectory: String) -> [String]
    /// transition reads one output line of agent `node`; nil for lines it ignores.
    func transition(from line: String, node: String) -> DemoTransition?
}

/// AgentLogFeed reads the agent's own `--log-format json` lines (see AgentLog).
struct AgentLogFeed: TransitionFeed {
    func agentArguments(dataDirectory: String) -> [String] {
        ["--log-format", "json",
         "--on-change", #"sh -c 'echo "hook $BATON_EVENT: term $BATON_TERM, reason $BATON_REASON, leader ${BATON_LEADER_ID:-none}"'"#]
    }

    func transition(from line: String, node: String) -> DemoTransition? {
        guard let json = FlatJSON(line), let event = json["event"] else {
            // Not a log line: the agent's own fatal message (`baton: …`) or a crash.
            let text = line.trimmingSpaces()
            return text.isEmpty ? nil : DemoTransition(node: node, kind: .problem(text), bootNs: nil)
        }
        let term = json["term"].flatMap { UInt64($0) } ?? 0
        let bootNs = json["boottime_ns"].flatMap { UInt64($0) }
        let kind: DemoTransition.Kind
        switch event {
        case "office-enter":
            kind = .enteredOffice(term: json["token"].flatMap { UInt64($0) } ?? term)
        case "office-leave":
            kind = .leftOffice(term: json["token"].flatMap { UInt64($0) } ?? term, reason: json["reason"] ?? "?")
        case "role":
            let role = json["role"] ?? "?", from = json["from_role"] ?? "?"
            // A follower that only adopted a newer term (it voted, or heard a campaign)
            // changed nothing worth a line; the winner's line follows.
            if role == "follower" && from == "follower" && json["leader"] == nil { return nil }
            kind = .role(role, term: term, leader: json["leader"], from: from)
        case "hook-output":
            guard let text = json["line"], text.hasPrefix("hook ") else { return nil }
            kind = .hook(String(text.dropFirst(5)))
        case "leader-connection-lost":
            kind = .lostLeader(json["leader"] ?? "?")
        case "stopping":
            kind = .stopping
        case "insecure-peers", "storage-failed", "peer-rejected":
            kind = .problem([event, json["msg"]].compactMap { $0 }.joined(separator: ": "))
        default:
            return nil
        }
        return DemoTransition(node: node, kind: kind, bootNs: bootNs)
    }
}

extension DemoTransition {
    /// summary is the one line the demo prints for this transition.
    var summary: String {
        switch kind {
        case .enteredOffice(let term):
            return "\(node) enters office, term \(term) (its fencing token)"
        case .leftOffice(let term, let reason):
            return "\(node) leaves office, term \(term) (\(reason))"
        case .role(let role, let term, let leader, let from):
            switch role {
            case "follower":
                if let leader { return "\(node) follows \(leader), term \(term)" }
                return from == "preCandidate" ? "\(node) got no pre-vote majority: a follower again, term \(term)"
                                              : "\(node) is a follower, term \(term), no leader known"
            case "preCandidate": return "\(node) asks for pre-votes for term \(term + 1)"
            case "candidate": return "\(node) campaigns in term \(term)"
            case "leader": return "\(node) won the election of term \(term)"
            default: return "\(node) is \(role), term \(term)"
            }
        case .lostLeader(let leader):
            return "\(node) lost its connection to \(leader)"
        case .stopping:
            return "\(node) is stopping (SIGTERM: it hands over if it leads)"
        case .problem(let text):
            return "\(node): \(text)"
        case .hook(let text):
            return "\(node) on-change hook: \(text)"
        }
    }
}

extension String {
    /// trimmingSpaces drops leading and trailing blanks and line ends.
    func trimmingSpaces() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
