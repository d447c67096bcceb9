"""Monitors of the worker kind."""

from __future__ import annotations

from components.kinds.worker.spec import WorkerSpec
from components.monitoring import MonitorScope, MonitorSpec, deployment_monitors


def monitors(scope: MonitorScope, service: str, team: str, spec: WorkerSpec) -> list[MonitorSpec]:
    return deployment_monitors(scope, service, team, "worker", spec.autoscaling, key_prefix=f"{service}-worker")
