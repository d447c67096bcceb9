"""Config of the `web` kind: the service's admin web application, nginx in
front of the app server in one Pod."""

from __future__ import annotations

from pydantic import Field, model_validator

from settings.base import Model
from settings.service.kinds.ingress import WebIngress
from settings.service.workload import (
    MAX_SURGE_PATTERN,
    AppResources,
    Autoscaling,
    Footprint,
    Resources,
    deployment_peak,
    pod_footprint,
)
from settings.types import Cidr, EnvVarName, HttpPath, PinnedImage, Port, Quantity


class NginxResources(Resources):
    cpu: Quantity = Field("50m", description="CPU request.")
    memory: Quantity = Field("64Mi", description="Memory request.")
    memory_limit: Quantity = Field("128Mi", description="Memory limit; the container is OOM-killed above it.")


class AppProbes(Model):
    """Readiness and liveness ask different questions, so they have different endpoints."""

    readiness_path: HttpPath = Field(
        "/healthz",
        description=(
            "Answers 200 when the app can serve traffic. It may check dependencies (the database): "
            "failing takes the pod out of the Service, it never restarts anything."
        ),
    )
    liveness_path: HttpPath = Field(
        "/livez",
        description=(
            "Answers 200 while the process itself works. It must never check a dependency: "
            "failing restarts the container, and a database outage would restart every pod at once."
        ),
    )
    startup_seconds: int = Field(
        120,
        ge=10,
        le=3600,
        description="How long a boot may take (polled on livenessPath) before the container is restarted.",
    )


class NginxContainer(Model):
    """The web server in front of the app server, in the same Pod."""

    image: PinnedImage = Field("nginxinc/nginx-unprivileged:1.29.3-alpine", description="Unprivileged nginx image.")
    port: Port = Field(8080, description="Port nginx listens on (unprivileged).")
    resources: NginxResources = Field(default_factory=NginxResources, description="Requests and memory limit of nginx.")
    client_max_body_size: str = Field("10m", pattern=r"^[0-9]+[kKmM]?$", description="Largest request body.")
    trusted_proxy_cidrs: list[Cidr] = Field(
        # The AKS stacks' pod overlay (aks.network.podCidr's default): the app
        # routing add-on's ingress controller pods take their IPs from it (their
        # Deployment sets no hostNetwork: Azure/aks-app-routing-operator
        # pkg/manifests/nginx.go @02bd0e6, newNginxIngressControllerDeployment).
        # A check in settings/platform.py keeps the two in step.
        default_factory=lambda: ["192.168.0.0/16"],
        min_length=1,
        description=(
            "Peers whose X-Forwarded-For nginx believes (set_real_ip_from): the ingress controller's pods, "
            "so the pod CIDR. A request from anywhere else is logged and forwarded with its own address."
        ),
    )


class AppContainer(Model):
    """The application server, reached by nginx over localhost."""

    image: PinnedImage = Field(description="App image, pinned by tag or digest.")
    port: Port = Field(3000, description="Port the app server listens on.")
    command: list[str] = Field(default_factory=list, description="Overrides the image entrypoint when set.")
    args: list[str] = Field(default_factory=list, description="Arguments to the command.")
    env: dict[EnvVarName, str] = Field(default_factory=dict, description="Plain environment variables.")
    probes: AppProbes = Field(default_factory=AppProbes, description="Readiness, liveness and startup probes.")
    resources: AppResources = Field(default_factory=AppResources, description="Requests and memory limit of the app.")


class WebSpec(Model):
    """The service's admin web application: nginx + app server in one Pod,
    behind a ClusterIP Service, autoscaled by an HPA."""

    nginx: NginxContainer = Field(default_factory=NginxContainer, description="The nginx in front of the app.")
    app: AppContainer = Field(description="The app server behind nginx.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="The HPA that owns the replica count.")
    max_surge: str = Field("25%", pattern=MAX_SURGE_PATTERN, description="Extra pods during a rollout.")
    ingress: WebIngress | None = Field(
        None, description="Hostname, certificate and allowlist; none means in-cluster only."
    )
    pre_stop_delay_seconds: int = Field(
        10,
        ge=1,
        le=300,
        description=(
            "On termination, nginx and the app keep serving this long (a preStop sleep) before their stop "
            "signal, while the Service endpoints and the ingress controller stop sending traffic to the pod."
        ),
    )
    termination_grace_period_seconds: int = Field(
        30,
        ge=2,
        le=3600,
        description="From termination to SIGKILL: the preStop delay plus the time in-flight requests get to finish.",
    )

    @model_validator(mode="after")
    def _grace_covers_the_delay(self) -> WebSpec:
        """`terminationGracePeriodSeconds` is longer than `preStopDelaySeconds`, leaving time to drain."""
        # "The Pod's termination grace period countdown begins before the PreStop
        # hook is executed" (1.34 OpenAPI schema, io.k8s.api.core.v1.Lifecycle.preStop):
        # with no time left after the delay, the stop signal and SIGKILL come together.
        if self.termination_grace_period_seconds <= self.pre_stop_delay_seconds:
            raise ValueError(
                f"terminationGracePeriodSeconds ({self.termination_grace_period_seconds}) must be longer than "
                f"preStopDelaySeconds ({self.pre_stop_delay_seconds}), to leave in-flight requests time to finish"
            )
        return self

    def peak_footprint(self) -> Footprint:
        """At the HPA's maximum, mid-rollout: what the namespace quota must hold for the web app."""
        return deployment_peak(
            pod_footprint(self.nginx.resources, self.app.resources), self.autoscaling, self.max_surge, "web"
        )
