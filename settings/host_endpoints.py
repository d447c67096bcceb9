"""The Azure host's own endpoints, reachable from every VM and so from every pod, which no
workload may reach: they answer with the node's identity and settings. Shared by the config of
a service's egress (settings/service/egress.py) and the platform's own NetworkPolicies."""

from __future__ import annotations

import ipaddress

# The Instance Metadata Service hands out node identity tokens; workload identity uses the
# projected token instead. AKSDOCS articles/aks/operator-best-practices-cluster-security.md
# l.73-99 (MicrosoftDocs/azure-aks-docs @ fb060abe) blocks exactly this /32.
IMDS_CIDR = "169.254.169.254/32"
# The WireServer: the VM agent's endpoint, with "protected settings that have priviledged info";
# AKS itself drops pod TCP to it on ports 80 and 32526 (Azure/AgentBaker
# parts/linux/cloud-init/artifacts/block_wireserver.sh @1054319a), and it is "not subject to the
# configured network security groups" nor to user defined routes (MicrosoftDocs/azure-docs
# articles/virtual-network/what-is-ip-address-168-63-129-16.md @9c7b9412). Pods resolve names
# through CoreDNS, so excepting all of it costs nothing.
WIRESERVER_CIDR = "168.63.129.16/32"
HOST_ENDPOINTS = (IMDS_CIDR, WIRESERVER_CIDR)


def host_endpoints_inside(cidr: str) -> list[str]:
    """The host endpoints a range covers (an IPv6 range covers none)."""
    network = ipaddress.ip_network(cidr)
    if network.version != 4:
        return []
    return [e for e in HOST_ENDPOINTS if ipaddress.ip_network(e).subnet_of(network)]  # type: ignore[arg-type]
