"""Azure names: ARM's uniqueString, each resource type's rule, and the derived defaults,
all checked before any resource is registered (settings/azure/names.py)."""

from __future__ import annotations

import pytest

from harness import evaluate, evaluate_recording, patched_stack_file
from offline.engine import SUBSCRIPTION_ID
from settings.azure import names
from settings.loader import ConfigError, sibling_names, validate_settings

# Outputs of real ARM deployments, recorded in KingslandConsulting/Kingsland.ArmLinter
# @ be4e531e src/Kingsland.ArmLinter/Functions/ArmStringFunctions.cs (comments of UniqueString),
# and in a public bash reimplementation "verified against Bicep uniqueString() output"
# (uniquestring.sh, seen in the code index; research notes, issue 19, section 7).
ARM_VECTORS = [
    (("aaa",), "zavj67f3en4hc"),
    (("bbb",), "w5eragfxe33cy"),
    (("zzz",), "cryksdzzzawae"),
    (("xxx", "yyy", "zzz"), "lghi7k5js7itq"),
    (("test",), "rbgf3xv4ufgzg"),
    (("hello", "world"), "a7wkljktk6wne"),
    (("abc",), "cgtzqvhu4i23s"),
    (("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg",), "bmg7c6xu4tw46"),
    (("foo", "bar", "baz"), "xzi4ioaxtmth4"),
]


@pytest.mark.parametrize(("values", "expected"), ARM_VECTORS, ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_unique_string_matches_arm(values: tuple[str, ...], expected: str) -> None:
    assert names.unique_string(*values) == expected


def test_every_byte_of_a_long_tail_counts() -> None:
    """No ARM vector above ends in a 5- to 7-byte tail, which reaches the second lane's tail mix
    (staging's suffix does: '<subscription>-platform-staging' is 53 bytes). This shows that branch is
    there; its constants and order follow Microsoft's HashHelper.MurmurHash64 (KuduLite @ 27ef54b0)."""
    for tail in (5, 6, 7):
        base = "a" * (8 + tail)
        for position in range(8 + 4, 8 + tail):
            changed = base[:position] + "b" + base[position + 1 :]
            assert names.unique_string(changed) != names.unique_string(base), (tail, position)


def test_unique_string_covers_every_tail_length_with_its_alphabet() -> None:
    """Inputs of 0 to 17 bytes walk every tail branch (0-7 bytes after whole blocks)."""
    seen = set()
    for length in range(18):
        value = names.unique_string("x" * length)
        assert len(value) == names.UNIQUE_STRING_LENGTH and set(value) <= names.UNIQUE_STRING_ALPHABET
        seen.add(value)
    assert len(seen) == 18
    # Case-sensitive, like ARM's: which is why the subscription is lower-cased first.
    assert names.unique_string("ABC") != names.unique_string("abc")
    upper, lower = SUBSCRIPTION_ID.upper(), SUBSCRIPTION_ID.lower()
    assert names.suffix(upper, "platform", "prod") == names.suffix(lower, "platform", "prod")


VALID = [
    (names.STORAGE_ACCOUNT, "stpulumiabc123"),
    (names.STORAGE_ACCOUNT, "abc"),
    (names.BLOB_CONTAINER, "state"),
    (names.BLOB_CONTAINER, "pulumi-state-1"),
    (names.KEY_VAULT, "kv-prod-a4ye5awacz2sg"),
    (names.KEY_VAULT, "Kv1"),
    (names.CONTAINER_REGISTRY, "acrPlatform01"),
    (names.RESOURCE_GROUP, "rg-platform_(prod).1"),
    (names.MANAGED_CLUSTER, "aks-platform_prod"),
    (names.MANAGED_IDENTITY, "id-platform-deploy-prod"),
    (names.FEDERATED_CREDENTIAL, "github-environment-production"),
    (names.NAT_GATEWAY, "ng-runners_"),
    (names.PUBLIC_IP, "pip.runners-egress"),
    (names.VIRTUAL_NETWORK, "vnet-runners"),
    (names.SUBNET, "snet-runners"),
    (names.CONTAINER_APP_JOB, "github-runner"),
    (names.CONTAINER_APP_ENVIRONMENT, "cae-runners"),
    (names.KEY_VAULT_OBJECT, "pulumi-prod"),
    (names.MANAGEMENT_LOCK, "do-not-delete-state"),
]

INVALID = [
    (names.STORAGE_ACCOUNT, "stPulumi", "has 'P'"),
    (names.STORAGE_ACCOUNT, "st-pulumi", "has '-'"),
    (names.STORAGE_ACCOUNT, "st", "is 2 characters; a storage account name has 3-24"),
    (names.STORAGE_ACCOUNT, "s" * 25, "is 25 characters"),
    (names.BLOB_CONTAINER, "state--1", "consecutive hyphens"),
    (names.BLOB_CONTAINER, "-state", "starts with '-'"),
    (names.BLOB_CONTAINER, "state-", "ends with '-'"),
    (names.BLOB_CONTAINER, "State", "has 'S'"),
    (names.KEY_VAULT, "kv--platform-prod", "consecutive hyphens"),
    (names.KEY_VAULT, "kv-platform-prod-", "ends with '-'"),
    (names.KEY_VAULT, "kv-platform-prod_2", "has '_'"),
    (names.KEY_VAULT, "9kv", "starts with '9'"),
    (names.KEY_VAULT, "kv-platform-a-long-stack1", "is 25 characters"),
    (names.CONTAINER_REGISTRY, "acr-platform", "has '-'"),
    (names.CONTAINER_REGISTRY, "acr1", "is 4 characters"),
    (names.RESOURCE_GROUP, "rg-platform.", "ends with '.'"),
    (names.RESOURCE_GROUP, "rg platform", "has ' '"),
    (names.MANAGED_CLUSTER, "aks-platform-", "ends with '-'"),
    (names.MANAGED_CLUSTER, "aks.platform", "has '.'"),
    (names.MANAGED_IDENTITY, "_id", "starts with '_'"),
    (names.FEDERATED_CREDENTIAL, "-github", "starts with '-'"),
    (names.NAT_GATEWAY, "ng-runners.", "ends with '.'"),
    (names.NAT_GATEWAY, "-ng", "starts with '-'"),
    (names.PUBLIC_IP, "pip runners", "has ' '"),
    (names.SUBNET, "snet-", "ends with '-'"),
    (names.VIRTUAL_NETWORK, "v", "is 1 characters; a virtual network name has 2-64"),
    (names.CONTAINER_APP_JOB, "GitHub-runner", "has 'GH'"),
    (names.CONTAINER_APP_JOB, "github--runner", "consecutive hyphens"),
    (names.CONTAINER_APP_JOB, "1runner", "starts with '1'"),
    (names.CONTAINER_APP_JOB, "runner-", "ends with '-'"),
    (names.CONTAINER_APP_JOB, "r" * 33, "is 33 characters; a container app job name has 2-32"),
    (names.CONTAINER_APP_ENVIRONMENT, "cae_runners", "has '_'"),
    (names.MANAGEMENT_LOCK, "lock.", "ends with '.'"),
    (names.KEY_VAULT_OBJECT, "pulumi_prod", "has '_'"),
]


@pytest.mark.parametrize(("rule", "name"), VALID, ids=lambda v: getattr(v, "kind", v))
def test_a_valid_name_passes_its_rule(rule: names.NameRule, name: str) -> None:
    assert rule.check(name) == name


@pytest.mark.parametrize(("rule", "name", "fragment"), INVALID, ids=lambda v: getattr(v, "kind", v))
def test_an_invalid_name_is_refused_with_the_part_it_breaks(rule: names.NameRule, name: str, fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        rule.check(name)
    message = str(raised.value)
    assert fragment in message and f"{name!r} is not a valid {rule.kind} name" in message
    assert "\n" not in message


def test_every_rule_has_valid_and_invalid_cases() -> None:
    assert {r.kind for r, _ in VALID} == {r.kind for r in names.RULES}
    assert {r.kind for r, _, _ in INVALID} == {r.kind for r in names.RULES}


@pytest.mark.parametrize("stack", ["prod", "staging", "prod_2", "a.stack-name-far-longer-than-any-rule-allows-x"])
def test_derived_names_are_valid_for_any_stack_name_and_keep_the_whole_suffix(stack: str) -> None:
    """The issue's cases: 'prod_2' used to give an underscore, a long name a trailing hyphen."""
    unique = names.suffix(SUBSCRIPTION_ID, "platform", stack)
    registry, vault = names.registry_name(SUBSCRIPTION_ID, stack), names.vault_name(SUBSCRIPTION_ID, stack)
    assert names.CONTAINER_REGISTRY.problems(registry) == [] and registry.endswith(unique)
    assert names.KEY_VAULT.problems(vault) == [] and vault.endswith("-" + unique) and vault.startswith("kv-")
    # Stable: the same inputs give the same names, another subscription other names.
    assert names.registry_name(SUBSCRIPTION_ID, stack) == registry
    assert names.registry_name("11111111-1111-2222-3333-444444444444", stack) != registry


def test_the_stacks_create_their_registry_and_vault_under_the_derived_names() -> None:
    for stack in ("prod", "staging"):
        ev = evaluate(stack)
        assert ev.one("azure-native:containerregistry:Registry").inputs["registryName"] == names.registry_name(
            SUBSCRIPTION_ID, stack
        )
        assert ev.one("azure-native:keyvault:Vault").inputs["vaultName"] == names.vault_name(SUBSCRIPTION_ID, stack)


def test_a_stack_keeps_its_old_names_by_setting_them() -> None:
    """The upgrade path for a stack created under the old defaults (docs/first-deploy.md)."""
    patch = {"platform:aks": {"registry": {"name": "acrplatformprod"}, "keyVault": {"name": "kv-platform-prod"}}}
    ev = evaluate("prod", stack_file=patched_stack_file("prod", patch))
    assert ev.one("azure-native:containerregistry:Registry").inputs["registryName"] == "acrplatformprod"
    assert ev.one("azure-native:keyvault:Vault").inputs["vaultName"] == "kv-platform-prod"


def test_a_stack_whose_name_derives_an_invalid_cluster_name_is_refused_before_anything() -> None:
    monitor, raised = evaluate_recording("prod.v2", stack_file=patched_stack_file("prod", {}))
    assert isinstance(raised, ConfigError)
    lines = [line for line in str(raised).splitlines() if line.startswith("stack 'prod.v2'")]
    assert any(
        "platform:aks.clusterName: the derived AKS cluster name 'aks-platform-prod.v2' has '.'" in line
        and "set `aks.clusterName`" in line
        for line in lines
    ), lines
    assert monitor.registrations == [] and monitor.reads == []


def test_sibling_names_are_each_other_stack_files_registry_and_vault(tmp_path) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  platform:environment: prod\n")
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n  platform:environment: staging\n  platform:aks:\n    registry:\n      name: acrshared01\n"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  platform:target: local\n")
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  platform:aks:\n    subscriptionId: not-a-guid\n")
    found = sibling_names("prod", root=tmp_path)
    staging_vault = names.vault_name(SUBSCRIPTION_ID, "staging")
    assert found == {"staging": {"aks.registry": "acrshared01", "aks.keyVault": staging_vault}}


def test_prod_may_not_use_a_name_another_stack_file_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal to another stack's name, though no word of it names that stack."""
    import settings.loader as loader
    from harness import stack_file_config

    monkeypatch.setattr(loader, "sibling_names", lambda stack: {"staging": {"aks.registry": "acrshared01"}})
    runtime = {key.split(":", 1)[1]: value for key, value in stack_file_config("prod").items()}
    runtime["aks"] = {**runtime["aks"], "registry": {"name": "acrShared01"}}
    with pytest.raises(ConfigError) as raised:
        validate_settings("prod", runtime)
    assert "stack 'prod': platform:aks.registry: 'acrShared01' is stack 'staging''s too: prod uses its own" in str(
        raised.value
    )
    runtime["aks"]["registry"] = {"name": "acrprodown01"}
    assert validate_settings("prod", runtime).aks.registry.name == "acrprodown01"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "refused"),
    [("acrplatformstaging", "staging"), ("kv-dev-certs", "dev"), ("acrdevopsprod", None), ("kv-prod-certs", None)],
)
def test_a_word_of_a_prod_name_that_names_another_environment_is_refused(name: str, refused: str | None) -> None:
    from settings.platform import _names_another_stack

    assert _names_another_stack(name, {"staging", "dev"}) == refused


def test_the_group_is_read_under_the_urn_it_was_created_with_so_an_old_stack_relinquishes_it() -> None:
    """The bootstrap stack makes the group; the program reads it. Same type, name and parent as
    the group the program used to create, and the same ID: the engine releases it, no delete."""
    ev = evaluate("prod")
    assert not ev.of_type("azure-native:resources:ResourceGroup")
    (read,) = [r for r in ev.reads if r.type == "azure-native:resources:ResourceGroup"]
    assert read.urn == "urn:pulumi:prod::platform::platform:azure:AksCluster$azure-native:resources:ResourceGroup::rg"
    assert read.id == f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-platform-prod"
    assert ev.exports["resourceGroupName"] == "rg-platform-prod"


def test_the_group_id_has_the_subscription_in_lower_case_as_arm_stores_it() -> None:
    """An ID differing from the stored one only in case would make the engine replace the old group."""
    from harness import PlatformMocks, RecordingMonitor, evaluate_fresh

    lettered = "abcdef00-1111-2222-3333-444444444444"

    class SignedInToALetteredSubscription(PlatformMocks):
        def call(self, args):  # type: ignore[no-untyped-def]
            result, failures = super().call(args)
            if args.token == "azure-native:authorization:getClientConfig":
                result = {**result, "subscriptionId": lettered}
            return result, failures

    monitor = RecordingMonitor(SignedInToALetteredSubscription())
    patch = {"platform:aks": {"subscriptionId": lettered.upper()}}
    evaluate_fresh("staging", stack_file=patched_stack_file("staging", patch), monitor=monitor)
    (read,) = monitor.reads
    assert read.id == f"/subscriptions/{lettered}/resourceGroups/rg-platform-staging"
