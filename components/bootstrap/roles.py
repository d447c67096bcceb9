"""The Azure built-in roles the bootstrap grants, the ABAC condition that limits which roles the
deploy identity may hand on, and the one way the bootstrap creates a role assignment. Not a
component: helpers that create their resources under the caller."""

from __future__ import annotations

import uuid

import pulumi
from pulumi_azure_native import authorization

# Built-in role definition IDs: MicrosoftDocs/azure-docs
# articles/role-based-access-control/built-in-roles.md @ 00a58329 (ms.date 04/09/2026), the
# source of https://learn.microsoft.com/azure/role-based-access-control/built-in-roles; the
# privileged ones also checked against built-in-roles/privileged.md @ 0b8729ea.
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"  # Role Based Access Control Administrator
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
KEY_VAULT_CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"
# keys/encrypt/action and keys/decrypt/action: what `azurekeyvault://` calls (pulumi pkg v3.274.1
# secrets/cloud/manager.go wraps the stack's data key with Encrypt and opens it with Decrypt).
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"  # Azure Kubernetes Service RBAC Cluster Admin
AKS_RBAC_READER = "7f6c6a51-bcf8-42ba-9220-52d62157d7db"  # Azure Kubernetes Service RBAC Reader
# listClusterUserCredential/action: the platform program asks for the kubeconfig on every run.
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"  # Azure Kubernetes Service Cluster User Role

ROLE_NAMES = {
    CONTRIBUTOR: "Contributor",
    READER: "Reader",
    RBAC_ADMINISTRATOR: "Role Based Access Control Administrator",
    ACR_PULL: "AcrPull",
    NETWORK_CONTRIBUTOR: "Network Contributor",
    KEY_VAULT_CERTIFICATE_USER: "Key Vault Certificate User",
    KEY_VAULT_CRYPTO_USER: "Key Vault Crypto User",
    KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin",
    AKS_RBAC_READER: "Azure Kubernetes Service RBAC Reader",
    AKS_CLUSTER_USER: "Azure Kubernetes Service Cluster User Role",
}

# What the platform program itself assigns (components/azure: the subnet's Network Contributor,
# the registry's AcrPull, the vault's Key Vault Certificate User), and so all the deploy
# identity may assign. tests/test_bootstrap.py checks it against what the stacks register.
DELEGABLE_ROLES = (ACR_PULL, NETWORK_CONTRIBUTOR, KEY_VAULT_CERTIFICATE_USER)


# The principal type every assignment of the platform program names (components/azure/roles.py):
# its principals are managed identities, which ARM types as ServicePrincipal.
DELEGABLE_PRINCIPAL_TYPES = ("ServicePrincipal",)


def constrained_delegation(
    role_ids: tuple[str, ...] = DELEGABLE_ROLES, principal_types: tuple[str, ...] = DELEGABLE_PRINCIPAL_TYPES
) -> str:
    """The condition of a "Role Based Access Control Administrator" assignment that lets its holder
    create and delete assignments of `role_ids` only, and only to principals of `principal_types`
    (so never to a user or a group): Microsoft's "Constrain roles and principal types" example, one
    sub-condition for write (`@Request`) and one for delete (`@Resource`), because "the attribute
    source is different for each action" (MicrosoftDocs/azure-docs
    articles/role-based-access-control/delegate-role-assignments-examples.md @ 0b8729ea;
    https://learn.microsoft.com/azure/role-based-access-control/delegate-role-assignments-examples).
    It goes with conditionVersion '2.0'."""
    guids = ", ".join(role_ids)
    types = ", ".join(f"'{t}'" for t in principal_types)

    def allowed(source: str) -> str:
        return (
            f"@{source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
            f"{{{guids}}} AND @{source}[Microsoft.Authorization/roleAssignments:PrincipalType] "
            f"ForAnyOfAnyValues:StringEqualsIgnoreCase {{{types}}}"
        )

    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"({allowed('Request')})) AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        f"({allowed('Resource')}))"
    )


def role_definition(subscription_id: str, role_id: str) -> str:
    """The full role definition ID ARM takes (pulumi_azure_native 3.29.0 authorization/role_assignment.py)."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def assign(
    resource_name: str,
    *,
    role_id: str,
    principal_id: pulumi.Input[str],
    principal_type: str,
    scope: pulumi.Input[str],
    subscription_id: str,
    opts: pulumi.ResourceOptions,
    condition: str | None = None,
) -> authorization.RoleAssignment:
    """`role_id` for `principal_id` on `scope`. The assignment's name (a GUID) is derived from
    `resource_name`, which names the principal, the role and the scope, so a re-run finds the
    same assignment instead of adding a second one."""
    extra: dict[str, str] = {}
    if condition is not None:
        extra = {"condition": condition, "condition_version": "2.0"}
    return authorization.RoleAssignment(
        resource_name,
        role_assignment_name=str(uuid.uuid5(uuid.NAMESPACE_URL, f"aks-platform-bootstrap/{resource_name}")),
        role_definition_id=role_definition(subscription_id, role_id),
        principal_id=principal_id,
        principal_type=principal_type,
        scope=scope,
        description=f"{ROLE_NAMES[role_id]}: {resource_name} (aks-platform bootstrap)",
        opts=opts,
        **extra,
    )
