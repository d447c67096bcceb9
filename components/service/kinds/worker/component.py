"""Worker: a long-running process with no Service and no web port, such as a
queue consumer. Same rollout, autoscaling and hardening as the web app."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.hardening import container_security_context
from components.kubernetes.runtime import PodRuntime
from components.service.deployment import (
    build_autoscaler,
    build_deployment,
    build_disruption_budget,
    hardened_pod,
    topology_spread,
)
from components.service.pod_spec import container_env, container_resources, exec_check, http_check, image_tag, probes
from components.service.workload import KindContext, SecretRef, WorkloadIdentity
from settings.service.kinds.worker import WorkerProbe, WorkerSpec

COMPONENT = "worker"


@dataclass(frozen=True)
class WorkerArgs:
    identity: WorkloadIdentity
    """The service's identity; the worker narrows it to its own component."""
    spec: WorkerSpec
    secret: SecretRef | None = None
    spread_across_zones: bool = False
    pods: PodRuntime = field(default_factory=PodRuntime)
    """The cluster's images and placement for the pod (see PodRuntime)."""


class Worker(pulumi.ComponentResource):
    """Deployment (one container), HPA and PDB. Nothing reaches it: the
    namespace's default-deny ingress stays closed."""

    deployment_name: pulumi.Output[str]

    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:Worker", name, None, opts)
        self._args = args
        self._identity = args.identity.of(COMPONENT, image_tag(args.spec.image))
        child = pulumi.ResourceOptions(parent=self)
        deployment = self._build_deployment(name)
        build_autoscaler(f"{name}-hpa", self._identity, deployment, args.spec.autoscaling, child)
        build_disruption_budget(f"{name}-pdb", self._identity, child)
        self.deployment_name = deployment.metadata.name
        self.register_outputs({"deploymentName": self.deployment_name})

    def _container(self) -> dict:
        spec = self._args.spec
        container: dict = {
            "name": COMPONENT,
            "image": spec.image,
            "image_pull_policy": "Always",
            "env": container_env(spec.env, self._args.secret, self._identity),
            "resources": container_resources(spec.resources),
            "security_context": container_security_context(),
            **probes(_check(spec.probe)),
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }
        if spec.probe.port is not None:
            container["ports"] = [{"name": "health", "container_port": spec.probe.port, "protocol": "TCP"}]
        if spec.command:
            container["command"] = list(spec.command)
        if spec.args:
            container["args"] = list(spec.args)
        return container

    def _build_deployment(self, name: str) -> k8s.apps.v1.Deployment:
        a = self._args
        pod = hardened_pod(
            self._identity,
            containers=[self._container()],
            volumes=[{"name": "tmp", "empty_dir": {"size_limit": "256Mi"}}],
            runtime=a.pods,
            termination_grace_period_seconds=a.spec.termination_grace_period_seconds,
            topology_spread_constraints=topology_spread(self._identity, a.spread_across_zones),
        )
        depends_on = [a.secret.resource] if a.secret else []
        return build_deployment(
            name,
            self._identity,
            pod,
            a.spec.max_surge,
            pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )


def _check(probe: WorkerProbe) -> dict:
    if probe.command:
        return exec_check(probe.command)
    assert probe.path is not None and probe.port is not None
    return http_check(probe.path, probe.port)


def build(name: str, spec: WorkerSpec, context: KindContext, opts: pulumi.ResourceOptions) -> Worker:
    return Worker(
        f"{name}-{COMPONENT}",
        WorkerArgs(
            identity=context.identity,
            spec=spec,
            secret=context.secret,
            spread_across_zones=context.spread_across_zones,
            pods=context.pods,
        ),
        opts=opts,
    )
