"""Config models shared by every kind of workload (web, worker, jobs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from pydantic import Field, model_validator

from settings.base import Model
from settings.types import Quantity, quantity_value


class Resources(Model):
    """Requests and a memory limit. No CPU limit: throttling hurts latency more
    than it protects neighbours when requests are set honestly."""

    cpu: Quantity = Field("100m", description="CPU request.")
    memory: Quantity = Field("128Mi", description="Memory request.")
    memory_limit: Quantity = Field("256Mi", description="Memory limit; the container is OOM-killed above it.")

    def footprint(self) -> Footprint:
        """What one container of these resources counts against the namespace quota."""
        return Footprint(
            pods=0,
            cpu=quantity_value(self.cpu),
            memory=quantity_value(self.memory),
            memory_limit=quantity_value(self.memory_limit),
        )


class AppResources(Resources):
    cpu: Quantity = Field("250m", description="CPU request.")
    memory: Quantity = Field("256Mi", description="Memory request.")
    memory_limit: Quantity = Field("512Mi", description="Memory limit; the container is OOM-killed above it.")


class ScalingBehavior(Model):
    """How fast the HorizontalPodAutoscaler moves (autoscaling/v2 `behavior`). The defaults
    are Kubernetes' own (kubernetes/website content/en/docs/tasks/run-application/
    horizontal-pod-autoscale.md, "Default Behavior"): scale up at once, scale down only
    after five minutes of lower load, by at most all pods per 15 s."""

    scale_up_stabilization_seconds: int = Field(
        0, ge=0, le=3600, description="Look back this long and scale up only to the lowest recommendation seen."
    )
    scale_down_stabilization_seconds: int = Field(
        300, ge=0, le=3600, description="Look back this long and scale down only to the highest recommendation seen."
    )
    scale_down_percent: int = Field(
        100, ge=1, le=100, description="At most this share of the pods goes per scaleDownPeriodSeconds."
    )
    scale_down_period_seconds: int = Field(15, ge=1, le=1800, description="The period scaleDownPercent applies to.")


class Autoscaling(Model):
    """Bounds of the HorizontalPodAutoscaler, which owns the replica count."""

    min_replicas: int = Field(2, ge=1, le=100, description="Replicas at rest; 2+ keeps the app up through a node loss.")
    max_replicas: int = Field(4, ge=1, le=100, description="Upper bound the HPA may scale to.")
    cpu_target_percent: int = Field(70, ge=10, le=95, description="Average CPU utilisation the HPA aims for.")
    behavior: ScalingBehavior = Field(
        default_factory=ScalingBehavior, description="Stabilization windows and the scale-down rate."
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        """`minReplicas` does not exceed `maxReplicas`."""
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


MAX_SURGE_PATTERN = r"^([1-9][0-9]?%|100%|[1-9][0-9]*)$"


def surge_pods(max_surge: str, replicas: int) -> int:
    """Extra pods a rollout of `replicas` may add. A percentage is rounded up
    ("Absolute number is calculated from percentage by rounding up": the 1.34
    OpenAPI schema, io.k8s.api.apps.v1.RollingUpdateDeployment.maxSurge)."""
    if max_surge.endswith("%"):
        return math.ceil(replicas * int(max_surge[:-1]) / 100)
    return int(max_surge)


@dataclass(frozen=True)
class Footprint:
    """What a set of pods counts against a ResourceQuota: pods, CPU requests (cores),
    memory requests and memory limits (bytes). A kind's spec says what its peak is;
    the service adds them up and checks the sum against its quota."""

    pods: int
    cpu: Fraction
    memory: Fraction
    memory_limit: Fraction
    how: str = ""
    """How the peak was counted, for an error message a person can act on."""

    @staticmethod
    def nothing() -> Footprint:
        return Footprint(pods=0, cpu=Fraction(0), memory=Fraction(0), memory_limit=Fraction(0))

    def describe(self) -> str:
        cpu, memory, limit = format_cpu(self.cpu), format_memory(self.memory), format_memory(self.memory_limit)
        return f"{cpu} CPU, {memory} requested, {limit} limit"

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.pods + other.pods,
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.memory_limit + other.memory_limit,
            "; ".join(part for part in (self.how, other.how) if part),
        )

    def times(self, count: int, how: str = "") -> Footprint:
        return Footprint(
            self.pods * count, self.cpu * count, self.memory * count, self.memory_limit * count, how or self.how
        )


def pod_footprint(*containers: Resources) -> Footprint:
    """One pod made of these containers."""
    total = Footprint.nothing()
    for resources in containers:
        total += resources.footprint()
    return Footprint(1, total.cpu, total.memory, total.memory_limit)


def deployment_peak(pod: Footprint, scaling: Autoscaling, max_surge: str, kind: str) -> Footprint:
    """A Deployment at the HPA's maximum in the middle of a rollout: maxReplicas plus the surge."""
    surge = surge_pods(max_surge, scaling.max_replicas)
    pods = scaling.max_replicas + surge
    return pod.times(
        pods, f"{kind} {pods} pods (maxReplicas {scaling.max_replicas} + surge {surge}) x {pod.describe()}"
    )


def format_cpu(cores: Fraction) -> str:
    return f"{math.ceil(cores * 1000)}m"


def format_memory(size: Fraction) -> str:
    return f"{math.ceil(size / 2**20)}Mi"
