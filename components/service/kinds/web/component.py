"""WebApp: a service's admin web application. nginx and the app server share
one Pod; the HPA owns the replica count; rollouts never drop capacity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.hardening import container_security_context
from components.kubernetes.runtime import IngressFacts, PodRuntime
from components.service.deployment import (
    build_autoscaler,
    build_deployment,
    build_disruption_budget,
    hardened_pod,
    topology_spread,
)
from components.service.kinds.web.ingress import build_ingress, controller_peer
from components.service.kinds.web.nginx import NGINX_HEALTH_PATH, NGINX_READY_PATH, render_nginx_conf
from components.service.pod_spec import (
    container_env,
    container_resources,
    http_check,
    image_tag,
    pre_stop_sleep,
    probes,
)
from components.service.workload import KindContext, SecretRef, WorkloadIdentity
from settings.service.kinds.web import WebSpec

COMPONENT = "web"


@dataclass(frozen=True)
class WebAppArgs:
    identity: WorkloadIdentity
    """The service's identity; the web app narrows it to its own component."""
    spec: WebSpec
    secret: SecretRef | None = None
    spread_across_zones: bool = False
    namespace_component: pulumi.Resource | None = None
    """Where allow-web lived before it moved here: an alias keeps it in place."""
    ingress: IngressFacts | None = None
    """The cluster's ingress controller: the only peer admitted to the web port."""
    pods: PodRuntime = field(default_factory=PodRuntime)
    """The cluster's images and placement for the pod (see PodRuntime)."""


class WebApp(pulumi.ComponentResource):
    """Deployment (nginx + app), nginx ConfigMap, Service, HPA, PDB, the
    NetworkPolicy that admits the ingress controller to the web port, and the
    Ingress when the spec asks for one."""

    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:WebApp", name, None, opts)
        self._args = args
        self._name = name
        self._identity = args.identity.of(COMPONENT, image_tag(args.spec.app.image))
        config_map, nginx_conf = self._build_nginx_config()
        deployment = self._build_deployment(config_map, nginx_conf)
        service = self._build_service()
        build_autoscaler(f"{name}-hpa", self._identity, deployment, args.spec.autoscaling, self._opts())
        build_disruption_budget(f"{name}-pdb", self._identity, self._opts())
        self._build_network_policy()
        if args.spec.ingress is not None and args.ingress is not None:
            build_ingress(f"{name}-ingress", self._identity, args.spec.ingress, args.ingress, service, self._opts())
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.register_outputs({"deploymentName": self.deployment_name, "serviceName": self.service_name})

    def _opts(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    def _build_nginx_config(self) -> tuple[k8s.core.v1.ConfigMap, str]:
        conf = render_nginx_conf(self._args.spec)
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-nginx",
            metadata=self._identity.metadata("web-nginx"),
            data={"nginx.conf": conf},
            opts=self._opts(),
        )
        return config_map, conf

    def _nginx_container(self) -> dict:
        nginx = self._args.spec.nginx
        return {
            "name": "nginx",
            "image": nginx.image,
            "image_pull_policy": "Always",
            "ports": [{"name": "http", "container_port": nginx.port, "protocol": "TCP"}],
            "resources": container_resources(nginx.resources),
            "security_context": container_security_context(),
            **probes(http_check(NGINX_READY_PATH, "http"), liveness=http_check(NGINX_HEALTH_PATH, "http")),
            # nginx keeps serving through the delay; then the image's SIGQUIT lets in-flight requests finish.
            "lifecycle": pre_stop_sleep(self._args.spec.pre_stop_delay_seconds),
            "volume_mounts": [
                {
                    "name": "nginx-conf",
                    "mount_path": "/etc/nginx/nginx.conf",
                    "sub_path": "nginx.conf",
                    "read_only": True,
                },
                {"name": "nginx-tmp", "mount_path": "/tmp"},
                {"name": "nginx-cache", "mount_path": "/var/cache/nginx"},
            ],
        }

    def _app_container(self) -> dict:
        app = self._args.spec.app
        container: dict = {
            "name": "app",
            "image": app.image,
            "image_pull_policy": "Always",
            "ports": [{"name": "app", "container_port": app.port, "protocol": "TCP"}],
            "env": container_env(app.env, self._args.secret, self._identity),
            "resources": container_resources(app.resources),
            "security_context": container_security_context(),
            **probes(
                http_check(app.probes.readiness_path, "app"),
                liveness=http_check(app.probes.liveness_path, "app"),
                startup_seconds=app.probes.startup_seconds,
            ),
            # Same delay as nginx: the app answers what nginx still proxies, then drains on SIGTERM.
            "lifecycle": pre_stop_sleep(self._args.spec.pre_stop_delay_seconds),
            "volume_mounts": [{"name": "app-tmp", "mount_path": "/tmp"}],
        }
        if app.command:
            container["command"] = list(app.command)
        if app.args:
            container["args"] = list(app.args)
        return container

    def _build_deployment(self, config_map: k8s.core.v1.ConfigMap, nginx_conf: str) -> k8s.apps.v1.Deployment:
        a = self._args
        pod = hardened_pod(
            self._identity,
            containers=[self._nginx_container(), self._app_container()],
            volumes=[
                {"name": "nginx-conf", "config_map": {"name": config_map.metadata.name}},
                {"name": "nginx-tmp", "empty_dir": {"size_limit": "64Mi"}},
                {"name": "nginx-cache", "empty_dir": {"size_limit": "128Mi"}},
                {"name": "app-tmp", "empty_dir": {"size_limit": "256Mi"}},
            ],
            runtime=a.pods,
            termination_grace_period_seconds=a.spec.termination_grace_period_seconds,
            topology_spread_constraints=topology_spread(self._identity, a.spread_across_zones),
        )
        depends_on = [config_map] + ([a.secret.resource] if a.secret else [])
        return build_deployment(
            f"{self._name}-web",
            self._identity,
            pod,
            a.spec.max_surge,
            self._opts(depends_on=depends_on),
            # A changed nginx.conf changes the template, so the pods roll.
            template_annotations={"checksum/nginx-conf": hashlib.sha256(nginx_conf.encode()).hexdigest()},
        )

    def _build_service(self) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self._name}-svc",
            metadata=self._identity.metadata(COMPONENT),
            spec={
                "type": "ClusterIP",
                "selector": self._identity.selector(),
                "ports": [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"}],
            },
            opts=self._opts(),
        )

    def _build_network_policy(self) -> None:
        # The namespace denies all ingress; only the web port of the web pods
        # opens, and only to the ingress controller.
        peers = {"from": [controller_peer(self._args.ingress)]} if self._args.ingress else {}
        aliases = [pulumi.Alias(parent=self._args.namespace_component)] if self._args.namespace_component else []
        k8s.networking.v1.NetworkPolicy(
            f"{self._args.identity.service}-allow-web",
            metadata=self._identity.metadata("allow-web"),
            spec={
                "pod_selector": {"match_labels": self._identity.selector()},
                "policy_types": ["Ingress"],
                "ingress": [{**peers, "ports": [{"protocol": "TCP", "port": self._args.spec.nginx.port}]}],
            },
            opts=self._opts(aliases=aliases),
        )


def build(name: str, spec: WebSpec, context: KindContext, opts: pulumi.ResourceOptions) -> WebApp:
    return WebApp(
        name,
        WebAppArgs(
            identity=context.identity,
            spec=spec,
            secret=context.secret,
            spread_across_zones=context.spread_across_zones,
            namespace_component=context.namespace_component,
            ingress=context.ingress,
            pods=context.pods,
        ),
        opts=opts,
    )
