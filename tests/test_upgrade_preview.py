"""The preview of a Kubernetes upgrade, checked before anyone runs it: raising the minor
version (or changing the node-OS channel or a maintenance window) in a stack file is an
in-place update of the cluster and its pools, never a replacement or a delete. The
provider's own rules decide (offline/azure_plan.py, from pulumi-azure-native's
replacement.go and diff.go); the two negative cases show they can say "replace"."""

from __future__ import annotations

import pytest

from harness import Evaluation, evaluate, patched_stack_file
from offline.azure_plan import plan

AKS_TYPES = (
    "azure-native:containerservice:ManagedCluster",
    "azure-native:containerservice:AgentPool",
    "azure-native:containerservice:MaintenanceConfiguration",
)


def _plans(stack: str, patch: dict) -> dict[str, tuple[str, list[str]]]:
    """Each AKS resource's plan (by URN) when the stack file gets `patch`; the program must
    register exactly the same resources before and after."""
    before, after = evaluate(stack), evaluate(stack, stack_file=patched_stack_file(stack, patch))
    assert {r.urn for r in before.resources} == {r.urn for r in after.resources}, "a resource appears or goes"
    old = {r.urn: r for r in before.resources if r.type in AKS_TYPES}
    return {
        r.urn: plan(r.type, old[r.urn].inputs, r.inputs, r.ignore_changes)
        for r in after.resources
        if r.type in AKS_TYPES
    }


def _printed(plans: dict[str, tuple[str, list[str]]]) -> str:
    """As a person reads a preview: `~` update, `+-` replace, the changed keys."""
    signs = {"update": "~ ", "replace": "+-", "same": "  "}
    return "\n".join(f"{signs[p]} {urn.split('::')[-1]}: {', '.join(keys)}" for urn, (p, keys) in sorted(plans.items()))


def _by_name(plans: dict[str, tuple[str, list[str]]], name: str) -> tuple[str, list[str]]:
    return next(p for urn, p in plans.items() if urn.endswith(f"::{name}"))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_minor_version_bump_updates_the_cluster_and_its_pools_in_place(stack: str) -> None:
    plans = _plans(stack, {"platform:aks": {"kubernetesVersion": "1.35"}})
    print(f"\n{stack}, kubernetesVersion 1.34 -> 1.35:\n{_printed(plans)}")
    assert {p for p, _ in plans.values()} <= {"update", "same"}, _printed(plans)
    cluster, keys = next(p for urn, p in plans.items() if "ManagedCluster" in urn)
    assert cluster == "update" and "kubernetesVersion" in keys
    # The inline system pool moves with the control plane in the same PUT, as AKS requires
    # (pulumi/pulumi-azure-native#2094, NotAllAgentPoolOrchestratorVersionSpecifiedAndUnchanged).
    assert "agentPoolProfiles[0].orchestratorVersion" in keys
    pools = [p for urn, p in plans.items() if "AgentPool" in urn]
    assert pools and all(p == ("update", ["orchestratorVersion"]) for p in pools), pools


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_node_os_channel_and_a_maintenance_window_change_in_place(stack: str) -> None:
    """Both changes of a same-day node-OS patch (docs/operations.md), in one stack file edit."""
    patch = {"nodeOsUpgradeChannel": "SecurityPatch", "maintenance": {"nodeOsUpgrade": {"dayOfWeek": "Tuesday"}}}
    plans = _plans(stack, {"platform:aks": patch})
    assert {p for p, _ in plans.values()} == {"update", "same"}, _printed(plans)
    assert "autoUpgradeProfile.nodeOSUpgradeChannel" in _by_name(plans, "cluster")[1], _printed(plans)
    window = _by_name(plans, "aksManagedNodeOSUpgradeSchedule")
    assert window[0] == "update" and any("maintenanceWindow" in key for key in window[1]), _printed(plans)


def test_the_rules_do_say_replace_where_the_provider_replaces() -> None:
    """A pool's VM size and the cluster's Service range are replacements (replacement.go):
    the checks above would see one."""
    pool = _plans("staging", {"platform:aks": {"userPools": [{"name": "user", "vmSize": "Standard_D8ds_v5"}]}})
    assert _by_name(pool, "pool-user")[0] == "replace", _printed(pool)
    network = _plans(
        "staging", {"platform:aks": {"network": {"serviceCidr": "172.17.0.0/16", "dnsServiceIp": "172.17.0.10"}}}
    )
    assert _by_name(network, "cluster")[0] == "replace", _printed(network)


def test_the_rules_were_read_for_the_provider_the_program_uses() -> None:
    from importlib.metadata import version

    from offline.azure_plan import PROVIDER_VERSION

    assert version("pulumi_azure_native") == PROVIDER_VERSION, (
        "pulumi_azure_native moved: read provider/pkg/gen/replacement.go forceNewMap again "
        "and update offline/azure_plan.py"
    )


def test_an_ignored_change_is_no_change() -> None:
    """The engine drops what ignoreChanges names before the provider diffs: a node count the
    autoscaler owns is no update (agentPoolProfiles[*].count)."""
    old = {"agentPoolProfiles": [{"name": "system", "count": 2}]}
    new = {"agentPoolProfiles": [{"name": "system", "count": 5}]}
    assert plan("azure-native:containerservice:ManagedCluster", old, new) == ("update", ["agentPoolProfiles[0].count"])
    assert plan("azure-native:containerservice:ManagedCluster", old, new, ["agentPoolProfiles[*].count"]) == (
        "same",
        [],
    )


def test_the_plan_of_unchanged_inputs_is_same() -> None:
    ev: Evaluation = evaluate("staging")
    cluster = ev.one("azure-native:containerservice:ManagedCluster")
    assert plan(cluster.type, cluster.inputs, cluster.inputs) == ("same", [])
