"""PlatformResourceGroups: the bootstrap's own resource group and one per platform stack, made
here so the pipeline's identities can be given roles on them, and nothing wider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources


@dataclass(frozen=True)
class PlatformResourceGroupsArgs:
    subscription_id: str
    location: str
    bootstrap_group: str
    """The bootstrap's own group: state, secrets vault, identities, runners."""
    platform_groups: dict[str, str]
    """Platform stack -> its group, which the platform program reads and deploys into."""
    existing: frozenset[str]
    """Platform stacks whose group exists already (created by the platform program before the bootstrap)."""
    tags: dict[str, str]


class PlatformResourceGroups(pulumi.ComponentResource):
    """The groups, all protected: the platform stacks' hold the clusters, the bootstrap's the
    state, and a destroy of the bootstrap stack must take neither along."""

    bootstrap: resources.ResourceGroup
    platform: dict[str, resources.ResourceGroup]

    def __init__(self, name: str, args: PlatformResourceGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:PlatformResourceGroups", name, None, opts)
        self._args = args
        self.bootstrap = self._group("bootstrap", args.bootstrap_group, {**args.tags, "purpose": "bootstrap"})
        self.platform = {stack: self._platform_group(stack, group) for stack, group in args.platform_groups.items()}
        self.register_outputs(
            {"bootstrap": self.bootstrap.name, "platform": {s: g.name for s, g in self.platform.items()}}
        )

    def _platform_group(self, stack: str, group: str) -> resources.ResourceGroup:
        # The tags the platform program gave the groups it created (components/azure/aks_cluster.py _tags), so
        # an existing group imports without a difference; the ID as ARM writes it (lower-case subscription).
        tags = {"environment": stack, "managed-by": "pulumi", "project": "platform"}
        existing = f"/subscriptions/{self._args.subscription_id.lower()}/resourceGroups/{group}"
        return self._group(f"platform-{stack}", group, tags, existing if stack in self._args.existing else None)

    def _group(
        self, resource_name: str, group: str, tags: dict[str, str], existing: str | None = None
    ) -> resources.ResourceGroup:
        return resources.ResourceGroup(
            resource_name,
            resource_group_name=group,
            location=self._args.location,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True, import_=existing),
        )
