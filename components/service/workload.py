"""What every workload of a service shares: who it is (one identity object
that produces every label and selector), the service's Secret, and what the
service knows of the cluster it lands on.
Not a component: plain data the Service hands to its children."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi

from components.kubernetes.runtime import IngressFacts, PodRuntime


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


@dataclass(frozen=True)
class ClusterFacts:
    """What a service needs to know about the cluster it lands on."""

    kubernetes_minor: str
    """Pins the Pod Security Admission version of the namespace."""
    spread_across_zones: bool = False
    ingress: IngressFacts | None = None
    """The ingress controller web apps are reached through."""
    datadog_agent_host: str | None = None
    """The node-local Datadog agent Service's DNS name; None when Datadog is off."""
    pods: PodRuntime = field(default_factory=PodRuntime)
    """Images and placement of the services' pods on this cluster (a local cluster's `local` settings)."""
    protected_addresses: tuple[str, ...] = ()
    """Addresses excepted from every declared egress range that covers them, besides the
    metadata endpoint the config always excepts (a local real node's stand-in of it)."""
