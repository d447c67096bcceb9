"""AksCluster: the managed Kubernetes cluster of a cloud stack, its network,
its upgrade schedules, and the one Kubernetes provider that talks to it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# Submodules only: the top-level pulumi_azure_native package imports every
# Azure service and costs seconds at every preview.
from pulumi_azure_native import authorization, containerservice, managedidentity, network, resources

from components.azure.certificate_vault import CertificateVault, CertificateVaultArgs
from components.azure.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.azure.kubeconfig import to_non_interactive
from components.azure.roles import grant_role
from components.kubernetes.runtime import IngressFacts
from components.moves import moved_from
from settings.azure.aks import AksSettings, MaintenanceWindow, NodePool

# Built-in role that lets the cluster identity join its load balancers and
# nodes to our subnet (required with a bring-your-own VNet).
NETWORK_CONTRIBUTOR_ROLE = "4d97b98b-1d4f-4787-a291-c67834d212e7"
SYSTEM_POOL_TAINT = "CriticalAddonsOnly=true:NoSchedule"


@dataclass(frozen=True)
class AksClusterArgs:
    stack: str
    environment: str
    cluster_name: str
    settings: AksSettings
    key_vault_certificates: bool = False
    """Some Ingress takes its certificate from Key Vault: the add-on needs the CSI secrets provider."""


class AksCluster(pulumi.ComponentResource):
    """In the resource group the bootstrap stack made (read, not created): VNet and
    subnet, user-assigned identity, the ManagedCluster with its inline system pool,
    the user pools, both maintenance windows, and the registry and certificate vault
    if configured."""

    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    key_vault_uri: pulumi.Output[str] | None
    ingress: IngressFacts
    """The application routing add-on's managed NGINX, which web apps are reached through."""
    """Where `certificateName` certificates live; None without `aks.keyVault`."""

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:azure:AksCluster", name, None, moved_from("platform:cluster:AksCluster", opts))
        self._args = args
        s = args.settings
        self._cluster_name = args.cluster_name
        # Losing prod by a bad diff must be impossible, not just unlikely.
        self._protect = s.protect

        self._client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        group = self._build_resource_group()
        subnet = self._build_network(group)
        identity, subnet_role = self._build_identity(group, subnet)
        cluster = self._build_cluster(group, subnet, identity, subnet_role)
        self._build_user_pools(group, subnet, cluster)
        self._build_maintenance(group, cluster)
        self._build_registry(group, cluster)
        self.key_vault_uri = self._build_certificate_vault(group, cluster)
        self.ingress = _app_routing(self.key_vault_uri)
        self.kubeconfig = self._build_kubeconfig(group, cluster)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.cluster_name = cluster.name
        self.resource_group_name = group.name
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: (p.issuer_url if p else None) or "")
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "resourceGroupName": self.resource_group_name,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _child(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=self._protect, **extra)  # type: ignore[arg-type]

    def _build_resource_group(self) -> resources.ResourceGroup:
        # The bootstrap stack creates the group and grants the deploy identity its roles there
        # (bootstrap/, components/bootstrap/resource_groups.py), so this program only reads it.
        # A stack that created the group itself relinquishes it here without deleting it: the
        # read has the same URN and the same ID, which the engine treats as a release from
        # management, not a replace (pulumi pkg v3.274.1 resource/deploy/step_generator.go
        # GenerateReadSteps, "relinquish").
        # The ID must equal the stored one exactly, or the engine replaces (deletes) the old group:
        # ARM writes the subscription GUID in lower case.
        s = self._args.settings
        group_id = f"/subscriptions/{s.subscription_id.lower()}/resourceGroups/{s.group_name(self._args.stack)}"
        return resources.ResourceGroup.get("rg", group_id, opts=pulumi.ResourceOptions(parent=self))

    def _build_network(self, group: resources.ResourceGroup) -> network.Subnet:
        net = self._args.settings.network
        vnet = network.VirtualNetwork(
            "vnet",
            resource_group_name=group.name,
            location=self._args.settings.location,
            virtual_network_name=f"vnet-{self._cluster_name}",
            address_space={"address_prefixes": [net.vnet_cidr]},
            tags=self._tags(),
            # Subnets are separate resources; an inline list would fight them.
            opts=self._child(ignore_changes=["subnets"]),
        )
        return network.Subnet(
            "nodes",
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            subnet_name="snet-nodes",
            address_prefix=net.node_subnet_cidr,
            opts=self._child(),
        )

    def _build_identity(
        self, group: resources.ResourceGroup, subnet: network.Subnet
    ) -> tuple[managedidentity.UserAssignedIdentity, authorization.RoleAssignment]:
        # A user-assigned identity exists before the cluster, so its subnet
        # permission is in place when AKS first needs it.
        identity = managedidentity.UserAssignedIdentity(
            "identity",
            resource_group_name=group.name,
            location=self._args.settings.location,
            resource_name_=f"id-{self._cluster_name}",
            tags=self._tags(),
            opts=self._child(),
        )
        role = grant_role(
            "subnet-network-contributor",
            cluster_name=self._cluster_name,
            purpose="subnet-network-contributor",
            role_id=NETWORK_CONTRIBUTOR_ROLE,
            principal_id=identity.principal_id,
            subscription_id=self._client.subscription_id,
            scope=subnet.id,
            opts=self._child(),
        )
        return identity, role

    def _pool(self, name: str, mode: str, pool: NodePool, subnet: network.Subnet) -> dict:
        s = self._args.settings
        profile: dict = {
            "name": name,
            "mode": mode,
            "type": "VirtualMachineScaleSets",
            "vm_size": pool.vm_size,
            "os_type": "Linux",
            "os_sku": "AzureLinux",
            "os_disk_size_gb": pool.os_disk_size_gb,
            "enable_auto_scaling": True,
            "count": pool.min_count,
            "min_count": pool.min_count,
            "max_count": pool.max_count,
            "vnet_subnet_id": subnet.id,
            "upgrade_settings": {"max_surge": pool.max_surge},
        }
        if s.availability_zones:
            profile["availability_zones"] = list(s.availability_zones)
        if s.kubernetes_version is not None:
            profile["orchestrator_version"] = s.kubernetes_version
        if mode == "System":
            profile["node_taints"] = [SYSTEM_POOL_TAINT]
        return profile

    def _build_cluster(
        self,
        group: resources.ResourceGroup,
        subnet: network.Subnet,
        identity: managedidentity.UserAssignedIdentity,
        subnet_role: authorization.RoleAssignment,
    ) -> containerservice.ManagedCluster:
        s = self._args.settings
        net = s.network
        tenant_id = s.tenant_id or self._client.tenant_id
        return containerservice.ManagedCluster(
            "cluster",
            resource_group_name=group.name,
            location=self._args.settings.location,
            resource_name_=self._cluster_name,
            dns_prefix=self._cluster_name,
            kubernetes_version=s.kubernetes_version,
            sku={"name": "Base", "tier": s.sku_tier},
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            auto_upgrade_profile={
                "upgrade_channel": s.upgrade_channel,
                "node_os_upgrade_channel": s.node_os_upgrade_channel,
            },
            # Only the system pool is inline: ARM needs one at creation, and AKS
            # refuses new pools through cluster updates ("use per agent pool
            # operations", pulumi-azure-native #579/#2719). User pools are
            # AgentPool resources, as the AVM models them (Azure/bicep-registry-modules
            # avm/res/container-service/managed-cluster main.bicep l.130-133, l.662).
            agent_pool_profiles=[self._pool("system", "System", s.system_pool, subnet)],
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile={
                "managed": True,
                "enable_azure_rbac": True,
                "admin_group_object_ids": list(s.admin_group_object_ids),
                "tenant_id": tenant_id,
            },
            api_server_access_profile={"authorized_ip_ranges": list(s.api_server_authorized_ip_ranges)},
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": net.network_dataplane,
                "network_policy": net.network_policy,
                "pod_cidr": net.pod_cidr,
                "service_cidr": net.service_cidr,
                "dns_service_ip": net.dns_service_ip,
                "load_balancer_sku": "standard",
                "outbound_type": "loadBalancer",
            },
            oidc_issuer_profile={"enabled": True},
            security_profile={"workload_identity": {"enabled": True}},
            # The application routing add-on: managed NGINX in app-routing-system
            # (pulumi_azure_native 3.29.0 containerservice/_inputs.py
            # ManagedClusterIngressProfileWebAppRoutingArgs).
            ingress_profile={"web_app_routing": {"enabled": True}},
            addon_profiles=self._addons(),
            tags=self._tags(),
            # Created only once AKS's identity may join the subnet: role
            # assignments take time to propagate (mspnp/aks-baseline
            # workload-team/cluster-stamp.bicep l.992-1008 orders it the same way).
            opts=self._child(
                ignore_changes=self._drift_owned_by_azure(),
                depends_on=[subnet_role],
                hooks=pulumi.ResourceHookBinding(before_update=[self._system_pool_guard()]),
            ),
        )

    def _system_pool_guard(self) -> pulumi.ResourceHook:
        # In the preview too (on_dry_run), where a person reads it before merging.
        return pulumi.ResourceHook(
            f"{self._cluster_name}-system-pool-fixed",
            refuse_system_pool_changes,
            pulumi.ResourceHookOptions(on_dry_run=True),
        )

    def _addons(self) -> dict:
        if not self._args.key_vault_certificates:
            return {}
        # The Key Vault CSI provider the add-on mounts certificates with: the
        # add-on key mspnp/aks-baseline uses (workload-team/cluster-stamp.bicep l.846).
        # With rotation on, a renewed certificate reaches the Ingress: "To enable the add-on to
        # reload certificates from Azure Key Vault when they change, you should enable the secret
        # autorotation feature" (MicrosoftDocs/azure-aks-docs articles/aks/app-routing-dns-ssl.md
        # @11fb7fb8). The keys and their string values, and the 2-minute default:
        # articles/aks/csi-secrets-store-configuration-options.md @d297e9a1.
        return {
            "azureKeyvaultSecretsProvider": {
                "enabled": True,
                "config": {
                    "enableSecretRotation": "true",
                    "rotationPollInterval": self._args.settings.secrets_rotation_poll_interval,
                },
            }
        }

    def _build_user_pools(
        self, group: resources.ResourceGroup, subnet: network.Subnet, cluster: containerservice.ManagedCluster
    ) -> None:
        ignored = ["count"]  # the cluster autoscaler owns it
        if self._args.settings.upgrade_channel in ("stable", "rapid"):
            ignored.append("orchestratorVersion")
        for pool in self._args.settings.user_pools:
            profile = self._pool(pool.name, "User", pool, subnet)
            containerservice.AgentPool(
                f"pool-{pool.name}",
                agent_pool_name=profile.pop("name"),
                resource_group_name=group.name,
                resource_name_=cluster.name,
                **profile,
                # vmSize is force-new (pulumi-azure-native provider/pkg/gen/replacement.go)
                # and the pool's name is fixed, so a replacement must delete first.
                # Prod's protection refuses that: add a pool under a new name instead.
                opts=self._child(ignore_changes=ignored, delete_before_replace=True),
            )

    def _build_registry(self, group: resources.ResourceGroup, cluster: containerservice.ManagedCluster) -> None:
        a = self._args
        if a.settings.registry is None:
            return
        ContainerRegistry(
            "acr",
            ContainerRegistryArgs(
                settings=a.settings.registry,
                name=a.settings.registry_name(a.stack) or "",
                cluster_name=self._cluster_name,
                resource_group_name=group.name,
                location=self._args.settings.location,
                # SDK 3.29.0 managed_cluster.py: "The only accepted key is 'kubeletidentity'".
                kubelet_object_id=cluster.identity_profile.apply(lambda ids: ids["kubeletidentity"].object_id),
                subscription_id=self._client.subscription_id,
                tags=self._tags(),
                protect=self._protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_certificate_vault(
        self, group: resources.ResourceGroup, cluster: containerservice.ManagedCluster
    ) -> pulumi.Output[str] | None:
        a = self._args
        if a.settings.key_vault is None:
            return None
        vault = CertificateVault(
            "kv",
            CertificateVaultArgs(
                settings=a.settings.key_vault,
                name=a.settings.vault_name(a.stack) or "",
                cluster_name=self._cluster_name,
                resource_group_name=group.name,
                location=self._args.settings.location,
                tenant_id=a.settings.tenant_id or self._client.tenant_id,
                subscription_id=self._client.subscription_id,
                # SDK 3.29.0 outputs.py ManagedClusterIngressProfileWebAppRoutingResponse.identity.
                add_on_object_id=cluster.ingress_profile.apply(lambda p: p.web_app_routing.identity.object_id),
                tags=self._tags(),
                protect=self._protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return vault.vault_uri

    def _drift_owned_by_azure(self) -> list[str]:
        """Properties Azure changes on its own; a deploy must never undo them."""
        # The cluster autoscaler owns the node counts.
        ignored = ["agentPoolProfiles[*].count"]
        if self._args.settings.upgrade_channel in ("stable", "rapid"):
            # These channels move the minor version themselves.
            ignored += ["kubernetesVersion", "agentPoolProfiles[*].orchestratorVersion"]
        return ignored

    def _build_maintenance(self, group: resources.ResourceGroup, cluster: containerservice.ManagedCluster) -> None:
        windows = self._args.settings.maintenance
        for config_name, window in (
            ("aksManagedAutoUpgradeSchedule", windows.auto_upgrade),
            ("aksManagedNodeOSUpgradeSchedule", windows.node_os_upgrade),
        ):
            containerservice.MaintenanceConfiguration(
                config_name,
                resource_group_name=group.name,
                resource_name_=cluster.name,
                config_name=config_name,
                maintenance_window=_maintenance_window(window),
                opts=self._child(),
            )

    def _build_kubeconfig(
        self, group: resources.ResourceGroup, cluster: containerservice.ManagedCluster
    ) -> pulumi.Output[str]:
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=group.name,
            resource_name=cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        mode = self._args.settings.kubelogin_mode
        kubeconfig = credentials.kubeconfigs.apply(
            lambda configs: to_non_interactive(base64.b64decode(configs[0].value).decode(), mode)
        )
        return pulumi.Output.secret(kubeconfig)

    def _tags(self) -> dict[str, str]:
        # The policy pack reads `environment` to apply the prod guardrails.
        return {"environment": self._args.environment, "managed-by": "pulumi", "project": "platform"}


SYSTEM_POOL_FIXED = {"vmSize": "systemPool.vmSize", "osDiskSizeGB": "systemPool.osDiskSizeGb",
                     "availabilityZones": "availabilityZones"}  # fmt: skip
"""The system pool's properties AKS cannot change in place, by API name, with their config key
under `platform:aks`. Zones: "You can't change the number of availability zones after you create
a node pool" (learn.microsoft.com/azure/aks/reliability-availability-zones-configure), and none
is the same as an empty list.
"Currently, AKS *doesn't support* transitioning to a new VM size within the same node pool"
(MicrosoftDocs/azure-aks-docs articles/aks/aks-virtual-machine-sizes.md); the way is a new pool,
then cordon, drain and delete the old (articles/aks/resize-node-pool.md @1cdcefd6; its in-place
resize is a preview of API 2026-01-preview, and the provider here speaks 2025-09-01). The OS disk
is part of the pool's VM model the same way. The config cannot see the value the cluster was
created with, so the refusal compares the old inputs with the new in a resource hook, before
ARM is asked (pulumi ResourceHookArgs `old_inputs`/`new_inputs` for before_update)."""
RESIZE_HELP = "docs/operations.md#runbook-changing-the-system-pool"


def system_pool_changes(old_inputs: Mapping[str, Any] | None, new_inputs: Mapping[str, Any] | None) -> list[str]:
    """One line per system-pool property that changed and cannot change in place."""

    def system(inputs: Mapping[str, Any] | None) -> Mapping[str, Any]:
        pools = (inputs or {}).get("agentPoolProfiles") or []
        return next((p for p in pools if p.get("name") == "system"), {})

    old, new = system(old_inputs), system(new_inputs)
    if not old:  # a create: nothing to compare with
        return []
    value = lambda pool, api: pool.get(api) or ([] if api == "availabilityZones" else None)  # noqa: E731
    return [
        f"platform:aks.{key}: {value(old, api)!r} -> {value(new, api)!r} cannot be applied: AKS does not change a "
        f"pool's {api} in place, and the system pool lives as long as the cluster; keep {value(old, api)!r}, raise "
        f"systemPool.maxCount for more room, or follow {RESIZE_HELP}"
        for api in SYSTEM_POOL_FIXED
        if value(new, api) != value(old, api)
        for key in [SYSTEM_POOL_FIXED[api]]
    ]


def refuse_system_pool_changes(args: pulumi.ResourceHookArgs) -> None:
    """A before_update hook of the cluster: fails the preview and the update on such a change."""
    problems = system_pool_changes(args.old_inputs, args.new_inputs)
    if problems:
        raise ValueError("\n".join(problems))


def _app_routing(key_vault_uri: pulumi.Output[str] | None) -> IngressFacts:
    # The add-on's class, namespace and pod label (Azure/aks-app-routing-operator
    # @ 3c53beff pkg/config/config.go DefaultNs, pkg/controller/nginxingress/default.go
    # DefaultIcName, pkg/manifests/types.go PodLabels; AKSDOCS articles/aks/app-routing.md).
    return IngressFacts(
        class_name="webapprouting.kubernetes.azure.com",
        controller_namespace="app-routing-system",
        controller_pod_labels={"app": "nginx"},
        key_vault_uri=key_vault_uri,
    )


def _maintenance_window(window: MaintenanceWindow) -> dict:
    return {
        "schedule": {"weekly": {"day_of_week": window.day_of_week, "interval_weeks": window.interval_weeks}},
        "duration_hours": window.duration_hours,
        "start_time": window.start_time,
        "utc_offset": window.utc_offset,
    }
