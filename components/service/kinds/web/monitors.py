"""Monitors of the web kind."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from components.service.deployment_monitors import deployment_monitors
from settings.service.kinds.web import WebSpec


def monitors(scope: MonitorScope, service: str, team: str, spec: WebSpec) -> list[MonitorSpec]:
    # Keys keep the names they had before kinds existed, so no monitor is recreated.
    return deployment_monitors(scope, service, team, "web", spec.autoscaling, key_prefix=service)
