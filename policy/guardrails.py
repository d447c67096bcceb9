"""The platform's guardrails as plain functions with one signature:
(resource type, inputs, config) -> the list of problems. Each guardrail
carries its own config (a JSON schema with defaults), which a stack's policy
config can override. The policy pack (__main__.py) runs them in the engine;
the tests run them directly on passing and failing inputs.

Where a rule goes (docs/architecture.md, "Where a rule goes"): a guardrail checks what
reaches the engine, whatever produced it, so it holds even for code that
bypasses the config model. Where it repeats a rule of the config model, it
says so: a deliberate duplicate, for defence in depth.

Secret config values arrive as `pulumi_policy.Secret` objects (anything with
a `.value`), so a rule can tell a secret from a plain string; `plain()` gives
every other rule ordinary values."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

WORKLOADS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}

# Workloads that may break the hardening rules, and why. Reviewed like code:
# adding a line here is a visible, reasoned decision in a pull request.
HARDENING_EXEMPTIONS: dict[tuple[str, str], str] = {
    ("datadog", "datadog-agent"): (
        "reads host /proc, cgroups and pod logs as root to monitor every container on its node, "
        "through the runtime's default capabilities (read-only root filesystem, no privilege escalation)"
    ),
}


def is_secret(value: Any) -> bool:
    return hasattr(value, "value") and type(value).__name__ == "Secret"


def plain(value: Any) -> Any:
    """The value with every Secret unwrapped."""
    if is_secret(value):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _dig(props: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(props, Mapping) or key not in props:
            return None
        props = props[key]
    return props


def _containers(resource_type: str, props: Mapping[str, Any]) -> Iterator[dict]:
    pod = _dig(props, WORKLOADS[resource_type]) if resource_type in WORKLOADS else None
    for key in ("initContainers", "containers"):
        yield from (pod or {}).get(key) or []


def _identity(props: Mapping[str, Any]) -> tuple[str, str]:
    meta = props.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


# ------------------------------------------------------------------- rules


def pinned_images(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    # Defence in depth: settings.types.PinnedImage refuses the same images in config.
    problems = []
    for c in _containers(resource_type, props):
        image = str(c.get("image", ""))
        name, _, digest = image.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        if not digest and not tag:
            problems.append(f"container '{c.get('name')}' image '{image}' has no tag: pin a version or a digest")
        elif not digest and tag == "latest":
            problems.append(f"container '{c.get('name')}' image '{image}' uses 'latest': pin a version")
    return problems


def requests_and_memory_limit(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    problems = []
    for c in _containers(resource_type, props):
        resources = c.get("resources") or {}
        missing = [r for r in ("cpu", "memory") if r not in (resources.get("requests") or {})]
        if missing:
            problems.append(f"container '{c.get('name')}' has no {' or '.join(missing)} request")
        if "memory" not in (resources.get("limits") or {}):
            problems.append(f"container '{c.get('name')}' has no memory limit")
    return problems


def hardened_security_context(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type not in WORKLOADS or _identity(props) in HARDENING_EXEMPTIONS:
        return []
    pod = _dig(props, WORKLOADS[resource_type]) or {}
    pod_ctx = pod.get("securityContext") or {}
    problems = []
    for c in _containers(resource_type, props):
        ctx = c.get("securityContext") or {}
        name = c.get("name")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            problems.append(f"container '{name}' may run as root: set runAsNonRoot: true")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container '{name}' must set allowPrivilegeEscalation: false")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container '{name}' must set readOnlyRootFilesystem: true")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            problems.append(f"container '{name}' must drop ALL capabilities")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"container '{name}' needs seccompProfile RuntimeDefault")
        if ctx.get("privileged"):
            problems.append(f"container '{name}' must not be privileged")
    return problems


def no_load_balancer(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != "kubernetes:core/v1:Service" or config["allowLoadBalancer"]:
        return []
    if (props.get("spec") or {}).get("type") == "LoadBalancer":
        return ["Service of type LoadBalancer exposes the app to the internet: use ClusterIP behind an ingress"]
    return []


def prod_aks_guardrails(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    # Reads the cluster's own `environment` tag (set from platform:environment),
    # never the stack's name. Defence in depth: the config model's prod rules
    # (settings/platform.py, ENVIRONMENT_RULES) refuse the Free tier before any resource exists.
    if resource_type != "azure-native:containerservice:ManagedCluster":
        return []
    if (props.get("tags") or {}).get("environment") not in config["environments"]:
        return []
    problems = []
    if props.get("disableLocalAccounts") is not True:
        problems.append("prod AKS must keep local accounts disabled (disableLocalAccounts: true)")
    if (props.get("sku") or {}).get("tier") not in ("Standard", "Premium"):
        problems.append("prod AKS must use the Standard (or Premium) tier for its uptime SLA")
    if (props.get("autoUpgradeProfile") or {}).get("upgradeChannel") in (None, "none"):
        problems.append("prod AKS must have an auto-upgrade channel")
    return problems


def secrets_from_secret_config(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Reads `props` raw: a value that is not a Secret came from plain config or code.
    Defence in depth: the config loader refuses a secret key set without --secret."""
    if resource_type != "kubernetes:core/v1:Secret":
        return []
    problems = []
    for data_field in ("data", "stringData"):
        values = props.get(data_field)
        if values is None or is_secret(values):
            continue
        for key, value in values.items():
            if not is_secret(value):
                problems.append(
                    f"Secret value '{key}' is not a Pulumi secret: set it with `pulumi config set --secret`"
                )
    return problems


# The Azure host's endpoints no workload may reach (settings/host_endpoints.py says the same,
# with its sources; the policy pack stands alone, so it keeps its own copy):
# the Instance Metadata Service hands out the node's identity tokens
# (AKSDOCS articles/aks/operator-best-practices-cluster-security.md l.73-99,
# MicrosoftDocs/azure-aks-docs @ fb060abe: block it with ipBlock.except), and the wireserver
# holds the VM's protected settings (Azure/AgentBaker block_wireserver.sh @1054319a).
METADATA_ENDPOINT = ipaddress.ip_address("169.254.169.254")
WIRESERVER = ipaddress.ip_address("168.63.129.16")
HOST_ENDPOINTS = {METADATA_ENDPOINT: "the instance metadata endpoint hands out node identity tokens",
                  WIRESERVER: "the wireserver holds the VM's protected settings"}  # fmt: skip


def _opened_endpoints(block: Mapping[str, Any]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        network = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        excepted = [ipaddress.ip_network(str(cidr), strict=False) for cidr in block.get("except") or []]
    except ValueError:
        return []  # not a range at all: the API server refuses it
    return [e for e in HOST_ENDPOINTS if e in network and not any(e in cidr for cidr in excepted)]


def egress_keeps_metadata_closed(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    # Defence in depth: settings/service/egress.py refuses either endpoint itself in a service's
    # declared egress and excepts them from every range that covers them.
    if resource_type != "kubernetes:networking.k8s.io/v1:NetworkPolicy":
        return []
    problems = []
    for index, rule in enumerate((props.get("spec") or {}).get("egress") or []):
        peers = rule.get("to") or []
        if not peers:
            problems.append(
                f"egress rule {index} allows every destination, the metadata endpoint {METADATA_ENDPOINT} and "
                f"the wireserver {WIRESERVER} too: name its destinations"
            )
        for peer in peers:
            block = peer.get("ipBlock")
            for endpoint in _opened_endpoints(block) if block else []:
                problems.append(
                    f"egress rule {index} opens {block.get('cidr')} without excepting {endpoint}/32 "
                    f"({HOST_ENDPOINTS[endpoint]})"
                )
    return problems


@dataclass(frozen=True)
class Guardrail:
    name: str
    description: str
    check: Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]
    config_schema: Mapping[str, dict] = field(default_factory=dict)
    """JSON schema of the guardrail's own config, by property, each with its default."""
    reads_secrets: bool = False
    """Sees Secret markers instead of plain values."""

    def defaults(self) -> dict[str, Any]:
        return {key: schema["default"] for key, schema in self.config_schema.items()}

    def run(self, resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> list[str]:
        given = props if self.reads_secrets else plain(props)
        return self.check(resource_type, given, {**self.defaults(), **(config or {})})


GUARDRAILS = [
    Guardrail("pinned-images", "No 'latest' or untagged container images.", pinned_images),
    Guardrail("requests-and-memory-limit", "Every container has CPU and memory requests and a memory limit.",
              requests_and_memory_limit),
    Guardrail("hardened-security-context", "Containers run hardened, except reasoned exemptions.",
              hardened_security_context),
    Guardrail("no-load-balancer", "No Service of type LoadBalancer unless config allows it.", no_load_balancer,
              config_schema={"allowLoadBalancer": {"type": "boolean", "default": False}}),
    Guardrail("prod-aks-guardrails", "Prod AKS keeps local accounts off, the Standard tier and auto-upgrade.",
              prod_aks_guardrails,
              config_schema={"environments": {"type": "array", "items": {"type": "string"}, "default": ["prod"]}}),
    Guardrail("egress-keeps-metadata-closed",
              "No egress NetworkPolicy opens the instance metadata endpoint or the wireserver.",
              egress_keeps_metadata_closed),
    Guardrail("secrets-from-secret-config", "Kubernetes Secrets hold only Pulumi secret values.",
              secrets_from_secret_config, reads_secrets=True),
]  # fmt: skip


def check_all(
    resource_type: str, props: Mapping[str, Any], config: Mapping[str, Mapping[str, Any]] | None = None
) -> dict:
    """Every guardrail's problems for one resource, by guardrail name (empty lists dropped).
    `config` maps a guardrail's name to its config, as a stack's policy config does."""
    found = {}
    for rail in GUARDRAILS:
        problems = rail.run(resource_type, props, (config or {}).get(rail.name))
        if problems:
            found[rail.name] = problems
    return found
