"""The root of the typed configuration: every `platform:*` key of a stack, and the
rules that need more than one room (a real node's Datadog images, the ingress
controller's range, certificates and their vault, one environment's rules).
Defaults live in the rooms' models and only there; `Pulumi.yaml` holds the
project's base values and each `Pulumi.<stack>.yaml` holds only what differs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from settings.azure import names
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
    def _environment_rules(self, info: ValidationInfo) -> PlatformSettings:
        """The rules of this stack's environment (see "Environment rules" below)."""
        context = info.context or {}
        problems = [p for rule in ENVIRONMENT_RULES.get(self.environment, ()) for p in rule(self, context)]
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _derived_names_are_valid(self, info: ValidationInfo) -> PlatformSettings:
        """On AKS, the names derived from the stack's name (resource group, cluster, its VNet and
        identity) follow Azure's rules for their type; set the name explicitly where one does not."""
        stack = (info.context or {}).get("stack")
        if self.target != "aks" or self.aks is None or not stack:
            return self
        cluster = self.cluster_name(stack)
        derived = [
            ("aks.resourceGroupName", self.aks.resource_group_name is None, names.RESOURCE_GROUP,
             self.aks.group_name(stack)),
            ("aks.clusterName", self.aks.cluster_name is None, names.MANAGED_CLUSTER, cluster),
            ("aks.clusterName", True, names.VIRTUAL_NETWORK, f"vnet-{cluster}"),
            ("aks.clusterName", True, names.MANAGED_IDENTITY, f"id-{cluster}"),
        ]  # fmt: skip
        problems = [
            (key, f"the derived {rule.kind} name {name!r} " + "; ".join(found) + f": set `{key}` to a valid name")
            for key, is_derived, rule, name in derived
            if is_derived and (found := rule.problems(name))
        ]
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
        stack = (info.context or {}).get("stack", "")
        attached = registry.login_server(stack, self.aks.subscription_id) if registry else None
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


Context = dict[str, Any]
"""What the loader knows beyond the stack's own settings: `stack` (its name) and `siblings`
(each other stack file's registry and vault names, settings/loader.py sibling_names)."""


def _prod_cluster_is_highly_available(settings: PlatformSettings, _context: Context) -> list[tuple[str, str]]:
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


def _prod_monitors_notify_someone(settings: PlatformSettings, _context: Context) -> list[tuple[str, str]]:
    """With Datadog on, `datadog.notify` names someone."""
    if settings.datadog.enabled and not settings.datadog.notify:
        return [("datadog.notify", "is empty: prod monitors must notify someone (e.g. '@pagerduty-oncall')")]
    return []


def _prod_ingress_is_fenced_and_encrypted(settings: PlatformSettings, _context: Context) -> list[tuple[str, str]]:
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


def _names_another_stack(name: str, others: set[str]) -> str | None:
    """The other stack or environment `name` names: a word of it (split at anything but a letter)
    is, or ends with, that name ('acrplatformstaging', 'kv-dev-certs'), or None."""
    words = [word for word in re.split(r"[^a-z]+", name.lower()) if word]
    for other in sorted(others, key=len, reverse=True):
        plain = re.sub(r"[^a-z]", "", other.lower())
        if plain and any(word == plain or word.endswith(plain) for word in words):
            return other
    return None


def _prod_uses_its_own_registry_and_vault(settings: PlatformSettings, context: Context) -> list[tuple[str, str]]:
    """The registry and the certificate vault (created or attached) belong to prod: an explicit or
    attached name none of whose words is, or ends with, another environment's or stack's name, and
    no name another stack file creates or attaches."""
    aks, stack = settings.aks, context.get("stack")
    if settings.target != "aks" or aks is None or not stack:
        return []
    siblings: dict[str, dict[str, str]] = context.get("siblings") or {}
    others = {"dev", "staging", "prod", *siblings} - {settings.environment, stack}
    problems = []
    for key, part, name in (("aks.registry", aks.registry, aks.registry_name(stack)),
                            ("aks.keyVault", aks.key_vault, aks.vault_name(stack))):  # fmt: skip
        if part is None or name is None:
            continue
        explicit = part.resource_id is not None or part.name is not None
        named = _names_another_stack(name, others) if explicit else None
        if named:
            problems.append((key, f"{name!r} names {named!r}, another stack's: prod uses its own"))
        for other, their in sorted(siblings.items()):
            if any(theirs.lower() == name.lower() for theirs in their.values()):
                problems.append((key, f"{name!r} is stack {other!r}'s too: prod uses its own"))
    return problems


def _runners_reach_the_api_server(settings: PlatformSettings, _context: Context) -> list[tuple[str, str]]:
    """`aks.runnerEgressIp`, the self-hosted runners' egress (the bootstrap stack's output
    `runnerEgressIp`), is set and inside `aks.apiServerAuthorizedIpRanges`: every preview,
    deploy and drift check of this stack runs there."""
    aks = settings.aks
    if settings.target != "aks" or aks is None:
        return []
    if aks.runner_egress_ip is None:
        reason = (
            "is not set: it is the bootstrap stack's output runnerEgressIp (`make adopt-bootstrap` writes it), "
            "the address the pipeline's runners reach the API server from"
        )
        return [("aks.runnerEgressIp", reason)]
    runner = ipaddress.ip_address(aks.runner_egress_ip)
    if any(runner in ipaddress.ip_network(cidr) for cidr in aks.api_server_authorized_ip_ranges):
        return []
    reason = (
        f"leaves out the runners' egress {runner} (aks.runnerEgressIp): add '{runner}/{runner.max_prefixlen}', "
        "or no preview, deploy or drift check can reach the cluster"
    )
    return [("aks.apiServerAuthorizedIpRanges", reason)]


ENVIRONMENT_RULES = {
    "prod": (
        _prod_cluster_is_highly_available,
        _prod_monitors_notify_someone,
        _prod_ingress_is_fenced_and_encrypted,
        _prod_uses_its_own_registry_and_vault,
        _runners_reach_the_api_server,
    ),
    "staging": (_runners_reach_the_api_server,),
}
