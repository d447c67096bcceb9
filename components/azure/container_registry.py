"""ContainerRegistry: the Azure Container Registry the cluster's nodes pull
private images from, created here or attached by resource ID."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry

from components.azure.roles import grant_role
from components.moves import moved_from
from settings.azure.registry import ContainerRegistrySettings

# Built-in role AcrPull (Microsoft.ContainerRegistry/registries/pull/read):
# MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/containers.md
# @ 0088bfa7; mspnp/aks-baseline workload-team/cluster-stamp.bicep l.83-84 uses the same GUID.
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


@dataclass(frozen=True)
class ContainerRegistryArgs:
    settings: ContainerRegistrySettings
    name: str
    """The registry's name: attached, explicit or derived (settings/azure/registry.py)."""
    cluster_name: str
    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    kubelet_object_id: pulumi.Input[str]
    """The kubelet identity (identity_profile['kubeletidentity']): the nodes pull with it."""
    subscription_id: pulumi.Input[str]
    tags: dict[str, str]
    protect: bool


class ContainerRegistry(pulumi.ComponentResource):
    """The registry (admin user and anonymous pull off) or an existing one,
    and AcrPull on it for the kubelet identity."""

    registry_id: pulumi.Output[str]
    login_server: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "platform:azure:ContainerRegistry", name, None, moved_from("platform:cluster:ContainerRegistry", opts)
        )
        self._args = args
        if args.settings.resource_id is not None:
            self.registry_id = pulumi.Output.from_input(args.settings.resource_id)
        else:
            self.registry_id = self._build_registry(name).id
        self._build_pull_role(name)
        self.login_server = pulumi.Output.from_input(f"{args.name.lower()}.azurecr.io")
        self.register_outputs({"registryId": self.registry_id, "loginServer": self.login_server})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=self._args.protect)

    def _build_registry(self, name: str) -> containerregistry.Registry:
        a = self._args
        # pulumi_azure_native 3.29.0 containerregistry/registry.py: admin_user_enabled,
        # anonymous_pull_enabled ("registry-wide pull from unauthenticated clients").
        return containerregistry.Registry(
            name,
            registry_name=a.name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            sku={"name": a.settings.sku},
            admin_user_enabled=False,  # no shared password: pulls use Entra identities only
            anonymous_pull_enabled=False,
            tags=a.tags,
            opts=self._child(),
        )

    def _build_pull_role(self, name: str) -> None:
        a = self._args
        grant_role(
            f"{name}-acr-pull",
            cluster_name=a.cluster_name,
            purpose="acr-pull",
            role_id=ACR_PULL_ROLE,
            principal_id=a.kubelet_object_id,
            subscription_id=a.subscription_id,
            scope=self.registry_id,
            opts=self._child(),
        )
