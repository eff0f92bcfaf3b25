// The environment a hook runs with, built in one place so that `baton hook-test` gives a
// hook exactly what the agent will (issue 17 point 3).
public import AgentConfig
import AgentDriver
import Posix
import Systemd

/// HookEnvironment builds the `KEY=value` environment of hooks and checks.
public enum HookEnvironment {
    /// inherited is this process's environment without Baton's own settings (which could
    /// hold a secret's path or be mistaken for the transition's variables) and without
    /// systemd's notify variables (a hook must not pose as the service).
    public static func inherited() -> [String] {
        ChildProcess.currentEnvironment().filter { entry in
            !entry.hasPrefix("BATON_") && !ServiceNotifier.environmentKeys.contains { entry.hasPrefix($0 + "=") }
        }
    }

    /// base is `inherited` with the application's variables from `--config`, whose value
    /// wins over an inherited one of the same name (the operator edited the file).
    public static func base(inherited: [String], application: [ApplicationVariable]) -> [String] {
        guard !application.isEmpty else { return inherited }
        let names = Set(application.map(\.name))
        return inherited.filter { !names.contains(String($0.prefix { $0 != "=" })) } + application.map { "\($0.name)=\($0.value)" }
    }

    /// transition is what a hook learns of its transition (README "Hooks").
    /// The agent's driver builds the same list for every hook step (`HookTransition`).
    public static func transition(event: String, node: String, term: UInt64, leader: String, previousLeader: String,
                                  reason: String, leaseDeadlineMs: Int64) -> [String] {
        HookTransition.environment(event: event, node: node, term: term, leader: leader, previousLeader: previousLeader,
                                   reason: reason, leaseDeadlineMs: leaseDeadlineMs)
    }
}
