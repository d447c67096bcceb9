"""The NetworkPolicies that fence a service namespace's outbound traffic:
deny by default; allow DNS, the Datadog agent, and what the service declares.
Builders used by ServiceNamespace (not a component of their own).

Written for Cilium enforcement (AKSDOCS articles/aks/azure-cni-powered-by-cilium.md,
MicrosoftDocs/azure-aks-docs @ fb060abe, Limitations and FAQ): an ipBlock never
matches pod or node IPs there, so in-cluster peers (CoreDNS, the agent) are
selected by namespace and pod labels, and ipBlocks are for destinations outside
the cluster only. Cilium keeps ipBlock.except (cilium/cilium pkg/k8s/network_policy.go
ipBlockToCIDRRule @ 0a0f0d9c), which is how the metadata endpoint stays closed."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_kubernetes as k8s

from components.datadog.agent import AGENT_SELECTOR as DATADOG_AGENT_SELECTOR
from components.datadog.agent import NAMESPACE as DATADOG_NAMESPACE
from components.service.workload import WorkloadIdentity
from settings.service.egress import EgressRule

# CoreDNS on AKS: namespace kube-system, pods labelled k8s-app=kube-dns
# (AKSDOCS articles/aks/best-practices-ml-ops.md l.697-708, coredns-troubleshoot.md).
DNS_PEER = {
    "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "kube-system"}},
    "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
# The agent's DogStatsD (8125/UDP) and trace (8126/TCP) ports, reached through
# its in-cluster Service, so the peer is the agent pods themselves.
DATADOG_PEER = {
    "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": DATADOG_NAMESPACE}},
    "pod_selector": {"match_labels": dict(DATADOG_AGENT_SELECTOR)},
}
DATADOG_PORTS = [{"protocol": "UDP", "port": 8125}, {"protocol": "TCP", "port": 8126}]


def declared_egress(rules: list[EgressRule], protected: tuple[str, ...] = ()) -> list[dict]:
    """One egress rule per declared destination; the metadata endpoint is always excepted,
    and so is each of the cluster's `protected` addresses a rule's range covers."""
    found = []
    for rule in rules:
        block: dict = {"cidr": rule.cidr}
        network = ipaddress.ip_network(rule.cidr)
        inside = [c for c in protected if ipaddress.ip_network(c).subnet_of(network)]  # type: ignore[arg-type]
        excepted = [*rule.except_cidrs(), *inside]
        if excepted:
            block["except"] = excepted
        ports = [{"protocol": rule.protocol, "port": port} for port in rule.ports]
        found.append({"to": [{"ip_block": block}], "ports": ports})
    return found


def build_egress_policies(
    service: str,
    identity: WorkloadIdentity,
    rules: list[EgressRule],
    opts: pulumi.ResourceOptions,
    protected: tuple[str, ...] = (),
) -> None:
    k8s.networking.v1.NetworkPolicy(
        f"{service}-default-deny-egress",
        metadata=identity.metadata("default-deny-egress"),
        spec={"pod_selector": {}, "policy_types": ["Egress"]},
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{service}-allow-platform-egress",
        metadata=identity.metadata("allow-platform-egress"),
        spec={
            "pod_selector": {},
            "policy_types": ["Egress"],
            "egress": [{"to": [DNS_PEER], "ports": DNS_PORTS}, {"to": [DATADOG_PEER], "ports": DATADOG_PORTS}],
        },
        opts=opts,
    )
    if rules:
        k8s.networking.v1.NetworkPolicy(
            f"{service}-allow-declared-egress",
            metadata=identity.metadata("allow-declared-egress"),
            spec={"pod_selector": {}, "policy_types": ["Egress"], "egress": declared_egress(rules, protected)},
            opts=opts,
        )
