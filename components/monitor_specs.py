"""What the platform's Datadog monitors watch, as plain data.

Kept apart from the DatadogMonitors component so the monitor set can be
built and tested without importing pulumi_datadog (about 11 s and 240 MB)."""

from __future__ import annotations

from components.kinds.registry import KINDS
from components.monitoring import MonitorScope, MonitorSpec
from settings.model import DatadogSettings, ServiceSpec

AGENT_DAEMONSET = "datadog-agent"


def _crash_loop(scope: MonitorScope, name: str, team: str) -> MonitorSpec:
    """Any container of the service: whatever its kind, a crash loop hides behind restarts.
    Grouped by container name: the metric carries no Deployment tag (see tests/ksm_catalog.py)."""
    t = scope.settings.thresholds
    return MonitorSpec(
        key=f"{name}-crashloop",
        name=f"[{scope.environment}] {name}: a container is in CrashLoopBackOff",
        query=(
            f"max(last_{t.crash_loop_minutes}m):max:kubernetes_state.container.status_report.count.waiting"
            f"{{{scope.filter(f'kube_namespace:{name}', 'reason:crashloopbackoff')}}} "
            "by {kube_container_name} >= 1"
        ),
        message=scope.message(
            f"A container of {name} keeps crashing. Kubernetes restarts it, which hides the failure.",
            "Read the container's last logs and recent deploys; roll back if a deploy started it.",
            "crashloopbackoff",
        ),
        tags=scope.tags(name, team),
        critical=1,
        priority=2,
    )


def _service_monitors(scope: MonitorScope, name: str, service: ServiceSpec) -> list[MonitorSpec]:
    specs = [_crash_loop(scope, name, service.team)]
    for kind in KINDS:
        spec = getattr(service, kind.key)
        if spec:
            specs += kind.monitors(scope, name, service.team, spec)
    return specs


def _cluster_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    return [*_node_monitors(scope), *_heartbeats(scope)]


def _node_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    t = scope.settings.thresholds
    tags = scope.tags("platform", scope.settings.team)
    env = scope.environment
    return [
        MonitorSpec(
            key="node-not-ready",
            name=f"[{env}] a node is not Ready",
            # Ready is `false` on a failing node and `unknown` on a dead or
            # partitioned one (its kubelet stopped reporting): anything but `true`.
            query=(
                f"min(last_{t.node_not_ready_minutes}m):sum:kubernetes_state.node.by_condition"
                f"{{{scope.filter('condition:ready', '!status:true')}}} by {{node}} > 0"
            ),
            message=scope.message(
                f"A node has not been Ready (NotReady or Unknown) for {t.node_not_ready_minutes} minutes. "
                "Its pods are being moved elsewhere.",
                "If it does not recover, AKS node auto-repair replaces it; check the node's events.",
                "node-not-ready",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
        MonitorSpec(
            key="nodes-unschedulable",
            name=f"[{env}] a node has stayed unschedulable",
            # Per node: a rolling upgrade cordons each node for minutes, never one for this long.
            query=(
                f"min(last_{t.nodes_unschedulable_minutes}m):sum:kubernetes_state.node.status"
                f"{{{scope.filter('status:unschedulable')}}} by {{node}} > 0"
            ),
            message=scope.message(
                f"A node has been cordoned for {t.nodes_unschedulable_minutes} minutes, longer than an upgrade.",
                "Find a stuck drain (often a PodDisruptionBudget) and uncordon or finish it.",
                "nodes-unschedulable",
            ),
            tags=tags,
            critical=0,
            priority=3,
        ),
        MonitorSpec(
            key="agent-missing",
            name=f"[{env}] Datadog agent missing on a node",
            query=(
                f"min(last_{t.agent_missing_minutes}m):"
                f"sum:kubernetes_state.daemonset.desired{{{scope.filter(f'kube_daemon_set:{AGENT_DAEMONSET}')}}} - "
                f"sum:kubernetes_state.daemonset.ready{{{scope.filter(f'kube_daemon_set:{AGENT_DAEMONSET}')}}} > 0"
            ),
            message=scope.message(
                "A node has no ready Datadog agent, so nothing on it is monitored.",
                "Describe the agent pod on that node: image pull, resources or a crash.",
                "agent-missing",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
    ]


def _heartbeats(scope: MonitorScope) -> list[MonitorSpec]:
    """Monitors whose silence is the alert: without them a dead agent or a dead
    kube-state-metrics check makes every other monitor quietly stop evaluating."""
    minutes = scope.settings.thresholds.heartbeat_minutes
    tags = scope.tags("platform", scope.settings.team)
    env = scope.environment
    return [
        MonitorSpec(
            key="ksm-heartbeat",
            name=f"[{env}] kube-state-metrics reports nothing",
            # node.count exists whenever the check runs and the cluster has a node.
            query=f"max(last_{minutes}m):sum:kubernetes_state.node.count{{{scope.filter()}}} < 1",
            message=scope.message(
                "kube-state-metrics core (in the Cluster Agent) has stopped reporting, so no cluster monitor can fire.",
                "Check the Cluster Agent: `kubectl -n datadog get deploy datadog-cluster-agent`, then "
                "`datadog-cluster-agent status` in its leader pod.",
                "ksm-heartbeat",
            ),
            tags=tags,
            critical=1,
            priority=1,
            notify_no_data=True,
            no_data_timeframe=2 * minutes,
        ),
        MonitorSpec(
            key="agent-heartbeat",
            name=f"[{env}] no Datadog node agent reports",
            query=f"max(last_{minutes}m):sum:datadog.agent.running{{{scope.filter()}}} < 1",
            message=scope.message(
                "No node agent of the cluster has reported for a while: no metrics, logs or traces arrive.",
                "Check the agent DaemonSet (`kubectl -n datadog get ds datadog-agent`) and the API key.",
                "agent-heartbeat",
            ),
            tags=tags,
            critical=1,
            priority=1,
            notify_no_data=True,
            no_data_timeframe=2 * minutes,
        ),
    ]


def monitor_specs(
    settings: DatadogSettings, services: dict[str, ServiceSpec], cluster_name: str, environment: str
) -> list[MonitorSpec]:
    """Every monitor of a stack: per-service ones (by kind), then cluster-wide ones."""
    scope = MonitorScope(cluster=cluster_name, environment=environment, settings=settings)
    specs: list[MonitorSpec] = []
    for name, service in sorted(services.items()):
        specs += _service_monitors(scope, name, service)
    return specs + _cluster_monitors(scope)
