"""Monitors of the jobs kind: a failed run, and a job that has not run in time."""

from __future__ import annotations

from components.kinds.jobs.spec import BatchJobSpec
from components.monitoring import MonitorScope, MonitorSpec


def monitors(scope: MonitorScope, service: str, team: str, jobs: list[BatchJobSpec]) -> list[MonitorSpec]:
    if not jobs:
        return []
    t = scope.settings.thresholds
    ns = f"kube_namespace:{service}"
    tags = scope.tags(service, team)
    env = scope.environment
    specs = [
        MonitorSpec(
            key=f"{service}-job-failed",
            name=f"[{env}] {service}: a batch job failed",
            query=(
                f"max(last_{t.job_failure_minutes}m):sum:kubernetes_state.job.failed"
                f"{{{scope.filter(ns)}}} by {{kube_cronjob}} > 0"
            ),
            message=scope.message(
                f"A run of a {service} batch job failed after its retries.",
                "Read the failed Job's pod logs; re-run it with `kubectl create job --from=cronjob/<name>`.",
                "batch-job-failed",
            ),
            tags=tags,
            critical=0,
            priority=2,
        )
    ]
    for job in jobs:
        hours = job.expected_success_window_hours
        specs.append(
            MonitorSpec(
                key=f"{service}-{job.name}-late",
                name=f"[{env}] {service}: batch job {job.name} has not run within {hours}h",
                query=(
                    "max(last_15m):max:kubernetes_state.cronjob.duration_since_last_schedule"
                    f"{{{scope.filter(ns, f'kube_cronjob:{job.name}')}}} > {hours * 3600}"
                ),
                message=scope.message(
                    f"{job.name} ({job.schedule} {job.time_zone}) has not started a run for {hours} hours, "
                    "so it cannot have succeeded.",
                    "Check whether the CronJob is suspended, missed its starting deadline, or is blocked by "
                    "a run that never finishes.",
                    "batch-job-late",
                ),
                tags=(*tags, f"job:{job.name}"),
                critical=hours * 3600,
                priority=3,
            )
        )
    return specs
