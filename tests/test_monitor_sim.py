"""Every monitor of a stack, replayed through the simulator (tests/monitor_sim.py) on series shaped
the way the agent sends them (tests/agent_series.py). For each: it alerts during the problem,
resolves after it, stays quiet through what is healthy (a rollout, a CronJob replacement, a
successful run), and pages on missing data where silence is the failure, never elsewhere.

The specs are the real ones (prod's services plus one of every kind), read through the same
code the program uses; only the series are made up, and every series used is in the catalog."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import pytest
from agent_series import (
    check_status,
    crash_loop,
    cronjob,
    gauge_pair,
    heartbeat,
    node_condition,
    node_schedulable,
    parse_cronjob_for_job,
    waiting_container,
)
from ksm_catalog import CATALOG
from monitor_sim import ALERT, CRITICAL, NO_DATA, OK, WARN, WARNING, Result, Timeline, simulate

from components.datadog.monitor_spec import MonitorSpec
from components.service.kinds.jobs.monitors import RERUN_COMMAND
from harness import EVERY_KIND, monitor_specs_for

M, H = 60, 3600
EPOCH = 1_780_000_020  # 2026-05-28, a whole minute: Job names carry the scheduled Unix minute


@pytest.fixture(scope="module")
def specs() -> dict[str, MonitorSpec]:
    return {spec.key: spec for spec in monitor_specs_for("prod", EVERY_KIND)}


def run(spec: MonitorSpec, timeline: Timeline, until: float, rollup: int = 60) -> Result:
    """Simulate, after checking that every series the scenario made is one the agent sends."""
    for name, items in [*timeline.points.items(), *timeline.runs.items()]:
        entry = CATALOG[name]
        keys = {tag.split(":", 1)[0] for _, tags, _ in items for tag in tags}
        assert keys <= entry.tags, f"{name}: tags {keys - entry.tags} are not in the catalog"
    return simulate(spec, timeline, until, rollup)


def without_default_zero(spec: MonitorSpec) -> MonitorSpec:
    """The mutation the issue names: the same query, default_zero() dropped."""
    query = re.sub(r"default_zero\((.*)\)(\s*[<>]=?)", r"\1\2", spec.query)
    assert query != spec.query
    return replace(spec, query=query)


# ------------------------------------------------------------------ crashloop


def crashloop_timeline(loop_until: float, *, runs_for: float = 5, again_at: float | None = None) -> Timeline:
    timeline = Timeline()
    waiting_container(timeline, "admin", "app", "web-a", crash_loop(10 * M, runs_for), 0, loop_until)
    # The rollout that fixes it: a new pod starts (ContainerCreating for 10 s), then runs.
    waiting_container(timeline, "admin", "app", "web-b",
                      lambda t: "ContainerCreating" if t < loop_until + 10 else None, loop_until, 4 * H)  # fmt: skip
    if again_at is not None:
        waiting_container(
            timeline, "admin", "app", "web-c", crash_loop(again_at, runs_for), again_at, again_at + 30 * M
        )
    return timeline


@pytest.mark.parametrize("rollup", [15, 60])
def test_crashloop_alerts_during_a_crash_loop_and_resolves_after_it(specs: dict, rollup: int) -> None:
    spec = specs["admin-crashloop"]
    result = run(spec, crashloop_timeline(loop_until=2 * H), 3 * H, rollup)
    (alert,) = result.triggered()
    assert 10 * M < alert.t <= 16 * M and alert.group == ("app",)
    assert result.state(90 * M, ("app",)) == ALERT
    # Unresolved, it re-notifies hourly; fixed, it resolves within the window.
    assert [n.kind for n in result.notifications if n.t < 2 * H] == ["trigger", "renotify"]
    assert result.state(2 * H + 6 * M, ("app",)) == OK
    assert not result.pages(2 * H + 6 * M)


def test_crashloop_alerts_when_each_start_lasts_longer_than_a_check_run(specs: dict) -> None:
    """The container runs 40 s before each crash: samples see it running, the share still crosses."""
    result = run(specs["admin-crashloop"], crashloop_timeline(loop_until=H, runs_for=40), 2 * H)
    assert len(result.triggered()) == 1


def test_crashloop_stays_quiet_through_a_rollout_and_a_single_crash(specs: dict) -> None:
    timeline = Timeline()
    # New pods wait in ContainerCreating; one container crashes once and waits 10 s.
    waiting_container(timeline, "admin", "app", "web-d", lambda t: "ContainerCreating" if t < 30 else None, 0, H)
    waiting_container(timeline, "admin", "nginx", "web-d",
                      lambda t: "CrashLoopBackOff" if 20 * M <= t < 20 * M + 10 else None, 0, H)  # fmt: skip
    assert run(specs["admin-crashloop"], timeline, H).notifications == []


def test_crashloop_alerts_again_on_a_second_crash_loop(specs: dict) -> None:
    """The old monitor never resolved, so a second crash loop of the same container was swallowed."""
    result = run(specs["admin-crashloop"], crashloop_timeline(loop_until=40 * M, again_at=2 * H), 3 * H)
    assert [(n.kind, n.group) for n in result.notifications if n.kind != "renotify"] == [
        ("trigger", ("app",)), ("recovery", ("app",)), ("trigger", ("app",)), ("recovery", ("app",)),
    ]  # fmt: skip


def test_crashloop_never_resolves_without_default_zero(specs: dict) -> None:
    """The issue's mutation: the waiting series is never 0, so without default_zero the group keeps
    its alert after the fix and re-notifies every hour."""
    result = run(without_default_zero(specs["admin-crashloop"]), crashloop_timeline(loop_until=40 * M), 4 * H)
    assert result.state(4 * H, ("app",)) == ALERT
    assert len([n for n in result.notifications if n.kind == "renotify"]) >= 3


# ------------------------------------------------------------------ deployments and autoscalers


REPLICAS = ("kubernetes_state.deployment.replicas_desired", "kubernetes_state.deployment.replicas_available")
WEB = ["kube_namespace:admin", "kube_deployment:web"]


def test_replicas_alert_when_short_resolve_when_full_and_ignore_a_scale_up(specs: dict) -> None:
    spec = specs["admin-replicas"]
    short = Timeline()
    gauge_pair(short, REPLICAS, lambda t: (3, 2 if 10 * M <= t < 40 * M else 3), WEB, 0, 2 * H)
    result = run(spec, short, 2 * H)
    (alert,) = result.triggered()
    assert 20 * M <= alert.t <= 22 * M and result.state(42 * M, ("web",)) == OK
    # The HPA raises desired to 5; the new pods are available 3 minutes later.
    scale = Timeline()
    gauge_pair(scale, REPLICAS, lambda t: (5, 3 if 10 * M <= t < 13 * M else 5) if t >= 10 * M else (3, 3), WEB, 0, H)
    assert run(spec, scale, H).notifications == []


def test_replicas_no_data_keeps_the_last_state_without_paging(specs: dict) -> None:
    """A deleted Deployment stops reporting: no page (KSM silence pages through ksm-heartbeat)."""
    gone = Timeline()
    gauge_pair(gone, REPLICAS, lambda t: (3, 3) if t < 30 * M else None, WEB, 0, 3 * H)
    assert run(specs["admin-replicas"], gone, 3 * H).notifications == []


def test_a_new_deployment_is_judged_once_its_window_is_full(specs: dict) -> None:
    """A service's first deploy: its Deployment first reports with none available. Without
    new_group_delay the partial window (require_full_window false) alerts at its first minute."""
    spec = specs["admin-replicas"]
    assert spec.new_group_delay == 10 * M
    slow_start = Timeline()  # appears at 0:10, available 3 minutes later
    gauge_pair(slow_start, REPLICAS, lambda t: (2, 0 if t < 13 * M else 2), WEB, 10 * M, 2 * H)
    assert run(spec, slow_start, 2 * H).notifications == []
    assert run(replace(spec, new_group_delay=None), slow_start, 2 * H).triggered(), "the delay is what keeps it quiet"
    never = Timeline()  # never available: pages once the delay, its window, has passed
    gauge_pair(never, REPLICAS, lambda t: (2, 0), WEB, 10 * M, 2 * H)
    (alert,) = run(spec, never, 2 * H).triggered()
    assert 20 * M <= alert.t <= 22 * M


def test_a_new_autoscaler_at_its_max_alerts_only_after_its_window(specs: dict) -> None:
    spec = specs["admin-hpa-max"]
    hpa = ("kubernetes_state.hpa.current_replicas", "kubernetes_state.hpa.max_replicas")
    tags = ["kube_namespace:admin", "horizontalpodautoscaler:web"]
    first_peak = Timeline()  # deployed under load: at max for its first 20 minutes
    gauge_pair(first_peak, hpa, lambda t: (4 if t < 30 * M else 2, 4), tags, 10 * M, 2 * H)
    assert run(spec, first_peak, 2 * H).notifications == []
    assert run(replace(spec, new_group_delay=None), first_peak, 2 * H).triggered()
    pinned = Timeline()
    gauge_pair(pinned, hpa, lambda t: (4, 4), tags, 10 * M, 2 * H)
    (alert,) = run(spec, pinned, 2 * H).triggered()
    assert 40 * M <= alert.t <= 42 * M


def test_hpa_at_max_alerts_after_its_window_and_not_on_a_peak(specs: dict) -> None:
    spec = specs["admin-hpa-max"]
    hpa = ("kubernetes_state.hpa.current_replicas", "kubernetes_state.hpa.max_replicas")
    tags = ["kube_namespace:admin", "horizontalpodautoscaler:web"]
    pinned = Timeline()
    gauge_pair(pinned, hpa, lambda t: (4 if 10 * M <= t < 70 * M else 2, 4), tags, 0, 2 * H)
    result = run(spec, pinned, 2 * H)
    (alert,) = result.triggered()
    assert 40 * M <= alert.t <= 42 * M and result.state(72 * M, ("web",)) == OK
    peak = Timeline()
    gauge_pair(peak, hpa, lambda t: (4 if 10 * M <= t < 30 * M else 2, 4), tags, 0, 2 * H)
    assert run(spec, peak, 2 * H).notifications == []


# ------------------------------------------------------------------ batch jobs


def job_name(cronjob_name: str, scheduled_at: float) -> str:
    """The CronJob controller's name for a run: <cronjob>-<scheduled time in Unix minutes>
    (kubernetes/kubernetes pkg/controller/cronjob/utils.go getTimeHashInMinutes)."""
    return f"{cronjob_name}-{int(EPOCH + scheduled_at) // 60}"


def daily(days: int, ok: list[bool]) -> tuple[list[float], dict[str, tuple[float, bool]]]:
    scheduled = [3 * H + day * 24 * H for day in range(days)]
    finished = {job_name("daily-report", at): (at + 10 * M, ok[i]) for i, at in enumerate(scheduled)}
    return scheduled, finished


def test_job_failed_alerts_on_a_failed_run_and_the_next_success_resolves_it(specs: dict) -> None:
    spec = specs["admin-job-failed"]
    scheduled, finished = daily(3, [True, False, True])
    timeline = Timeline()
    cronjob(timeline, "admin", "daily-report", scheduled=scheduled, finished=finished, start=0, end=3 * 24 * H)
    result = run(spec, timeline, 3 * 24 * H)
    (alert,) = result.triggered()
    assert alert.group == ("daily-report",) and 27 * H + 10 * M < alert.t <= 27 * H + 12 * M
    assert result.state(51 * H + 12 * M, ("daily-report",)) == OK
    healthy = Timeline()
    scheduled, finished = daily(3, [True, True, True])
    cronjob(healthy, "admin", "daily-report", scheduled=scheduled, finished=finished, start=0, end=3 * 24 * H)
    assert run(spec, healthy, 3 * 24 * H).notifications == []


def rerun(manual_name: str, *, next_fails: bool) -> Result:
    """Day 1's run fails at 27:10; a person re-runs it at 29:00 under `manual_name` (it succeeds);
    day 2's scheduled run at 51:00 fails or not."""
    scheduled, finished = daily(3, [True, False, not next_fails])
    finished[manual_name] = (29 * H + 5 * M, True)
    timeline = Timeline()
    cronjob(timeline, "admin", "daily-report", scheduled=scheduled, finished=finished, start=0, end=3 * 24 * H)
    return simulate_spec("admin-job-failed", timeline, 3 * 24 * H)


def simulate_spec(key: str, timeline: Timeline, until: float) -> Result:
    spec = {s.key: s for s in monitor_specs_for("prod", EVERY_KIND)}[key]
    return run(spec, timeline, until)


def test_the_runbooks_rerun_name_resolves_the_alert_and_a_later_failure_still_alerts() -> None:
    """RERUN_COMMAND names the Job `<job>-<current Unix minute>` (run here through bash, as a person
    would): the agent links it to its CronJob and counts it as the latest run."""
    name = subprocess.run(["bash", "-c", 'echo "daily-report-$(( $(date +%s) / 60 ))"'],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert RERUN_COMMAND.format(namespace="admin", job="daily-report").endswith(
        '"daily-report-$(( $(date +%s) / 60 ))"'
    )
    cronjob_name, minute = parse_cronjob_for_job(name)
    assert cronjob_name == "daily-report" and minute >= 29_000_000
    minutes_name = f"daily-report-{int(EPOCH + 29 * H) // 60}"
    result = rerun(minutes_name, next_fails=True)
    assert result.state(29 * H + 7 * M, ("daily-report",)) == OK
    assert result.state(51 * H + 12 * M, ("daily-report",)) == ALERT  # the next scheduled failure


def test_rerun_names_the_agent_ignores_or_ranks_too_high() -> None:
    """The old runbook's `-manual-1` never clears the alert; a Unix-SECONDS suffix clears it but
    outranks every later scheduled run, so the next failure goes unseen."""
    assert rerun("daily-report-manual-1", next_fails=False).state(30 * H, ("daily-report",)) == ALERT
    seconds = rerun(f"daily-report-{EPOCH + 29 * H}", next_fails=True)
    assert seconds.state(29 * H + 7 * M, ("daily-report",)) == OK
    assert seconds.state(51 * H + 12 * M, ("daily-report",)) == OK  # the failure is hidden


def test_job_failed_on_a_deleted_cronjob_resolves_after_a_day_without_a_no_data_page(specs: dict) -> None:
    scheduled, finished = daily(1, [False])
    timeline = Timeline()
    cronjob(timeline, "admin", "daily-report", scheduled=scheduled, finished=finished, start=0, end=2 * 24 * H,
            exists=lambda t: t < 5 * H)  # fmt: skip
    result = run(specs["admin-job-failed"], timeline, 2 * 24 * H)
    assert result.state(28 * H, ("daily-report",)) == ALERT
    assert result.state(29 * H + 2 * M, ("daily-report",)) == OK  # 24 h after its last report
    assert not [n for n in result.notifications if n.state == NO_DATA]


def hourly(timeline: Timeline, runs_until: float, *, end: float, replaced_at: float | None = None) -> None:
    """hourly-aggregation runs at every hour until `runs_until`. Replaced: the object is deleted at
    `replaced_at` and created again a minute later, with no lastScheduleTime until its next run."""
    times = [h * H for h in range(int(end // H) + 1) if h * H < runs_until]
    if replaced_at is None:
        cronjob(timeline, "admin", "hourly-aggregation", scheduled=times, finished={}, start=0, end=end)
        return
    cronjob(timeline, "admin", "hourly-aggregation", scheduled=[t for t in times if t < replaced_at], finished={},
            start=0, end=replaced_at)  # fmt: skip
    cronjob(timeline, "admin", "hourly-aggregation", scheduled=[t for t in times if t > replaced_at], finished={},
            start=replaced_at + M, end=end)  # fmt: skip


def test_late_job_alerts_when_runs_stop_and_resolves_on_the_next_run(specs: dict) -> None:
    spec = specs["admin-hourly-aggregation-late"]  # 2 h window
    timeline = Timeline()
    cronjob(
        timeline, "admin", "hourly-aggregation", scheduled=[0, H, 2 * H, 7 * H, 8 * H], finished={}, start=0, end=9 * H
    )
    result = run(spec, timeline, 9 * H)
    (alert,) = result.triggered()
    assert 4 * H < alert.t <= 4 * H + 2 * M and result.state(7 * H + 16 * M) == OK


def test_late_job_stays_quiet_through_a_cronjob_replacement_and_through_silence(specs: dict) -> None:
    spec = specs["admin-hourly-aggregation-late"]
    replaced = Timeline()
    hourly(replaced, runs_until=12 * H, end=12 * H, replaced_at=3 * H + 5 * M)
    assert run(spec, replaced, 12 * H).notifications == []
    # Nothing reports (the Cluster Agent is down): this monitor stays silent, ksm-heartbeat pages.
    silent = Timeline()
    hourly(silent, runs_until=2 * H, end=2 * H)
    assert run(spec, silent, 8 * H).notifications == []
    heartbeat(silent, "kubernetes_state.node.count", lambda t: t < 2 * H, 0, 8 * H)
    pages = run(specs["ksm-heartbeat"], silent, 8 * H).triggered()
    assert [(n.state, n.t) for n in pages] == [(NO_DATA, 2 * H + 20 * M)]


# ------------------------------------------------------------------ nodes


def test_node_not_ready_alerts_warns_on_unknown_and_resolves(specs: dict) -> None:
    spec = specs["node-not-ready"]
    timeline = Timeline()
    node_condition(timeline, "aks-system-0", lambda t: "true", 0, 2 * H)
    node_condition(timeline, "aks-user-1", lambda t: "false" if 10 * M <= t < 40 * M else "true", 0, 2 * H)
    node_condition(timeline, "aks-user-2", lambda t: "unknown" if t >= 10 * M else "true", 0, 2 * H)
    # A reboot: NotReady for 2 minutes, as a node image upgrade does to a node.
    node_condition(timeline, "aks-user-3", lambda t: "false" if 60 * M <= t < 62 * M else "true", 0, 2 * H)
    result = run(spec, timeline, 2 * H)
    triggered = {(n.group, n.state) for n in result.triggered()}
    assert triggered == {(("aks-user-1",), ALERT), (("aks-user-2",), WARN)}
    first = {n.group: n.t for n in result.triggered()}
    assert 15 * M <= first[("aks-user-1",)] <= 16 * M
    assert result.state(41 * M, ("aks-user-1",)) == OK


def test_node_not_ready_on_a_deleted_node_times_out_and_a_removed_healthy_node_is_quiet(specs: dict) -> None:
    timeline = Timeline()
    # Auto-repair: NotReady from 10 min, deleted at 30 min. Scale-down: healthy, deleted at 30 min.
    node_condition(
        timeline, "aks-user-1", lambda t: None if t >= 30 * M else ("false" if t >= 10 * M else "true"), 0, 3 * H
    )
    node_condition(timeline, "aks-user-2", lambda t: None if t >= 30 * M else "true", 0, 3 * H)
    result = run(specs["node-not-ready"], timeline, 3 * H)
    assert result.state(80 * M, ("aks-user-1",)) == ALERT
    assert result.state(91 * M, ("aks-user-1",)) == OK  # timeout_h: 1 h after its last report
    assert [n.group for n in result.triggered()] == [("aks-user-1",)]


def test_nodes_unschedulable_alerts_on_a_stuck_cordon_and_not_on_an_upgrade(specs: dict) -> None:
    spec = specs["nodes-unschedulable"]  # 30 min
    stuck = Timeline()
    node_schedulable(stuck, "aks-user-1", lambda t: 10 * M <= t < 70 * M, 0, 2 * H)
    result = run(spec, stuck, 2 * H)
    (alert,) = result.triggered()
    assert 40 * M <= alert.t <= 42 * M and result.state(71 * M, ("aks-user-1",)) == OK
    # An upgrade cordons and drains a node for 12 minutes, then deletes it.
    upgrade = Timeline()
    node_schedulable(upgrade, "aks-user-2", lambda t: None if t >= 22 * M else t >= 10 * M, 0, 2 * H)
    assert run(spec, upgrade, 2 * H).notifications == []


def test_nodes_unschedulable_resolves_when_the_cordoned_node_is_deleted(specs: dict) -> None:
    timeline = Timeline()
    node_schedulable(timeline, "aks-user-1", lambda t: None if t >= 60 * M else t >= 10 * M, 0, 3 * H)
    result = run(specs["nodes-unschedulable"], timeline, 3 * H)
    assert result.state(55 * M, ("aks-user-1",)) == ALERT and result.state(61 * M, ("aks-user-1",)) == OK
    mutated = run(without_default_zero(specs["nodes-unschedulable"]), timeline, 3 * H)
    assert mutated.state(3 * H, ("aks-user-1",)) == ALERT


def test_agent_missing_alerts_on_a_node_without_an_agent_and_not_on_an_agent_rollout(specs: dict) -> None:
    spec = specs["agent-missing"]  # 15 min
    daemonset = ("kubernetes_state.daemonset.desired", "kubernetes_state.daemonset.ready")
    tags = ["kube_namespace:datadog", "kube_daemon_set:datadog-agent"]
    missing = Timeline()
    gauge_pair(missing, daemonset, lambda t: (3, 2 if 10 * M <= t < 40 * M else 3), tags, 0, 2 * H)
    result = run(spec, missing, 2 * H)
    (alert,) = result.triggered()
    assert 25 * M <= alert.t <= 27 * M and result.state(41 * M) == OK
    # A rolling update of 10 nodes, one pod at a time (maxUnavailable 10%), a minute each.
    rollout = Timeline()
    gauge_pair(rollout, daemonset, lambda t: (10, 9 if 10 * M <= t < 20 * M else 10), tags, 0, 2 * H)
    assert run(spec, rollout, 2 * H).notifications == []


def test_kubelet_unreadable_alerts_on_a_node_whose_kubelet_check_fails(specs: dict) -> None:
    spec = specs["kubelet-unreadable"]  # 5 min
    timeline = Timeline()
    # A new node whose kubelet certificate the agent rejects: CRITICAL from its first run; replaced after an hour.
    check_status(timeline, "aks-user-9", lambda t: CRITICAL if t < H else None, 0, 3 * H)
    # A node whose check failed once, one with warnings, one fixed after 20 minutes.
    check_status(timeline, "aks-user-1", lambda t: CRITICAL if 30 * M <= t < 30 * M + 15 else OK, 0, 3 * H)
    check_status(timeline, "aks-user-2", lambda t: WARNING, 0, 3 * H)
    check_status(timeline, "aks-user-3", lambda t: CRITICAL if t < 20 * M else OK, 0, 3 * H)
    result = run(spec, timeline, 3 * H)
    assert {n.group for n in result.triggered()} == {("aks-user-9",), ("aks-user-3",)}
    assert all(5 * M <= n.t <= 6 * M for n in result.triggered())
    assert result.state(21 * M, ("aks-user-3",)) == OK
    assert result.state(2 * H - M, ("aks-user-9",)) == ALERT and result.state(2 * H + M, ("aks-user-9",)) == OK
    assert not [n for n in result.notifications if n.state == NO_DATA]


# ------------------------------------------------------------------ heartbeats


@pytest.mark.parametrize(("key", "metric"), [("ksm-heartbeat", "kubernetes_state.node.count"),
                                             ("agent-heartbeat", "datadog.agent.running")])  # fmt: skip
def test_heartbeats_page_on_silence_and_resolve_when_data_returns(specs: dict, key: str, metric: str) -> None:
    spec = specs[key]
    timeline = Timeline()
    extra = {"host": "aks-user-1", "version": "7.81.1"} if metric == "datadog.agent.running" else {}
    heartbeat(timeline, metric, lambda t: not 30 * M <= t < 90 * M, 0, 3 * H, **extra)
    result = run(spec, timeline, 3 * H)
    assert [(n.state, n.t) for n in result.triggered()] == [(NO_DATA, 50 * M)]
    assert result.state(91 * M) == OK
    healthy = Timeline()
    heartbeat(healthy, metric, lambda t: True, 0, 3 * H, **extra)
    assert run(spec, healthy, 3 * H).notifications == []


def test_agent_heartbeat_is_quiet_while_any_agent_reports(specs: dict) -> None:
    timeline = Timeline()
    heartbeat(timeline, "datadog.agent.running", lambda t: t < 30 * M, 0, 3 * H, host="aks-user-1", version="7.81.1")
    heartbeat(timeline, "datadog.agent.running", lambda t: True, 0, 3 * H, host="aks-user-2", version="7.81.1")
    assert run(specs["agent-heartbeat"], timeline, 3 * H).notifications == []


SIMULATED = {
    "admin-crashloop", "admin-replicas", "admin-hpa-max", "admin-job-failed", "admin-hourly-aggregation-late",
    "node-not-ready", "nodes-unschedulable", "agent-missing", "kubelet-unreadable", "ksm-heartbeat", "agent-heartbeat",
}  # fmt: skip


def shape(key: str) -> str:
    """What builds a monitor: the same builder serves every service, kind and job."""
    return re.sub(r"^(admin|mailer|etl)(-worker)?-", "", re.sub(r"^.*-late$", "late", key))


def test_every_monitor_of_the_stack_is_simulated(specs: dict) -> None:
    """A new monitor must come with its scenarios here."""
    assert {shape(key) for key in specs} == {shape(key) for key in SIMULATED}
