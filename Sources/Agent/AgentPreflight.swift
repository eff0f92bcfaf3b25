// What the agent would refuse at start-up, asked without starting it: for
// `baton agent --check-config` and before a SIGHUP reload is applied (issue 17).
public import AgentConfig
import HookSyntax
import Hooks
import Systemd

extension Agent {
    /// preflightProblems checks the settings that only the agent's own parts can judge:
    /// the admin token file, the check URL's host, the leader unit's name and the bus
    /// library. `withUnit` is false on reload (the leader unit needs a restart anyway).
    public static func preflightProblems(_ settings: AgentSettings, withUnit: Bool = true) -> [ConfigError] {
        var problems: [ConfigError] = []
        do { _ = try AdminAccess(settings: settings) } catch { problems.append(error) }
        if let url = settings.hooks.checkURL {
            do { _ = try HTTPCheckTarget.resolve(url) } catch { problems.append(ConfigError(flag: "--check-url", error.message)) }
        }
        if withUnit, let unit = settings.hooks.leaderUnit {
            do { _ = try UnitName(unit) } catch { problems.append(ConfigError(flag: "--leader-unit", error.description)) }
            if let why = UnitController.busUnavailable() { problems.append(ConfigError(flag: "--leader-unit", why)) }
        }
        return problems
    }
}
