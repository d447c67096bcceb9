"""ServiceNamespace: one namespace per service, locked down by default."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.pod_spec import selector_labels
from settings.model import Quota


@dataclass(frozen=True)
class ServiceNamespaceArgs:
    service: str
    team: str
    quota: Quota
    web_port: int
    kubernetes_minor: str
    """Pins the Pod Security Admission policy version, so a cluster upgrade
    never tightens or loosens it silently."""


class ServiceNamespace(pulumi.ComponentResource):
    """Namespace with Pod Security 'restricted', default-deny ingress plus an
    allow rule for the web port, and a ResourceQuota with a LimitRange."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:ServiceNamespace", name, None, opts)
        self._args = args
        namespace = self._build_namespace()
        self.name = namespace.metadata.name
        child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        self._build_network_policies(child)
        self._build_quota(child)
        self.register_outputs({"name": self.name})

    def _metadata(self, name: str) -> dict:
        return {
            "name": name,
            "namespace": self._args.service,
            "labels": {"app.kubernetes.io/part-of": self._args.service, "app.kubernetes.io/managed-by": "pulumi"},
        }

    def _build_namespace(self) -> k8s.core.v1.Namespace:
        a = self._args
        version = f"v{a.kubernetes_minor}"
        return k8s.core.v1.Namespace(
            f"{a.service}-ns",
            metadata={
                "name": a.service,
                "labels": {
                    "app.kubernetes.io/name": a.service,
                    "app.kubernetes.io/part-of": a.service,
                    "app.kubernetes.io/managed-by": "pulumi",
                    "platform/team": a.team,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": version,
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/audit-version": version,
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/warn-version": version,
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_network_policies(self, child: pulumi.ResourceOptions) -> None:
        a = self._args
        k8s.networking.v1.NetworkPolicy(
            f"{a.service}-default-deny-ingress",
            metadata=self._metadata("default-deny-ingress"),
            spec={"pod_selector": {}, "policy_types": ["Ingress"]},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{a.service}-allow-web",
            metadata=self._metadata("allow-web"),
            spec={
                "pod_selector": {"match_labels": selector_labels(a.service, "web")},
                "policy_types": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": a.web_port}]}],
            },
            opts=child,
        )

    def _build_quota(self, child: pulumi.ResourceOptions) -> None:
        a = self._args
        q = a.quota
        k8s.core.v1.ResourceQuota(
            f"{a.service}-quota",
            metadata=self._metadata("quota"),
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
            f"{a.service}-limits",
            metadata=self._metadata("default-resources"),
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
