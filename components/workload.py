"""What every workload of a service shares: who it is (one identity object
that produces every label and selector) and the service's Secret.
Not a component: plain data the Service hands to its children."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi


@dataclass(frozen=True)
class WorkloadIdentity:
    """Service, team, environment, namespace, and once narrowed to one
    workload, its component and version. The only place labels are spelled."""

    service: str
    team: str
    environment: str
    namespace: pulumi.Input[str]
    component: str | None = None
    version: str | None = None
    datadog_agent_host: str | None = None
    """Where Datadog client libraries send metrics and traces; None when Datadog is off."""

    def of(self, component: str, version: str | None = None) -> WorkloadIdentity:
        """This identity narrowed to one workload of the service."""
        return replace(self, component=component, version=version)

    def selector(self) -> dict[str, str]:
        """The stable labels selectors use: never the version, which changes on every release."""
        assert self.component, "a selector needs a component"
        return {"app.kubernetes.io/name": self.service, "app.kubernetes.io/component": self.component}

    def labels(self) -> dict[str, str]:
        """Recommended app.kubernetes.io/* labels plus Datadog's unified service tags."""
        labels = {
            "app.kubernetes.io/name": self.service,
            "app.kubernetes.io/part-of": self.service,
            "app.kubernetes.io/managed-by": "pulumi",
            "platform/team": self.team,
            "tags.datadoghq.com/env": self.environment,
            "tags.datadoghq.com/service": self.service,
        }
        if self.component:
            labels["app.kubernetes.io/component"] = self.component
        return labels

    def pod_labels(self, **extra: str) -> dict[str, str]:
        """Labels for a pod template: the object labels plus the release version."""
        labels = {**self.labels(), **extra}
        if self.version:
            labels["app.kubernetes.io/version"] = self.version
            labels["tags.datadoghq.com/version"] = self.version
        return labels

    def datadog_env(self) -> list[dict]:
        """Unified service tagging from this pod's own labels (downward API), and
        the agent's address: what a Datadog client library reads. Empty when
        Datadog is off. Sources: DataDog/documentation
        content/en/getting_started/tagging/unified_service_tagging.md (fieldRef form),
        content/en/tracing/guide/setting_up_apm_with_kubernetes_service.md (DD_AGENT_HOST
        = the local Service's DNS name), and the admission controller's DD_ENTITY_ID
        (DataDog/datadog-agent pkg/clusteragent/admission/mutate/config/config.go)."""
        if self.datadog_agent_host is None:
            return []
        field = lambda path: {"value_from": {"field_ref": {"field_path": path}}}  # noqa: E731
        return [
            {"name": "DD_ENV", **field("metadata.labels['tags.datadoghq.com/env']")},
            {"name": "DD_SERVICE", **field("metadata.labels['tags.datadoghq.com/service']")},
            {"name": "DD_VERSION", **field("metadata.labels['tags.datadoghq.com/version']")},
            {"name": "DD_AGENT_HOST", "value": self.datadog_agent_host},
            {"name": "DD_ENTITY_ID", **field("metadata.uid")},
        ]

    def metadata(self, name: str | None, **extra: object) -> dict:
        """Metadata in the service's namespace; no name lets Pulumi generate one."""
        return {**({"name": name} if name else {}), "namespace": self.namespace, "labels": self.labels(), **extra}


@dataclass(frozen=True)
class SecretRef:
    """The service's one Kubernetes Secret, which every workload of it reads."""

    name: pulumi.Output[str]
    keys: tuple[str, ...]
    resource: pulumi.Resource = field(compare=False)


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


@dataclass(frozen=True)
class KindContext:
    """What a Service hands each of its kinds: children take their inputs from their parent."""

    identity: WorkloadIdentity
    secret: SecretRef | None
    spread_across_zones: bool
    default_image: str | None
    namespace_component: pulumi.Resource | None = field(default=None, compare=False)
    ingress: IngressFacts | None = None
    pods: PodRuntime = field(default_factory=PodRuntime)
    """Images and placement of every pod the kinds build (a local cluster's `local` settings)."""
