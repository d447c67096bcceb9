"""Issue 10: how the admin app is reached (Ingress on the application routing
add-on, TLS from Key Vault, an allowlist), where private images come from
(ACR with AcrPull for the kubelets), how each namespace is fenced (default-deny
egress), and the pools as AgentPools."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from harness import Evaluation, evaluate, patched_stack_file, project_config
from offline.azure_types import check_inputs
from offline.engine import APP_ROUTING_OBJECT_ID, KUBELET_OBJECT_ID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))
import guardrails

CLUSTER = "azure-native:containerservice:ManagedCluster"
REGISTRY = "azure-native:containerregistry:Registry"
VAULT = "azure-native:keyvault:Vault"
ROLE = "azure-native:authorization:RoleAssignment"
AGENT_POOL = "azure-native:containerservice:AgentPool"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"
SHARED_ACR = "/subscriptions/s/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/acrshared"
SHARED_KV = "/subscriptions/s/resourceGroups/rg-shared/providers/Microsoft.KeyVault/vaults/kv-shared"
DATABASE = {"cidr": "10.20.0.0/24", "ports": [5432]}
INTERNET_HTTPS = {"cidr": "0.0.0.0/0", "ports": [443]}  # e.g. Entra ID for workload identity


@pytest.fixture(scope="module")
def dev() -> Evaluation:
    return evaluate("dev")


@pytest.fixture(scope="module")
def attached() -> Evaluation:
    """Staging with an existing registry and vault, declared egress and a second user pool."""
    return evaluate("staging", stack_file=patched_stack_file("staging", {
        "platform:aks": {
            "registry": {"resourceId": SHARED_ACR},
            "keyVault": {"resourceId": SHARED_KV},
            "userPools": [{"name": "batch", "vmSize": "Standard_D8ds_v5", "minCount": 1, "maxCount": 4}],
        },
        "platform:services": {"admin": {
            "egress": [DATABASE, INTERNET_HTTPS],
            "web": {"app": {"image": "acrshared.azurecr.io/admin-app:1.9.0"}},
        }},
    }))  # fmt: skip


def role(ev: Evaluation, guid: str):  # type: ignore[no-untyped-def]
    (found,) = [r for r in ev.of_type(ROLE) if r.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{guid}")]
    return found


def k8s(ev: Evaluation, kind: str, name: str, namespace: str = "admin") -> dict:
    (found,) = [
        m for m in ev.manifests()
        if m["kind"] == kind and m["metadata"].get("name") == name and m["metadata"].get("namespace") == namespace
    ]  # fmt: skip
    return found


# -------------------------------------------------------------------- ingress


def test_the_ingress_has_its_host_tls_from_key_vault_and_an_allowlist(attached: Evaluation) -> None:
    ingress = k8s(attached, "Ingress", "web")
    service = k8s(attached, "Service", "web")
    assert ingress["spec"]["ingressClassName"] == "webapprouting.kubernetes.azure.com"
    (rule,) = ingress["spec"]["rules"]
    host = "admin.staging.example.com"
    assert rule["host"] == host
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # The add-on syncs the certificate into the Secret named keyvault-<ingress name>.
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "keyvault-web"}]
    annotations = ingress["metadata"]["annotations"]
    # certificateName (base) in the stack's vault: here the attached one.
    assert annotations["kubernetes.azure.com/tls-cert-keyvault-uri"] == (
        "https://kv-shared.vault.azure.net/certificates/admin-tls"
    )
    assert annotations["nginx.ingress.kubernetes.io/whitelist-source-range"] == "203.0.113.0/24"
    assert "pulumi.com/skipAwait" not in annotations  # on AKS the controller publishes a status


def test_each_stack_has_its_own_host(dev: Evaluation, attached: Evaluation) -> None:
    hosts = [k8s(ev, "Ingress", "web")["spec"]["rules"][0]["host"] for ev in (attached, dev)]
    assert hosts == ["admin.staging.example.com", "admin.localtest.me"]
    # prod keeps the base's host (its Ingress is checked in tests/test_aks_cluster.py).
    assert project_config()["platform:services"]["admin"]["web"]["ingress"]["host"] == "admin.example.com"


def test_dev_ingress_uses_the_configured_class_skips_await_and_has_no_tls(dev: Evaluation) -> None:
    ingress = k8s(dev, "Ingress", "web")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "admin.localtest.me"
    # The base asks for TLS; a local cluster has no Key Vault integration to serve it.
    assert "tls" not in ingress["spec"]
    assert "kubernetes.azure.com/tls-cert-keyvault-uri" not in ingress["metadata"]["annotations"]
    assert ingress["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    allow = k8s(dev, "NetworkPolicy", "allow-web")["spec"]["ingress"]
    # The whole controller namespace: a local controller's pod labels are not ours to know.
    (peer,) = allow[0]["from"]
    assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}


def test_dev_ingress_class_and_controller_namespace_come_from_config() -> None:
    patch = {"platform:local": {"ingressClassName": "traefik", "ingressControllerNamespace": "kube-system"}}
    ev = evaluate("dev", stack_file=patched_stack_file("dev", patch))
    assert k8s(ev, "Ingress", "web")["spec"]["ingressClassName"] == "traefik"
    peer = k8s(ev, "NetworkPolicy", "allow-web")["spec"]["ingress"][0]["from"][0]
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "kube-system"


def test_a_service_without_ingress_gets_none() -> None:
    patch = {"platform:services": {"admin": {"web": {"ingress": None}}}}
    ev = evaluate("dev", stack_file=patched_stack_file("dev", patch))
    assert not [m for m in ev.manifests() if m["kind"] == "Ingress"]


# ------------------------------------------------------------ key vault, ACR


def test_an_existing_registry_and_vault_are_attached_by_id(attached: Evaluation) -> None:
    assert not attached.of_type(REGISTRY) and not attached.of_type(VAULT)
    assert role(attached, ACR_PULL).inputs["scope"] == SHARED_ACR
    assert role(attached, CERTIFICATE_USER).inputs["scope"] == SHARED_KV
    assert role(attached, CERTIFICATE_USER).inputs["principalId"] == APP_ROUTING_OBJECT_ID
    assert role(attached, ACR_PULL).inputs["principalId"] == KUBELET_OBJECT_ID
    # What the attached stack sends Azure uses only names and values the SDK defines.
    for resource in attached.resources:
        if resource.type.startswith("azure-native:"):
            assert check_inputs(resource.type, resource.inputs) == [], resource.name


# ------------------------------------------------------------------- egress


@pytest.mark.parametrize("stack", ["attached", "dev"])
def test_every_namespace_denies_egress_but_dns_and_the_datadog_agent(
    stack: str, request: pytest.FixtureRequest
) -> None:
    ev: Evaluation = request.getfixturevalue(stack)
    assert k8s(ev, "NetworkPolicy", "default-deny-egress")["spec"] == {"podSelector": {}, "policyTypes": ["Egress"]}
    dns, agent = k8s(ev, "NetworkPolicy", "allow-platform-egress")["spec"]["egress"]
    assert dns["to"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }]  # fmt: skip
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert {(p["protocol"], p["port"]) for p in agent["ports"]} == {("UDP", 8125), ("TCP", 8126)}
    # The peer selects the pods the agent's own DaemonSet selects, in its namespace.
    (peer,) = agent["to"]
    if stack == "attached":  # the dev stack runs no agent
        daemonset = next(m for m in ev.manifests() if m["kind"] == "DaemonSet")
        assert peer["podSelector"]["matchLabels"] == daemonset["spec"]["selector"]["matchLabels"]
        assert (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            == (daemonset["metadata"]["namespace"])
        )
    # No ipBlock at all: under Cilium an ipBlock never matches pods.
    assert "ipBlock" not in str(dns) + str(agent)
    if stack == "dev":
        # The admin app's database, declared in the base, is the only range it may reach.
        (database,) = k8s(ev, "NetworkPolicy", "allow-declared-egress")["spec"]["egress"]
        assert database == {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}


def test_declared_egress_opens_only_its_ranges_and_never_the_metadata_endpoint(attached: Evaluation) -> None:
    database, internet = k8s(attached, "NetworkPolicy", "allow-declared-egress")["spec"]["egress"]
    assert database == {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    assert internet["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "168.63.129.16/32"]}}]
    for policy in attached.of_type(NETWORK_POLICY):
        for rule in policy.inputs["spec"].get("egress", []):
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                for endpoint in ("169.254.169.254", "168.63.129.16"):
                    if block and ipaddress.ip_address(endpoint) in ipaddress.ip_network(block["cidr"]):
                        assert f"{endpoint}/32" in block["except"]
        # What the program builds passes the policy pack's own check.
        assert guardrails.egress_keeps_metadata_closed(NETWORK_POLICY, policy.inputs, {}) == []


def test_a_range_around_the_wireserver_excepts_it_and_nothing_else() -> None:
    """168.63.129.16 answers every VM with its protected settings (AgentBaker block_wireserver.sh):
    a declared range that covers it leaves it out, as it leaves out the metadata endpoint."""
    patch = {"platform:services": {"admin": {"egress": [{"cidr": "168.63.0.0/16", "ports": [443]}]}}}
    ev = evaluate("dev", stack_file=patched_stack_file("dev", patch))
    (rule,) = k8s(ev, "NetworkPolicy", "allow-declared-egress")["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "168.63.0.0/16", "except": ["168.63.129.16/32"]}}]


# -------------------------------------------------------------------- pools


def test_user_pools_are_agent_pools_merged_by_name(attached: Evaluation) -> None:
    cluster = attached.one(CLUSTER)
    assert [p["name"] for p in cluster.inputs["agentPoolProfiles"]] == ["system"]
    by_name = {p.inputs["agentPoolName"]: p for p in attached.of_type(AGENT_POOL)}
    # staging's `user` survives; the patch adds `batch` beside it.
    assert set(by_name) == {"user", "batch"}
    assert (by_name["user"].inputs["minCount"], by_name["user"].inputs["maxCount"]) == (1, 3)
    assert by_name["batch"].inputs["vmSize"] == "Standard_D8ds_v5"
    for pool in by_name.values():
        assert pool.inputs["mode"] == "User"
        assert pool.inputs["resourceName"] == cluster.inputs["resourceName"]
        assert cluster.urn in pool.dependencies
        assert pool.ignore_changes == ["count"]
        assert pool.delete_before_replace  # a same-name replacement must free the name first


def test_an_existing_certificate_uri_is_served_as_given() -> None:
    """The other TLS source: a certificate already in some vault, by its URI."""
    uri = "https://kv-shared-certs.vault.azure.net/certificates/admin-tls"
    tls = {"certificateName": None, "certificateUri": uri}
    ev = evaluate("staging", stack_file=patched_stack_file(
        "staging", {"platform:services": {"admin": {"web": {"ingress": {"tls": tls}}}}}))  # fmt: skip
    (ingress,) = [m for m in ev.manifests() if m["kind"] == "Ingress"]
    assert ingress["metadata"]["annotations"]["kubernetes.azure.com/tls-cert-keyvault-uri"] == uri
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
