"""ServiceNamespace: one namespace per service, locked down by default."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.datadog.network_policies import CLIENT_NAMESPACE_LABEL
from components.service.egress_policies import build_egress_policies
from components.service.workload import ClusterFacts, WorkloadIdentity
from settings.service.egress import EgressRule
from settings.service.spec import Quota


@dataclass(frozen=True)
class ServiceNamespaceArgs:
    identity: WorkloadIdentity
    """The service's identity; its namespace is the namespace's own name."""
    quota: Quota
    cluster: ClusterFacts
    egress: list[EgressRule] = field(default_factory=list)
    """Where the service's pods may connect besides DNS and the Datadog agent."""


class ServiceNamespace(pulumi.ComponentResource):
    """Namespace with Pod Security 'restricted' at a pinned version,
    default-deny ingress (each kind opens what it serves), default-deny egress
    (DNS, the Datadog agent and the declared egress open), and a ResourceQuota
    with a LimitRange."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:ServiceNamespace", name, None, opts)
        self._args = args
        self._service = args.identity.service
        namespace = self._build_namespace()
        self.name = namespace.metadata.name
        child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        self._build_default_deny(child)
        build_egress_policies(
            self._service, self._args.identity, self._args.egress, child, self._args.cluster.protected_addresses
        )
        self._build_quota(child)
        self.register_outputs({"name": self.name})

    def _build_namespace(self) -> k8s.core.v1.Namespace:
        # Pinned, so a cluster upgrade never tightens or loosens the policy silently.
        version = f"v{self._args.cluster.kubernetes_minor}"
        pod_security = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", version))
        }
        # Its pods send the Datadog agent metrics and traces: the agent's NetworkPolicy lets in this label.
        datadog = dict([CLIENT_NAMESPACE_LABEL]) if self._args.identity.datadog_agent_host else {}
        return k8s.core.v1.Namespace(
            f"{self._service}-ns",
            metadata={"name": self._service, "labels": {**self._args.identity.labels(), **pod_security, **datadog}},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_default_deny(self, child: pulumi.ResourceOptions) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{self._service}-default-deny-ingress",
            metadata=self._args.identity.metadata("default-deny-ingress"),
            spec={"pod_selector": {}, "policy_types": ["Ingress"]},
            opts=child,
        )

    def _build_quota(self, child: pulumi.ResourceOptions) -> None:
        q = self._args.quota
        k8s.core.v1.ResourceQuota(
            f"{self._service}-quota",
            metadata=self._args.identity.metadata("quota"),
            spec={
                "hard": {
                    "requests.cpu": q.requests_cpu,
                    "requests.memory": q.requests_memory,
                    "limits.memory": q.limits_memory,
                    "pods": str(q.pods),
                }
            },
            opts=child,
        )
        # Defaults for anything created by hand (kubectl run), so the quota
        # never rejects a pod just for leaving out its resources.
        k8s.core.v1.LimitRange(
            f"{self._service}-limits",
            metadata=self._args.identity.metadata("default-resources"),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "default": {"memory": "256Mi"},
                        "default_request": {"cpu": "100m", "memory": "128Mi"},
                    }
                ]
            },
            opts=child,
        )
