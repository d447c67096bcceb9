"""Service: everything one entry of the `services` config map becomes: its
namespace, its Secret, and one component per kind it runs (web, worker, jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.service.kinds.registry import KINDS
from components.service.namespace import ServiceNamespace, ServiceNamespaceArgs
from components.service.workload import ClusterFacts, KindContext, SecretRef, WorkloadIdentity
from settings.service.spec import ServiceSpec


@dataclass(frozen=True)
class ServiceArgs:
    name: str
    spec: ServiceSpec
    environment: str
    cluster: ClusterFacts
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """This service's secret config values, by variable name."""


class Service(pulumi.ComponentResource):
    """One service of the platform."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:Service", name, None, opts)
        self._args = args
        namespace = ServiceNamespace(
            name,
            ServiceNamespaceArgs(
                identity=self._identity(name), quota=args.spec.quota, cluster=args.cluster, egress=args.spec.egress
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        identity = self._identity(namespace.name)
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        secret = self._build_secret(identity, inside)
        self._build_workloads(KindContext(
            identity=identity,
            secret=secret,
            spread_across_zones=args.cluster.spread_across_zones,
            default_image=args.spec.default_image,
            namespace_component=namespace,
            ingress=args.cluster.ingress,
            pods=args.cluster.pods,
        ), inside)  # fmt: skip
        self.namespace = namespace.name
        self.register_outputs({"namespace": self.namespace})

    def _identity(self, namespace: pulumi.Input[str]) -> WorkloadIdentity:
        a = self._args
        return WorkloadIdentity(
            service=a.name,
            team=a.spec.team,
            environment=a.environment,
            namespace=namespace,
            datadog_agent_host=a.cluster.datadog_agent_host,
        )

    def _build_secret(self, identity: WorkloadIdentity, opts: pulumi.ResourceOptions) -> SecretRef | None:
        a = self._args
        # Only the variables the service asks for reach the cluster.
        values = {key: value for key, value in a.secrets.items() if key in a.spec.secret_env}
        if not values:
            return None
        # No fixed name: Pulumi names it `<service>-secrets-<random>` and, as
        # the provider replaces a Secret whose data changes, a rotated value
        # arrives under a new name and rolls the pods, like kustomize's
        # secretGenerator. Each value is a secret Output, so Pulumi encrypts
        # it in state and masks it in previews. The Secret belonged to the web
        # app before the service owned it; the alias keeps it in place.
        previous_parent = pulumi.create_urn(a.name, "platform:service:WebApp", parent=self)
        secret = k8s.core.v1.Secret(
            f"{a.name}-secrets",
            metadata=identity.metadata(None),
            type="Opaque",
            string_data=values,
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=previous_parent)])
            ),
        )
        return SecretRef(name=secret.metadata.name, keys=tuple(sorted(values)), resource=secret)

    def _build_workloads(self, context: KindContext, opts: pulumi.ResourceOptions) -> None:
        for kind in KINDS:
            spec = getattr(self._args.spec, kind.key)
            if spec:
                kind.build(self._args.name, spec, context, opts)
