"""Building blocks of every long-running kind (web, worker): a Deployment
that never drops capacity during a rollout, the HPA that owns its replica
count, and the PDB that keeps node drains from taking it down.
Not a component: functions that create resources under the caller."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.hardening import checkov_annotations, pod_security_context
from components.kubernetes.runtime import PodRuntime
from components.kubernetes.storage import with_ephemeral_storage
from components.service.pod_spec import WORKLOAD_CHECKOV_SKIPS
from components.service.workload import WorkloadIdentity
from settings.service.workload import Autoscaling


def topology_spread(identity: WorkloadIdentity, across_zones: bool) -> list[dict[str, Any]]:
    keys = ["kubernetes.io/hostname"]
    if across_zones:
        keys.append("topology.kubernetes.io/zone")
    selector = {"match_labels": identity.selector()}
    # ScheduleAnyway: spreading is a preference; it must never block a rollout.
    return [
        {"max_skew": 1, "topology_key": key, "when_unsatisfiable": "ScheduleAnyway", "label_selector": selector}
        for key in keys
    ]


def hardened_pod(
    identity: WorkloadIdentity, containers: list[dict], volumes: list[dict], *, runtime: PodRuntime, **extra: Any
) -> dict[str, Any]:
    """A pod spec with the platform's defaults: no API token, no service links, restricted security context,
    each container's ephemeral storage bounded by the emptyDirs it mounts; then the cluster's `runtime`
    (images, placement) applied, the one place every kind's pods pass."""
    return runtime.adapt(
        with_ephemeral_storage(
            {
                "automount_service_account_token": False,
                "enable_service_links": False,
                "security_context": pod_security_context(),
                "containers": containers,
                "volumes": volumes,
                **extra,
            }
        )
    )


def build_deployment(
    resource_name: str,
    identity: WorkloadIdentity,
    pod: dict[str, Any],
    max_surge: str,
    opts: pulumi.ResourceOptions,
    template_annotations: dict[str, pulumi.Input[str]] | None = None,
) -> k8s.apps.v1.Deployment:
    assert identity.component
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata=identity.metadata(identity.component, annotations=checkov_annotations(WORKLOAD_CHECKOV_SKIPS)),
        spec={
            # No `replicas`: the HPA owns the count, and a value here
            # would reset it on every deploy.
            "selector": {"match_labels": identity.selector()},
            "strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 0, "max_surge": max_surge}},
            "revision_history_limit": 5,
            "min_ready_seconds": 5,
            "template": {
                "metadata": {
                    "labels": identity.pod_labels(),
                    **({"annotations": template_annotations} if template_annotations else {}),
                },
                "spec": pod,
            },
        },
        opts=opts,
    )


def build_autoscaler(
    resource_name: str,
    identity: WorkloadIdentity,
    deployment: k8s.apps.v1.Deployment,
    scaling: Autoscaling,
    opts: pulumi.ResourceOptions,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        resource_name,
        metadata=identity.metadata(identity.component),
        spec={
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment.metadata.name},
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "average_utilization": scaling.cpu_target_percent},
                    },
                }
            ],
            "behavior": _behavior(scaling),
        },
        opts=opts,
    )


def _behavior(scaling: Autoscaling) -> dict[str, Any]:
    b = scaling.behavior
    return {
        "scale_up": {"stabilization_window_seconds": b.scale_up_stabilization_seconds},
        "scale_down": {
            "stabilization_window_seconds": b.scale_down_stabilization_seconds,
            "policies": [
                {"type": "Percent", "value": b.scale_down_percent, "period_seconds": b.scale_down_period_seconds}
            ],
        },
    }


def build_disruption_budget(
    resource_name: str, identity: WorkloadIdentity, opts: pulumi.ResourceOptions
) -> k8s.policy.v1.PodDisruptionBudget:
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=identity.metadata(identity.component),
        # maxUnavailable rather than minAvailable: with one replica a
        # minAvailable of 1 would block every node drain forever. AlwaysAllow:
        # a pod that is running but not ready (crash-looping) may be evicted
        # whatever the budget, so it cannot block a drain and an AKS upgrade
        # (policy/v1 PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy; feature
        # gate PDBUnhealthyPodEvictionPolicy GA in 1.31, kubernetes/website
        # content/en/docs/reference/command-line-tools-reference/feature-gates/PDBUnhealthyPodEvictionPolicy.md).
        spec={
            "max_unavailable": 1,
            "unhealthy_pod_eviction_policy": "AlwaysAllow",
            "selector": {"match_labels": identity.selector()},
        },
        opts=opts,
    )
