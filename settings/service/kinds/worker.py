"""Config of the `worker` kind: a long-running process with no Service, no
Ingress and no web port, such as a queue consumer."""

from __future__ import annotations

from pydantic import Field, model_validator

from settings.base import Model
from settings.service.workload import (
    MAX_SURGE_PATTERN,
    AppResources,
    Autoscaling,
    Footprint,
    deployment_peak,
    pod_footprint,
)
from settings.types import EnvVarName, HttpPath, PinnedImage, Port


class WorkerProbe(Model):
    """How the kubelet tells the worker is alive and ready: a command that exits
    0 (`command`), or an HTTP health endpoint on a port no Service exposes."""

    command: list[str] = Field(default_factory=list, description="Run in the container; exit 0 means healthy.")
    path: HttpPath | None = Field(None, description="HTTP health path, served on `port`.")
    port: Port | None = Field(None, description="Port of the HTTP health endpoint.")

    @model_validator(mode="after")
    def _exactly_one_way(self) -> WorkerProbe:
        """The probe is either `command`, or `path` with `port`."""
        has_command, has_http = bool(self.command), self.path is not None or self.port is not None
        if has_command == has_http:
            raise ValueError("set either `command` or both `path` and `port`, not both and not neither")
        if has_http and (self.path is None or self.port is None):
            raise ValueError("an HTTP probe needs both `path` and `port`")
        return self


class WorkerSpec(Model):
    """A long-running Deployment with its own probes and autoscaling."""

    image: PinnedImage = Field(description="Worker image, pinned by tag or digest.")
    command: list[str] = Field(default_factory=list, description="Overrides the image entrypoint when set.")
    args: list[str] = Field(default_factory=list, description="Arguments to the command.")
    env: dict[EnvVarName, str] = Field(default_factory=dict, description="Plain environment variables.")
    probe: WorkerProbe = Field(description="Liveness/readiness check; every container must have one.")
    resources: AppResources = Field(default_factory=AppResources, description="Requests and memory limit.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="The HPA that owns the replica count.")
    max_surge: str = Field("25%", pattern=MAX_SURGE_PATTERN, description="Extra pods during a rollout.")
    termination_grace_period_seconds: int = Field(
        60, ge=1, le=3600, description="Time to finish the message in hand after SIGTERM before SIGKILL."
    )

    def peak_footprint(self) -> Footprint:
        """At the HPA's maximum, mid-rollout: what the namespace quota must hold for the worker."""
        return deployment_peak(pod_footprint(self.resources), self.autoscaling, self.max_surge, "worker")
