"""BatchJob: one scheduled job of a service, as a hardened CronJob."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.pod_spec import (
    WORKLOAD_CHECKOV_SKIPS,
    checkov_annotations,
    container_resources,
    container_security_context,
    image_tag,
    plain_env,
    pod_security_context,
    secret_env,
    standard_labels,
)
from settings.model import BatchJob as BatchJobSettings


@dataclass(frozen=True)
class BatchJobArgs:
    service: str
    team: str
    namespace: pulumi.Input[str]
    job: BatchJobSettings
    default_image: str
    environment: str
    secret_names: tuple[str, ...] = ()
    """Secret variables of the service this job also receives."""
    secret_name: pulumi.Input[str] | None = None
    """The service's Secret holding them."""


class BatchJob(pulumi.ComponentResource):
    """A CronJob with a validated schedule, no overlapping runs by default,
    bounded retries and run time, and the same hardening as the web app."""

    cron_job_name: pulumi.Output[str]

    def __init__(self, name: str, args: BatchJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:BatchJob", name, None, opts)
        self._args = args
        cron_job = self._build_cron_job(name)
        self.cron_job_name = cron_job.metadata.name
        self.register_outputs({"cronJobName": self.cron_job_name})

    def _container(self) -> dict:
        a = self._args
        env = plain_env(a.job.env)
        if a.secret_names and a.secret_name is not None:
            env += secret_env(a.secret_name, list(a.secret_names))
        return {
            "name": "job",
            "image": a.job.image or a.default_image,
            "image_pull_policy": "Always",
            "command": list(a.job.command),
            "env": env,
            "resources": container_resources(a.job.resources),
            "security_context": container_security_context(),
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }

    def _pod_template(self) -> dict:
        a = self._args
        labels = {
            **standard_labels(a.service, "batch", a.team, image_tag(a.job.image or a.default_image)),
            "tags.datadoghq.com/env": a.environment,
            "platform/job": a.job.name,
        }
        return {
            "metadata": {"labels": labels},
            "spec": {
                "restart_policy": a.job.restart_policy,
                "automount_service_account_token": False,
                "enable_service_links": False,
                "security_context": pod_security_context(),
                "containers": [self._container()],
                "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}],
            },
        }

    def _build_cron_job(self, name: str) -> k8s.batch.v1.CronJob:
        a = self._args
        job = a.job
        labels = {
            **standard_labels(a.service, "batch", a.team),
            "tags.datadoghq.com/env": a.environment,
            "platform/job": job.name,
        }
        return k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata={
                "name": job.name,
                "namespace": a.namespace,
                "labels": labels,
                "annotations": checkov_annotations(WORKLOAD_CHECKOV_SKIPS),
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
            opts=pulumi.ResourceOptions(parent=self),
        )
