"""What a cluster tells the workloads that run on it: its ingress controller, and
how pods run there (a local cluster's images and real node). Produced by the
cluster rooms (azure, local), read by the service and Datadog rooms.
Not components: plain data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi


@dataclass(frozen=True)
class IngressFacts:
    """The cluster's ingress controller, as a web app's Ingress and NetworkPolicy see it."""

    class_name: str
    controller_namespace: str
    """The only namespace whose pods may reach a web port."""
    controller_pod_labels: dict[str, str] = field(default_factory=dict)
    """Narrows the peer to the controller's pods; empty admits the whole namespace."""
    key_vault_uri: pulumi.Output[str] | None = field(default=None, compare=False)
    """The stack's certificate vault, for `certificateName`."""
    skip_await: bool = False
    """No controller will publish a load balancer status (a local cluster): do not wait for one."""
    serves_tls: bool = True
    """Certificates come from Key Vault through the AKS add-on; a local cluster has neither."""


def _same_image(image: str) -> str:
    return image


def _same_path(path: str) -> str:
    return path


@dataclass(frozen=True)
class PodRuntime:
    """How a service's pods run where that differs from what the services name: on a
    local cluster, the images `platform:local.images` maps, and on its real node that
    node's toleration, nodeSelector, pull policy and its own hostPath sources. The
    default changes nothing."""

    image: Callable[[str], str] = field(default=_same_image, compare=False)
    """The image a container runs instead of the one its service names."""
    tolerations: tuple[dict[str, str], ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    image_pull_policy: str | None = None
    """Replaces every container's pull policy when set."""
    host_path: Callable[[str], str] = field(default=_same_path, compare=False)
    """Where on the node a hostPath volume's source really is (the real node keeps its own)."""

    def adapt(self, pod: dict[str, Any]) -> dict[str, Any]:
        """`pod` (a pod spec) with every container's image and pull policy mapped, the placement
        added, and every hostPath volume pointed at the node's own source."""
        adapted = dict(pod)
        for key in ("containers", "init_containers"):
            if key in pod:
                adapted[key] = [self._container(container) for container in pod[key]]
        if self.tolerations:
            adapted["tolerations"] = [*pod.get("tolerations", []), *self.tolerations]
        if self.node_selector:
            adapted["node_selector"] = {**pod.get("node_selector", {}), **dict(self.node_selector)}
        if "volumes" in pod:
            adapted["volumes"] = [self._volume(volume) for volume in pod["volumes"]]
        return adapted

    def _volume(self, volume: dict[str, Any]) -> dict[str, Any]:
        if "host_path" not in volume:
            return volume
        return {**volume, "host_path": {**volume["host_path"], "path": self.host_path(volume["host_path"]["path"])}}

    def without_placement(self) -> PodRuntime:
        """Everything but the placement: for a DaemonSet, which places itself on every node."""
        return replace(self, tolerations=(), node_selector=())

    def _container(self, container: dict[str, Any]) -> dict[str, Any]:
        adapted = {**container, "image": self.image(container["image"])}
        if self.image_pull_policy:
            adapted["image_pull_policy"] = self.image_pull_policy
        return adapted
