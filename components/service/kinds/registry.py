"""The registry of service kinds: the one list a new kind is added to.

A kind is a field of the service config (`ServiceSpec`), a function that
builds its component(s) under the Service, and a function that lists its
Datadog monitors. The Service and the monitor set iterate over KINDS and know
nothing of any particular kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from components.service.kinds.jobs import component as jobs_component
from components.service.kinds.jobs import monitors as jobs_monitors
from components.service.kinds.web import component as web_component
from components.service.kinds.web import monitors as web_monitors
from components.service.kinds.worker import component as worker_component
from components.service.kinds.worker import monitors as worker_monitors
from components.service.workload import KindContext


@dataclass(frozen=True)
class Kind:
    key: str
    """The ServiceSpec field that holds this kind's spec; empty or null means the service has none."""
    build: Callable[[str, Any, KindContext, pulumi.ResourceOptions], Any]
    monitors: Callable[[MonitorScope, str, str, Any], list[MonitorSpec]]


KINDS: tuple[Kind, ...] = (
    Kind("web", web_component.build, web_monitors.monitors),
    Kind("worker", worker_component.build, worker_monitors.monitors),
    Kind("jobs", jobs_component.build, jobs_monitors.monitors),
)
