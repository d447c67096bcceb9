"""Each real stack file evaluates, wires every Kubernetes object through one
provider, and exports what people need, with secrets kept secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness import STACKS, evaluate, is_secret, placeholder_secrets, secret_values


@pytest.mark.parametrize("stack", STACKS)
def test_stack_evaluates_with_one_kubernetes_provider(stack: str) -> None:
    ev = evaluate(stack)
    providers = ev.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    provider_ref = f"{providers[0].urn}::{providers[0].name}-id"
    kubernetes = ev.kubernetes()
    assert kubernetes, "no Kubernetes objects"
    assert {r.provider for r in kubernetes} == {provider_ref}


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_exist_and_kubeconfig_is_secret(stack: str) -> None:
    ev = evaluate(stack)
    assert ev.exports["clusterName"] == ("aks-platform-" + stack if stack != "dev" else "aks-platform-local")
    assert is_secret(ev.raw_exports["kubeconfig"])
    assert ev.exports["serviceNamespaces"] == {"admin": "admin"}
    if stack != "dev":
        assert ev.exports["resourceGroupName"] == f"rg-platform-{stack}"
        assert ev.exports["oidcIssuerUrl"].startswith("https://")


def test_dev_creates_no_azure_or_datadog_resources() -> None:
    ev = evaluate("dev")
    types = {r.type for r in ev.resources}
    assert not [t for t in types if t.startswith("azure-native:")]
    assert not [t for t in types if "datadog" in t.lower()]
    assert not [c for c in ev.calls if c.startswith("azure-native:")]


def test_dev_provider_uses_local_kubeconfig_and_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_CLUSTER_DIR", raising=False)
    provider = evaluate("dev").one("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "aks-platform-local"
    assert provider.inputs["kubeconfig"].endswith("/.cache/aks-platform-local/kubeconfig")


def test_dev_provider_follows_the_local_cluster_dir_like_the_cluster_and_runner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One setting decides where the local cluster lives; the program does not keep its own copy."""
    from devenv.local_cluster import Paths, default_dir

    monkeypatch.setenv("LOCAL_CLUSTER_DIR", str(tmp_path / "elsewhere"))
    provider = evaluate("dev").one("pulumi:providers:kubernetes")
    assert (
        provider.inputs["kubeconfig"] == str(Paths(default_dir()).kubeconfig) == str(tmp_path / "elsewhere/kubeconfig")
    )


def test_dev_context_switch_is_config_only() -> None:
    from harness import patched_stack_file

    stack_file = patched_stack_file("dev", {"platform:local": {"context": "kind-kind", "kubeconfig": "~/.kube/config"}})
    provider = evaluate("dev", stack_file=stack_file).one("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-kind"
    assert provider.inputs["kubeconfig"].endswith("/.kube/config")


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_aks_provider_kubeconfig_is_secret_and_non_interactive(stack: str) -> None:
    ev = evaluate(stack)
    provider = ev.one("pulumi:providers:kubernetes")
    assert is_secret(provider.raw["kubeconfig"])
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"])
    exec_entry = kubeconfig["users"][0]["user"]["exec"]
    assert exec_entry["command"] == "kubelogin"
    assert "devicecode" not in exec_entry["args"]
    assert exec_entry["args"][:3] == ["get-token", "--login", "azurecli"]
    assert "azure-native:containerservice:listManagedClusterUserCredentials" in ev.calls


def _plain_text_of(value: object) -> str:
    return json.dumps(value, default=str)


def _secret_strings(stack: str) -> list[str]:
    values = secret_values(placeholder_secrets(stack))
    assert len(values) >= 2, "every stack has app secrets, so this check checks something"
    return values


@pytest.mark.parametrize("stack", STACKS)
def test_secret_values_only_travel_inside_secret_markers(stack: str) -> None:
    """Strip every secret-marked value; no secret string may remain anywhere."""
    ev = evaluate(stack)

    def strip(value: object) -> object:
        if is_secret(value):
            return "[secret]"
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    visible = _plain_text_of([strip(r.raw) for r in ev.resources] + [strip(ev.raw_exports)])
    for secret in _secret_strings(stack):
        assert secret not in visible


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_kubernetes_secrets_carry_only_secret_values(stack: str) -> None:
    ev = evaluate(stack)
    secrets = ev.of_type("kubernetes:core/v1:Secret")
    assert {s.name for s in secrets} == {"admin-secrets", "datadog-api-key", "datadog-cluster-agent-token"}
    for secret in secrets:
        data = secret.raw["stringData"]
        assert is_secret(data) or all(is_secret(v) for v in data.values())
