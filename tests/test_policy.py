"""The policy pack's guardrails, each with passing and failing inputs, and
every real stack passing all of them."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from pulumi_policy import Secret

from harness import STACKS, evaluate, is_secret
from offline.engine import integral

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))
import guardrails

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def good_deployment() -> dict:
    container = {
        "name": "app",
        "image": "ghcr.io/example-org/app:1.2.3",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def container(props: dict) -> dict:
    return props["spec"]["template"]["spec"]["containers"][0]


def test_a_good_workload_passes_every_guardrail() -> None:
    assert guardrails.check_all(DEPLOYMENT, good_deployment()) == {}


@pytest.mark.parametrize(
    ("image", "fragment"),
    [("ghcr.io/example-org/app", "has no tag"), ("nginx:latest", "uses 'latest'"), ("localhost:5000/app", "no tag")],
)
def test_pinned_images_rejects_untagged_and_latest(image: str, fragment: str) -> None:
    props = good_deployment()
    container(props)["image"] = image
    problems = guardrails.check_all(DEPLOYMENT, props)["pinned-images"]
    assert fragment in problems[0]


def test_pinned_images_accepts_a_digest() -> None:
    props = good_deployment()
    container(props)["image"] = "ghcr.io/example-org/app@sha256:" + "a" * 64
    assert guardrails.pinned_images(DEPLOYMENT, props, {}) == []


def test_requests_and_memory_limit_are_required() -> None:
    props = good_deployment()
    container(props)["resources"] = {"requests": {"cpu": "100m"}}
    assert guardrails.requests_and_memory_limit(DEPLOYMENT, props, {}) == [
        "container 'app' has no memory request",
        "container 'app' has no memory limit",
    ]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem"),
        ("capabilities", {"drop": ["NET_RAW"]}, "drop ALL"),
        ("runAsNonRoot", False, "run as root"),
        ("seccompProfile", {"type": "Unconfined"}, "seccompProfile"),
        ("privileged", True, "privileged"),
    ],
)
def test_hardened_security_context(field: str, value: object, fragment: str) -> None:
    props = good_deployment()
    container(props)["securityContext"][field] = value
    problems = guardrails.hardened_security_context(DEPLOYMENT, props, {})
    assert any(fragment in p for p in problems), problems


def test_the_datadog_agent_is_the_only_reasoned_exemption() -> None:
    props = good_deployment()
    container(props)["securityContext"] = {}
    props["metadata"] = {"name": "datadog-agent", "namespace": "datadog"}
    assert guardrails.hardened_security_context("kubernetes:apps/v1:DaemonSet", props, {}) == []
    props["metadata"] = {"name": "datadog-agent", "namespace": "shop"}  # same name elsewhere: no exemption
    assert guardrails.hardened_security_context("kubernetes:apps/v1:DaemonSet", props, {})
    assert all(len(reason.split()) > 8 for reason in guardrails.HARDENING_EXEMPTIONS.values())


def rail(name: str) -> guardrails.Guardrail:
    return next(r for r in guardrails.GUARDRAILS if r.name == name)


def test_no_load_balancer_unless_its_config_allows() -> None:
    service, lb = {"spec": {"type": "LoadBalancer"}}, rail("no-load-balancer")
    assert lb.run("kubernetes:core/v1:Service", service)  # default config: refused
    assert lb.run("kubernetes:core/v1:Service", service, {"allowLoadBalancer": True}) == []
    assert lb.run("kubernetes:core/v1:Service", {"spec": {"type": "ClusterIP"}}) == []
    assert (
        guardrails.check_all("kubernetes:core/v1:Service", service, {"no-load-balancer": {"allowLoadBalancer": True}})
        == {}
    )


def test_prod_aks_guardrails_key_on_the_clusters_environment_tag() -> None:
    prod_rail, cluster = rail("prod-aks-guardrails"), "azure-native:containerservice:ManagedCluster"
    good = {
        "disableLocalAccounts": True,
        "sku": {"tier": "Standard"},
        "autoUpgradeProfile": {"upgradeChannel": "patch"},
        "tags": {"environment": "prod"},
    }
    assert prod_rail.run(cluster, good) == []
    bad = {"disableLocalAccounts": False, "sku": {"tier": "Free"}, "autoUpgradeProfile": {"upgradeChannel": "none"}}
    assert len(prod_rail.run(cluster, {**bad, "tags": {"environment": "prod"}})) == 3
    assert prod_rail.run(cluster, {**bad, "tags": {"environment": "staging"}}) == []  # staging may use Free
    # Which environments count as prod is the guardrail's own config.
    assert len(prod_rail.run(cluster, {**bad, "tags": {"environment": "staging"}}, {"environments": ["staging"]})) == 3


def test_every_guardrail_has_one_signature_and_defaults_for_its_config() -> None:
    import inspect

    for guardrail in guardrails.GUARDRAILS:
        assert list(inspect.signature(guardrail.check).parameters) == ["resource_type", "props", "config"]
        assert all("default" in schema for schema in guardrail.config_schema.values()), guardrail.name


def test_kubernetes_secrets_must_hold_secret_values() -> None:
    secret_type = "kubernetes:core/v1:Secret"
    assert guardrails.secrets_from_secret_config(secret_type, {"stringData": {"A": Secret("x")}}, {}) == []
    assert guardrails.secrets_from_secret_config(secret_type, {"stringData": Secret({"A": "x"})}, {}) == []
    problems = guardrails.secrets_from_secret_config(
        secret_type, {"stringData": {"A": Secret("x"), "B": "plain"}}, "dev"
    )
    assert problems == ["Secret value 'B' is not a Pulumi secret: set it with `pulumi config set --secret`"]


def _with_secret_objects(value: object) -> object:
    """The wire form of an evaluation (secret markers) as the pack sees it (Secret objects)."""
    if is_secret(value):
        return Secret(_with_secret_objects(value["value"]))  # type: ignore[index]
    if isinstance(value, dict):
        return {k: _with_secret_objects(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secret_objects(v) for v in value]
    return value


@pytest.mark.parametrize("stack", STACKS)
def test_every_real_stack_passes_every_guardrail(stack: str) -> None:
    ev = evaluate(stack)
    checked = 0
    for r in ev.resources:
        if r.type.startswith(("kubernetes:", "azure-native:")):
            props = _with_secret_objects(integral(copy.deepcopy(r.raw)))
            assert guardrails.check_all(r.type, props) == {}, r.name  # type: ignore[arg-type]
            checked += 1
    assert checked >= 13


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def egress_policy(*rules: dict) -> dict:
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"podSelector": {}, "egress": list(rules)}}


def to_block(cidr: str, *excepted: str) -> dict:
    block: dict = {"cidr": cidr, **({"except": list(excepted)} if excepted else {})}
    return {"to": [{"ipBlock": block}], "ports": [{"protocol": "TCP", "port": 443}]}


@pytest.mark.parametrize(
    "props",
    [
        egress_policy(to_block("0.0.0.0/0", "169.254.169.254/32", "168.63.129.16/32")),
        egress_policy(to_block("0.0.0.0/0", "169.254.0.0/16", "168.63.0.0/16")),  # a wider except closes it too
        egress_policy(to_block("10.20.0.0/24")),
        egress_policy({"to": [{"namespaceSelector": {}}]}),  # pods only: never the metadata endpoint
        {"spec": {"podSelector": {}, "policyTypes": ["Egress"]}},  # default deny
    ],
)
def test_egress_that_keeps_the_metadata_endpoint_closed_passes(props: dict) -> None:
    assert "egress-keeps-metadata-closed" not in guardrails.check_all(NETWORK_POLICY, props)


@pytest.mark.parametrize(
    ("props", "fragment"),
    [
        (
            egress_policy(to_block("0.0.0.0/0", "168.63.129.16/32")),
            "opens 0.0.0.0/0 without excepting 169.254.169.254/32",
        ),
        (
            egress_policy(to_block("0.0.0.0/0", "169.254.169.254/32")),
            "opens 0.0.0.0/0 without excepting 168.63.129.16/32",
        ),
        (egress_policy(to_block("168.63.0.0/16")), "the wireserver holds the VM's protected settings"),
        (egress_policy(to_block("169.254.0.0/16", "169.254.10.0/24")), "opens 169.254.0.0/16"),
        (egress_policy({"ports": [{"protocol": "TCP", "port": 443}]}), "allows every destination"),
    ],
)
def test_egress_that_opens_the_metadata_endpoint_fails(props: dict, fragment: str) -> None:
    (problem,) = guardrails.check_all(NETWORK_POLICY, props)["egress-keeps-metadata-closed"]
    assert fragment in problem
