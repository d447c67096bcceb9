"""The AKS cluster of prod and staging: what each stack asks Azure for."""

from __future__ import annotations

import copy

import pulumi
import pytest
import yaml

from components.azure.kubeconfig import to_non_interactive
from harness import (
    SERVER_ID,
    TENANT_ID,
    Evaluation,
    Registration,
    devicecode_kubeconfig,
    evaluate,
    patched_stack_file,
)
from offline.azure_types import check_inputs
from offline.engine import APP_ROUTING_OBJECT_ID, KUBELET_OBJECT_ID, SUBSCRIPTION_ID, principal_id_of
from settings.azure.names import unique_string

CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
ROLE = "azure-native:authorization:RoleAssignment"


@pytest.fixture(scope="module")
def prod() -> Evaluation:
    return evaluate("prod")


@pytest.fixture(scope="module")
def staging() -> Evaluation:
    return evaluate("staging")


def pools(ev: Evaluation) -> dict[str, dict]:
    """Every node pool by name: the inline system pool and the AgentPool resources."""
    inline = {p["name"]: p for p in ev.one(CLUSTER).inputs["agentPoolProfiles"]}
    separate = {p.inputs["agentPoolName"]: p.inputs for p in ev.of_type(AGENT_POOL)}
    return {**inline, **separate}


def role(ev: Evaluation, role_guid: str) -> Registration:
    (found,) = [r for r in ev.of_type(ROLE) if r.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{role_guid}")]
    return found


def test_prod_has_uptime_sla_zones_and_protection(prod: Evaluation) -> None:
    cluster = prod.one(CLUSTER)
    assert cluster.inputs["sku"] == {"name": "Base", "tier": "Standard"}
    for pool in pools(prod).values():
        assert pool["availabilityZones"] == ["1", "2", "3"]
    # Nothing Azure-side of prod can be deleted by a deploy.
    azure = [r for r in prod.resources if r.type.startswith("azure-native:")]
    assert azure and all(r.protect for r in azure)


def test_staging_may_use_free_tier_and_is_not_protected(staging: Evaluation) -> None:
    assert staging.one(CLUSTER).inputs["sku"]["tier"] == "Free"
    # The registry's SKU is per stack too (prod: Premium, below).
    assert staging.one(REGISTRY).inputs["sku"] == {"name": "Basic"}
    assert not any(r.protect for r in staging.resources if r.type.startswith("azure-native:"))
    assert "availabilityZones" not in pools(staging)["user"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_version_is_pinned_minor_with_patch_auto_upgrade(stack: str) -> None:
    cluster = evaluate(stack).one(CLUSTER)
    assert cluster.inputs["kubernetesVersion"] == "1.34"
    assert cluster.inputs["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert {p["orchestratorVersion"] for p in pools(evaluate(stack)).values()} == {"1.34"}


def test_azure_owned_drift_is_never_undone(prod: Evaluation) -> None:
    """The autoscaler owns node counts; with a minor-only version and the patch
    channel, AKS patches the cluster without the spec changing, so the next
    `pulumi up` neither sees a diff nor tries a downgrade."""
    cluster = prod.one(CLUSTER)
    assert "agentPoolProfiles[*].count" in cluster.ignore_changes
    assert "kubernetesVersion" not in cluster.ignore_changes  # a minor bump in config must still apply
    for pool in prod.of_type(AGENT_POOL):
        assert pool.ignore_changes == ["count"]


def test_stable_channel_lets_aks_own_the_version() -> None:
    stack_file = patched_stack_file(
        "staging", {"platform:aks": {"upgradeChannel": "stable", "kubernetesVersion": None}}
    )
    cluster = evaluate("staging", stack_file=stack_file).one(CLUSTER)
    assert "kubernetesVersion" not in cluster.inputs
    assert {"kubernetesVersion", "agentPoolProfiles[*].orchestratorVersion"} <= set(cluster.ignore_changes)
    assert "orchestratorVersion" in evaluate("staging", stack_file=stack_file).one(AGENT_POOL).ignore_changes


def test_system_pool_is_tainted_and_user_pool_is_not(prod: Evaluation) -> None:
    by_name = pools(prod)
    assert by_name["system"]["mode"] == "System"
    assert by_name["system"]["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert by_name["user"]["mode"] == "User"
    assert "nodeTaints" not in by_name["user"]


def test_pools_autoscale_within_stack_bounds_and_surge(prod: Evaluation, staging: Evaluation) -> None:
    assert (pools(prod)["user"]["minCount"], pools(prod)["user"]["maxCount"]) == (3, 10)
    assert (pools(staging)["user"]["minCount"], pools(staging)["user"]["maxCount"]) == (1, 3)
    for pool in pools(prod).values():
        assert pool["enableAutoScaling"] is True
        assert pool["upgradeSettings"] == {"maxSurge": "33%"}


def test_identity_rbac_and_api_server_access(prod: Evaluation) -> None:
    cluster = prod.one(CLUSTER).inputs
    identity = prod.one("azure-native:managedidentity:UserAssignedIdentity")
    assert cluster["identity"]["type"] == "UserAssigned"
    assert "servicePrincipalProfile" not in cluster  # no client secrets anywhere
    assert cluster["disableLocalAccounts"] is True
    assert cluster["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "adminGroupObjectIDs": ["6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"],
        "tenantID": TENANT_ID,
    }
    assert cluster["apiServerAccessProfile"]["authorizedIPRanges"] == ["203.0.113.0/24", "198.51.100.20/32"]
    subnet_role = role(prod, "4d97b98b-1d4f-4787-a291-c67834d212e7")
    assert subnet_role.inputs["principalId"] == principal_id_of("identity")
    assert identity.name == "identity"
    # AKS must not start before its identity may join the subnet.
    assert subnet_role.urn in prod.one(CLUSTER).dependencies


def test_network_is_cni_overlay_with_cilium_oidc_and_workload_identity(prod: Evaluation) -> None:
    cluster = prod.one(CLUSTER).inputs
    net = cluster["networkProfile"]
    assert (net["networkPlugin"], net["networkPluginMode"]) == ("azure", "overlay")
    assert (net["networkDataplane"], net["networkPolicy"]) == ("cilium", "cilium")
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    subnet = prod.one("azure-native:network:Subnet")
    assert subnet.inputs["addressPrefix"] == "10.10.0.0/22"


def test_maintenance_windows_cover_both_upgrade_schedules(prod: Evaluation) -> None:
    windows = {
        m.inputs["configName"]: m.inputs["maintenanceWindow"]
        for m in prod.of_type("azure-native:containerservice:MaintenanceConfiguration")
    }
    assert set(windows) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    assert windows["aksManagedAutoUpgradeSchedule"]["schedule"]["weekly"] == {"dayOfWeek": "Sunday", "intervalWeeks": 1}
    assert windows["aksManagedNodeOSUpgradeSchedule"]["schedule"]["weekly"]["dayOfWeek"] == "Saturday"
    assert all(w["durationHours"] >= 4 and w["utcOffset"] == "+09:00" for w in windows.values())


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("azurecli", ["get-token", "--login", "azurecli", "--server-id", SERVER_ID]),
        ("workloadidentity", ["get-token", "--login", "workloadidentity", "--server-id", SERVER_ID,
                              "--environment", "AzurePublicCloud"]),
        ("spn", ["get-token", "--login", "spn", "--server-id", SERVER_ID, "--environment", "AzurePublicCloud",
                 "--tenant-id", TENANT_ID]),
    ],
)  # fmt: skip
def test_kubeconfig_conversion_per_login_mode(mode: str, expected: list[str]) -> None:
    converted = yaml.safe_load(to_non_interactive(devicecode_kubeconfig("c"), mode))
    exec_entry = converted["users"][0]["user"]["exec"]
    assert exec_entry["args"] == expected
    assert converted["clusters"] == yaml.safe_load(devicecode_kubeconfig("c"))["clusters"]


def test_kubeconfig_conversion_rejects_unknown_mode_and_non_aad_config() -> None:
    with pytest.raises(ValueError, match="unknown kubelogin mode"):
        to_non_interactive(devicecode_kubeconfig("c"), "browser")
    broken = devicecode_kubeconfig("c").replace("--server-id", "--server")
    with pytest.raises(ValueError, match="no --server-id"):
        to_non_interactive(broken, "azurecli")


def test_kubelogin_mode_and_the_secrets_rotation_interval_come_from_config() -> None:
    patch = {"platform:aks": {"kubeloginMode": "workloadidentity", "secretsRotationPollInterval": "5m"}}
    ev = evaluate("staging", stack_file=patched_stack_file("staging", patch))
    provider = ev.one("pulumi:providers:kubernetes")
    assert "workloadidentity" in yaml.safe_load(provider.inputs["kubeconfig"])["users"][0]["user"]["exec"]["args"]
    addon = ev.one(CLUSTER).inputs["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert addon["config"] == {"enableSecretRotation": "true", "rotationPollInterval": "5m"}


# ------------------------------------------ ingress add-on, Key Vault, registry

REGISTRY = "azure-native:containerregistry:Registry"
VAULT = "azure-native:keyvault:Vault"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"


def test_the_cluster_runs_the_application_routing_add_on(prod: Evaluation) -> None:
    cluster = prod.one(CLUSTER).inputs
    assert cluster["ingressProfile"] == {"webAppRouting": {"enabled": True}}
    # An Ingress takes its certificate from Key Vault, so the CSI provider is on, and re-reads
    # it every 2 minutes so a renewed certificate is served (strings: the add-on's config is a
    # string map, csi-secrets-store-configuration-options.md).
    assert cluster["addonProfiles"] == {
        "azureKeyvaultSecretsProvider": {
            "enabled": True,
            "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"},
        }
    }


def test_role_assignments_keep_their_names_and_are_deleted_before_they_are_replaced(
    prod: Evaluation, staging: Evaluation
) -> None:
    """A new principal or scope replaces an assignment, and its name stays the same: the old one
    must go first or ARM refuses the new one as existing (components/azure/roles.py)."""
    import uuid

    for ev in (prod, staging):
        assignments = ev.of_type(ROLE)
        assert len(assignments) == 3  # subnet, AcrPull, Key Vault Certificate User
        cluster = ev.one(CLUSTER).inputs["resourceName"]
        for assignment in assignments:
            assert assignment.delete_before_replace, assignment.name
            # Unchanged names: a renamed assignment would be replaced, which prod's protection refuses.
            purposes = ("subnet-network-contributor", "acr-pull", "app-routing-certificate-user")
            names = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster}/{purpose}")) for purpose in purposes}
            assert assignment.inputs["roleAssignmentName"] in names, assignment.name


def test_prod_ingress_serves_its_host_with_the_vaults_certificate_to_listed_clients(prod: Evaluation) -> None:
    (ingress,) = [m for m in prod.manifests() if m["kind"] == "Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "admin.example.com"
    assert ingress["spec"]["tls"] == [{"hosts": ["admin.example.com"], "secretName": "keyvault-web"}]
    annotations = ingress["metadata"]["annotations"]
    vault = prod.one(VAULT).inputs["vaultName"]
    assert annotations["kubernetes.azure.com/tls-cert-keyvault-uri"] == (
        f"https://{vault}.vault.azure.net/certificates/admin-tls"
    )
    assert annotations["nginx.ingress.kubernetes.io/whitelist-source-range"] == "203.0.113.0/24"
    assert "pulumi.com/skipAwait" not in annotations  # on AKS the controller publishes a status


def test_the_stacks_vault_is_rbac_authorized_purge_protected_and_readable_by_the_add_on(prod: Evaluation) -> None:
    vault = prod.one(VAULT)
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    grant = role(prod, CERTIFICATE_USER)
    assert grant.inputs["principalId"] == APP_ROUTING_OBJECT_ID
    assert grant.inputs["scope"] == f"{vault.name}-id"
    assert vault.protect and grant.protect


def test_the_stacks_registry_is_private_and_the_kubelets_may_pull(prod: Evaluation) -> None:
    registry = prod.one(REGISTRY)
    assert registry.inputs["sku"] == {"name": "Premium"}
    # acrplatform<stack> + uniqueString(subscription, 'platform', stack) (settings/azure/names.py)
    assert registry.inputs["registryName"] == "acrplatformprod" + unique_string(SUBSCRIPTION_ID, "platform", "prod")
    assert registry.inputs["adminUserEnabled"] is False
    assert registry.inputs["anonymousPullEnabled"] is False
    pull = role(prod, ACR_PULL)
    assert pull.inputs["principalId"] == KUBELET_OBJECT_ID
    assert pull.inputs["scope"] == f"{registry.name}-id"


# ------------------------------------- request bodies against the SDK's types


def test_every_azure_request_body_uses_only_names_and_values_the_sdk_defines(
    prod: Evaluation, staging: Evaluation
) -> None:
    """pulumi_azure_native 3.29.0's classes are generated from Azure's API specs
    (containerservice 2025-09-01, ...): a misspelt property or enum value fails here, offline."""
    checked = set()
    for ev in (prod, staging):
        for resource in ev.resources:
            if resource.type.startswith("azure-native:"):
                assert check_inputs(resource.type, resource.inputs) == [], resource.name
                checked.add(resource.type.rsplit(":", 1)[1])
    assert {"ManagedCluster", "AgentPool", "Registry", "Vault", "RoleAssignment"} <= checked


@pytest.mark.parametrize(
    ("resource_type", "path", "value", "fragment"),
    [
        (CLUSTER, ("networkProfile", "networkPolicy"), "cillium", "is not one of NetworkPolicy"),
        (CLUSTER, ("networkProfile", "networkDataPlane"), "cilium", "networkDataPlane: not a property"),
        (CLUSTER, ("ingressProfile", "webAppRouting", "enable"), True, "enable: not a property"),
        (CLUSTER, ("addonProfiles", "azureKeyvaultSecretsProvider", "enabeld"), True, "enabeld: not a property"),
        (AGENT_POOL, ("osSKU",), "AzureLinux4", "is not one of OSSKU"),
        (REGISTRY, ("sku", "name"), "Enterprise", "is not one of SkuName"),
        (VAULT, ("properties", "enablePurgeProtecton"), True, "not a property of VaultPropertiesArgs"),
    ],
)
def test_the_sdk_type_check_catches_a_typo(
    prod: Evaluation, resource_type: str, path: tuple[str, ...], value: object, fragment: str
) -> None:
    inputs = copy.deepcopy(prod.one(resource_type).inputs)
    target = inputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (problem,) = check_inputs(resource_type, inputs)
    assert fragment in problem


# ------------------------------------------- the system pool's create-time properties


def with_system_pool(inputs: dict, **changes: object) -> dict:
    changed = copy.deepcopy(inputs)
    (system,) = [p for p in changed["agentPoolProfiles"] if p["name"] == "system"]
    system.update(changes)
    return changed


@pytest.mark.parametrize(("api", "value", "key"), [("vmSize", "Standard_D8ds_v5", "systemPool.vmSize"),
                                                   ("osDiskSizeGB", 256, "systemPool.osDiskSizeGb"),
                                                   ("availabilityZones", ["1", "2"], "availabilityZones"),
                                                   ("availabilityZones", None, "availabilityZones")])  # fmt: skip
def test_a_system_pool_change_aks_cannot_make_is_refused_with_the_way_to_do_it(
    prod: Evaluation, api: str, value: object, key: str
) -> None:
    """The preview compares what the cluster was created with (the old inputs) with the new; the
    config alone cannot know the old value."""
    from components.azure.aks_cluster import system_pool_changes

    old = prod.one(CLUSTER).inputs
    (line,) = system_pool_changes(old, with_system_pool(old, **{api: value}))
    assert line.startswith(f"platform:aks.{key}: ")
    assert "docs/operations.md#runbook-changing-the-system-pool" in line and "\n" not in line


def test_other_system_pool_changes_and_a_first_create_pass(prod: Evaluation) -> None:
    from components.azure.aks_cluster import system_pool_changes

    old = prod.one(CLUSTER).inputs
    assert system_pool_changes(old, with_system_pool(old, maxCount=6, minCount=3)) == []
    assert system_pool_changes(None, old) == []  # a create has no old inputs


def test_the_guard_runs_before_every_update_of_the_cluster_in_the_preview_too(prod: Evaluation) -> None:
    from components.azure.aks_cluster import refuse_system_pool_changes

    assert prod.one(CLUSTER).hooks == {"beforeUpdate": ["aks-platform-prod-system-pool-fixed"]}
    old = prod.one(CLUSTER).inputs
    args = pulumi.ResourceHookArgs(
        "urn", "id", "cluster", CLUSTER, with_system_pool(old, vmSize="Standard_D8ds_v5"), old
    )
    with pytest.raises(ValueError, match=r"platform:aks\.systemPool\.vmSize"):
        refuse_system_pool_changes(args)


def test_the_refusal_links_to_a_runbook_that_exists() -> None:
    import re

    from components.azure.aks_cluster import RESIZE_HELP
    from harness import ROOT

    page, anchor = RESIZE_HELP.split("#")
    headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), flags=re.M)
    assert anchor in {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
