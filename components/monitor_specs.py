"""What the platform's Datadog monitors watch, as plain data.

Kept apart from the DatadogMonitors component so the monitor set can be
built and tested without importing pulumi_datadog (about 11 s and 240 MB)."""

from __future__ import annotations

from components.kinds.registry import KINDS
from components.monitoring import MonitorScope, MonitorSpec
from settings.model import DatadogSettings, ServiceSpec

AGENT_DAEMONSET = "datadog-agent"


def _crash_loop(scope: MonitorScope, name: str, team: str) -> MonitorSpec:
    """Any container of the service: whatever its kind, a crash loop hides behind restarts."""
    t = scope.settings.thresholds
    return MonitorSpec(
        key=f"{name}-crashloop",
        name=f"[{scope.environment}] {name}: a container is in CrashLoopBackOff",
        query=(
            f"max(last_{t.crash_loop_minutes}m):max:kubernetes_state.container.status_report.count.waiting"
            f"{{{scope.filter(f'kube_namespace:{name}', 'reason:crashloopbackoff')}}} "
            "by {kube_deployment,kube_container_name} >= 1"
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
    t = scope.settings.thresholds
    team = scope.settings.team
    tags = scope.tags("platform", team)
    env = scope.environment
    return [
        MonitorSpec(
            key="node-not-ready",
            name=f"[{env}] a node is not Ready",
            query=(
                f"max(last_{t.node_not_ready_minutes}m):sum:kubernetes_state.node.by_condition"
                f"{{{scope.filter('condition:ready', 'status:false')}}} by {{kube_node}} > 0"
            ),
            message=scope.message(
                "A node has reported NotReady. Its pods are being moved elsewhere.",
                "If it does not recover, AKS node auto-repair replaces it; check the node's events.",
                "node-not-ready",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
        MonitorSpec(
            key="nodes-unschedulable",
            name=f"[{env}] nodes are unschedulable",
            query=(
                f"min(last_{t.nodes_unschedulable_minutes}m):sum:kubernetes_state.node.status"
                f"{{{scope.filter('status:unschedulable')}}} > 0"
            ),
            message=scope.message(
                f"Nodes have been cordoned for {t.nodes_unschedulable_minutes} minutes, longer than an upgrade.",
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


def monitor_specs(
    settings: DatadogSettings, services: dict[str, ServiceSpec], cluster_name: str, environment: str
) -> list[MonitorSpec]:
    """Every monitor of a stack: per-service ones (by kind), then cluster-wide ones."""
    scope = MonitorScope(cluster=cluster_name, environment=environment, settings=settings)
    specs: list[MonitorSpec] = []
    for name, service in sorted(services.items()):
        specs += _service_monitors(scope, name, service)
    return specs + _cluster_monitors(scope)
