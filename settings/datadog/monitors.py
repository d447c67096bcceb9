"""How long each condition must last before a Datadog monitor alerts: `platform:datadog.thresholds`."""

from __future__ import annotations

from pydantic import Field

from settings.base import Model

# The longest a service-check monitor can wait: `last(n)` counts at most 100 check
# runs (the monitor API's create-monitor description, DataDog/datadog-api-client-python
# monitors_api.py), and kubernetes_state_core runs every 15 s, the agent's default check
# interval (DataDog/datadog-agent pkg/collector/check/defaults DefaultCheckInterval,
# main branch; the Cluster Agent's KSM config here sets no min_collection_interval).
SERVICE_CHECK_MAX_MINUTES = 100 * 15 // 60


class MonitorThresholds(Model):
    """How long each condition must last before a monitor alerts, in minutes."""

    crash_loop_minutes: int = Field(
        5,
        ge=1,
        le=1440,
        description="Window of the crash-loop monitor: a container that spent at least half of it waiting in "
        "CrashLoopBackOff alerts, and it clears once the container has run for half of it.",
    )
    replicas_unavailable_minutes: int = Field(10, ge=1, le=1440, description="A Deployment running short.")
    node_not_ready_minutes: int = Field(
        5,
        ge=1,
        le=SERVICE_CHECK_MAX_MINUTES,
        description=f"A node not Ready (NotReady or Unknown), in consecutive 15 s check runs; at most "
        f"{SERVICE_CHECK_MAX_MINUTES} (the 100 runs a service-check monitor can count).",
    )
    nodes_unschedulable_minutes: int = Field(30, ge=1, le=1440, description="Longer than a normal node upgrade.")
    agent_missing_minutes: int = Field(15, ge=1, le=1440, description="A node without a ready Datadog agent.")
    kubelet_unreadable_minutes: int = Field(
        5,
        ge=1,
        le=SERVICE_CHECK_MAX_MINUTES,
        description=f"A node agent whose kubelet check fails, in consecutive 15 s check runs; at most "
        f"{SERVICE_CHECK_MAX_MINUTES}.",
    )
    hpa_at_max_minutes: int = Field(30, ge=1, le=1440, description="An autoscaler pinned at maxReplicas.")
    heartbeat_minutes: int = Field(
        10, ge=1, le=720, description="Window of the agent and KSM heartbeats; silence for twice this pages."
    )
