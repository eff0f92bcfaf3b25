// baton_members{role} and baton_membership_change_in_progress (issue 14): the stored
// configuration as this node knows it, set at scrape time. Four fixed roles, so the
// label cannot grow with what the group holds.
import AgentDriver
import Prometheus
import RaftCore

/// MembershipMetrics counts the members of the configuration in force by role.
final class MembershipMetrics {
    private var byRole: [MemberRole: Gauge] = [:]
    private let changeInProgress: Gauge

    init(registry: PrometheusCollectorRegistry) {
        func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "baton", metricName: metric, unitName: "", helpText: help)
        }
        for role in MemberRole.allCases {
            byRole[role] = registry.makeGauge(
                descriptor: name("members", "Members of the stored configuration in force on this node, by role (learner: being added)."),
                labels: [("role", "\(role)")])
        }
        changeInProgress = registry.makeGauge(
            descriptor: name("membership_change_in_progress", "1 while a membership change is appended and not yet committed, else 0."))
    }

    func update(_ view: AgentView) {
        for (role, gauge) in byRole { gauge.set(Int64(view.members.count { $0.role == role })) }
        changeInProgress.set(Int64(view.changeInProgress ? 1 : 0))
    }
}
