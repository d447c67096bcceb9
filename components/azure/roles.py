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
    finds the same assignment instead of adding a second one."""
    return authorization.RoleAssignment(
        resource_name,
        role_assignment_name=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster_name}/{purpose}")),
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=pulumi.Output.concat(
            "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
        ),
        scope=scope,
        opts=opts,
    )
