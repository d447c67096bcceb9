"""What the platform's Datadog monitors watch, as plain data.

Kept apart from the DatadogMonitors component so the monitor set can be
built and tested without importing pulumi_datadog (about 11 s and 240 MB)."""

from __future__ import annotations

from dataclasses import dataclass

from settings.model import Datadog, Service

AGENT_DAEMONSET = "datadog-agent"


@dataclass(frozen=True)
class MonitorSpec:
    key: str
    """Stable logical name: the Pulumi resource name."""
    name: str
    query: str
    message: str
    tags: tuple[str, ...]
    critical: float
    priority: int


@dataclass(frozen=True)
class _Scope:
    cluster: str
    environment: str
    settings: Datadog

    def filter(self, *extra: str) -> str:
        return ",".join([f"kube_cluster_name:{self.cluster}", *extra])

    def tags(self, service: str, team: str) -> tuple[str, ...]:
        return (f"env:{self.environment}", f"service:{service}", f"team:{team}", "managed-by:pulumi")

    def message(self, problem: str, what_to_do: str, runbook: str) -> str:
        handles = " ".join(self.settings.notify)
        link = f"{self.settings.runbook_url}#runbook-{runbook}"
        return (
            f"{problem}\n\n{what_to_do}\n\nRunbook: {link}\nCluster: {self.cluster} ({self.environment})\n\n{handles}"
        ).strip()


def _service_monitors(scope: _Scope, name: str, service: Service) -> list[MonitorSpec]:
    t = scope.settings.thresholds
    ns = f"kube_namespace:{name}"
    tags = scope.tags(name, service.team)
    env = scope.environment
    specs = [
        MonitorSpec(
            key=f"{name}-crashloop",
            name=f"[{env}] {name}: a container is in CrashLoopBackOff",
            query=(
                f"max(last_{t.crash_loop_minutes}m):max:kubernetes_state.container.status_report.count.waiting"
                f"{{{scope.filter(ns, 'reason:crashloopbackoff')}}} by {{kube_deployment,kube_container_name}} >= 1"
            ),
            message=scope.message(
                f"A container of {name} keeps crashing. Kubernetes restarts it, which hides the failure.",
                "Read the container's last logs and recent deploys; roll back if a deploy started it.",
                "crashloopbackoff",
            ),
            tags=tags,
            critical=1,
            priority=2,
        ),
        MonitorSpec(
            key=f"{name}-replicas",
            name=f"[{env}] {name}: Deployment has fewer available replicas than desired",
            query=(
                f"min(last_{t.replicas_unavailable_minutes}m):"
                f"sum:kubernetes_state.deployment.replicas_desired{{{scope.filter(ns)}}} by {{kube_deployment}} - "
                f"sum:kubernetes_state.deployment.replicas_available{{{scope.filter(ns)}}} by {{kube_deployment}} > 0"
            ),
            message=scope.message(
                f"{name} has been running short of replicas for {t.replicas_unavailable_minutes} minutes.",
                "Check for pods stuck Pending (quota, node capacity) or failing readiness.",
                "replicas-unavailable",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
        MonitorSpec(
            key=f"{name}-hpa-max",
            name=f"[{env}] {name}: autoscaler pinned at max replicas",
            query=(
                f"min(last_{t.hpa_at_max_minutes}m):"
                f"sum:kubernetes_state.hpa.current_replicas{{{scope.filter(ns)}}} by {{horizontalpodautoscaler}} - "
                f"sum:kubernetes_state.hpa.max_replicas{{{scope.filter(ns)}}} by {{horizontalpodautoscaler}} >= 0"
            ),
            message=scope.message(
                f"{name} has run at its maximum replica count for {t.hpa_at_max_minutes} minutes.",
                "Raise autoscaling.maxReplicas in the stack file, or find what drives the load.",
                "hpa-at-max",
            ),
            tags=tags,
            critical=0,
            priority=3,
        ),
    ]
    if service.jobs:
        specs.append(
            MonitorSpec(
                key=f"{name}-job-failed",
                name=f"[{env}] {name}: a batch job failed",
                query=(
                    f"max(last_{t.job_failure_minutes}m):sum:kubernetes_state.job.failed"
                    f"{{{scope.filter(ns)}}} by {{kube_cronjob}} > 0"
                ),
                message=scope.message(
                    f"A run of a {name} batch job failed after its retries.",
                    "Read the failed Job's pod logs; re-run it with `kubectl create job --from=cronjob/<name>`.",
                    "batch-job-failed",
                ),
                tags=tags,
                critical=0,
                priority=2,
            )
        )
    for job in service.jobs:
        hours = job.expected_success_window_hours
        specs.append(
            MonitorSpec(
                key=f"{name}-{job.name}-late",
                name=f"[{env}] {name}: batch job {job.name} has not run within {hours}h",
                query=(
                    "max(last_15m):max:kubernetes_state.cronjob.duration_since_last_schedule"
                    f"{{{scope.filter(ns, f'kube_cronjob:{job.name}')}}} > {hours * 3600}"
                ),
                message=scope.message(
                    f"{job.name} ({job.schedule} {job.time_zone}) has not started a run for {hours} hours, "
                    "so it cannot have succeeded.",
                    "Check whether the CronJob is suspended, missed its starting deadline, or is blocked by "
                    "a run that never finishes.",
                    "batch-job-late",
                ),
                tags=(*tags, f"job:{job.name}"),
                critical=hours * 3600,
                priority=3,
            )
        )
    return specs


def _cluster_monitors(scope: _Scope) -> list[MonitorSpec]:
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
    settings: Datadog, services: dict[str, Service], cluster_name: str, environment: str
) -> list[MonitorSpec]:
    """Every monitor of a stack: per-service ones, then cluster-wide ones."""
    scope = _Scope(cluster=cluster_name, environment=environment, settings=settings)
    specs: list[MonitorSpec] = []
    for name, service in sorted(services.items()):
        specs += _service_monitors(scope, name, service)
    return specs + _cluster_monitors(scope)
