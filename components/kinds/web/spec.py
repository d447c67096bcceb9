"""Config of the `web` kind: the service's admin web application, nginx in
front of the app server in one Pod."""

from __future__ import annotations

from pydantic import Field

from components.kinds.web.ingress_spec import WebIngress
from settings.base import Model
from settings.types import EnvVarName, PinnedImage, Port, Quantity
from settings.workload import MAX_SURGE_PATTERN, AppResources, Autoscaling, Resources


class NginxResources(Resources):
    cpu: Quantity = Field("50m", description="CPU request.")
    memory: Quantity = Field("64Mi", description="Memory request.")
    memory_limit: Quantity = Field("128Mi", description="Memory limit; the container is OOM-killed above it.")


class HttpProbe(Model):
    path: str = Field("/healthz", pattern=r"^/", description="HTTP path that answers 200 when healthy.")


class NginxContainer(Model):
    """The web server in front of the app server, in the same Pod."""

    image: PinnedImage = Field("nginxinc/nginx-unprivileged:1.29.3-alpine", description="Unprivileged nginx image.")
    port: Port = Field(8080, description="Port nginx listens on (unprivileged).")
    resources: NginxResources = Field(default_factory=NginxResources)
    client_max_body_size: str = Field("10m", pattern=r"^[0-9]+[kKmM]?$", description="Largest request body.")


class AppContainer(Model):
    """The application server, reached by nginx over localhost."""

    image: PinnedImage = Field(description="App image, pinned by tag or digest.")
    port: Port = Field(3000, description="Port the app server listens on.")
    command: list[str] = Field(default_factory=list, description="Overrides the image entrypoint when set.")
    args: list[str] = Field(default_factory=list, description="Arguments to the command.")
    env: dict[EnvVarName, str] = Field(default_factory=dict, description="Plain environment variables.")
    probe: HttpProbe = Field(default_factory=HttpProbe)
    resources: AppResources = Field(default_factory=AppResources)


class WebSpec(Model):
    """The service's admin web application: nginx + app server in one Pod,
    behind a ClusterIP Service, autoscaled by an HPA."""

    nginx: NginxContainer = Field(default_factory=NginxContainer)
    app: AppContainer
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    max_surge: str = Field("25%", pattern=MAX_SURGE_PATTERN, description="Extra pods during a rollout.")
    ingress: WebIngress | None = Field(
        None, description="Hostname, certificate and allowlist; none means in-cluster only."
    )
