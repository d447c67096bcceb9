"""The shape of a Datadog monitor as plain data, and the scope every monitor
of a stack shares. Kept apart from the DatadogMonitors component so monitors
are built and tested without importing pulumi_datadog (about 11 s, 240 MB)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from settings.datadog.agents import DatadogSettings

MonitorType = Literal["query alert", "service check"]

# Options every monitor shares (components/datadog/monitors.py sets them; the simulator,
# tests/monitor_sim.py, models them):
REQUIRE_FULL_WINDOW = False
"""Evaluate partial windows: the series that matter here are sparse (a waiting reason exists only
while a container waits); Datadog "strongly recommends" false for sparse metrics (pulumi-datadog
5.17 monitor.py `require_full_window`)."""
RENOTIFY_MINUTES = 60
"""Re-notify an unresolved alert every hour ("It will only re-notify if it's not resolved", same
file, `renotify_interval`): every monitor here can resolve, tests/test_monitor_sim.py shows it."""

CHECK_RUNS_PER_MINUTE = 4
"""Check runs a minute: the agent's default check interval is 15 s (DataDog/datadog-agent
pkg/collector/check/defaults DefaultCheckInterval, main branch), for kubernetes_state_core in
the Cluster Agent and for the node agents' kubelet check alike (neither sets min_collection_interval)."""


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
    """Service checks only: how many consecutive OK runs resolve the alert."""
    warning: float | None = None
    """Service checks only: how many consecutive WARNING runs warn (a node whose Ready is `unknown`)."""
    notify_no_data: bool = False
    """Page when the data stops: for heartbeats, where silence is the failure."""
    no_data_timeframe: int | None = None
    """Minutes of silence before a no-data alert; set whenever notify_no_data is."""
    timeout_h: int | None = None
    """Hours without data after which a triggered group resolves by itself: for groups that can
    disappear while alerting (a deleted node, a deleted CronJob), never for a heartbeat."""
    new_group_delay: int | None = None
    """Seconds a new group is not evaluated ("The time (in seconds) to skip evaluations for new
    groups", pulumi-datadog 5.17 monitor.py `new_group_delay`): for a duration threshold over a
    group that starts out in the alerting condition (a new Deployment with no pod available yet),
    the window it must fill first; partial windows would otherwise alert at its first minute."""


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
