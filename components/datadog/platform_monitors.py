"""The cluster-wide monitors every Datadog-enabled stack gets: nodes, the agent
on every node, and the heartbeats whose silence is the alert. Plain data (see
monitor_spec.py); the DatadogMonitors component turns them into Datadog monitors."""

from __future__ import annotations

from components.datadog.agent import NAME as AGENT_DAEMONSET
from components.datadog.monitor_spec import MonitorScope, MonitorSpec


def platform_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    """Every cluster-wide monitor of a stack."""
    return [*_node_monitors(scope), *_heartbeats(scope)]


def _node_monitors(scope: MonitorScope) -> list[MonitorSpec]:
    t = scope.settings.thresholds
    tags = scope.tags("platform", scope.settings.team)
    env = scope.environment
    return [
        MonitorSpec(
            key="node-not-ready",
            name=f"[{env}] a node is not Ready",
            # Ready is `false` on a failing node and `unknown` on a dead or
            # partitioned one (its kubelet stopped reporting): anything but `true`.
            query=(
                f"min(last_{t.node_not_ready_minutes}m):sum:kubernetes_state.node.by_condition"
                f"{{{scope.filter('condition:ready', '!status:true')}}} by {{node}} > 0"
            ),
            message=scope.message(
                f"A node has not been Ready (NotReady or Unknown) for {t.node_not_ready_minutes} minutes. "
                "Its pods are being moved elsewhere.",
                "If it does not recover, AKS node auto-repair replaces it; check the node's events.",
                "node-not-ready",
            ),
            tags=tags,
            critical=0,
            priority=2,
        ),
        MonitorSpec(
            key="nodes-unschedulable",
            name=f"[{env}] a node has stayed unschedulable",
            # Per node: a rolling upgrade cordons each node for minutes, never one for this long.
            query=(
                f"min(last_{t.nodes_unschedulable_minutes}m):sum:kubernetes_state.node.status"
                f"{{{scope.filter('status:unschedulable')}}} by {{node}} > 0"
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
