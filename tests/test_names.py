"""Azure names: ARM's uniqueString, each resource type's rule, and the derived defaults,
all checked before any resource is registered (settings/azure/names.py)."""

from __future__ import annotations

import pytest

from offline.engine import SUBSCRIPTION_ID
from settings.azure import names

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
