"""Monitors of the jobs kind: the last run of a CronJob failed, and a job that has not run in time."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from settings.service.kinds.jobs import BatchJobSpec

# Evaluation window of the late-job monitors. The value only grows between runs, so the window
# decides how soon a run resolves the alert (the largest value in the window must drop below the
# threshold), not when it fires.
LATE_WINDOW_MINUTES = 15

RERUN_COMMAND = 'kubectl create job -n {namespace} --from=cronjob/{job} "{job}-$(( $(date +%s) / 60 ))"'
"""The manual re-run the runbook and the alert give. The agent links a Job to its CronJob only by
a numeric suffix of at least 3 digits, and for `kubernetes_state.cronjob.complete` keeps the Job
with the LARGEST suffix (DataDog/datadog-agent pkg/util/kubernetes/helpers.go ParseCronJobForJob;
pkg/collector/corechecks/cluster/ksm/kubernetes_state_aggregators.go lastCronJobAggregator; main
branch). The CronJob controller names its runs `<cronjob>-<scheduled time in Unix minutes>`
(kubernetes/kubernetes pkg/controller/cronjob/utils.go getTimeHashInMinutes). The current Unix
minute is larger than every run scheduled so far, so the re-run counts as the latest, and smaller
than every later run, so a later scheduled failure still alerts. Unix SECONDS would outrank every
later run for the life of the Job and hide their failures."""


def monitors(scope: MonitorScope, service: str, team: str, jobs: list[BatchJobSpec]) -> list[MonitorSpec]:
    if not jobs:
        return []
    tags = scope.tags(service, team)
    env = scope.environment
    rerun = RERUN_COMMAND.format(namespace=service, job="<job>")
    specs = [
        # The KSM check's service check for the LAST job of each CronJob: CRITICAL
        # when it failed, OK when it completed (lastCronJobAggregator, above), sent on
        # every check run while a finished Job of the CronJob exists. So one failed run
        # alerts, and the next success resolves it; a run that retried and then
        # succeeded never alerts.
        MonitorSpec(
            key=f"{service}-job-failed",
            name=f"[{env}] {service}: the last run of a batch job failed",
            type="service check",
            query=scope.service_check(
                "kubernetes_state.cronjob.complete", over=(f"kube_namespace:{service}",), by=("kube_cronjob",), last=1
            ),
            message=scope.message(
                f"The last run of a {service} batch job failed after its retries; a later success clears this.",
                f"Read the failed Job's pod logs, fix, and re-run it with `{rerun}` (that name, so the "
                "agent counts it as the latest run).",
                "batch-job-failed",
            ),
            tags=tags,
            critical=1,
            ok=1,
            priority=2,
            # A failed CronJob that is deleted takes its Jobs with it and stops reporting: its
            # group resolves after a day. A failed Job that still exists reports CRITICAL on
            # every run, so a real failure never times out.
            timeout_h=24,
        )
    ]
    ns = f"kube_namespace:{service}"
    for job in jobs:
        hours = job.expected_success_window_hours
        specs.append(
            MonitorSpec(
                key=f"{service}-{job.name}-late",
                name=f"[{env}] {service}: batch job {job.name} has not run within {hours}h",
                # The series exists only once the CronJob has been scheduled (kube-state-metrics
                # internal/store/cronjob.go, lastScheduleTime != nil) and is now - lastScheduleTime
                # (kubernetes_state_transformers.go cronJobLastScheduleTransformer). No no-data
                # alert: a recreated or renamed CronJob has no series until its first run, which
                # would page for hours for nothing. Silence of the whole check pages through
                # `ksm-heartbeat`; a CronJob deleted outside the code is drift (docs/operations.md).
                query=(
                    f"max(last_{LATE_WINDOW_MINUTES}m):max:kubernetes_state.cronjob.duration_since_last_schedule"
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
