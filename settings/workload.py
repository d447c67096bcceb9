"""Config models shared by every kind of workload (web, worker, jobs)."""

from __future__ import annotations

from pydantic import Field, model_validator

from settings.base import Model
from settings.types import Quantity


class Resources(Model):
    """Requests and a memory limit. No CPU limit: throttling hurts latency more
    than it protects neighbours when requests are set honestly."""

    cpu: Quantity = Field("100m", description="CPU request.")
    memory: Quantity = Field("128Mi", description="Memory request.")
    memory_limit: Quantity = Field("256Mi", description="Memory limit; the container is OOM-killed above it.")


class AppResources(Resources):
    cpu: Quantity = Field("250m", description="CPU request.")
    memory: Quantity = Field("256Mi", description="Memory request.")
    memory_limit: Quantity = Field("512Mi", description="Memory limit; the container is OOM-killed above it.")


class Autoscaling(Model):
    """Bounds of the HorizontalPodAutoscaler, which owns the replica count."""

    min_replicas: int = Field(2, ge=1, le=100, description="Replicas at rest; 2+ keeps the app up through a node loss.")
    max_replicas: int = Field(4, ge=1, le=100, description="Upper bound the HPA may scale to.")
    cpu_target_percent: int = Field(70, ge=10, le=95, description="Average CPU utilisation the HPA aims for.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


MAX_SURGE_PATTERN = r"^([1-9][0-9]?%|100%|[1-9][0-9]*)$"
