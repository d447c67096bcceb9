"""A ClusterRole bound to one ServiceAccount, the way every platform agent gets
its cluster-wide read access. Not a component: a helper that creates both
under its caller."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def bind_cluster_role(
    role_name: str,
    rules: list[dict[str, Any]],
    *,
    labels: dict[str, str],
    account: k8s.core.v1.ServiceAccount,
    account_name: str,
    namespace: str,
    parent: pulumi.Resource,
    role_opts: pulumi.ResourceOptions | None = None,
) -> k8s.rbac.v1.ClusterRole:
    """`role_name` with `rules`, bound to the ServiceAccount `namespace/account_name`;
    the binding waits for the account, so it never names one that does not exist yet."""
    role = k8s.rbac.v1.ClusterRole(
        f"{role_name}-role",
        metadata={"name": role_name, "labels": labels},
        rules=rules,
        opts=role_opts or pulumi.ResourceOptions(parent=parent),
    )
    k8s.rbac.v1.ClusterRoleBinding(
        f"{role_name}-binding",
        metadata={"name": role_name, "labels": labels},
        role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account_name, "namespace": namespace}],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[account]),
    )
    return role
