"""NetworkPolicy peers every room shares. Not a component: plain dicts.

Written for Cilium enforcement (AKSDOCS articles/aks/azure-cni-powered-by-cilium.md,
MicrosoftDocs/azure-aks-docs @ 007506ca, Limitations and FAQ): "a NetworkPolicy ipBlock can't
select pod or node IPs", so in-cluster peers are selected by namespace and pod labels, ipBlocks
are for destinations outside the cluster only, and "it isn't currently possible to specify a
NetworkPolicy with an ipBlock to allow traffic to node IPs". Cilium keeps ipBlock.except
(cilium/cilium pkg/k8s/network_policy.go ipBlockToCIDRRule @ 0a0f0d9c)."""

from __future__ import annotations

from settings.host_endpoints import host_endpoints_inside

# CoreDNS on AKS: namespace kube-system, pods labelled k8s-app=kube-dns
# (AKSDOCS articles/aks/best-practices-ml-ops.md l.697-708, coredns-troubleshoot.md).
DNS_PEER = {
    "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "kube-system"}},
    "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
DNS_EGRESS = {"to": [DNS_PEER], "ports": DNS_PORTS}


def ip_block(cidr: str) -> dict:
    """An ipBlock for `cidr` that leaves out the Azure host endpoints it covers (settings/host_endpoints.py)."""
    block: dict = {"cidr": cidr}
    if excepted := host_endpoints_inside(cidr):
        block["except"] = excepted
    return block


def namespace_peer(namespace: str, pod_labels: dict[str, str]) -> dict:
    """The pods with `pod_labels` in `namespace`, by the label every namespace carries."""
    return {
        "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}},
        "pod_selector": {"match_labels": dict(pod_labels)},
    }
