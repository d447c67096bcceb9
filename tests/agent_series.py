"""Series shaped the way the agents send them, for the monitor simulator (tests/monitor_sim.py).
Each writer says which transformer it copies; the files are DataDog/datadog-agent main-branch
copies (the 7.81.1 tag could not be read: see tests/ksm_catalog.py):

  KTR  pkg/collector/corechecks/cluster/ksm/kubernetes_state_transformers.go @862fc222ea0e51f09b4336996aeb25576e4a5673
  KAG  pkg/collector/corechecks/cluster/ksm/kubernetes_state_aggregators.go (lastCronJobAggregator)
  HLP  pkg/util/kubernetes/helpers.go @822f02573b62711a32ed5ec65c1eadc13a2dd960 (ParseCronJobForJob)
  WRK  pkg/collector/worker/worker.go @6a11fb7f7a72ca36b5c67b10256351123f557f7f
  KSMS kubernetes/kube-state-metrics internal/store/{pod,node,cronjob}.go @110f03d7 (the library the agent builds in)

Every writer emits one sample per check run of the KSM core check (every 15 s, the agent's
default check interval) between `start` and `end`, and the caller decides what the object's
state is at each run. Tags are written as Datadog stores them: `key:value`, lower case."""

from __future__ import annotations

from collections.abc import Callable

from monitor_sim import CRITICAL, OK, WARNING, Timeline

CHECK_INTERVAL = 15
CLUSTER = "kube_cluster_name:aks-platform-prod"


def runs(start: float, end: float) -> range:
    """The KSM check's run times in [start, end)."""
    return range(int(start), int(end), CHECK_INTERVAL)


def waiting_container(
    timeline: Timeline, namespace: str, container: str, pod: str, reason_at: Callable[[float], str | None],
    start: float, end: float,
) -> None:  # fmt: skip
    """kube_pod_container_status_waiting_reason exists only while the container waits, with value 1
    (KSMS pod.go "Skip creating series for running containers"); containerWaitingReasonTransformer
    (KTR) forwards it as `container.status_report.count.waiting` for six reasons only."""
    allowed = {"errimagepull", "imagepullbackoff", "crashloopbackoff", "containercreating",
               "createcontainererror", "invalidimagename"}  # fmt: skip
    tags = [CLUSTER, f"kube_namespace:{namespace}", f"kube_container_name:{container}", f"pod_name:{pod}"]
    for t in runs(start, end):
        reason = reason_at(t)
        if reason and reason.lower() in allowed:
            timeline.gauge(
                t, "kubernetes_state.container.status_report.count.waiting", 1, [*tags, f"reason:{reason.lower()}"]
            )


def crash_loop(started: float, runs_for: float) -> Callable[[float], str | None]:
    """A container that crashes `runs_for` seconds after every start, from `started`: the kubelet
    restarts it after 10 s, 20 s, 40 s ... capped at 300 s (kubernetes/website
    content/en/docs/concepts/workloads/pods/pod-lifecycle.md, "Container restarts"). Between
    restarts it waits in CrashLoopBackOff."""
    periods: list[tuple[float, float]] = []
    t, delay = started, 10.0
    while t < started + 86400:
        t += runs_for
        periods.append((t, t + delay))
        t, delay = t + delay, min(delay * 2, 300.0)
    return lambda now: "CrashLoopBackOff" if any(a <= now < b for a, b in periods) else None


def node_condition(
    timeline: Timeline, node: str, ready_at: Callable[[float], str | None], start: float, end: float
) -> None:
    """kube_node_status_condition has a series per status, 1 for the current one; the
    transformer drops the others and, for Ready, sends the service check `node.ready`: OK for
    `true`, CRITICAL for `false`, WARNING for `unknown` (KTR nodeConditionTransformer,
    statusForCondition), with the node's tags. `ready_at` None: the node no longer exists."""
    status_of = {"true": OK, "false": CRITICAL, "unknown": WARNING}
    for t in runs(start, end):
        ready = ready_at(t)
        if ready is not None:
            tags = [CLUSTER, f"node:{node}", "condition:ready", f"status:{ready}"]
            timeline.gauge(t, "kubernetes_state.node.by_condition", 1, tags)
            timeline.check(t, "kubernetes_state.node.ready", status_of[ready], tags)


def node_schedulable(
    timeline: Timeline, node: str, cordoned_at: Callable[[float], bool | None], start: float, end: float
) -> None:
    """nodeUnschedulableTransformer (KTR) always sends `node.status` = 1, tagged `status:schedulable`
    or `status:unschedulable`: the unschedulable series exists only while the node is cordoned.
    `cordoned_at` None: the node no longer exists."""
    for t in runs(start, end):
        cordoned = cordoned_at(t)
        if cordoned is not None:
            status = "unschedulable" if cordoned else "schedulable"
            timeline.gauge(t, "kubernetes_state.node.status", 1, [CLUSTER, f"node:{node}", f"status:{status}"])


def gauge_pair(
    timeline: Timeline, metrics: tuple[str, str], values_at: Callable[[float], tuple[float, float] | None],
    tags: list[str], start: float, end: float,
) -> None:  # fmt: skip
    """Two plain gauges of one object, sent every run while it exists (KDF's name map: Deployment
    replicas, HPA replicas, DaemonSet desired/ready)."""
    for t in runs(start, end):
        values = values_at(t)
        if values is not None:
            for metric, value in zip(metrics, values, strict=True):
                timeline.gauge(t, metric, value, [CLUSTER, *tags])


def parse_cronjob_for_job(job: str) -> tuple[str, int]:
    """HLP ParseCronJobForJob: the CronJob is the name before the last dash when what follows is
    at least 3 characters, all digits; the id is that number. ('', 0) when it is not."""
    cronjob, _, suffix = job.rpartition("-")
    if not cronjob or len(suffix) < 3 or not suffix.isdigit():
        return "", 0
    return cronjob, int(suffix)


def cronjob(
    timeline: Timeline, namespace: str, name: str, *, scheduled: list[float], finished: dict[str, tuple[float, bool]],
    start: float, end: float, exists: Callable[[float], bool] = lambda t: True,
) -> None:  # fmt: skip
    """`cronjob.duration_since_last_schedule` = now - lastScheduleTime, only once the CronJob was
    scheduled (KSMS cronjob.go lastScheduleTime != nil; KTR cronJobLastScheduleTransformer);
    `scheduled` are the times the controller set lastScheduleTime, for THIS object (a recreated
    CronJob starts with none). `cronjob.complete`: for each CronJob with a finished Job, the status
    of the Job with the largest id (KAG lastCronJobAggregator over HLP's parse; OK complete,
    CRITICAL failed); `finished` maps Job names to (finish time, succeeded)."""
    tags = [CLUSTER, f"kube_namespace:{namespace}", f"kube_cronjob:{name}"]
    for t in runs(start, end):
        if not exists(t):
            continue
        last = [s for s in scheduled if s <= t]
        if last:
            timeline.gauge(t, "kubernetes_state.cronjob.duration_since_last_schedule", t - max(last), tags)
        done = [(parse_cronjob_for_job(job)[1], ok) for job, (at, ok) in finished.items()
                if at <= t and parse_cronjob_for_job(job)[0] == name]  # fmt: skip
        if done:
            timeline.check(t, "kubernetes_state.cronjob.complete", OK if max(done)[1] else CRITICAL, tags)


def check_status(
    timeline: Timeline, host: str, status_at: Callable[[float], str | None], start: float, end: float
) -> None:
    """WRK: with integration_check_status_enabled, every run of a check sends
    `datadog.agent.check_status` for the agent's host, tags `check:<name>` and
    `dd_enable_check_intake:true`; CRITICAL when Run returned an error, WARNING with warnings.
    Host tags (kube_cluster_name) are matched on the host. `status_at` None: no agent there."""
    for t in runs(start, end):
        status = status_at(t)
        if status is not None:
            timeline.check(t, "datadog.agent.check_status", status,
                           [CLUSTER, f"host:{host}", "check:kubelet", "dd_enable_check_intake:true"])  # fmt: skip


def heartbeat(
    timeline: Timeline, metric: str, alive_at: Callable[[float], bool], start: float, end: float, **extra: str
) -> None:
    """A series that exists while its sender runs: `kubernetes_state.node.count` (KAG, a count over
    kube_node_info on every KSM run) or `datadog.agent.running` (pkg/aggregator, 1 per flush)."""
    tags = [CLUSTER, *(f"{k}:{v}" for k, v in extra.items())]
    for t in runs(start, end):
        if alive_at(t):
            timeline.gauge(t, metric, 1, tags)
