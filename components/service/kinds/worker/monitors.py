"""Monitors of the worker kind."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from components.service.deployment_monitors import deployment_monitors
from settings.service.kinds.worker import WorkerSpec


def monitors(scope: MonitorScope, service: str, team: str, spec: WorkerSpec) -> list[MonitorSpec]:
    return deployment_monitors(scope, service, team, "worker", spec.autoscaling, key_prefix=f"{service}-worker")
