"""What Datadog really sends that our monitors read: each metric and service
check, its kind, and the tags it carries, pinned from upstream. The monitor
queries are checked against this, never against our own expectations.

Sources (read at these file commits; the agent is pinned at 7.81.1 in config,
but its 1.3 GB repository could not be fetched at that tag, so the files are
recent main-branch versions — see /work/research/datadog-facts.md):

- IC  DataDog/integrations-core kubernetes_state_core/metadata.csv
      @2ba5c3754a79c65743a253a58b4635755660ade6: metric names, type (all gauges), tags per metric.
- KMD DataDog/datadog-agent pkg/collector/corechecks/cluster/ksm/kubernetes_state.md
      @0ac594baa65c09d9413e7b391dc398d60b6c5c71: the service checks and their tags.
- KSM DataDog/datadog-agent pkg/collector/corechecks/cluster/ksm/kubernetes_state.go
      @7230cf44c4c4ed5f85ecdb28bd80421f9463bec5 (initTags: `kube_cluster_name` on every series).
- KDF DataDog/datadog-agent .../ksm/kubernetes_state_defaults.go @5ef84e1323edf035d18e8910f4033ce67f5f779c
      (label -> tag mapper: `node` and `horizontalpodautoscaler` stay raw; namespace -> kube_namespace).
- KTR DataDog/datadog-agent .../ksm/kubernetes_state_transformers.go @862fc222ea0e51f09b4336996aeb25576e4a5673
      (tag values: by_condition `status` true/false/unknown; node.status schedulable/unschedulable;
      waiting `reason` values).
- KAG DataDog/datadog-agent .../ksm/kubernetes_state_aggregators.go (index id 5507746524):
      node.count (count over kube_node_info), cronjob.complete (lastCronJobAggregator).
- AGG DataDog/datadog-agent pkg/aggregator/aggregator.go (index ids 50525420, 161917216):
      `datadog.<flavor>.running` = 1 per flush, tag `version`, host = the agent's hostname.
- HT  DataDog/datadog-agent comp/metadata/host/hostimpl/hosttags/tags.go @f075426dbf99ad6133a16f36deebb99dcb77c4fe:
      host tags `env` (DD_ENV) and `kube_cluster_name`/`cluster_name` (DD_CLUSTER_NAME), which a
      query scope matches on any series with that host.

Datadog lowercases tag values at intake, so values are written lowercase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Tags the KSM check adds to every series it sends (KSM initTags).
KSM_CHECK_TAGS = frozenset({"kube_cluster_name"})
# Unified service tags, from the `tags.datadoghq.com/*` labels (KDF), where IC says
# "(`env` `service` `version` from standard labels)".
UST = frozenset({"env", "service", "version"})
# Host tags of an agent's own host (HT).
AGENT_HOST_TAGS = frozenset({"env", "kube_cluster_name", "cluster_name", "host"})


@dataclass(frozen=True)
class Entry:
    kind: str
    """'metric' or 'service check'."""
    tags: frozenset[str]
    """Every tag key a series carries, check-level tags included."""
    source: str
    values: dict[str, frozenset[str]] = field(default_factory=dict)
    """Known values of some tags; a query naming another value can never match."""


def _ksm(kind: str, tags: set[str], source: str, **values: set[str]) -> Entry:
    return Entry(kind, frozenset(tags) | KSM_CHECK_TAGS, source, {k: frozenset(v) for k, v in values.items()})


CATALOG: dict[str, Entry] = {
    "kubernetes_state.node.by_condition": _ksm(
        "metric", {"condition", "node", "status"},
        "IC; values KTR (series sent only where the value is 1); conditions: Kubernetes core/v1 NodeConditionType",
        status={"true", "false", "unknown"},
        condition={"ready", "memorypressure", "diskpressure", "pidpressure", "networkunavailable"},
    ),
    "kubernetes_state.node.status": _ksm(
        "metric", {"node", "status"}, "IC; values KTR", status={"schedulable", "unschedulable"}
    ),
    "kubernetes_state.node.count": _ksm(
        "metric", {"kernel_version", "os_image", "container_runtime_version", "kubelet_version"}, "IC; KAG"
    ),
    "kubernetes_state.container.status_report.count.waiting": _ksm(
        "metric", {"kube_namespace", "pod_name", "kube_container_name", "reason"} | UST, "IC; values KTR",
        reason={"errimagepull", "imagepullbackoff", "crashloopbackoff", "containercreating",
                "createcontainererror", "invalidimagename"},
    ),
    "kubernetes_state.deployment.replicas_desired": _ksm("metric", {"kube_deployment", "kube_namespace"} | UST, "IC"),
    "kubernetes_state.deployment.replicas_available": _ksm("metric", {"kube_deployment", "kube_namespace"} | UST, "IC"),
    "kubernetes_state.hpa.current_replicas": _ksm("metric", {"kube_namespace", "horizontalpodautoscaler"}, "IC; KDF"),
    "kubernetes_state.hpa.max_replicas": _ksm("metric", {"kube_namespace", "horizontalpodautoscaler"}, "IC; KDF"),
    "kubernetes_state.cronjob.duration_since_last_schedule": _ksm(
        "metric", {"kube_cronjob", "kube_namespace"} | UST, "IC (value in seconds, KTR)"
    ),
    "kubernetes_state.daemonset.desired": _ksm("metric", {"kube_daemon_set", "kube_namespace"} | UST, "IC"),
    "kubernetes_state.daemonset.ready": _ksm("metric", {"kube_daemon_set", "kube_namespace"} | UST, "IC"),
    "kubernetes_state.cronjob.complete": _ksm(
        "service check", {"kube_cronjob", "kube_namespace"} | UST, "KMD; KAG (status of the LAST job of the CronJob)"
    ),
    "datadog.agent.running": Entry("metric", frozenset({"version"}) | AGENT_HOST_TAGS, "AGG; HT (node agents only)"),
}  # fmt: skip
