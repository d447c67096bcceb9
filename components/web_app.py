"""WebApp: a service's admin web application. nginx and the app server share
one Pod; the HPA owns the replica count; rollouts never drop capacity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.pod_spec import (
    WORKLOAD_CHECKOV_SKIPS,
    checkov_annotations,
    container_resources,
    container_security_context,
    image_tag,
    plain_env,
    pod_security_context,
    probes,
    secret_env,
    selector_labels,
    standard_labels,
)
from settings.model import WebApp as WebAppSettings

DEPLOYMENT_NAME = "web"
NGINX_HEALTH_PATH = "/nginx-health"


@dataclass(frozen=True)
class WebAppArgs:
    service: str
    team: str
    namespace: pulumi.Input[str]
    settings: WebAppSettings
    environment: str
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    spread_across_zones: bool = False


def render_nginx_conf(settings: WebAppSettings) -> str:
    """nginx as a reverse proxy to the app on localhost, writing only to /tmp."""
    return f"""worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {{
  worker_connections 1024;
}}

http {{
  client_body_temp_path /tmp/client_temp;
  proxy_temp_path /tmp/proxy_temp;
  fastcgi_temp_path /tmp/fastcgi_temp;
  uwsgi_temp_path /tmp/uwsgi_temp;
  scgi_temp_path /tmp/scgi_temp;
  access_log /dev/stdout;
  server_tokens off;
  client_max_body_size {settings.nginx.client_max_body_size};

  upstream app {{
    server 127.0.0.1:{settings.app.port};
    keepalive 16;
  }}

  server {{
    listen {settings.nginx.port};

    location = {NGINX_HEALTH_PATH} {{
      access_log off;
      return 200 "ok\\n";
    }}

    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;
    }}
  }}
}}
"""


class WebApp(pulumi.ComponentResource):
    """Deployment (nginx + app), ConfigMap, Secret, Service, HPA and PDB."""

    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    secret_name: pulumi.Output[str] | None
    """The generated name of the app's Secret, which its batch jobs share."""

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:WebApp", name, None, opts)
        self._args = args
        self._name = name
        config_map, nginx_conf = self._build_nginx_config()
        secret = self._build_secret()
        deployment = self._build_deployment(config_map, nginx_conf, secret)
        service = self._build_service()
        self._build_autoscaler(deployment)
        self._build_disruption_budget()
        self.secret_name = secret.metadata.name if secret is not None else None
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.register_outputs({"deploymentName": self.deployment_name, "serviceName": self.service_name})

    # ------------------------------------------------------------ helpers

    def _metadata(self, name: str | None, **extra: object) -> dict:
        """Metadata in the app's namespace; no name lets Pulumi generate one."""
        a = self._args
        return {
            **({"name": name} if name else {}),
            "namespace": a.namespace,
            "labels": {**standard_labels(a.service, "web", a.team), "tags.datadoghq.com/env": a.environment},
            **extra,
        }

    def _opts(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    # ------------------------------------------------------------ children

    def _build_nginx_config(self) -> tuple[k8s.core.v1.ConfigMap, str]:
        conf = render_nginx_conf(self._args.settings)
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-nginx",
            metadata=self._metadata("web-nginx"),
            data={"nginx.conf": conf},
            opts=self._opts(),
        )
        return config_map, conf

    def _build_secret(self) -> k8s.core.v1.Secret | None:
        if not self._args.secrets:
            return None
        # No fixed name: Pulumi names it `<service>-secrets-<random>` and, as
        # the provider replaces a Secret whose data changes, a rotated value
        # arrives under a new name and rolls the pods, like kustomize's
        # secretGenerator. Each value is a secret Output, so Pulumi encrypts
        # it in state and masks it in previews.
        return k8s.core.v1.Secret(
            f"{self._name}-secrets",
            metadata=self._metadata(None),
            type="Opaque",
            string_data=dict(self._args.secrets),
            opts=self._opts(),
        )

    def _nginx_container(self) -> dict:
        nginx = self._args.settings.nginx
        return {
            "name": "nginx",
            "image": nginx.image,
            "image_pull_policy": "Always",
            "ports": [{"name": "http", "container_port": nginx.port, "protocol": "TCP"}],
            "resources": container_resources(nginx.resources),
            "security_context": container_security_context(),
            **probes(NGINX_HEALTH_PATH, "http"),
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

    def _app_container(self, secret: k8s.core.v1.Secret | None) -> dict:
        app = self._args.settings.app
        env = plain_env(app.env)
        if secret is not None:
            env += secret_env(secret.metadata.name, app.secret_env)
        container: dict = {
            "name": "app",
            "image": app.image,
            "image_pull_policy": "Always",
            "ports": [{"name": "app", "container_port": app.port, "protocol": "TCP"}],
            "env": env,
            "resources": container_resources(app.resources),
            "security_context": container_security_context(),
            **probes(app.probe.path, "app"),
            "volume_mounts": [{"name": "app-tmp", "mount_path": "/tmp"}],
        }
        if app.command:
            container["command"] = list(app.command)
        if app.args:
            container["args"] = list(app.args)
        return container

    def _topology_spread(self) -> list[dict]:
        keys = ["kubernetes.io/hostname"]
        if self._args.spread_across_zones:
            keys.append("topology.kubernetes.io/zone")
        selector = {"match_labels": selector_labels(self._args.service, "web")}
        # ScheduleAnyway: spreading is a preference; it must never block a rollout.
        return [
            {"max_skew": 1, "topology_key": key, "when_unsatisfiable": "ScheduleAnyway", "label_selector": selector}
            for key in keys
        ]

    def _build_deployment(
        self, config_map: k8s.core.v1.ConfigMap, nginx_conf: str, secret: k8s.core.v1.Secret | None
    ) -> k8s.apps.v1.Deployment:
        a = self._args
        version = image_tag(a.settings.app.image)
        pod_labels = {**standard_labels(a.service, "web", a.team, version), "tags.datadoghq.com/env": a.environment}
        annotations: dict[str, pulumi.Input[str]] = {
            # A changed nginx.conf changes the template, so the pods roll.
            "checksum/nginx-conf": hashlib.sha256(nginx_conf.encode()).hexdigest(),
        }
        return k8s.apps.v1.Deployment(
            f"{self._name}-web",
            metadata=self._metadata(DEPLOYMENT_NAME, annotations=checkov_annotations(WORKLOAD_CHECKOV_SKIPS)),
            spec={
                # No `replicas`: the HPA owns the count, and a value here
                # would reset it on every deploy.
                "selector": {"match_labels": selector_labels(a.service, "web")},
                "strategy": {
                    "type": "RollingUpdate",
                    "rolling_update": {"max_unavailable": 0, "max_surge": a.settings.max_surge},
                },
                "revision_history_limit": 5,
                "min_ready_seconds": 5,
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": annotations},
                    "spec": {
                        "automount_service_account_token": False,
                        "enable_service_links": False,
                        "security_context": pod_security_context(),
                        "termination_grace_period_seconds": 30,
                        "topology_spread_constraints": self._topology_spread(),
                        "containers": [self._nginx_container(), self._app_container(secret)],
                        "volumes": [
                            {"name": "nginx-conf", "config_map": {"name": config_map.metadata.name}},
                            {"name": "nginx-tmp", "empty_dir": {"size_limit": "64Mi"}},
                            {"name": "nginx-cache", "empty_dir": {"size_limit": "128Mi"}},
                            {"name": "app-tmp", "empty_dir": {"size_limit": "256Mi"}},
                        ],
                    },
                },
            },
            opts=self._opts(depends_on=[r for r in (config_map, secret) if r is not None]),
        )

    def _build_service(self) -> k8s.core.v1.Service:
        a = self._args
        return k8s.core.v1.Service(
            f"{self._name}-svc",
            metadata=self._metadata(DEPLOYMENT_NAME),
            spec={
                "type": "ClusterIP",
                "selector": selector_labels(a.service, "web"),
                "ports": [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"}],
            },
            opts=self._opts(),
        )

    def _build_autoscaler(self, deployment: k8s.apps.v1.Deployment) -> None:
        scaling = self._args.settings.autoscaling
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._name}-hpa",
            metadata=self._metadata(DEPLOYMENT_NAME),
            spec={
                "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment.metadata.name},
                "min_replicas": scaling.min_replicas,
                "max_replicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "average_utilization": scaling.cpu_target_percent},
                        },
                    }
                ],
            },
            opts=self._opts(),
        )

    def _build_disruption_budget(self) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata=self._metadata(DEPLOYMENT_NAME),
            # maxUnavailable rather than minAvailable: with one replica a
            # minAvailable of 1 would block every node drain forever.
            spec={"max_unavailable": 1, "selector": {"match_labels": selector_labels(self._args.service, "web")}},
            opts=self._opts(),
        )
