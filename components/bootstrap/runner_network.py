"""RunnerNetwork: the runners' VNet, whose infrastructure subnet sends everything out through a NAT
gateway with one static public IP: the address the clusters' apiServerAuthorizedIpRanges admit."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

from settings.bootstrap.config import RunnerSettings


@dataclass(frozen=True)
class RunnerNetworkArgs:
    settings: RunnerSettings
    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str]


class RunnerNetwork(pulumi.ComponentResource):
    """VNet, a Standard static IPv4 public IP, a NAT gateway with it, and the subnet delegated to
    Microsoft.App/environments with the NAT gateway attached."""

    subnet_id: pulumi.Output[str]
    egress_ip: pulumi.Output[str]

    def __init__(self, name: str, args: RunnerNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:RunnerNetwork", name, None, opts)
        self._args = args
        ip = self._build_public_ip()
        nat = self._build_nat_gateway(ip)
        subnet = self._build_subnet(nat)
        self.subnet_id = subnet.id
        # The address is allocated with the IP (Static), and stays until the IP is deleted.
        self.egress_ip = ip.ip_address.apply(lambda address: address or "")
        self.register_outputs({"subnetId": self.subnet_id, "egressIp": self.egress_ip})

    def _child(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    def _build_public_ip(self) -> network.PublicIPAddress:
        a = self._args
        # NAT gateway takes Standard SKU public IPs only (https://learn.microsoft.com/azure/nat-gateway/nat-overview;
        # pulumi_azure_native 3.29.0 network NatGatewaySkuName has only Standard). Protected: a new IP is a new
        # address, and every cluster's authorized ranges would have to follow.
        return network.PublicIPAddress(
            "pip-runners-egress",
            public_ip_address_name="pip-runners-egress",
            resource_group_name=a.resource_group_name,
            location=a.location,
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            tags=a.tags,
            opts=self._child(protect=True),
        )

    def _build_nat_gateway(self, ip: network.PublicIPAddress) -> network.NatGateway:
        a = self._args
        return network.NatGateway(
            "ng-runners",
            nat_gateway_name="ng-runners",
            resource_group_name=a.resource_group_name,
            location=a.location,
            sku={"name": "Standard"},
            public_ip_addresses=[{"id": ip.id}],
            idle_timeout_in_minutes=4,
            tags=a.tags,
            opts=self._child(),
        )

    def _build_subnet(self, nat: network.NatGateway) -> network.Subnet:
        a = self._args
        vnet = network.VirtualNetwork(
            "vnet-runners",
            virtual_network_name="vnet-runners",
            resource_group_name=a.resource_group_name,
            location=a.location,
            address_space={"address_prefixes": [a.settings.vnet_cidr]},
            tags=a.tags,
            # Subnets are separate resources; an inline list would fight them.
            opts=self._child(ignore_changes=["subnets"]),
        )
        # A workload profiles environment: "You must delegate your subnet to Microsoft.App/environments";
        # egress through a NAT gateway is supported there, not in a Consumption-only environment
        # (MicrosoftDocs/azure-docs articles/container-apps/custom-virtual-networks.md @ 1783cfce; networking.md).
        return network.Subnet(
            "snet-runners",
            subnet_name="snet-runners",
            virtual_network_name=vnet.name,
            resource_group_name=a.resource_group_name,
            address_prefix=a.settings.subnet_cidr,
            delegations=[{"name": "container-apps", "service_name": "Microsoft.App/environments"}],
            nat_gateway={"id": nat.id},
            opts=self._child(),
        )
