"""Monitors of the jobs kind: the last run of a CronJob failed, and a job that has not run in time."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from settings.service.kinds.jobs import BatchJobSpec

# Evaluation window of the late-job monitors, and the silence that pages: twice
# the window, Datadog's recommendation (datadog-api-client-python monitor_options.py).
LATE_WINDOW_MINUTES = 15


def monitors(scope: MonitorScope, service: str, team: str, jobs: list[BatchJobSpec]) -> list[MonitorSpec]:
    if not jobs:
        return []
    tags = scope.tags(service, team)
    env = scope.environment
    specs = [
        # The KSM check's service check for the LAST job of each CronJob: CRITICAL
        # when it failed, OK when it completed (DataDog/datadog-agent
        # pkg/collector/corechecks/cluster/ksm/kubernetes_state_aggregators.go
        # lastCronJobAggregator). So one failed run alerts, and the next success
        # resolves it; a run that retried and then succeeded never alerts.
        MonitorSpec(
            key=f"{service}-job-failed",
            name=f"[{env}] {service}: the last run of a batch job failed",
            type="service check",
            query=scope.service_check(
                "kubernetes_state.cronjob.complete", over=(f"kube_namespace:{service}",), by=("kube_cronjob",), last=1
            ),
            message=scope.message(
                f"The last run of a {service} batch job failed after its retries; a later success clears this.",
                "Read the failed Job's pod logs; re-run it with `kubectl create job --from=cronjob/<name>`.",
                "batch-job-failed",
            ),
            tags=tags,
            critical=1,
            ok=1,
            priority=2,
        )
    ]
    ns = f"kube_namespace:{service}"
    for job in jobs:
        hours = job.expected_success_window_hours
        specs.append(
            MonitorSpec(
                key=f"{service}-{job.name}-late",
                name=f"[{env}] {service}: batch job {job.name} has not run within {hours}h",
                query=(
                    f"max(last_{LATE_WINDOW_MINUTES}m):max:kubernetes_state.cronjob.duration_since_last_schedule"
                    f"{{{scope.filter(ns, f'kube_cronjob:{job.name}')}}} > {hours * 3600}"
                ),
                message=scope.message(
                    f"{job.name} ({job.schedule} {job.time_zone}) has not started a run for {hours} hours, "
                    "so it cannot have succeeded (or nothing reports on it any more).",
                    "Check whether the CronJob is suspended, missed its starting deadline, or is blocked by "
                    "a run that never finishes; on no data, check the Cluster Agent.",
                    "batch-job-late",
                ),
                tags=(*tags, f"job:{job.name}"),
                critical=hours * 3600,
                priority=3,
                # Silence is the same failure: a CronJob nobody reports on cannot be known to run.
                notify_no_data=True,
                no_data_timeframe=2 * LATE_WINDOW_MINUTES,
            )
        )
    return specs
