"""BatchJob: one scheduled job of a service, as a hardened CronJob."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.hardening import checkov_annotations, container_security_context
from components.kubernetes.runtime import PodRuntime
from components.service.deployment import hardened_pod
from components.service.pod_spec import WORKLOAD_CHECKOV_SKIPS, container_env, container_resources, image_tag
from components.service.workload import KindContext, SecretRef, WorkloadIdentity
from settings.service.kinds.jobs import BatchJobSpec

COMPONENT = "batch"


@dataclass(frozen=True)
class BatchJobArgs:
    identity: WorkloadIdentity
    """The service's identity; the job narrows it to its own component."""
    job: BatchJobSpec
    image: str
    """The job's own image, else the service's default."""
    secret: SecretRef | None = None
    pods: PodRuntime = field(default_factory=PodRuntime)
    """The cluster's images and placement for the pod (see PodRuntime)."""


class BatchJob(pulumi.ComponentResource):
    """A CronJob with a validated schedule, no overlapping runs by default,
    bounded retries and run time, and the same hardening as the web app."""

    cron_job_name: pulumi.Output[str]

    def __init__(self, name: str, args: BatchJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:BatchJob", name, None, opts)
        self._args = args
        self._identity = args.identity.of(COMPONENT, image_tag(args.image))
        cron_job = self._build_cron_job(name)
        self.cron_job_name = cron_job.metadata.name
        self.register_outputs({"cronJobName": self.cron_job_name})

    def _container(self) -> dict:
        a = self._args
        return {
            "name": "job",
            "image": a.image,
            "image_pull_policy": "Always",
            "command": list(a.job.command),
            "env": container_env(a.job.env, a.secret, self._identity),
            "resources": container_resources(a.job.resources),
            "security_context": container_security_context(),
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }

    def _pod_template(self) -> dict:
        job = self._args.job
        pod = hardened_pod(
            self._identity,
            containers=[self._container()],
            volumes=[{"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}],
            runtime=self._args.pods,
            restart_policy=job.restart_policy,
        )
        return {"metadata": {"labels": self._identity.pod_labels(**{"platform/job": job.name})}, "spec": pod}

    def _build_cron_job(self, name: str) -> k8s.batch.v1.CronJob:
        job = self._args.job
        labels = {**self._identity.labels(), "platform/job": job.name}
        depends_on = [self._args.secret.resource] if self._args.secret else []
        return k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata={
                **self._identity.metadata(job.name, annotations=checkov_annotations(WORKLOAD_CHECKOV_SKIPS)),
                "labels": labels,
            },
            spec={
                "schedule": job.schedule,
                "time_zone": job.time_zone,
                "concurrency_policy": job.concurrency_policy,
                "starting_deadline_seconds": job.starting_deadline_seconds,
                "successful_jobs_history_limit": job.successful_jobs_history_limit,
                "failed_jobs_history_limit": job.failed_jobs_history_limit,
                "job_template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoff_limit": job.backoff_limit,
                        "active_deadline_seconds": job.active_deadline_seconds,
                        "template": self._pod_template(),
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )


def build(name: str, jobs: list[BatchJobSpec], context: KindContext, opts: pulumi.ResourceOptions) -> list[BatchJob]:
    built = []
    for job in jobs:
        image = job.image or context.default_image
        assert image is not None, "the config model requires an image for jobs of a service without web or worker"
        built.append(
            BatchJob(
                f"{name}-{job.name}",
                BatchJobArgs(identity=context.identity, job=job, image=image, secret=context.secret, pods=context.pods),
                opts=opts,
            )
        )
    return built
