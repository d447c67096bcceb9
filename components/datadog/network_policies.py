"""The NetworkPolicies of the `datadog` namespace: who may reach the agents, and where the
Cluster Agent may go. Builders used by DatadogAgent (not a component of their own).

Under Cilium (components/kubernetes/network.py), in-cluster peers are chosen by labels:
- **DogStatsD 8125/UDP and traces 8126/TCP** from the pods of every namespace labelled
  CLIENT_NAMESPACE_LABEL: the service namespaces, whose pods reach the node-local Service.
- **The Cluster Agent's API, 5005/TCP,** from the node agents only (what the chart's
  cluster-agent-network-policy.yaml allows it from besides other Cluster Agents and cluster-check
  runners, neither run here). Its metrics port 5000 is not opened: nothing here scrapes it.
- **Probes need no rule.** The kubelet probes from the pod's own node, and Cilium lets the local
  host reach its endpoints whatever the policy: "Kubernetes demands that the localhost can always
  reach local pods", allow-localhost `auto` becomes `always` in Kubernetes mode (cilium/cilium
  daemon/cmd/daemon.go and pkg/option/config.go, main branch; AKS changes no such setting: only
  label exclusion may be configured, azure-cni-powered-by-cilium.md FAQ).
- **The Cluster Agent's egress**: DNS, and 443 to outside the cluster without the Azure host
  endpoints: the Datadog intake and the API server (on AKS outside the cluster, so an ipBlock
  selects it: Cilium gives an off-cluster kube-apiserver IP its CIDR labels, cilium/cilium#25241).
- **The node agents' egress is left open, on purpose.** Each reads its own node's kubelet at the
  node IP (status.hostIP, port 10250), and "it isn't currently possible to specify a NetworkPolicy
  with an ipBlock to allow traffic to node IPs" (azure-cni-powered-by-cilium.md FAQ); the chart
  likewise allows the agent all egress "for checks" (agent-network-policy.yaml @3.240.0)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.network import DNS_EGRESS, ip_block

CLIENT_NAMESPACE_LABEL = ("platform/datadog-client", "true")
"""On every namespace whose pods may send the agent metrics and traces (ServiceNamespace sets it)."""
API_PORT = 443
"""The Datadog intake (https) and the AKS API server, which listens on 443."""


def build_network_policies(
    namespace: str,
    labels: dict[str, str],
    agent_pods: dict[str, str],
    cluster_agent_pods: dict[str, str],
    ports: dict[str, int],
    opts: pulumi.ResourceOptions,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """Default-deny ingress for the namespace, then what each kind of pod lets in and out.
    `ports` names the agent's `dogstatsd` and `trace` ports and the Cluster Agent's `cmd` port."""
    key, value = CLIENT_NAMESPACE_LABEL
    clients = {"namespace_selector": {"match_labels": {key: value}}}
    outside = {"to": [{"ip_block": ip_block("0.0.0.0/0")}], "ports": [{"protocol": "TCP", "port": API_PORT}]}
    specs = {
        "default-deny-ingress": {"pod_selector": {}, "policy_types": ["Ingress"]},
        "allow-agent-intake": {
            "pod_selector": {"match_labels": dict(agent_pods)},
            "policy_types": ["Ingress"],
            "ingress": [
                {
                    "from": [clients],
                    "ports": [
                        {"protocol": "UDP", "port": ports["dogstatsd"]},
                        {"protocol": "TCP", "port": ports["trace"]},
                    ],
                }
            ],
        },
        "allow-cluster-agent-api": {
            "pod_selector": {"match_labels": dict(cluster_agent_pods)},
            "policy_types": ["Ingress"],
            "ingress": [
                {"from": [{"pod_selector": {"match_labels": dict(agent_pods)}}],
                 "ports": [{"protocol": "TCP", "port": ports["cmd"]}]}
            ],
        },
        "cluster-agent-egress": {
            "pod_selector": {"match_labels": dict(cluster_agent_pods)},
            "policy_types": ["Egress"],
            "egress": [DNS_EGRESS, outside],
        },
    }  # fmt: skip
    return [
        k8s.networking.v1.NetworkPolicy(
            f"datadog-{name}",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec=spec,
            opts=opts,
        )
        for name, spec in specs.items()
    ]
