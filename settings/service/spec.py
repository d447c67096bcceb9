"""One service: `platform:services.<name>`, with its quota, egress and kinds."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from settings.base import Model, RuleViolationError
from settings.service.egress import EgressRule
from settings.service.kinds.ingress import IngressTls
from settings.service.kinds.jobs import BatchJobSpec, jobs_peak_footprint, unique_job_names
from settings.service.kinds.web import WebSpec
from settings.service.kinds.worker import WorkerSpec
from settings.service.workload import Footprint, format_cpu, format_memory
from settings.types import EnvVarName, K8sName, Quantity, quantity_value


class Quota(Model):
    """Namespace ceiling, so one service cannot starve the others. It must hold
    the service's peak (checked before deploy, see ServiceSpec)."""

    requests_cpu: Quantity = Field("4", description="Sum of CPU requests of the namespace's pods.")
    requests_memory: Quantity = Field("8Gi", description="Sum of memory requests.")
    limits_memory: Quantity = Field("16Gi", description="Sum of memory limits.")
    pods: int = Field(50, ge=1, le=1000, description="Pods that are not finished, terminating ones included.")


class ServiceSpec(Model):
    """One service: a namespace and the workloads it runs, one field per kind
    (`web`, `worker`, `jobs`; see components/service/kinds/). Any mix of kinds works,
    but a service must run at least one."""

    team: K8sName = Field(description="Owning team; used in labels and monitor tags.")
    enabled: bool = Field(
        True, description="false leaves the service out of this stack (it is still validated, then dropped)."
    )
    secret_env: list[EnvVarName] = Field(
        default_factory=list,
        description=(
            "Names of secret values (serviceSecrets.<service>.<NAME>) every workload of the service "
            "gets as environment variables, from the service's one Kubernetes Secret."
        ),
    )
    web: WebSpec | None = Field(None, description="The admin web app: nginx + app server, autoscaled.")
    worker: WorkerSpec | None = Field(None, description="A long-running worker with no web port (queue consumer).")
    jobs: list[BatchJobSpec] = Field(default_factory=list, description="Scheduled batch jobs (CronJobs).")
    quota: Quota = Field(
        default_factory=Quota, description="The namespace's ceiling; it must hold the service's peak (checked)."
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        description="Where the service's pods may connect besides DNS and the Datadog agent; all else is denied.",
    )

    _unique_job_names = field_validator("jobs")(unique_job_names)

    @model_validator(mode="after")
    def _runs_something(self) -> ServiceSpec:
        """The service runs at least one of `web`, `worker`, `jobs`; a jobs-only service names each job's `image`."""
        if self.web is None and self.worker is None and not self.jobs:
            raise ValueError("runs nothing: give it at least one of `web`, `worker` or `jobs`")
        if self.default_image is None:
            for index, job in enumerate(self.jobs):
                if job.image is None:
                    raise RuleViolationError(
                        [(f"jobs[{index}].image", "is required: the service has no web app or worker to take it from")]
                    )
        return self

    @model_validator(mode="after")
    def _quota_holds_the_peak(self) -> ServiceSpec:
        """A quota that cannot hold the peak stalls a rollout (maxUnavailable 0 waits
        for surge pods the quota rejects) exactly when traffic is highest."""
        peak, quota = self.peak_footprint(), self.quota
        checks = (  # key, the peak, the quota's value, the peak as a person reads it
            ("pods", peak.pods, str(quota.pods), str(peak.pods)),
            ("requestsCpu", peak.cpu, quota.requests_cpu, format_cpu(peak.cpu)),
            ("requestsMemory", peak.memory, quota.requests_memory, format_memory(peak.memory)),
            ("limitsMemory", peak.memory_limit, quota.limits_memory, format_memory(peak.memory_limit)),
        )
        problems = [
            (
                f"quota.{key}",
                f"{limit} is below the peak of {need} ({peak.how}): raise it, or lower maxReplicas or requests",
            )
            for key, value, limit, need in checks
            if value > quantity_value(limit)
        ]
        if problems:
            raise RuleViolationError(problems)
        return self

    def peak_footprint(self) -> Footprint:
        """The worst moment: every long-running kind at maxReplicas plus its rollout
        surge, while every CronJob runs (see BatchJobSpec.runs_at_once)."""
        peak = jobs_peak_footprint(self.jobs)
        for kind in (self.web, self.worker):
            if kind is not None:
                peak = kind.peak_footprint() + peak
        return peak

    @property
    def default_image(self) -> str | None:
        """The image a job runs when it names none: the web app's, else the worker's."""
        if self.web is not None:
            return self.web.app.image
        return self.worker.image if self.worker is not None else None


def service_images(services: dict[str, ServiceSpec]) -> list[tuple[str, str]]:
    """(config key, image) of every container image the services run."""
    found = []
    for name, spec in services.items():
        if spec.web is not None:
            found += [(f"services.{name}.web.app.image", spec.web.app.image),
                      (f"services.{name}.web.nginx.image", spec.web.nginx.image)]  # fmt: skip
        if spec.worker is not None:
            found.append((f"services.{name}.worker.image", spec.worker.image))
        found += [(f"services.{name}.jobs[{i}].image", job.image) for i, job in enumerate(spec.jobs) if job.image]
    return found


def service_tls(services: dict[str, ServiceSpec]) -> list[tuple[str, IngressTls]]:
    """(config key, tls) of every web Ingress that serves TLS."""
    return [
        (f"services.{name}.web.ingress.tls", spec.web.ingress.tls)
        for name, spec in services.items()
        if spec.web is not None and spec.web.ingress is not None and spec.web.ingress.tls is not None
    ]
