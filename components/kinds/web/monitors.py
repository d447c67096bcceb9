"""Monitors of the web kind."""

from __future__ import annotations

from components.kinds.web.spec import WebSpec
from components.monitoring import MonitorScope, MonitorSpec, deployment_monitors


def monitors(scope: MonitorScope, service: str, team: str, spec: WebSpec) -> list[MonitorSpec]:
    # Keys keep the names they had before kinds existed, so no monitor is recreated.
    return deployment_monitors(scope, service, team, "web", spec.autoscaling, key_prefix=service)
