"""The monitors every long-running kind (web, worker) brings for its Deployment."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from settings.service.workload import Autoscaling


def deployment_monitors(
    scope: MonitorScope, service: str, team: str, deployment: str, scaling: Autoscaling, key_prefix: str
) -> list[MonitorSpec]:
    """Running short of replicas, and pinned at the autoscaler's maximum: what
    every long-running kind (web, worker) is watched for."""
    t = scope.settings.thresholds
    ns = f"kube_namespace:{service}"
    scoped = scope.filter(ns, f"kube_deployment:{deployment}")
    # The HPA carries the Deployment's name (see components/service/deployment.py).
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
            # A new Deployment starts with none available: judged once its first window is full.
            new_group_delay=t.replicas_unavailable_minutes * 60,
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
            # A new autoscaler may start at its max (a service first deployed under load).
            new_group_delay=t.hpa_at_max_minutes * 60,
        ),
    ]
