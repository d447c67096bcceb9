"""Service: everything one entry of the `services` config map becomes: its
namespace, its admin web app and its batch jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.batch_job import BatchJob, BatchJobArgs
from components.service_namespace import ServiceNamespace, ServiceNamespaceArgs
from components.web_app import WebApp, WebAppArgs
from settings.model import Service as ServiceSettings


@dataclass(frozen=True)
class ServiceArgs:
    name: str
    settings: ServiceSettings
    environment: str
    kubernetes_minor: str
    spread_across_zones: bool = False
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """This service's secret config values, by variable name."""


class Service(pulumi.ComponentResource):
    """One service of the platform."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:service:Service", name, None, opts)
        self._args = args
        namespace = self._build_namespace()
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        web = self._build_web_app(namespace, inside)
        self._build_jobs(namespace, web, pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[web])))
        self.namespace = namespace.name
        self.register_outputs({"namespace": self.namespace})

    def _secrets(self) -> dict[str, pulumi.Output[str]]:
        # Only the variables the app asks for reach the cluster.
        wanted = self._args.settings.web.app.secret_env
        return {key: value for key, value in self._args.secrets.items() if key in wanted}

    def _build_namespace(self) -> ServiceNamespace:
        a = self._args
        return ServiceNamespace(
            a.name,
            ServiceNamespaceArgs(
                service=a.name,
                team=a.settings.team,
                quota=a.settings.quota,
                web_port=a.settings.web.nginx.port,
                kubernetes_minor=a.kubernetes_minor,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_web_app(self, namespace: ServiceNamespace, opts: pulumi.ResourceOptions) -> WebApp:
        a = self._args
        return WebApp(
            a.name,
            WebAppArgs(
                service=a.name,
                team=a.settings.team,
                namespace=namespace.name,
                settings=a.settings.web,
                environment=a.environment,
                secrets=self._secrets(),
                spread_across_zones=a.spread_across_zones,
            ),
            opts=opts,
        )

    def _build_jobs(self, namespace: ServiceNamespace, web: WebApp, opts: pulumi.ResourceOptions) -> None:
        a = self._args
        for job in a.settings.jobs:
            BatchJob(
                f"{a.name}-{job.name}",
                BatchJobArgs(
                    service=a.name,
                    team=a.settings.team,
                    namespace=namespace.name,
                    job=job,
                    default_image=a.settings.web.app.image,
                    environment=a.environment,
                    secret_names=tuple(sorted(self._secrets())),
                    secret_name=web.secret_name,
                ),
                opts=opts,
            )
