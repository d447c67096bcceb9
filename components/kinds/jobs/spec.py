"""Config of the `jobs` kind: a service's scheduled batch jobs (CronJobs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from settings.base import Model
from settings.types import CronSchedule, EnvVarName, K8sName, PinnedImage, TimeZone
from settings.workload import AppResources


class BatchJobSpec(Model):
    """One CronJob of a service."""

    name: K8sName = Field(description="Job name, unique within the service.")
    schedule: CronSchedule = Field(description="5-field cron schedule, in timeZone.")
    time_zone: TimeZone = Field("Asia/Tokyo", description="IANA time zone the schedule is read in.")
    command: list[str] = Field(min_length=1, description="Command to run.")
    image: PinnedImage | None = Field(
        None, description="Defaults to the service's web app image, else its worker image."
    )
    env: dict[EnvVarName, str] = Field(default_factory=dict)
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = Field(
        "Forbid", description="Forbid: a slow run is never overlapped by the next one."
    )
    starting_deadline_seconds: int = Field(300, ge=10, description="Skip a run that could not start within this.")
    successful_jobs_history_limit: int = Field(3, ge=0, le=100)
    failed_jobs_history_limit: int = Field(3, ge=0, le=100)
    backoff_limit: int = Field(2, ge=0, le=20, description="Retries before the Job counts as failed.")
    active_deadline_seconds: int = Field(3600, ge=10, description="Kill a run that takes longer than this.")
    restart_policy: Literal["Never", "OnFailure"] = Field("Never")
    success_window_hours: int | None = Field(
        None, ge=1, le=24 * 31, description="Alert when no run succeeded for this long; derived from the schedule."
    )
    resources: AppResources = Field(default_factory=AppResources)

    @property
    def expected_success_window_hours(self) -> int:
        """An hourly job is late after 2 h, anything else after a day and an hour."""
        if self.success_window_hours is not None:
            return self.success_window_hours
        hour_field = self.schedule.split()[1]
        return 2 if hour_field == "*" or hour_field.startswith("*/") else 25


def unique_job_names(jobs: list[BatchJobSpec]) -> list[BatchJobSpec]:
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"duplicate job name {job.name!r}: each job of a service needs its own name")
        seen.add(job.name)
    return jobs
