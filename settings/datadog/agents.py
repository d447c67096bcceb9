"""The Datadog node agents, the Cluster Agent and the monitors' switches: `platform:datadog`."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from settings.base import Model
from settings.datadog.monitors import MonitorThresholds
from settings.types import PinnedImage

DATADOG_SITES = (
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
)


class ClusterAgentSettings(Model):
    """The Datadog Cluster Agent: runs kube-state-metrics core and serves the node agents."""

    image: PinnedImage = Field("gcr.io/datadoghq/cluster-agent:7.81.1", description="Pinned Cluster Agent image.")
    replicas: int = Field(
        1,
        ge=1,
        le=3,
        description="Cluster Agent pods; one leads (runs the checks), the others stand by. >1 adds a PDB.",
    )


class DatadogSettings(Model):
    """The Datadog node agents, the Cluster Agent, and the monitors that watch the platform."""

    enabled: bool = Field(True, description="Deploy the agent and the monitors.")
    site: str = Field("datadoghq.com", description=f"Datadog site, one of {', '.join(DATADOG_SITES)}.")
    agent_image: PinnedImage = Field("gcr.io/datadoghq/agent:7.81.1", description="Pinned agent image.")
    logs_enabled: bool = Field(True, description="Collect container logs.")
    apm_enabled: bool = Field(
        False, description="Run the trace agent: apps send traces to the node-local Service on port 8126."
    )
    cluster_agent: ClusterAgentSettings = Field(
        default_factory=ClusterAgentSettings,
        description="The Cluster Agent: kube-state-metrics core and the node agents' API.",
    )
    team: str = Field("platform", min_length=1, description="team: tag on platform-level monitors.")
    monitors_enabled: bool = Field(True, description="Manage monitors in Datadog (needs an app key).")
    notify: list[str] = Field(
        default_factory=list, description="Handles every monitor notifies, e.g. '@slack-alerts' or '@pagerduty-oncall'."
    )
    thresholds: MonitorThresholds = Field(
        default_factory=MonitorThresholds, description="How long each condition lasts before its monitor alerts."
    )
    runbook_url: str = Field(
        "https://github.com/example-org/aks-platform/blob/main/docs/operations.md",
        pattern=r"^https://",
        description="The page whose Runbook sections every monitor message links to (docs/operations.md).",
    )

    @field_validator("site")
    @classmethod
    def _known_site(cls, site: str) -> str:
        """`site` is one of Datadog's sites."""
        if site not in DATADOG_SITES:
            raise ValueError(f"{site!r} is not a Datadog site: use one of {', '.join(DATADOG_SITES)}")
        return site

    @field_validator("notify")
    @classmethod
    def _handles(cls, handles: list[str]) -> list[str]:
        """Each `notify` entry is a Datadog handle such as '@slack-channel'."""
        for handle in handles:
            if not re.match(r"^@[\w.+\-@]+$", handle):
                raise ValueError(f"{handle!r} is not a Datadog notify handle like '@slack-channel'")
        return handles


def pinned_datadog_images() -> dict[str, str]:
    """The Datadog images the settings pin by default, by config key: the names the real
    node's stand-ins carry (devenv/images.py), so they follow the pins."""
    return {
        "datadog.agentImage": DatadogSettings.model_fields["agent_image"].default,
        "datadog.clusterAgent.image": ClusterAgentSettings.model_fields["image"].default,
    }
