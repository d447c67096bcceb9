"""Which change to an AKS resource pulumi-azure-native plans as an in-place update, and which
as a replacement: the provider's own rules, for the resources a Kubernetes upgrade touches.

Upstream, at the newest version the search index holds of pulumi/pulumi-azure-native (the
provider's generated metadata for 3.29.0 is not published where this machine can read it:
the Go proxy refuses the module and the repository is 1.8 GB):
- provider/pkg/gen/properties.go `forceNew`: a property forces replacement only when the
  REST spec marks it create-only (`x-ms-mutability` without "update") or when
  provider/pkg/gen/replacement.go `forceNewMap` names it. The 2025-09-01 spec
  (Azure/azure-rest-api-specs specification/containerservice/resource-manager/
  Microsoft.ContainerService/aks/stable/2025-09-01/managedClusters.json @1041da1a) marks
  none of these resources' properties create-only, so the map is the whole list.
- provider/pkg/provider/diff.go `calculateDetailedDiff`: the PUT's path parameters and the
  force-new properties at the top level and ONE level down (`prop.` for objects,
  `prop[].` for arrays of objects) are replace keys; a changed leaf replaces the resource
  when its key, or a parent's, is one.
- provider/pkg/provider/provider.go: a replacement is delete-before-replace.
The SDK the program uses (pulumi_azure_native 3.29.0) defaults these resources to Azure
API 2025-09-01 (containerservice/managed_cluster.py, agent_pool.py, maintenance_configuration.py)."""

from __future__ import annotations

from typing import Any

# The PUT's path parameters: a new value is a new resource.
PATH_PARAMETERS = {
    "azure-native:containerservice:ManagedCluster": ("resourceGroupName", "resourceName"),
    "azure-native:containerservice:AgentPool": ("resourceGroupName", "resourceName", "agentPoolName"),
    "azure-native:containerservice:MaintenanceConfiguration": ("resourceGroupName", "resourceName", "configName"),
}
# replacement.go forceNewMap, by property name: ContainerService/ManagedCluster (networkProfile
# by field since pulumi/pulumi-azure-native#4771, "only force-replace immutable networkProfile
# fields", before 3.29.0) and ContainerService/AgentPool (#3655, "Make AgentPool updates cause
# replacement": "You can't change the VM size of a node pool after you create it").
FORCE_NEW = {
    "azure-native:containerservice:ManagedCluster": (
        "diskEncryptionSetID", "dnsPrefix", "fqdnSubdomain", "linuxProfile", "location",
        "nodeResourceGroup", "windowsProfile", "serviceCidr", "serviceCidrs", "podCidrs",
        "dnsServiceIP", "networkMode", "networkPlugin", "networkPluginMode", "podCidr",
        "networkDataplane", "networkPolicy", "outboundType", "ipFamilies", "nodePublicIPTags",
    ),
    "azure-native:containerservice:AgentPool": ("gpuInstanceProfile", "vmSize", "nodePublicIPTags"),
    "azure-native:containerservice:MaintenanceConfiguration": (),
}  # fmt: skip


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of the inputs by its diff key: `a.b` for objects, `a[].b` for list items
    (the provider diffs `agentPoolProfiles` by position: its spec has x-ms-identifiers [])."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{path}.{key}" if path else key))
        return found or {path: {}}
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        found = {}
        for index, item in enumerate(value):
            found.update(
                {k.replace(f"{path}[]", f"{path}[{index}]", 1): v for k, v in _leaves(item, f"{path}[]").items()}
            )
        return found
    return {path: value}


def _key(path: str) -> str:
    """A leaf's key without list positions: `agentPoolProfiles[0].vmSize` -> `agentPoolProfiles[].vmSize`."""
    import re

    return re.sub(r"\[\d+\]", "[]", path)


def replace_keys(type_: str, inputs: dict[str, Any]) -> set[str]:
    """diff.go's replace keys for these inputs: path parameters, force-new properties at the
    top level, and one level down under each object or list of objects."""
    names = set(FORCE_NEW[type_])
    keys = set(PATH_PARAMETERS[type_]) | (names & set(inputs))
    for prop, value in inputs.items():
        children = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
        if isinstance(children, dict):
            joiner = "[]." if isinstance(value, list) else "."
            keys |= {f"{prop}{joiner}{child}" for child in children if child in names}
    return keys


def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The diff keys whose values differ (added or removed leaves too), sorted."""
    before, after = _leaves(old), _leaves(new)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# The SDK whose provider these rules were read for: another version must be read again.
PROVIDER_VERSION = "3.29.0"


def _ignored(key: str, ignore_changes: list[str]) -> bool:
    """Whether the engine drops this change before the provider sees it (`ignoreChanges`:
    a path, `[*]` for any list index; a path also covers what lies below it)."""
    pattern = _key(key)
    for path in ignore_changes:
        wanted = path.replace("[*]", "[]")
        if pattern == wanted or pattern.startswith(f"{wanted}.") or pattern.startswith(f"{wanted}["):
            return True
    return False


def plan(
    type_: str, old: dict[str, Any], new: dict[str, Any], ignore_changes: list[str] | None = None
) -> tuple[str, list[str]]:
    """('same' | 'update' | 'replace', the changed keys) for one resource, as the provider plans it,
    after the engine has dropped the changes `ignore_changes` names."""
    keys = [k for k in changed(old, new) if not _ignored(k, ignore_changes or [])]
    if not keys:
        return "same", []
    replacing = replace_keys(type_, old) | replace_keys(type_, new)
    for key in map(_key, keys):
        parts = key.split(".")
        if any(".".join(parts[: i + 1]) in replacing for i in range(len(parts))):
            return "replace", keys
    return "update", keys
