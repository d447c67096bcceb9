"""Granting an Azure built-in role to a managed identity, the one way the
platform does it. Not a component: a helper that creates the assignment under
its caller."""

from __future__ import annotations

import uuid

import pulumi
from pulumi_azure_native import authorization


def grant_role(
    resource_name: str,
    *,
    cluster_name: str,
    purpose: str,
    role_id: str,
    principal_id: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """`role_id` (a built-in role's GUID) for `principal_id` on `scope`. The
    assignment's name is derived from the cluster and the purpose, so a re-run
    finds the same assignment instead of adding a second one.

    A change of principal or scope replaces the assignment (pulumi/pulumi-azure-native
    provider/pkg/gen/replacement.go forceNewMap "Authorization" "RoleAssignment", main branch): the
    cluster's replacement brings new identities. Pulumi creates the new resource before deleting
    the old by default, and the new one's name is the old one's, which ARM refuses as existing
    (the failure pulumi/pulumi-azure-native#2253 shows for Cosmos DB role assignments, where
    DeleteBeforeReplace "worked and is a valid workaround"). So the old assignment goes first;
    the cost is seconds without a grant whose principal or scope is being replaced anyway.
    Not taken: naming assignments after scope, principal and role (Microsoft's advice in
    MicrosoftDocs/azure-docs articles/azure-resource-manager/bicep/scenarios-rbac.md): renaming the
    existing ones would replace every assignment once, prod's protection refuses that, and the
    create-before-delete of the rename collides on Azure's own (scope, principal, role) uniqueness."""
    return authorization.RoleAssignment(
        resource_name,
        role_assignment_name=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster_name}/{purpose}")),
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=pulumi.Output.concat(
            "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
        ),
        scope=scope,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
