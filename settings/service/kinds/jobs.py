"""Config of the `jobs` kind: a service's scheduled batch jobs (CronJobs)."""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field

from settings.base import Model
from settings.service.workload import AppResources, Footprint, pod_footprint
from settings.types import CronJobName, CronSchedule, EnvVarName, PinnedImage, TimeZone


class BatchJobSpec(Model):
    """One CronJob of a service."""

    name: CronJobName = Field(description="Job name, unique within the service; its CronJob's name.")
    schedule: CronSchedule = Field(description="5-field cron schedule, in timeZone.")
    time_zone: TimeZone = Field("Asia/Tokyo", description="IANA time zone the schedule is read in.")
    command: list[str] = Field(min_length=1, description="Command to run.")
    image: PinnedImage | None = Field(
        None, description="Defaults to the service's web app image, else its worker image."
    )
    env: dict[EnvVarName, str] = Field(default_factory=dict, description="Plain environment variables.")
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = Field(
        "Forbid", description="Forbid: a slow run is never overlapped by the next one."
    )
    starting_deadline_seconds: int = Field(300, ge=10, description="Skip a run that could not start within this.")
    successful_jobs_history_limit: int = Field(3, ge=0, le=100, description="Finished successful Jobs kept.")
    failed_jobs_history_limit: int = Field(3, ge=0, le=100, description="Failed Jobs kept, for their logs.")
    backoff_limit: int = Field(2, ge=0, le=20, description="Retries before the Job counts as failed.")
    active_deadline_seconds: int = Field(3600, ge=10, description="Kill a run that takes longer than this.")
    restart_policy: Literal["Never", "OnFailure"] = Field(
        "Never", description="'Never' retries in a new pod (up to backoffLimit); 'OnFailure' restarts in place."
    )
    success_window_hours: int | None = Field(
        None, ge=1, le=24 * 31, description="Alert when no run succeeded for this long; derived from the schedule."
    )
    resources: AppResources = Field(default_factory=AppResources, description="Requests and memory limit of its pod.")

    @property
    def expected_success_window_hours(self) -> int:
        """An hourly job is late after 2 h, anything else after a day and an hour."""
        if self.success_window_hours is not None:
            return self.success_window_hours
        hour_field = self.schedule.split()[1]
        return 2 if hour_field == "*" or hour_field.startswith("*/") else 25

    def runs_at_once(self) -> int:
        """How many runs of this CronJob can hold a pod at the same moment.
        Forbid: one. Replace: two, since the replaced run's pod still counts
        against the quota while it terminates. Allow: as many runs as fit in
        activeDeadlineSeconds at the schedule's shortest interval."""
        if self.concurrency_policy == "Forbid":
            return 1
        if self.concurrency_policy == "Replace":
            return 2
        return math.ceil(self.active_deadline_seconds / (shortest_interval_minutes(self.schedule) * 60))


def shortest_interval_minutes(schedule: str) -> int:
    """The shortest gap between two runs of a 5-field cron schedule, in minutes.
    The runs of one day are the minute x hour fields; the next run after a day's
    last one is at best the next day's first, so the day and month fields can
    only lengthen a gap, never shorten it."""
    minute, hour = schedule.split()[:2]
    times = sorted(h * 60 + m for h in _cron_values(hour, 0, 23) for m in _cron_values(minute, 0, 59))
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return min([*gaps, 24 * 60 - times[-1] + times[0]])


def _cron_values(field: str, low: int, high: int) -> set[int]:
    """Values of one numeric cron field ('*', '5', '1-5', '*/15', '0,30'), already validated."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        start, end = (low, high) if base in ("*", "?") else (int(base.split("-")[0]), int(base.split("-")[-1]))
        if step and base not in ("*", "?") and "-" not in base:
            end = high  # '5/15' means from 5 to the end of the range, every 15
        values.update(range(start, end + 1, int(step or 1)))
    return values


def jobs_peak_footprint(jobs: list[BatchJobSpec]) -> Footprint:
    """Every CronJob may fire at the same moment: the sum of their runs at once."""
    total = Footprint.nothing()
    for job in jobs:
        runs, pod = job.runs_at_once(), pod_footprint(job.resources)
        total += pod.times(runs, f"job {job.name} {runs} run(s) ({job.concurrency_policy}) x {pod.describe()}")
    return total


def unique_job_names(jobs: list[BatchJobSpec]) -> list[BatchJobSpec]:
    """Job names are unique within the service."""
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"duplicate job name {job.name!r}: each job of a service needs its own name")
        seen.add(job.name)
    return jobs
