"""Local ephemeral storage: what each container may use of its node's disk, derived from the
emptyDirs it mounts. Not a component: a function every room applies to its pods.

The kubelet evicts a pod whose containers' logs and writable layers exceed their
`ephemeral-storage` limit, or whose emptyDir exceeds its `sizeLimit`
(kubernetes/website content/en/docs/concepts/configuration/manage-resources-containers.md,
"Local ephemeral storage"). Every emptyDir here has a sizeLimit, every root filesystem is
read-only, so a container writes only its emptyDirs and its log; its limit is the emptyDirs it
mounts plus room for its log, which the kubelet keeps at up to 5 files of 50 MB on AKS
(`containerLogMaxFiles` 5, `containerLogMaxSizeMB` 50: MicrosoftDocs/azure-aks-docs
articles/aks/custom-node-configuration.md, Linux kubelet table; the older copy of the page said 10 MB)."""

from __future__ import annotations

from typing import Any

from settings.types import quantity_value

LOG_ALLOWANCE_MI = 256
"""Room for a container's log files: 5 x 50 MB, rounded up."""
REQUEST = "64Mi"
"""What a container asks the scheduler for: its log and a little scratch space in the normal case."""


def _mebibytes(quantity: str) -> int:
    return -(-int(quantity_value(quantity)) // 2**20)


def ephemeral_storage(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The container's `ephemeral-storage` request and limit. Every emptyDir it mounts must have a
    sizeLimit: an unbounded one could fill the node's disk."""
    sizes = {v["name"]: v["empty_dir"].get("size_limit") for v in volumes if "empty_dir" in v}
    mounted = [m["name"] for m in mounts if m["name"] in sizes]
    unbounded = [name for name in mounted if not sizes[name]]
    if unbounded:
        raise ValueError(f"emptyDir {', '.join(unbounded)} has no sizeLimit")
    limit = LOG_ALLOWANCE_MI + sum(_mebibytes(sizes[name]) for name in dict.fromkeys(mounted))
    return {"requests": {"ephemeral-storage": REQUEST}, "limits": {"ephemeral-storage": f"{limit}Mi"}}


def with_ephemeral_storage(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod spec, every container and init container with its ephemeral storage set."""
    volumes = pod.get("volumes") or []

    def sized(container: dict[str, Any]) -> dict[str, Any]:
        storage = ephemeral_storage(volumes, container.get("volume_mounts") or [])
        resources = container.get("resources") or {}
        merged = {kind: {**resources.get(kind, {}), **storage[kind]} for kind in ("requests", "limits")}
        return {**container, "resources": {**resources, **merged}}

    return {**pod, **{key: [sized(c) for c in pod[key]] for key in ("init_containers", "containers") if key in pod}}
