"""PipelineAccess: every role the pipeline's identities (and the administrator who runs the
bootstrap) hold, each on the narrowest scope that works: a platform stack's resource group, the
state container, one key. Nothing on the subscription."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.bootstrap import roles


@dataclass(frozen=True)
class PipelineAccessArgs:
    subscription_id: str
    groups: dict[str, pulumi.Input[str]]
    """Platform stack -> its resource group's ID."""
    keys: dict[str, pulumi.Input[str]]
    """Platform stack -> its secrets key's ID."""
    state_container: pulumi.Input[str]
    deploy: dict[str, pulumi.Input[str]]
    """Platform stack -> its deploy identity's principal ID."""
    preview: pulumi.Input[str]
    """The preview identity's principal ID."""
    admin: pulumi.Input[str]
    """Who runs the bootstrap (getClientConfig's object ID)."""
    admin_type: str


class PipelineAccess(pulumi.ComponentResource):
    """Per stack, the deploy identity: Contributor and AKS RBAC Cluster Admin on its group, Role Based
    Access Control Administrator there limited by a condition to the roles the platform hands out,
    Key Vault Crypto User on its key; Storage Blob Data Contributor on the state container. The
    preview identity: Reader, AKS Cluster User and AKS RBAC Reader on every group, Crypto User on
    every key, Storage Blob Data Reader on the container. The administrator: data access to the
    container and the keys, to create the stacks and move their secrets (make adopt-bootstrap)."""

    def __init__(self, name: str, args: PipelineAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:PipelineAccess", name, None, opts)
        self._args = args
        for stack in args.groups:
            self._build_deploy(stack)
            self._build_preview(stack)
        self._build_state_access()
        self.register_outputs({})

    def _grant(self, resource_name: str, role_id: str, principal: pulumi.Input[str], scope: pulumi.Input[str],
               principal_type: str = "ServicePrincipal", condition: str | None = None) -> None:  # fmt: skip
        roles.assign(
            resource_name,
            role_id=role_id,
            principal_id=principal,
            principal_type=principal_type,
            scope=scope,
            subscription_id=self._args.subscription_id,
            condition=condition,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_deploy(self, stack: str) -> None:
        a = self._args
        deploy, group = a.deploy[stack], a.groups[stack]
        self._grant(f"deploy-{stack}-contributor", roles.CONTRIBUTOR, deploy, group)
        # Contributor cannot write role assignments (NotActions Microsoft.Authorization/*/Write): the
        # delegation below can, and only for the roles the platform program creates.
        self._grant(
            f"deploy-{stack}-rbac-administrator",
            roles.RBAC_ADMINISTRATOR,
            deploy,
            group,
            condition=roles.constrained_delegation(),
        )
        # Applying the Kubernetes objects: the clusters authorize with Azure RBAC (docs/delivery.md).
        self._grant(f"deploy-{stack}-aks-rbac-cluster-admin", roles.AKS_RBAC_CLUSTER_ADMIN, deploy, group)
        self._grant(f"deploy-{stack}-crypto-user", roles.KEY_VAULT_CRYPTO_USER, deploy, a.keys[stack])

    def _build_preview(self, stack: str) -> None:
        a = self._args
        group = a.groups[stack]
        self._grant(f"preview-{stack}-reader", roles.READER, a.preview, group)
        # The program asks for the cluster's kubeconfig on every run (listClusterUserCredential).
        self._grant(f"preview-{stack}-aks-cluster-user", roles.AKS_CLUSTER_USER, a.preview, group)
        self._grant(f"preview-{stack}-aks-rbac-reader", roles.AKS_RBAC_READER, a.preview, group)
        # A preview decrypts the stack's config secrets to run the program.
        self._grant(f"preview-{stack}-crypto-user", roles.KEY_VAULT_CRYPTO_USER, a.preview, a.keys[stack])
        self._grant(f"admin-{stack}-crypto-user", roles.KEY_VAULT_CRYPTO_USER, a.admin, a.keys[stack], a.admin_type)

    def _build_state_access(self) -> None:
        a = self._args
        for stack, deploy in a.deploy.items():
            self._grant(f"deploy-{stack}-state", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, deploy, a.state_container)
        # `pulumi preview` takes no lock and writes nothing to a DIY backend (pulumi pkg v3.274.1
        # backend/diy/backend.go apply: a DiscardPersister and no history or backup under DryRun;
        # lock.go: only Update, Import, Refresh, Destroy and stack edits lock).
        self._grant("preview-state", roles.STORAGE_BLOB_DATA_READER, a.preview, a.state_container)
        self._grant("admin-state", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, a.admin, a.state_container, a.admin_type)
