"""What Datadog sends for the objects our monitors watch: each metric and service check, its
kind, the tags it carries and, where the agent fixes them, the values of those tags. This is
the authority the monitor queries are checked against (tests/test_monitor_catalog.py): a
monitor may use only what is here, and the catalog holds more than the monitors use (every
row of the families below), so it is never written to match them.

Which version each row comes from
---------------------------------
The stacks pin agent and Cluster Agent 7.81.1 (settings/datadog/agents.py). Nothing here could
be read AT that release:
- DataDog/integrations-core, whose `kubernetes_state_core/metadata.csv` lists the KSM core
  metrics and their tags, is a 924 MB repository, over the 500 MiB a snapshot may have here, and
  the only stored copies of the file are at two untagged commits:
    IC_NEW = @2ba5c3754a79c65743a253a58b4635755660ade6 (sorted rows, has the GPU, bandwidth and
             `*.total` metrics: the newer one)
    IC_OLD = @05760ddea3fdee9d567d4cc5855bbff9a3af987f (the older row order, none of those)
  Every row below is transcribed from IC_NEW; `both` marks rows that read the same at IC_OLD,
  the evidence that they held across releases. No monitor uses a row found only at IC_NEW.
- DataDog/datadog-agent, whose KSM check fixes tag names and values, is refused at 7.81.1 by the
  Go module proxy ("This module version is not available", `go list -m ...@7.81.1`) and too big
  to fetch; its files were read at the stored main-branch commits named beside each fact:
    KTR  pkg/collector/corechecks/cluster/ksm/kubernetes_state_transformers.go @862fc222ea0e51f09b4336996aeb25576e4a5673
    KAG  .../ksm/kubernetes_state_aggregators.go (stored copies, index ids 5507746524, 113959484)
    KDF  .../ksm/kubernetes_state_defaults.go @5ef84e1323edf035d18e8910f4033ce67f5f779c
    KSM  .../ksm/kubernetes_state.go @7230cf44c4c4ed5f85ecdb28bd80421f9463bec5 (initTags: `kube_cluster_name`)
    KMD  .../ksm/kubernetes_state.md @0ac594baa65c09d9413e7b391dc398d60b6c5c71 (service checks and their tags)
    AGG  pkg/aggregator/aggregator.go (index ids 50525420, 161917216): `datadog.<flavor>.running`
    WRK  pkg/collector/worker/worker.go @6a11fb7f7a72ca36b5c67b10256351123f557f7f: `datadog.agent.check_status`
    HT   comp/metadata/host/hostimpl/hosttags/tags.go @f075426dbf99ad6133a16f36deebb99dcb77c4fe (host tags)
  The sub-module of the same release that was readable, pkg/config/setup @v0.81.1 (the Go tag of
  7.81.1), confirms the setting WRK depends on: `integration_check_status_enabled`, default
  false (common_settings.go line 1195).
So the names and tags are UNVERIFIED at 7.81.1 itself; the transformers they rest on read the
same in two stored copies years apart (862fc222 and 0132718401, see /work/research/issue20.md).

Datadog lowercases tag values at intake, so values are written lowercase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IC_NEW = "DataDog/integrations-core kubernetes_state_core/metadata.csv @2ba5c3754a79c65743a253a58b4635755660ade6"
IC_OLD = "@05760ddea3fdee9d567d4cc5855bbff9a3af987f"

# Tags the KSM check adds to every series it sends (KSM initTags).
KSM_CHECK_TAGS = frozenset({"kube_cluster_name"})
# Unified service tags, from the `tags.datadoghq.com/*` labels (KDF), where IC says
# "(`env` `service` `version` from standard labels)".
UST = frozenset({"env", "service", "version"})
# A container's identity, on every container and init-container row of IC.
POD = frozenset({"kube_namespace", "pod_name", "kube_container_name"})
# Host tags of an agent's own host (HT): a query scope matches them on any series from that host.
AGENT_HOST_TAGS = frozenset({"env", "kube_cluster_name", "cluster_name", "host"})


@dataclass(frozen=True)
class Entry:
    kind: str
    """'metric' or 'service check'."""
    tags: frozenset[str]
    """Every tag key a series carries, check-level tags included."""
    source: str
    """Where the row was read, repository, path and commit."""
    values: dict[str, frozenset[str]] = field(default_factory=dict)
    """Known values of some tags; a query naming another value can never match."""


# metric | tags as IC lists them | read the same at IC_OLD? ("both") or only at IC_NEW ("new").
# `+ust`: the unified service tags; `+pod`: +pod.
# "`kube_job` or `kube_cronjob`" rows carry both keys here: which one depends on the Job's name (KTR trimJobTag).
IC_ROWS = """
kubernetes_state.container.cpu_limit | +pod node resource unit +ust | both
kubernetes_state.container.cpu_requested | +pod node resource unit +ust | both
kubernetes_state.container.memory_limit | +pod node resource unit +ust | both
kubernetes_state.container.memory_requested | +pod node resource unit +ust | both
kubernetes_state.container.ready | +pod +ust | both
kubernetes_state.container.restarts | +pod +ust | both
kubernetes_state.container.running | +pod +ust | both
kubernetes_state.container.terminated | +pod +ust | both
kubernetes_state.container.waiting | +pod +ust | both
kubernetes_state.container.status_report.count.waiting | +pod reason +ust | both
kubernetes_state.container.status_report.count.terminated | +pod reason +ust | both
kubernetes_state.container.gpu_limit | +pod node resource mig_profile unit +ust | new
kubernetes_state.initcontainer.restarts | +pod +ust | new
kubernetes_state.initcontainer.waiting | +pod +ust | new
kubernetes_state.cronjob.count | kube_namespace | both
kubernetes_state.cronjob.duration_since_last_schedule | kube_cronjob kube_namespace +ust | both
kubernetes_state.cronjob.spec_suspend | kube_namespace kube_cronjob +ust | both
kubernetes_state.job.count | kube_namespace kube_cronjob | both
kubernetes_state.job.completion.failed | kube_job kube_cronjob kube_namespace +ust | both
kubernetes_state.job.completion.succeeded | kube_job kube_cronjob kube_namespace +ust | both
kubernetes_state.job.duration | kube_job kube_namespace +ust | both
kubernetes_state.job.failed | kube_job kube_cronjob kube_namespace +ust | both
kubernetes_state.job.succeeded | kube_job kube_cronjob kube_namespace +ust | both
kubernetes_state.daemonset.count | kube_namespace | both
kubernetes_state.daemonset.daemons_available | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.daemons_unavailable | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.desired | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.misscheduled | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.ready | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.scheduled | kube_daemon_set kube_namespace +ust | both
kubernetes_state.daemonset.updated | kube_daemon_set kube_namespace +ust | both
kubernetes_state.deployment.condition | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.count | kube_namespace | both
kubernetes_state.deployment.paused | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.replicas | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.replicas_available | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.replicas_desired | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.replicas_ready | kube_deployment kube_namespace +ust | new
kubernetes_state.deployment.replicas_unavailable | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.replicas_updated | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.rollingupdate.max_surge | kube_deployment kube_namespace +ust | both
kubernetes_state.deployment.rollingupdate.max_unavailable | kube_deployment kube_namespace +ust | both
kubernetes_state.hpa.condition | kube_namespace horizontalpodautoscaler condition status | both
kubernetes_state.hpa.count | kube_namespace | both
kubernetes_state.hpa.current_replicas | kube_namespace horizontalpodautoscaler | both
kubernetes_state.hpa.desired_replicas | kube_namespace horizontalpodautoscaler | both
kubernetes_state.hpa.max_replicas | kube_namespace horizontalpodautoscaler | both
kubernetes_state.hpa.min_replicas | kube_namespace horizontalpodautoscaler | both
kubernetes_state.node.age | node | both
kubernetes_state.node.by_condition | condition node status | both
kubernetes_state.node.count | kernel_version os_image container_runtime_version kubelet_version | both
kubernetes_state.node.cpu_allocatable | node resource unit | both
kubernetes_state.node.cpu_capacity | node resource unit | both
kubernetes_state.node.cpu_allocatable.total | - | new
kubernetes_state.node.memory_allocatable | node resource unit | both
kubernetes_state.node.memory_capacity | node resource unit | both
kubernetes_state.node.pods_allocatable | node resource unit | both
kubernetes_state.node.pods_capacity | node resource unit | both
kubernetes_state.node.status | node status | both
kubernetes_state.pod.age | node kube_namespace pod_name pod_phase +ust | both
kubernetes_state.pod.count | node kube_namespace | both
kubernetes_state.pod.ready | node kube_namespace pod_name condition +ust | both
kubernetes_state.pod.scheduled | node kube_namespace pod_name condition +ust | both
kubernetes_state.pod.status_phase | node kube_namespace pod_name pod_phase +ust | both
kubernetes_state.pod.unschedulable | kube_namespace pod_name +ust | both
kubernetes_state.pod.uptime | node kube_namespace pod_name pod_phase +ust | both
"""

# Values the agent fixes, by metric and tag (KTR unless named).
VALUES: dict[str, dict[str, set[str]]] = {
    # nodeConditionTransformer: the KSM `status` label as emitted, lower case; conditions are
    # Kubernetes core/v1 NodeConditionType, lower-cased at intake.
    "kubernetes_state.node.by_condition": {
        "status": {"true", "false", "unknown"},
        "condition": {"ready", "memorypressure", "diskpressure", "pidpressure", "networkunavailable"},
    },
    # nodeUnschedulableTransformer: 0 -> schedulable, 1 -> unschedulable.
    "kubernetes_state.node.status": {"status": {"schedulable", "unschedulable"}},
    # allowedWaitingReasons / allowedTerminatedReasons.
    "kubernetes_state.container.status_report.count.waiting": {
        "reason": {
            "errimagepull", "imagepullbackoff", "crashloopbackoff", "containercreating",
            "createcontainererror", "invalidimagename",
        }
    },
    "kubernetes_state.container.status_report.count.terminated": {
        "reason": {"oomkilled", "containercannotrun", "error"}
    },
}  # fmt: skip


def _rows() -> dict[str, Entry]:
    found = {}
    for line in IC_ROWS.strip().splitlines():
        name, tags, seen = (part.strip() for part in line.split("|"))
        keys = set() if tags == "-" else set(tags.replace("+ust", "").replace("+pod", "").split())
        if "+ust" in tags:
            keys |= UST
        if "+pod" in tags:
            keys |= POD
        source = f"{IC_NEW}" + (f", same at {IC_OLD}" if seen == "both" else " only")
        values = {key: frozenset(v) for key, v in VALUES.get(name, {}).items()}
        found[name] = Entry("metric", frozenset(keys) | KSM_CHECK_TAGS, source, values)
    return found


def _service_check(tags: set[str], source: str, **values: set[str]) -> Entry:
    return Entry(
        "service check", frozenset(tags) | KSM_CHECK_TAGS, source, {k: frozenset(v) for k, v in values.items()}
    )


NODE_CONDITION_CHECK = "KMD; status from the condition's status (KTR statusForCondition)"

CATALOG: dict[str, Entry] = {
    **_rows(),
    # KMD "Service Checks"; how each is computed is in KTR and KAG.
    "kubernetes_state.cronjob.complete": _service_check(
        {"kube_cronjob", "kube_namespace"} | UST, "KMD; KAG lastCronJobAggregator (the Job with the largest suffix)"
    ),
    "kubernetes_state.cronjob.on_schedule_check": _service_check(
        {"kube_cronjob", "kube_namespace"} | UST, "KMD; KTR cronJobNextScheduleTransformer"
    ),
    "kubernetes_state.job.complete": _service_check(
        {"kube_job", "kube_cronjob", "kube_namespace"} | UST, "KMD; KTR jobServiceCheck"
    ),
    **{
        f"kubernetes_state.node.{check}": _service_check(
            {"node", "condition", "status"}, NODE_CONDITION_CHECK, status={"true", "false", "unknown"}
        )
        for check in ("ready", "out_of_disk", "disk_pressure", "network_unavailable", "memory_pressure")
    },
    # The agents' own: sent by each node agent for its host, so they carry its host tags (HT).
    "datadog.agent.running": Entry("metric", frozenset({"version"}) | AGENT_HOST_TAGS, "AGG; HT (node agents only)"),
    "datadog.agent.check_status": Entry(
        "service check",
        frozenset({"check", "dd_enable_check_intake"}) | AGENT_HOST_TAGS,
        "WRK (with integration_check_status_enabled); HT",
        # The kubelet core check registers as `kubelet` (pkg/collector/corechecks/containers/kubelet).
        {"dd_enable_check_intake": frozenset({"true"})},
    ),
}
