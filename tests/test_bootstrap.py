"""The bootstrap program (bootstrap/__main__.py) under mocks: every setting of what it asks Azure for,
the identities' federated subjects, every role with its scope and condition, and the outputs a
person pastes."""

from __future__ import annotations

import copy
import re
import uuid

import pytest

from components.bootstrap import roles
from harness import (
    PLACEHOLDER_APP_KEY,
    ROOT,
    RUNNER_EGRESS_IP,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Evaluation,
    Registration,
    bootstrap_stack_file_config,
    client_id_of,
    evaluate,
    evaluate_bootstrap,
    principal_id_of,
    unwrap_secrets,
)
from offline.azure_types import check_inputs
from offline.engine import RecordingMonitor
from settings.azure import names
from settings.loader import ConfigError

ROLE = "azure-native:authorization:RoleAssignment"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ADMIN = "0b1ec700-0000-0000-0000-000000000000"  # getClientConfig's objectId in the mocks
SUFFIX = names.suffix(SUBSCRIPTION_ID, "bootstrap", "main")
DEPLOY = {stack: principal_id_of(f"id-platform-deploy-{stack}") for stack in ("staging", "prod")}
PREVIEW = principal_id_of("id-platform-preview")
RUNNER = principal_id_of("id-github-runner")


@pytest.fixture(scope="module")
def boot() -> Evaluation:
    return evaluate_bootstrap()


def inputs(ev: Evaluation, type_: str, name: str | None = None) -> dict:
    return ev.one(f"azure-native:{type_}", name).inputs


# ------------------------------------------------------------- state backend


def test_the_state_account_takes_entra_id_only_and_keeps_every_version(boot: Evaluation) -> None:
    account = boot.one("azure-native:storage:StorageAccount")
    assert account.inputs["accountName"] == f"stpulumi{SUFFIX}"
    assert {
        key: account.inputs[key]
        for key in ("allowSharedKeyAccess", "allowBlobPublicAccess", "minimumTlsVersion", "enableHttpsTrafficOnly",
                    "defaultToOAuthAuthentication", "allowCrossTenantReplication", "kind")
    } == {
        "allowSharedKeyAccess": False, "allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2",
        "enableHttpsTrafficOnly": True, "defaultToOAuthAuthentication": True, "allowCrossTenantReplication": False,
        "kind": "StorageV2",
    }  # fmt: skip
    assert account.protect
    service = inputs(boot, "storage:BlobServiceProperties")
    assert service["blobServicesName"] == "default" and service["isVersioningEnabled"] is True
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 30}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}
    (container,) = boot.of_type("azure-native:storage:BlobContainer")
    assert container.inputs["containerName"] == "state" and container.inputs["publicAccess"] == "None"
    assert container.protect
    lock = inputs(boot, "authorization:ManagementLockByScope")
    assert lock["level"] == "CanNotDelete" and lock["scope"] == f"{account.name}-id"


# ---------------------------------------------------------- secrets provider


def test_the_secrets_vault_is_rbac_authorized_purge_protected_with_a_key_per_stack(boot: Evaluation) -> None:
    vault = boot.one("azure-native:keyvault:Vault")
    assert vault.inputs["vaultName"] == f"kv-pulumi-{SUFFIX}" and vault.protect
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True and props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True and props["softDeleteRetentionInDays"] == 90
    assert props["tenantId"] == TENANT_ID
    keys = {k.inputs["keyName"]: k for k in boot.of_type("azure-native:keyvault:Key")}
    assert set(keys) == {"pulumi-staging", "pulumi-prod"}
    for key in keys.values():
        assert key.inputs["properties"] == {"kty": "RSA", "keySize": 3072, "keyOps": ["encrypt", "decrypt"]}
        assert key.protect
    assert boot.exports["secretsProviders"] == {
        stack: f"azurekeyvault://kv-pulumi-{SUFFIX}.vault.azure.net/keys/pulumi-{stack}"
        for stack in ("staging", "prod")
    }


# ---------------------------------------------------------------- identities

SUBJECTS = {
    "id-platform-deploy-staging": {"repo:example-org/aks-platform:environment:staging"},
    "id-platform-deploy-prod": {"repo:example-org/aks-platform:environment:production"},
    "id-platform-preview": {
        "repo:example-org/aks-platform:pull_request",
        "repo:example-org/aks-platform:ref:refs/heads/main",
    },
}


def credentials(ev: Evaluation) -> dict[str, list[Registration]]:
    found: dict[str, list[Registration]] = {}
    for credential in ev.of_type(CREDENTIAL):
        found.setdefault(credential.inputs["resourceName"], []).append(credential)
    return found


def test_each_identity_trusts_exactly_its_subjects_from_githubs_issuer(boot: Evaluation) -> None:
    by_identity = credentials(boot)
    assert {identity: {c.inputs["subject"] for c in creds} for identity, creds in by_identity.items()} == SUBJECTS
    for creds in by_identity.values():
        for credential in creds:
            assert credential.inputs["issuer"] == "https://token.actions.githubusercontent.com"
            assert credential.inputs["audiences"] == ["api://AzureADTokenExchange"]
            assert (
                names.FEDERATED_CREDENTIAL.problems(credential.inputs["federatedIdentityCredentialResourceName"]) == []
            )


def test_one_identitys_credentials_are_created_one_after_the_other(boot: Evaluation) -> None:
    """Azure answers 409 to concurrent credential writes on one identity."""
    (first, second) = credentials(boot)["id-platform-preview"]
    assert first.urn in second.dependencies and second.urn not in first.dependencies
    deploys = [c for name, creds in credentials(boot).items() if "deploy" in name for c in creds]
    assert all(other.urn not in c.dependencies for c in deploys for other in deploys)


def test_no_pull_request_or_branch_can_sign_in_as_a_deploy_identity(boot: Evaluation) -> None:
    for identity, creds in credentials(boot).items():
        if "deploy" in identity:
            assert all(":environment:" in c.inputs["subject"] for c in creds), identity


# ----------------------------------------------------------------- the roles

GROUP = {stack: f"platform-{stack}-id" for stack in ("staging", "prod")}  # the mocks' IDs: "<resource name>-id"
KEY = {stack: f"key-{stack}-id" for stack in ("staging", "prod")}
CONTAINER = "state-container-id"
EXPECTED_ROLES = {
    # (principal, role, scope, has a condition)
    *[(DEPLOY[s], roles.CONTRIBUTOR, GROUP[s], False) for s in GROUP],
    *[(DEPLOY[s], roles.RBAC_ADMINISTRATOR, GROUP[s], True) for s in GROUP],
    *[(DEPLOY[s], roles.AKS_RBAC_CLUSTER_ADMIN, GROUP[s], False) for s in GROUP],
    *[(DEPLOY[s], roles.KEY_VAULT_CRYPTO_USER, KEY[s], False) for s in GROUP],
    *[(DEPLOY[s], roles.STORAGE_BLOB_DATA_CONTRIBUTOR, CONTAINER, False) for s in GROUP],
    *[
        (PREVIEW, role, GROUP[s], False)
        for s in GROUP
        for role in (roles.READER, roles.AKS_CLUSTER_USER, roles.AKS_RBAC_READER)
    ],
    *[(PREVIEW, roles.KEY_VAULT_CRYPTO_USER, KEY[s], False) for s in GROUP],
    (PREVIEW, roles.STORAGE_BLOB_DATA_READER, CONTAINER, False),
    *[(ADMIN, roles.KEY_VAULT_CRYPTO_USER, KEY[s], False) for s in GROUP],
    (ADMIN, roles.STORAGE_BLOB_DATA_CONTRIBUTOR, CONTAINER, False),
    (RUNNER, roles.ACR_PULL, "acr-runners-id", False),
    (RUNNER, roles.KEY_VAULT_SECRETS_USER, "github-app-key-id", False),
}


def role_of(assignment: Registration) -> str:
    prefix = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
    definition = assignment.inputs["roleDefinitionId"]
    assert definition.startswith(prefix), definition
    return definition.removeprefix(prefix)


def test_every_role_assignment_is_the_expected_one_on_its_narrowest_scope(boot: Evaluation) -> None:
    found = {
        (a.inputs["principalId"], role_of(a), a.inputs["scope"], "condition" in a.inputs) for a in boot.of_type(ROLE)
    }
    assert found == EXPECTED_ROLES
    assert len(boot.of_type(ROLE)) == len(EXPECTED_ROLES)


def test_no_role_is_granted_on_the_subscription_and_no_one_gets_owner_or_user_access_administrator(
    boot: Evaluation,
) -> None:
    for assignment in boot.of_type(ROLE):
        assert not re.fullmatch(r"/subscriptions/[^/]+/?", assignment.inputs["scope"])
        assert role_of(assignment) not in (
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        )


def test_every_assignment_names_its_principal_type_and_a_stable_guid(boot: Evaluation) -> None:
    assignments = boot.of_type(ROLE)
    for a in assignments:
        expected = "User" if a.inputs["principalId"] == ADMIN else "ServicePrincipal"
        assert a.inputs["principalType"] == expected
        assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", a.inputs["roleAssignmentName"])
    assert len({a.inputs["roleAssignmentName"] for a in assignments}) == len(assignments)
    # Derived from the assignment's resource name alone: the same on every run, so a re-run finds it.
    for a in assignments:
        assert a.inputs["roleAssignmentName"] == str(uuid.uuid5(uuid.NAMESPACE_URL, f"aks-platform-bootstrap/{a.name}"))


# The "Constrain roles and principal types" example of MicrosoftDocs/azure-docs
# articles/role-based-access-control/delegate-role-assignments-examples.md @ 0b8729ea, single-line form.
_ALLOWED = (
    r"\(@{0}\[Microsoft\.Authorization/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals "
    r"\{{(?P<{1}>[^}}]*)\}} AND @{0}\[Microsoft\.Authorization/roleAssignments:PrincipalType\] "
    r"ForAnyOfAnyValues:StringEqualsIgnoreCase \{{(?P<{1}_types>[^}}]*)\}}\)"
)
CONDITION = re.compile(
    r"^\(\(!\(ActionMatches\{'Microsoft\.Authorization/roleAssignments/write'\}\)\) OR "
    + _ALLOWED.format("Request", "write")
    + r"\) AND \(\(!\(ActionMatches\{'Microsoft\.Authorization/roleAssignments/delete'\}\)\) OR "
    + _ALLOWED.format("Resource", "delete")
    + r"\)$"
)
# AcrPull, Network Contributor, Key Vault Certificate User: built-in-roles.md @ 00a58329.
DELEGABLE = {"7f951dda-4ed3-4680-a7ca-43fe172d538d", "4d97b98b-1d4f-4787-a291-c67834d212e7",
             "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"}  # fmt: skip


def allowed_roles(condition: str) -> tuple[set[str], set[str]]:
    match = CONDITION.match(condition)
    assert match, condition
    return set(match["write"].split(", ")), set(match["delete"].split(", "))


def allowed_principal_types(condition: str) -> tuple[set[str], set[str]]:
    match = CONDITION.match(condition)
    assert match, condition
    return set(match["write_types"].split(", ")), set(match["delete_types"].split(", "))


def test_the_deploy_identity_may_assign_only_acrpull_network_contributor_and_certificate_user(boot: Evaluation) -> None:
    delegations = [a for a in boot.of_type(ROLE) if role_of(a) == roles.RBAC_ADMINISTRATOR]
    assert {a.inputs["principalId"] for a in delegations} == set(DEPLOY.values())
    for delegation in delegations:
        assert delegation.inputs["conditionVersion"] == "2.0"
        assert allowed_roles(delegation.inputs["condition"]) == (DELEGABLE, DELEGABLE)
        # To managed identities only: never to a user or a group.
        only_sp = {"'ServicePrincipal'"}
        assert allowed_principal_types(delegation.inputs["condition"]) == (only_sp, only_sp)


def test_the_delegable_roles_are_exactly_the_roles_the_platform_assigns() -> None:
    """Fewer and a deploy fails on its own role assignment; more and the deploy identity could hand out
    rights the platform never needs."""
    assignments = [a for stack in ("prod", "staging") for a in evaluate(stack).of_type(ROLE)]
    assigned = {a.inputs["roleDefinitionId"].rsplit("/", 1)[1] for a in assignments}
    assert assigned == DELEGABLE == set(roles.DELEGABLE_ROLES)
    # ...and to the principal types the condition allows.
    assert {a.inputs["principalType"] for a in assignments} == set(roles.DELEGABLE_PRINCIPAL_TYPES)


def test_first_deploy_shows_the_condition_the_program_sets() -> None:
    page = (ROOT / "docs" / "first-deploy.md").read_text()
    assert f"\n{roles.constrained_delegation()}\n" in page, "docs/first-deploy.md: paste the new condition"


def test_the_condition_checker_sees_a_widened_delegation() -> None:
    widened = roles.constrained_delegation((*roles.DELEGABLE_ROLES, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"))
    assert allowed_roles(widened)[0] != DELEGABLE
    write_only = roles.constrained_delegation().split(" AND ((!")[0]
    assert not CONDITION.match(write_only)
    to_users = roles.constrained_delegation(principal_types=("ServicePrincipal", "User"))
    assert allowed_principal_types(to_users)[0] != {"'ServicePrincipal'"}


# ------------------------------------------------------------------- runners


def test_the_runners_leave_through_one_static_ip_on_a_nat_gateway(boot: Evaluation) -> None:
    ip = boot.one("azure-native:network:PublicIPAddress")
    assert ip.inputs["sku"] == {"name": "Standard", "tier": "Regional"}
    assert ip.inputs["publicIPAllocationMethod"] == "Static" and ip.inputs["publicIPAddressVersion"] == "IPv4"
    assert ip.protect
    nat = boot.one("azure-native:network:NatGateway")
    assert nat.inputs["sku"] == {"name": "Standard"} and nat.inputs["publicIpAddresses"] == [{"id": f"{ip.name}-id"}]
    subnet = boot.one("azure-native:network:Subnet").inputs
    assert subnet["addressPrefix"] == "10.90.0.0/27"
    assert subnet["delegations"] == [{"name": "container-apps", "serviceName": "Microsoft.App/environments"}]
    assert subnet["natGateway"] == {"id": f"{nat.name}-id"}
    assert boot.exports["runnerEgressIp"] == RUNNER_EGRESS_IP


def test_the_environment_has_workload_profiles_in_the_runners_subnet(boot: Evaluation) -> None:
    environment = inputs(boot, "app:ManagedEnvironment")
    assert environment["workloadProfiles"] == [{"name": "Consumption", "workloadProfileType": "Consumption"}]
    assert environment["vnetConfiguration"] == {"infrastructureSubnetId": "snet-runners-id", "internal": True}
    assert names.CONTAINER_APP_ENVIRONMENT.problems(environment["environmentName"]) == []


# kedacore/keda pkg/scalers/github_runner_scaler.go @ 05b3da7d: the metadata keys the scaler reads.
KEDA_KEYS = {"githubApiURL", "owner", "runnerScope", "repos", "labels", "noDefaultLabels", "enableEtags",
             "matchUnlabeledJobsWithUnlabeledRunners", "targetWorkflowQueueLength", "applicationID", "installationID"}  # fmt: skip


def test_the_job_scales_on_queued_jobs_with_the_keda_github_runner_scaler_as_the_app(boot: Evaluation) -> None:
    job = inputs(boot, "app:Job")
    assert names.CONTAINER_APP_JOB.problems(job["jobName"]) == []
    config = job["configuration"]
    assert config["triggerType"] == "Event" and config["replicaRetryLimit"] == 0
    assert config["replicaTimeout"] == 4200
    event = config["eventTriggerConfig"]
    assert (event["parallelism"], event["replicaCompletionCount"]) == (1, 1)
    assert (event["scale"]["minExecutions"], event["scale"]["maxExecutions"]) == (0, 10)
    (rule,) = event["scale"]["rules"]
    assert rule["type"] == "github-runner"
    assert set(rule["metadata"]) <= KEDA_KEYS
    assert rule["metadata"] == {
        "githubApiURL": "https://api.github.com", "owner": "example-org", "runnerScope": "repo",
        "repos": "aks-platform", "labels": "aks-platform", "targetWorkflowQueueLength": "1",
        "applicationID": "123456", "installationID": "7890123",
    }  # fmt: skip
    assert rule["auth"] == [{"secretRef": "github-app-key", "triggerParameter": "appKey"}]


def test_the_app_key_reaches_the_job_from_key_vault_through_an_identity_workflows_cannot_use(
    boot: Evaluation,
) -> None:
    job = inputs(boot, "app:Job")
    identity = "id-github-runner-id"
    vault = f"kv-pulumi-{SUFFIX}"
    assert job["configuration"]["secrets"] == [
        {
            "name": "github-app-key",
            "keyVaultUrl": f"https://{vault}.vault.azure.net/secrets/github-app-key",
            "identity": identity,
        }
    ]
    assert job["configuration"]["identitySettings"] == [{"identity": identity, "lifecycle": "None"}]
    assert job["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity]}
    assert job["configuration"]["registries"] == [{"server": f"acrrunners{SUFFIX}.azurecr.io", "identity": identity}]
    (container,) = job["template"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["GITHUB_APP_PRIVATE_KEY"] == {"name": "GITHUB_APP_PRIVATE_KEY", "secretRef": "github-app-key"}
    assert env["RUNNER_LABELS"]["value"] == "aks-platform"
    assert container["resources"] == {"cpu": 2.0, "memory": "4Gi"}
    assert container["image"].startswith(f"acrrunners{SUFFIX}.azurecr.io/github-runner:")
    # The key is in the vault's secret, as a secret, and nowhere in the job's definition.
    secret = boot.one("azure-native:keyvault:Secret")
    assert secret.inputs["properties"]["value"] == PLACEHOLDER_APP_KEY
    assert "placeholder-secret-github-app-key" not in str(boot.one("azure-native:app:Job").raw)
    assert "placeholder-secret-github-app-key" not in str([r.raw for r in boot.resources if r.type != secret.type])
    # The job waits for its identity's roles (the pull and the secret read happen at once).
    runner_roles = [a.urn for a in boot.of_type(ROLE) if a.inputs["principalId"] == RUNNER]
    assert set(runner_roles) <= set(boot.one("azure-native:app:Job").dependencies)


def test_the_app_keys_value_is_a_secret_on_the_wire(boot: Evaluation) -> None:
    raw = boot.one("azure-native:keyvault:Secret").raw
    assert "placeholder-secret-github-app-key" in str(raw)
    assert str(raw).count("1b47061264138c4ac30d75fd1eb44270") >= 1  # the secret marker wraps it


# ------------------------------------------------------------------- outputs


def test_the_outputs_a_person_pastes(boot: Evaluation) -> None:
    ex = boot.exports
    assert ex["backendUrl"] == f"azblob://state?storage_account=stpulumi{SUFFIX}"
    assert ex["subscriptionId"] == SUBSCRIPTION_ID and ex["tenantId"] == TENANT_ID
    assert ex["deployClientIds"] == {s: client_id_of(f"id-platform-deploy-{s}") for s in ("staging", "prod")}
    assert ex["previewClientId"] == client_id_of("id-platform-preview")
    assert ex["platformSettings"] == {"subscriptionId": SUBSCRIPTION_ID, "runnerEgressIp": RUNNER_EGRESS_IP}
    repo = "--repo example-org/aks-platform"
    lines = ex["githubSetup"].splitlines()
    for expected in (
        f"gh variable set AZURE_TENANT_ID {repo} --body {TENANT_ID}",
        f"gh variable set AZURE_SUBSCRIPTION_ID {repo} --body {SUBSCRIPTION_ID}",
        f"gh variable set PULUMI_BACKEND_URL {repo} --body 'azblob://state?storage_account=stpulumi{SUFFIX}'",
        f"gh variable set AZURE_PREVIEW_CLIENT_ID {repo} --body {client_id_of('id-platform-preview')}",
        "echo '{}' | gh api --method PUT repos/example-org/aks-platform/environments/staging --silent --input -",
        f"gh variable set AZURE_DEPLOY_CLIENT_ID {repo} --env staging --body {client_id_of('id-platform-deploy-staging')}",
        """echo '{"reviewers": [{"type": "Team", "id": 4242}]}' | gh api --method PUT """
        "repos/example-org/aks-platform/environments/production --silent --input -",
        f"gh variable set AZURE_DEPLOY_CLIENT_ID {repo} --env production --body {client_id_of('id-platform-deploy-prod')}",
    ):
        assert expected in lines
    # Each environment exists before its variable is set on it.
    assert lines.index(next(x for x in lines if "environments/production" in x)) < lines.index(
        next(x for x in lines if "--env production" in x)
    )


# ---------------------------------------------------------------- the shapes


def test_every_azure_request_body_uses_only_names_and_values_the_sdk_defines(boot: Evaluation) -> None:
    checked = set()
    for resource in boot.resources:
        if resource.type.startswith("azure-native:"):
            assert check_inputs(resource.type, resource.inputs) == [], resource.name
            checked.add(resource.type.rsplit(":", 1)[1])
    assert {"StorageAccount", "Vault", "Key", "Job", "ManagedEnvironment", "NatGateway", "RoleAssignment"} <= checked


def test_every_resource_is_a_child_of_a_bootstrap_component(boot: Evaluation) -> None:
    for r in boot.resources:
        parent = r.parent.split("::")[2].split("$")[-1]
        expected = "pulumi:pulumi:Stack" if r.type.startswith("platform:") else "platform:bootstrap:"
        assert parent.startswith(expected), (r.type, r.name, parent)


def test_the_platform_stacks_deploy_into_the_groups_the_bootstrap_makes(boot: Evaluation) -> None:
    made = {g.inputs["resourceGroupName"] for g in boot.of_type("azure-native:resources:ResourceGroup")}
    for stack in ("prod", "staging"):
        (read,) = evaluate(stack).reads
        assert read.id.rsplit("/", 1)[1] in made
    assert boot.exports["resourceGroups"] == {"staging": "rg-platform-staging", "prod": "rg-platform-prod"}
    assert all(g.protect for g in boot.of_type("azure-native:resources:ResourceGroup"))


def test_a_group_a_stack_made_before_the_bootstrap_is_imported_with_the_tags_it_has() -> None:
    patch = {"bootstrap:environments": {"prod": {"githubEnvironment": "production", "approval": True,
                                                  "existingGroup": True}}}  # fmt: skip
    groups = {
        g.name: g
        for g in evaluate_bootstrap(stack_file=_patched(patch)).of_type("azure-native:resources:ResourceGroup")
    }
    assert groups["platform-prod"].import_id == f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-platform-prod"
    assert groups["platform-staging"].import_id == "" and groups["bootstrap"].import_id == ""
    # The platform program's tags on the groups it created (components/azure/aks_cluster.py _tags).
    platform_tags = evaluate("prod").one("azure-native:containerservice:ManagedCluster").inputs["tags"]
    assert groups["platform-prod"].inputs["tags"] == platform_tags
    assert groups["platform-prod"].inputs["location"] == "japaneast"


# ---------------------------------------------------------------- bad config


def _patched(patch: dict) -> dict:
    config = copy.deepcopy(bootstrap_stack_file_config())
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


BAD = [
    ("owner-with-a-slash", {"bootstrap:github": {"owner": "example/org"}}, None,
     ["bootstrap:github.owner", "should match pattern"]),
    ("no-app-id", {"bootstrap:github": {"appId": None}}, None, ["bootstrap:github.appId", "valid integer"]),
    ("approval-without-reviewers", {"bootstrap:github": {"productionReviewers": []}}, None,
     ["bootstrap:github.productionReviewers", "is empty, but an environment asks for approval"]),
    ("two-stacks-one-environment", {"bootstrap:environments": {"staging": {"githubEnvironment": "production"}}}, None,
     ["bootstrap:environments.prod.githubEnvironment", "'production' is environments.staging.githubEnvironment's too"]),
    # The deploy identity's credential is named after the environment; Entra takes 3-120 letters, digits, '_', '-'.
    ("environment-with-a-dot", {"bootstrap:environments": {"staging": {"githubEnvironment": "staging.eu"}}}, None,
     ["bootstrap:environments.staging.githubEnvironment", "'github-environment-staging.eu' is not a valid federated",
      "has '.'"]),
    ("environment-too-long", {"bootstrap:environments": {"staging": {"githubEnvironment": "s" * 110}}}, None,
     ["bootstrap:environments.staging.githubEnvironment", "federated identity credential name", "129"]),
    ("stack-group-is-the-bootstraps", {"bootstrap:environments": {"staging": {"githubEnvironment": "staging",
                                                                              "resourceGroupName": "rg-platform-bootstrap"}}},
     None, ["bootstrap:environments.staging.resourceGroupName", "is resourceGroupName's too"]),
    ("storage-account-name-with-hyphen", {"bootstrap:stateBackend": {"accountName": "st-pulumi"}}, None,
     ["bootstrap:stateBackend.accountName", "has '-'; a storage account name allows only lower-case letters and digits"]),
    ("container-name-double-hyphen", {"bootstrap:stateBackend": {"containerName": "pulumi--state"}}, None,
     ["bootstrap:stateBackend.containerName", "consecutive hyphens"]),
    ("vault-name-trailing-hyphen", {"bootstrap:secretsVault": {"name": "kv-pulumi-"}}, None,
     ["bootstrap:secretsVault.name", "ends with '-'"]),
    ("subnet-too-small", {"bootstrap:runners": {"subnetCidr": "10.90.0.0/28"}}, None,
     ["bootstrap:runners.subnetCidr", "smaller than a /27"]),
    ("subnet-outside-vnet", {"bootstrap:runners": {"subnetCidr": "10.91.0.0/27"}}, None,
     ["bootstrap:runners.subnetCidr", "must sit inside vnetCidr 10.90.0.0/24"]),
    ("subnet-on-a-reserved-range", {"bootstrap:runners": {"vnetCidr": "172.31.0.0/24", "subnetCidr": "172.31.0.0/27"}},
     None, ["bootstrap:runners.subnetCidr", "overlaps 172.31.0.0/16, which Container Apps reserves"]),
    ("cpu-memory-not-offered", {"bootstrap:runners": {"cpu": 2.0, "memory": "3Gi"}}, None,
     ["bootstrap:runners", "memory 3Gi with cpu 2.0", "4.0Gi"]),
    ("default-label", {"bootstrap:runners": {"labels": ["self-hosted"]}}, None,
     ["bootstrap:runners.labels", "'self-hosted' is a default label"]),
    ("unknown-key", {"bootstrap:runner": {"labels": ["x"]}}, None,
     ["bootstrap:runner", "unknown key; expected one of:", "runners"]),
    ("no-app-key", {}, {}, ["bootstrap:githubAppPrivateKey", "is not set", "pulumi config set --secret githubAppPrivateKey"]),
    ("app-key-not-pem", {}, {"githubAppPrivateKey": "ghp_a-personal-token"},
     ["bootstrap:githubAppPrivateKey", "is not a PEM private key"]),
    ("subscription-not-signed-in", {"bootstrap:subscriptionId": "99999999-1111-2222-3333-444444444444"}, None,
     ["bootstrap:subscriptionId", f"Azure is signed in to subscription {SUBSCRIPTION_ID}", "az account set"]),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "secrets", "expected"), [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_bad_bootstrap_config_fails_before_any_resource_with_one_line(
    patch: dict, secrets: dict | None, expected: list[str]
) -> None:
    monitor = RecordingMonitor(__import__("offline.engine", fromlist=["PlatformMocks"]).PlatformMocks())
    with pytest.raises(ConfigError) as raised:
        evaluate_bootstrap(stack_file=_patched(patch), secrets=secrets, monitor=monitor)
    message = str(raised.value)
    assert message.startswith("invalid configuration in bootstrap/Pulumi.main.yaml:")
    lines = [line for line in message.splitlines() if line.startswith("stack 'main': ")]
    assert any(all(fragment in line for fragment in expected) for line in lines), message
    assert monitor.registrations == []
    assert "placeholder-secret" not in message and "ghp_a-personal-token" not in message


def test_the_app_key_in_plain_text_is_refused_without_quoting_it() -> None:
    config = _patched({"bootstrap:githubAppPrivateKey": PLACEHOLDER_APP_KEY})
    with pytest.raises(ConfigError) as raised:
        evaluate_bootstrap(stack_file=config, secrets={})
    assert "bootstrap:githubAppPrivateKey: is stored in plain text" in str(raised.value)
    assert "placeholder-secret" not in str(raised.value)


def test_an_org_scoped_runner_registers_with_the_organization() -> None:
    ev = evaluate_bootstrap(stack_file=_patched({"bootstrap:github": {"runnerScope": "org"}}))
    job = ev.one("azure-native:app:Job").inputs
    env = {e["name"]: e.get("value") for e in job["template"]["containers"][0]["env"]}
    assert env["RUNNER_SCOPE_URL"] == "https://github.com/example-org"
    assert (
        env["REGISTRATION_TOKEN_API_URL"]
        == "https://api.github.com/orgs/example-org/actions/runners/registration-token"
    )
    assert job["configuration"]["eventTriggerConfig"]["scale"]["rules"][0]["metadata"]["runnerScope"] == "org"


def test_secret_placeholders_never_leave_their_markers(boot: Evaluation) -> None:
    for resource in boot.resources:
        if resource.type != "azure-native:keyvault:Secret":
            assert "placeholder-secret" not in str(unwrap_secrets(resource.raw)), resource.name
