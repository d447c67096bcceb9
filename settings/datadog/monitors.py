"""How long each condition must last before a Datadog monitor alerts: `platform:datadog.thresholds`."""

from __future__ import annotations

from pydantic import Field

from settings.base import Model


class MonitorThresholds(Model):
    """How long each condition must last before a monitor alerts, in minutes."""

    crash_loop_minutes: int = Field(5, ge=1, le=1440, description="A container waiting in CrashLoopBackOff.")
    replicas_unavailable_minutes: int = Field(10, ge=1, le=1440, description="A Deployment running short.")
    job_failure_minutes: int = Field(15, ge=1, le=1440, description="Window in which a failed Job alerts.")
    node_not_ready_minutes: int = Field(5, ge=1, le=1440, description="A node not Ready (NotReady or Unknown).")
    nodes_unschedulable_minutes: int = Field(30, ge=1, le=1440, description="Longer than a normal node upgrade.")
    agent_missing_minutes: int = Field(15, ge=1, le=1440, description="A node without a ready Datadog agent.")
    hpa_at_max_minutes: int = Field(30, ge=1, le=1440, description="An autoscaler pinned at maxReplicas.")
    heartbeat_minutes: int = Field(
        10, ge=1, le=720, description="Window of the agent and KSM heartbeats; silence for twice this pages."
    )
