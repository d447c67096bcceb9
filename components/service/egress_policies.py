"""The NetworkPolicies that fence a service namespace's outbound traffic:
deny by default; allow DNS, the Datadog agent, and what the service declares.
Builders used by ServiceNamespace (not a component of their own).

Written for Cilium enforcement (components/kubernetes/network.py): in-cluster peers
(CoreDNS, the agent) by namespace and pod labels, ipBlocks for destinations outside the
cluster only, each leaving out the Azure host endpoints it covers."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_kubernetes as k8s

from components.datadog.agent import AGENT_SELECTOR as DATADOG_AGENT_SELECTOR
from components.datadog.agent import DOGSTATSD_PORT, TRACE_PORT
from components.datadog.agent import NAMESPACE as DATADOG_NAMESPACE
from components.kubernetes.network import DNS_EGRESS, ip_block, namespace_peer
from components.service.workload import WorkloadIdentity
from settings.service.egress import EgressRule

# The agent's DogStatsD (8125/UDP) and trace (8126/TCP) ports, reached through
# its in-cluster Service, so the peer is the agent pods themselves.
DATADOG_PEER = namespace_peer(DATADOG_NAMESPACE, DATADOG_AGENT_SELECTOR)
DATADOG_PORTS = [{"protocol": "UDP", "port": DOGSTATSD_PORT}, {"protocol": "TCP", "port": TRACE_PORT}]


def declared_egress(rules: list[EgressRule], protected: tuple[str, ...] = ()) -> list[dict]:
    """One egress rule per declared destination; the metadata endpoint and the wireserver are
    always excepted, and so is each of the cluster's `protected` addresses a rule's range covers."""
    found = []
    for rule in rules:
        block = ip_block(rule.cidr)
        network = ipaddress.ip_network(rule.cidr)
        inside = [c for c in protected if ipaddress.ip_network(c).subnet_of(network)]  # type: ignore[arg-type]
        if inside:
            block["except"] = [*block.get("except", []), *inside]
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
            "egress": [DNS_EGRESS, {"to": [DATADOG_PEER], "ports": DATADOG_PORTS}],
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
