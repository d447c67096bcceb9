"""The root of the typed configuration: every `platform:*` key of a stack, and the
rules that need more than one room (a real node's Datadog images, the ingress
controller's range, certificates and their vault, one environment's rules).
Defaults live in the rooms' models and only there; `Pulumi.yaml` holds the
project's base values and each `Pulumi.<stack>.yaml` holds only what differs."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from settings.azure.aks import AksSettings
from settings.base import Model, RuleViolationError
from settings.datadog.agents import DatadogSettings, pinned_datadog_images
from settings.local.cluster import LocalSettings
from settings.service.spec import ServiceSpec, service_images, service_tls
from settings.types import K8sName, minor_of, split_image


def _real_node_datadog_problems(datadog: DatadogSettings) -> list[tuple[str, str]]:
    """The real node holds Datadog stand-ins under the pinned default names only
    (devenv/images.py), and they send nothing to Datadog, so monitors would watch silence."""
    used = {"datadog.agentImage": datadog.agent_image, "datadog.clusterAgent.image": datadog.cluster_agent.image}
    problems = [
        (key, f"is {used[key]!r}, but the real node has a stand-in only for the default {pinned!r}: "
              "remove the override from the dev stack file")
        for key, pinned in pinned_datadog_images().items()
        if used[key] != pinned
    ]  # fmt: skip
    if datadog.monitors_enabled:
        problems.append(("datadog.monitorsEnabled", "must be false with local.realNode: the real node's Datadog "
                         "agents are stand-ins that report nothing, so every monitor would alert"))  # fmt: skip
    return problems


Environment = Literal["prod", "staging", "dev"]


class PlatformSettings(Model):
    """Everything a stack can configure, under the `platform:` namespace."""

    environment: Environment = Field(
        description=(
            "Which environment this stack is. Each stack file names it, and the environment rules below key on it, "
            "never on the stack's name. Also the `env` of Datadog's unified service tagging."
        )
    )
    target: Literal["aks", "local"] = Field("aks", description="'aks' builds a cluster; 'local' uses an existing one.")
    aks: AksSettings | None = Field(None, description="Required when target is 'aks'.")
    local: LocalSettings = Field(
        default_factory=LocalSettings, description="The local cluster, when target is 'local' (the dev stack)."
    )
    services: dict[K8sName, ServiceSpec] = Field(
        default_factory=dict, description="Services by name. Those with `enabled: false` are dropped after validation."
    )
    datadog: DatadogSettings = Field(
        default_factory=DatadogSettings, description="The Datadog agents and monitors; on unless `enabled: false`."
    )

    @field_validator("services")
    @classmethod
    def _drop_disabled(cls, services: dict[str, ServiceSpec]) -> dict[str, ServiceSpec]:
        """Services with `enabled: false` are validated, then left out of the stack."""
        # Dropped here, in one place, so the program, the monitors, the secrets
        # checks and the dev runner all see only what this stack deploys.
        return {name: spec for name, spec in services.items() if spec.enabled}

    @model_validator(mode="after")
    def _target_has_settings(self) -> PlatformSettings:
        """Target 'aks' needs the `aks` settings."""
        if self.target == "aks" and self.aks is None:
            raise ValueError("target 'aks' needs the 'aks' settings")
        return self

    @model_validator(mode="after")
    def _local_images_fit(self) -> PlatformSettings:
        """`local.images` and `local.realNode` change what runs on a local cluster only; an
        entry that names no image, or a real node asked to run an image it cannot have, is
        a mistake to show now rather than a pod that never starts."""
        local, images = self.local, service_images(self.services)
        if self.target != "local":
            keys = [key for key, used in (("local.images", local.images), ("local.realNode", local.real_node)) if used]
            problems = [
                (key, f"applies to target 'local' only; this stack's target is '{self.target}'") for key in keys
            ]
        else:
            problems = _local_image_problems(local, images)
            if local.real_node and self.datadog.enabled:
                problems += _real_node_datadog_problems(self.datadog)
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _ingress_controller_is_trusted(self) -> PlatformSettings:
        """On AKS, every web app's `nginx.trustedProxyCidrs` covers `aks.network.podCidr`,
        where the ingress controller runs."""
        # The app routing add-on's controller pods get their IPs from the pod
        # overlay; nginx must trust that range, or every client IP is the controller's.
        if self.target != "aks" or self.aks is None:
            return self
        pods = ipaddress.ip_network(self.aks.network.pod_cidr)
        problems = [
            (
                f"services.{name}.web.nginx.trustedProxyCidrs",
                f"{cidrs} does not cover aks.network.podCidr {pods}, where the ingress controller's pods run",
            )
            for name, service in self.services.items()
            if service.web is not None
            for cidrs in [service.web.nginx.trusted_proxy_cidrs]
            if not any(pods.subnet_of(ipaddress.ip_network(cidr)) for cidr in cidrs)  # type: ignore[arg-type]
        ]
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _environment_rules(self) -> PlatformSettings:
        """The rules of this stack's environment (see "Environment rules" below)."""
        problems = [problem for rule in ENVIRONMENT_RULES.get(self.environment, ()) for problem in rule(self)]
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _images_come_from_the_attached_registry(self, info: ValidationInfo) -> PlatformSettings:
        """An image on `*.azurecr.io` comes from the attached `aks.registry`, the only one the nodes may pull from."""
        # Only the attached registry grants the kubelets AcrPull; any other
        # ACR would fail to pull at deploy time, so it fails here instead.
        if self.target != "aks" or self.aks is None:
            return self
        registry = self.aks.registry
        attached = registry.login_server((info.context or {}).get("stack", "")) if registry else None
        problems = []
        for path, image in service_images(self.services):
            host = image.split("/", 1)[0] if "/" in image else ""
            if not host.endswith(".azurecr.io") or host == attached:
                continue
            reason = f"is not the attached registry {attached}" if attached else "needs `aks.registry` to be attached"
            problems.append((path, f"{host} {reason}: the nodes could not pull it"))
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _certificates_have_a_vault(self) -> PlatformSettings:
        """A `certificateName` needs `aks.keyVault`, the vault that holds it."""
        # A local cluster has no Key Vault integration: its Ingress serves no TLS
        # (docs/services.md, "A hostname and a certificate for a web app").
        if self.target == "local":
            return self
        problems = []
        for path, tls in service_tls(self.services):
            if tls.certificate_name is not None and (self.aks is None or self.aks.key_vault is None):
                problems.append((f"{path}.certificateName", "needs `aks.keyVault`, the vault that holds it"))
        if problems:
            raise RuleViolationError(problems)
        return self

    @property
    def uses_key_vault_certificates(self) -> bool:
        """Whether any Ingress takes its certificate from Key Vault, so the add-on needs the CSI provider."""
        return bool(service_tls(self.services))

    def cluster_name(self, stack: str) -> str:
        """The cluster's name: the AKS resource name, or the local kubeconfig context."""
        if self.target == "local":
            return self.local.context
        assert self.aks is not None
        return self.aks.cluster_name or f"aks-platform-{stack}"

    @property
    def has_zones(self) -> bool:
        """Whether the nodes sit in availability zones, so pods should spread across them."""
        return self.target == "aks" and self.aks is not None and bool(self.aks.availability_zones)

    @property
    def kubernetes_minor(self) -> str:
        """The cluster's Kubernetes MAJOR.MINOR, for schema validation and docs."""
        if self.target == "local":
            return self.local.kubernetes_version
        assert self.aks is not None
        return minor_of(self.aks.kubernetes_version or "1.34")


def _local_image_problems(local: LocalSettings, images: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = sorted({split_image(image)[0] for _, image in images})
    problems = [
        (f"local.images[{i}].name", f"{entry.name!r} matches no image of this stack's services ({', '.join(names)})")
        for i, entry in enumerate(local.images)
        if entry.name not in names
    ]
    if local.real_node:
        default_context = LocalSettings.model_fields["context"].default
        if local.context != default_context:
            problems.append(("local.realNode", f"the real node is part of the project's own cluster (context "
                             f"'{default_context}'), not of '{local.context}'"))  # fmt: skip
        for key, image in images:
            if local.image(image) == image:
                problems.append(("local.images", f"realNode pulls nothing, and {image} ({key}) has no entry: "
                                 "map it to an image built for the node (devenv/images.py)"))  # fmt: skip
    return problems


# ------------------------------------------------------------ environment rules
# Each rule reads the validated settings and returns (key, reason) problems.
# The policy pack checks the prod cluster's tier again on the resource itself:
# a deliberate duplicate (defence in depth, see policy/guardrails.py).


def _prod_cluster_is_highly_available(settings: PlatformSettings) -> list[tuple[str, str]]:
    """The cluster has an SLA tier (not Free), `protect` and at least two availability zones."""
    aks = settings.aks
    if settings.target != "aks" or aks is None:
        return []
    problems = []
    if aks.sku_tier == "Free":
        problems.append(("aks.skuTier", "'Free' has no uptime SLA: prod needs 'Standard' or 'Premium'"))
    if not aks.protect:
        problems.append(("aks.protect", "must be true in prod, so no deploy can delete the cluster"))
    if len(aks.availability_zones) < 2:
        problems.append(("aks.availabilityZones", "prod needs at least 2 zones to survive a zone outage"))
    return problems


def _prod_monitors_notify_someone(settings: PlatformSettings) -> list[tuple[str, str]]:
    """With Datadog on, `datadog.notify` names someone."""
    if settings.datadog.enabled and not settings.datadog.notify:
        return [("datadog.notify", "is empty: prod monitors must notify someone (e.g. '@pagerduty-oncall')")]
    return []


def _prod_ingress_is_fenced_and_encrypted(settings: PlatformSettings) -> list[tuple[str, str]]:
    """Every Ingress lists `allowedSourceRanges` and serves `tls`."""
    problems = []
    for name, spec in settings.services.items():
        ingress = spec.web.ingress if spec.web is not None else None
        if ingress is None:
            continue
        key = f"services.{name}.web.ingress"
        if not ingress.allowed_source_ranges:
            problems.append((f"{key}.allowedSourceRanges", "is empty: prod admits only listed client ranges"))
        if ingress.tls is None:
            problems.append((f"{key}.tls", "is required in prod: serve the app over HTTPS"))
    return problems


ENVIRONMENT_RULES = {
    "prod": (_prod_cluster_is_highly_available, _prod_monitors_notify_someone, _prod_ingress_is_fenced_and_encrypted),
}
