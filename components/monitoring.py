"""The shape of a Datadog monitor as plain data, and the scope every monitor
of a stack shares. Kept apart from the DatadogMonitors component so monitors
are built and tested without importing pulumi_datadog (about 11 s, 240 MB)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from settings.model import DatadogSettings
from settings.workload import Autoscaling

MonitorType = Literal["query alert", "service check"]


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
    type: MonitorType = "query alert"
    """A metric query, or a `"check".over(...).last(n).by(...).count_by_status()` service-check query."""
    ok: float | None = None
    """Service checks only: how many OK runs resolve the alert."""
    notify_no_data: bool = False
    """Page when the data stops: for heartbeats, where silence is the failure."""
    no_data_timeframe: int | None = None
    """Minutes of silence before a no-data alert; set whenever notify_no_data is."""


@dataclass(frozen=True)
class MonitorScope:
    cluster: str
    environment: str
    settings: DatadogSettings

    def filter(self, *extra: str) -> str:
        return ",".join([f"kube_cluster_name:{self.cluster}", *extra])

    def service_check(self, check: str, over: tuple[str, ...], by: tuple[str, ...], last: int) -> str:
        """A service-check query in the documented form `"check".over(tags).last(n).by(group).count_by_status()`
        (DataDog/datadog-api-client-python monitors_api.py create_monitor)."""
        quoted = lambda tags: ",".join(f'"{tag}"' for tag in tags)  # noqa: E731
        scope = quoted((f"kube_cluster_name:{self.cluster}", *over))
        return f'"{check}".over({scope}).last({last}).by({quoted(by)}).count_by_status()'

    def tags(self, service: str, team: str) -> tuple[str, ...]:
        return (f"env:{self.environment}", f"service:{service}", f"team:{team}", "managed-by:pulumi")

    def message(self, problem: str, what_to_do: str, runbook: str) -> str:
        handles = " ".join(self.settings.notify)
        link = f"{self.settings.runbook_url}#runbook-{runbook}"
        return (
            f"{problem}\n\n{what_to_do}\n\nRunbook: {link}\nCluster: {self.cluster} ({self.environment})\n\n{handles}"
        ).strip()


def deployment_monitors(
    scope: MonitorScope, service: str, team: str, deployment: str, scaling: Autoscaling, key_prefix: str
) -> list[MonitorSpec]:
    """Running short of replicas, and pinned at the autoscaler's maximum: what
    every long-running kind (web, worker) is watched for."""
    t = scope.settings.thresholds
    ns = f"kube_namespace:{service}"
    scoped = scope.filter(ns, f"kube_deployment:{deployment}")
    # The HPA carries the Deployment's name (see components/deployment.py).
    hpa = scope.filter(ns, f"horizontalpodautoscaler:{deployment}")
    tags = scope.tags(service, team)
    env = scope.environment
    specs = [
        MonitorSpec(
            key=f"{key_prefix}-replicas",
            name=f"[{env}] {service}: Deployment {deployment} has fewer available replicas than desired",
            query=(
                f"min(last_{t.replicas_unavailable_minutes}m):"
                f"sum:kubernetes_state.deployment.replicas_desired{{{scoped}}} by {{kube_deployment}} - "
                f"sum:kubernetes_state.deployment.replicas_available{{{scoped}}} by {{kube_deployment}} > 0"
            ),
            message=scope.message(
                f"{service}/{deployment} has been running short of replicas for {t.replicas_unavailable_minutes} "
                "minutes.",
                "Check for pods stuck Pending (quota, node capacity) or failing readiness.",
                "replicas-unavailable",
            ),
            tags=tags,
            critical=0,
            priority=2,
        )
    ]
    if scaling.min_replicas == scaling.max_replicas:
        # A fixed-size autoscaler is always "at max": that is the design, not an alert.
        return specs
    return [
        *specs,
        MonitorSpec(
            key=f"{key_prefix}-hpa-max",
            name=f"[{env}] {service}: {deployment} autoscaler pinned at max replicas",
            query=(
                f"min(last_{t.hpa_at_max_minutes}m):"
                f"sum:kubernetes_state.hpa.current_replicas{{{hpa}}} by {{horizontalpodautoscaler}} - "
                f"sum:kubernetes_state.hpa.max_replicas{{{hpa}}} by {{horizontalpodautoscaler}} >= 0"
            ),
            message=scope.message(
                f"{service}/{deployment} has run at its maximum replica count for {t.hpa_at_max_minutes} minutes.",
                f"Raise autoscaling.maxReplicas (now {scaling.max_replicas}) in the stack file, "
                "or find what drives the load.",
                "hpa-at-max",
            ),
            tags=tags,
            critical=0,
            priority=3,
        ),
    ]
