"""The cluster-wide monitors every Datadog-enabled stack gets: nodes, the agent
on every node, and the heartbeats whose silence is the alert. Plain data (see
monitor_spec.py); the DatadogMonitors component turns them into Datadog monitors."""

from __future__ import annotations

from components.datadog.agent import NAME as AGENT_DAEMONSET
from components.datadog.monitor_spec import CHECK_RUNS_PER_MINUTE, MonitorScope, MonitorSpec


def platform_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    """Every cluster-wide monitor of a stack."""
    return [*_node_monitors(scope), _kubelet_unreadable(scope), *_heartbeats(scope)]


def _node_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    t = scope.settings.thresholds
    tags = scope.tags("platform", scope.settings.team)
    env = scope.environment
    runs = t.node_not_ready_minutes * CHECK_RUNS_PER_MINUTE
    return [
        MonitorSpec(
            key="node-not-ready",
            name=f"[{env}] a node is not Ready",
            # The KSM check's service check, sent for EVERY node on every run: OK for Ready
            # `true`, CRITICAL for `false`, WARNING for `unknown` (a dead or partitioned kubelet)
            # (DataDog/datadog-agent pkg/collector/corechecks/cluster/ksm/kubernetes_state_transformers.go
            # nodeConditionTransformer, statusForCondition; main branch @862fc222). So a node that
            # recovers reports OK and resolves, unlike the `node.by_condition` metric, which is
            # only ever sent for the current status.
            type="service check",
            query=scope.service_check("kubernetes_state.node.ready", over=(), by=("node",), last=runs),
            message=scope.message(
                f"A node has not been Ready (NotReady, or Unknown: a warning) for {t.node_not_ready_minutes} "
                "minutes. Its pods are being moved elsewhere.",
                "If it does not recover, AKS node auto-repair replaces it; check the node's events.",
                "node-not-ready",
            ),
            tags=tags,
            critical=runs,
            warning=runs,
            ok=1,
            priority=2,
            # A node deleted while NotReady (auto-repair, scale-down) stops reporting: its
            # group resolves after an hour instead of alerting forever.
            timeout_h=1,
        ),
        MonitorSpec(
            key="nodes-unschedulable",
            name=f"[{env}] a node has stayed unschedulable",
            # Per node: a rolling upgrade cordons each node for minutes, never one for this long.
            # `status:unschedulable` is sent only while the node is cordoned (the transformer
            # always sends 1, tagged with the current state: nodeUnschedulableTransformer, same
            # file), so default_zero() turns its absence into 0: an uncordoned or deleted node
            # resolves (https://docs.datadoghq.com/dashboards/functions/interpolation/).
            query=(
                f"min(last_{t.nodes_unschedulable_minutes}m):default_zero(sum:kubernetes_state.node.status"
                f"{{{scope.filter('status:unschedulable')}}} by {{node}}) > 0"
            ),
            message=scope.message(
                f"A node has been cordoned for {t.nodes_unschedulable_minutes} minutes, longer than an upgrade.",
                "Find a stuck drain (often a PodDisruptionBudget) and uncordon or finish it.",
                "nodes-unschedulable",
            ),
            tags=tags,
            critical=0,
            priority=3,
        ),
        MonitorSpec(
            key="agent-missing",
            name=f"[{env}] Datadog agent missing on a node",
            query=(
                f"min(last_{t.agent_missing_minutes}m):"
                f"sum:kubernetes_state.daemonset.desired{{{scope.filter(f'kube_daemon_set:{AGENT_DAEMONSET}')}}} - "
                f"sum:kubernetes_state.daemonset.ready{{{scope.filter(f'kube_daemon_set:{AGENT_DAEMONSET}')}}} > 0"
            ),
            message=scope.message(
                "A node has no ready Datadog agent, so nothing on it is monitored.",
                "Describe the agent pod on that node: image pull, resources or a crash.",
                "agent-missing",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
    ]


def _kubelet_unreadable(scope: MonitorScope) -> MonitorSpec:
    """A node agent that cannot read its kubelet (a serving certificate the cluster CA did not
    sign, rotation turned off) loses every container metric and log tag of its node, while
    `agent-missing` and `agent-heartbeat` still pass. The kubelet check then returns an error
    before it sends anything (DataDog/datadog-agent pkg/collector/corechecks/containers/kubelet/
    kubelet.go Run, main branch @046d24d3), so its own `kubernetes.kubelet.check` never exists for
    that node. What does exist from the first failed run is the worker's per-check service check
    `datadog.agent.check_status`, CRITICAL when a check's Run returns an error, tags `check:<name>`,
    host = the agent's (pkg/collector/worker/worker.go, main branch), once the node agent sets
    DD_INTEGRATION_CHECK_STATUS_ENABLED (components/datadog/agent.py)."""
    minutes = scope.settings.thresholds.kubelet_unreadable_minutes
    runs = minutes * CHECK_RUNS_PER_MINUTE
    return MonitorSpec(
        key="kubelet-unreadable",
        name=f"[{scope.environment}] the Datadog agent cannot read a node's kubelet",
        type="service check",
        query=scope.service_check("datadog.agent.check_status", over=("check:kubelet",), by=("host",), last=runs),
        message=scope.message(
            f"The Datadog agent on a node has failed its kubelet check for {minutes} minutes: that node's "
            "container metrics and log tags are missing.",
            "Read the agent's log on that node (`agent status`, kubelet section): usually the kubelet's "
            "serving certificate; replace the node if its image predates kubelet serving-certificate rotation.",
            "kubelet-unreadable",
        ),
        tags=scope.tags("platform", scope.settings.team),
        critical=runs,
        ok=1,
        priority=2,
        # A node removed while failing stops reporting: resolve its group after an hour.
        timeout_h=1,
    )


def _heartbeats(scope: MonitorScope) -> list[MonitorSpec]:
    """Monitors whose silence is the alert: without them a dead agent or a dead
    kube-state-metrics check makes every other monitor quietly stop evaluating."""
    minutes = scope.settings.thresholds.heartbeat_minutes
    tags = scope.tags("platform", scope.settings.team)
    env = scope.environment
    return [
        MonitorSpec(
            key="ksm-heartbeat",
            name=f"[{env}] kube-state-metrics reports nothing",
            # node.count exists whenever the check runs and the cluster has a node.
            query=f"max(last_{minutes}m):sum:kubernetes_state.node.count{{{scope.filter()}}} < 1",
            message=scope.message(
                "kube-state-metrics core (in the Cluster Agent) has stopped reporting, so no cluster monitor can fire.",
                "Check the Cluster Agent: `kubectl -n datadog get deploy datadog-cluster-agent`, then "
                "`datadog-cluster-agent status` in its leader pod.",
                "ksm-heartbeat",
            ),
            tags=tags,
            critical=1,
            priority=1,
            notify_no_data=True,
            no_data_timeframe=2 * minutes,
        ),
        MonitorSpec(
            key="agent-heartbeat",
            name=f"[{env}] no Datadog node agent reports",
            query=f"max(last_{minutes}m):sum:datadog.agent.running{{{scope.filter()}}} < 1",
            message=scope.message(
                "No node agent of the cluster has reported for a while: no metrics, logs or traces arrive.",
                "Check the agent DaemonSet (`kubectl -n datadog get ds datadog-agent`) and the API key.",
                "agent-heartbeat",
            ),
            tags=tags,
            critical=1,
            priority=1,
            notify_no_data=True,
            no_data_timeframe=2 * minutes,
        ),
    ]
