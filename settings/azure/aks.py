"""The AKS cluster of the `prod` and `staging` stacks: `platform:aks`."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from settings.azure.key_vault import KeyVaultSettings
from settings.azure.names import ClusterName, ResourceGroupName
from settings.azure.registry import ContainerRegistrySettings
from settings.base import Model
from settings.types import Cidr, ClockTime, IpAddress, MinorVersion, ObjectId

DayOfWeek = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class MaintenanceWindow(Model):
    """A weekly window in which AKS may upgrade (planned maintenance)."""

    day_of_week: DayOfWeek = Field("Sunday", description="Day the window opens.")
    start_time: ClockTime = Field("03:00", description="Local start time, HH:MM.")
    duration_hours: int = Field(4, ge=4, le=24, description="Window length; AKS requires at least 4 hours.")
    utc_offset: str = Field(
        "+09:00", pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$", description="Offset of start_time from UTC."
    )
    interval_weeks: int = Field(1, ge=1, le=4, description="Repeat every N weeks.")


class NodeOsMaintenanceWindow(MaintenanceWindow):
    """Node OS updates: a day apart from the cluster upgrade window."""

    day_of_week: DayOfWeek = Field("Saturday", description="Day the window opens.")


# Objects whose defaults differ from their base class get a subclass rather
# than a default_factory: a stack that overrides one field of them must keep
# the other defaults, not fall back to the base class's.


class Maintenance(Model):
    """Planned-maintenance windows for both AKS upgrade schedules."""

    auto_upgrade: MaintenanceWindow = Field(
        default_factory=MaintenanceWindow, description="When the cluster auto-upgrade channel may run."
    )
    node_os_upgrade: NodeOsMaintenanceWindow = Field(
        default_factory=NodeOsMaintenanceWindow, description="When node OS images or security patches may be applied."
    )


class NodePool(Model):
    """An autoscaled AKS node pool."""

    vm_size: str = Field("Standard_D4ds_v5", description="Azure VM size of each node.")
    min_count: int = Field(2, ge=1, le=1000, description="Autoscaler lower bound.")
    max_count: int = Field(5, ge=1, le=1000, description="Autoscaler upper bound.")
    max_surge: str = Field(
        "33%", pattern=r"^([1-9][0-9]?%|100%|[1-9][0-9]*)$", description="Extra nodes during an upgrade (count or %)."
    )
    os_disk_size_gb: int = Field(128, ge=30, le=2048, description="OS disk size.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> NodePool:
        """`minCount` does not exceed `maxCount`."""
        if self.min_count > self.max_count:
            raise ValueError(f"minCount ({self.min_count}) must not exceed maxCount ({self.max_count})")
        return self


class SystemNodePool(NodePool):
    """The pool for cluster add-ons: small VMs, at least two for availability."""

    vm_size: str = Field("Standard_D2ds_v5", description="Azure VM size of each node.")
    min_count: int = Field(2, ge=1, le=1000, description="Autoscaler lower bound.")
    max_count: int = Field(3, ge=1, le=1000, description="Autoscaler upper bound.")


class UserNodePool(NodePool):
    """A pool for the services' workloads, managed as its own AgentPool
    resource so adding, resizing or replacing one is an ordinary change."""

    # Linux pool names: a lower-case letter, then up to 11 lower-case letters
    # or digits (the AKS agent pool name rule; not re-checked upstream here).
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,11}$", description="Pool name, e.g. 'user' (at most 12 characters).")


def unique_pool_names(pools: list[UserNodePool]) -> list[UserNodePool]:
    """User pool names are unique and not 'system'."""
    names = [pool.name for pool in pools]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"duplicate pool name {name!r}")
    if "system" in names:
        raise ValueError("'system' is the inline system pool's name: choose another")
    return pools


class AksNetwork(Model):
    """Azure CNI overlay networking: nodes get VNet IPs, pods an overlay range."""

    vnet_cidr: Cidr = Field("10.10.0.0/16", description="Address space of the cluster VNet.")
    node_subnet_cidr: Cidr = Field("10.10.0.0/22", description="Subnet for the nodes; must sit inside vnetCidr.")
    pod_cidr: Cidr = Field("192.168.0.0/16", description="Overlay range for pod IPs; must not overlap the VNet.")
    service_cidr: Cidr = Field("172.16.0.0/16", description="Range for ClusterIP Services.")
    dns_service_ip: IpAddress = Field("172.16.0.10", description="kube-dns address; must sit inside serviceCidr.")
    # Cilium by default: Azure NPM ('azure') is retired on Linux from
    # 2028-09-30 (AKSDOCS includes/azure-network-policy-manager-linux-retirement.md,
    # MicrosoftDocs/azure-aks-docs @ fb060abe), and changing either field later
    # replaces the cluster (pulumi-azure-native provider/pkg/gen/replacement.go).
    network_dataplane: Literal["azure", "cilium"] = Field(
        "cilium", description="Dataplane of Azure CNI: 'cilium' (eBPF) or 'azure'."
    )
    network_policy: Literal["azure", "calico", "cilium"] = Field(
        "cilium", description="Engine that enforces NetworkPolicy objects; 'cilium' needs networkDataplane 'cilium'."
    )

    @model_validator(mode="after")
    def _policy_fits_dataplane(self) -> AksNetwork:
        """`networkPolicy` 'cilium' goes with `networkDataplane` 'cilium', and only with it."""
        # AKS's rule: NetworkPolicy 'cilium' "requires networkDataplane to be
        # 'cilium'" (azure-rest-api-specs containerservice aks/stable/2025-09-01
        # managedClusters.json, ContainerServiceNetworkProfile; the same text in
        # pulumi_azure_native 3.29.0 containerservice/_enums.py NetworkPolicy).
        # The reverse (NPM or Calico on the Cilium dataplane) is refused as our
        # rule: Cilium enforces policy itself, and moving a cluster to Cilium
        # uninstalls NPM or Calico (AKSDOCS articles/aks/update-azure-cni.md,
        # MicrosoftDocs/azure-aks-docs @ fb060abe). No AKS error text for that
        # pair was found upstream.
        if (self.network_policy == "cilium") != (self.network_dataplane == "cilium"):
            raise ValueError(
                f"networkPolicy '{self.network_policy}' does not work with networkDataplane "
                f"'{self.network_dataplane}': use both 'cilium' (the default), "
                "or dataplane 'azure' with 'azure' or 'calico'"
            )
        return self

    @model_validator(mode="after")
    def _ranges_fit(self) -> AksNetwork:
        """The node subnet sits inside the VNet; pod and service ranges do not overlap it;
        the DNS IP sits in the service range."""
        vnet = ipaddress.ip_network(self.vnet_cidr)
        if not ipaddress.ip_network(self.node_subnet_cidr).subnet_of(vnet):  # type: ignore[arg-type]
            raise ValueError(f"nodeSubnetCidr {self.node_subnet_cidr} must sit inside vnetCidr {self.vnet_cidr}")
        for name, cidr in (("podCidr", self.pod_cidr), ("serviceCidr", self.service_cidr)):
            if ipaddress.ip_network(cidr).overlaps(vnet):
                raise ValueError(f"{name} {cidr} must not overlap vnetCidr {self.vnet_cidr}")
        if ipaddress.ip_address(self.dns_service_ip) not in ipaddress.ip_network(self.service_cidr):
            raise ValueError(f"dnsServiceIp {self.dns_service_ip} must sit inside serviceCidr {self.service_cidr}")
        return self


class AksSettings(Model):
    """The managed cluster of the `prod` and `staging` stacks."""

    subscription_id: ObjectId = Field(
        description=(
            "The Azure subscription this stack deploys into (the bootstrap stack's output `subscriptionId`; "
            "`az account show --query id -o tsv`). Derived names hash it, so they are known before anything is "
            "registered; a run signed in to another subscription is refused."
        )
    )
    location: str = Field("japaneast", pattern=r"^[a-z0-9]+$", description="Azure region, e.g. 'japaneast'.")
    resource_group_name: ResourceGroupName | None = Field(
        None,
        description=(
            "Defaults to 'rg-platform-<stack>'. The bootstrap stack creates it and grants the deploy identity "
            "its roles there; the program deploys into it and does not create it."
        ),
    )
    cluster_name: ClusterName | None = Field(None, description="Defaults to 'aks-platform-<stack>'.")
    kubernetes_version: MinorVersion | None = Field(
        "1.34",
        description=(
            "Kubernetes MAJOR.MINOR. With upgradeChannel 'patch' AKS keeps the newest patch of this minor, "
            "so a patch release is never a diff. Leave it null with 'stable' or 'rapid'."
        ),
    )
    upgrade_channel: Literal["patch", "stable", "rapid", "none"] = Field(
        "patch", description="Cluster auto-upgrade channel."
    )
    node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch"] = Field(
        "NodeImage", description="How node OS updates are applied."
    )
    maintenance: Maintenance = Field(
        default_factory=Maintenance, description="Weekly windows in which AKS may upgrade the cluster and node images."
    )
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(
        "Standard", description="'Standard' carries the uptime SLA; 'Free' has none."
    )
    availability_zones: list[Literal["1", "2", "3"]] = Field(
        default_factory=list,
        description=(
            "Zones to spread both node pools across; empty means no zones. Fixed once the cluster exists: "
            "AKS does not change a pool's zones (docs/operations.md#runbook-changing-the-system-pool)."
        ),
    )
    system_pool: SystemNodePool = Field(
        default_factory=SystemNodePool, description="Pool for cluster add-ons only (tainted CriticalAddonsOnly)."
    )
    user_pools: list[UserNodePool] = Field(
        default_factory=lambda: [UserNodePool(name="user")],
        description="Pools for the services' workloads, by name (a stack's list merges into the base by name).",
    )
    registry: ContainerRegistrySettings | None = Field(
        None, description="Container registry the nodes pull from with AcrPull; none means public images only."
    )
    key_vault: KeyVaultSettings | None = Field(
        None, description="Key Vault of the services' TLS certificates (`web.ingress.tls.certificateName`)."
    )
    secrets_rotation_poll_interval: str = Field(
        "2m",
        pattern=r"^[1-9][0-9]*(s|m|h)$",
        description=(
            "How often the Key Vault secrets provider add-on (on when an Ingress takes its certificate from Key Vault) "
            "re-reads its secrets, so a renewed certificate is served; AKS's default is '2m'."
        ),
    )
    network: AksNetwork = Field(
        default_factory=AksNetwork, description="Address ranges and the dataplane; changing them replaces the cluster."
    )
    api_server_authorized_ip_ranges: list[Cidr] = Field(
        min_length=1, description="Only these ranges reach the API server (no default: an open API server is a choice)."
    )
    runner_egress_ip: IpAddress | None = Field(
        None,
        description=(
            "The self-hosted runners' static egress address: the bootstrap stack's output `runnerEgressIp` "
            "(`make adopt-bootstrap` writes it). prod and staging must admit it in apiServerAuthorizedIpRanges."
        ),
    )
    admin_group_object_ids: list[ObjectId] = Field(
        min_length=1, description="Entra ID groups that get cluster-admin through Azure RBAC."
    )
    tenant_id: ObjectId | None = Field(None, description="Entra ID tenant; defaults to the subscription's tenant.")
    kubelogin_mode: Literal["azurecli", "workloadidentity", "spn"] = Field(
        "azurecli",
        description=(
            "How the kubeconfig logs in without a prompt: 'azurecli' for people and for CI after azure/login; "
            "'workloadidentity' for federated tokens; 'spn' reads AAD_SERVICE_PRINCIPAL_* from the environment."
        ),
    )
    protect: bool = Field(False, description="Refuse to delete the cluster and resource group.")

    _unique_pool_names = field_validator("user_pools")(unique_pool_names)

    def group_name(self, stack: str) -> str:
        """The resource group the stack deploys into."""
        return self.resource_group_name or f"rg-platform-{stack}"

    def registry_name(self, stack: str) -> str | None:
        """The attached or created registry's name; None without `registry`."""
        return self.registry.registry_name(stack, self.subscription_id) if self.registry else None

    def vault_name(self, stack: str) -> str | None:
        """The attached or created certificate vault's name; None without `keyVault`."""
        return self.key_vault.vault_name(stack, self.subscription_id) if self.key_vault else None

    @model_validator(mode="after")
    def _version_matches_channel(self) -> AksSettings:
        """`kubernetesVersion` is set with upgradeChannel 'patch' and null with 'stable' or 'rapid'."""
        # The rule the AKS Terraform modules enforce: a pinned patch with an
        # auto-upgrade channel makes the next deploy try to undo the upgrade.
        if self.upgrade_channel == "patch" and self.kubernetes_version is None:
            raise ValueError(
                "kubernetesVersion is required with upgradeChannel 'patch' (write MAJOR.MINOR, e.g. '1.34')"
            )
        if self.upgrade_channel in ("stable", "rapid") and self.kubernetes_version is not None:
            raise ValueError(
                f"kubernetesVersion must be null with upgradeChannel '{self.upgrade_channel}': "
                "AKS moves the minor version itself"
            )
        return self
