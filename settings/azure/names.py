"""Azure resource names: ARM's `uniqueString`, the naming rule of each resource type the
platform and its bootstrap create, and the derived default names.

A derived name is a fixed prefix, a short part of the stack's name and a 13-character
suffix from `uniqueString(subscriptionId, project, stack)`, the way the Azure Verified
Modules and aks-baseline make globally unique names (mspnp/aks-baseline
workload-team/cluster-stamp.bicep: `uniqueString('aks', subscription().subscriptionId,
resourceGroup().id)`, then `'acraks${subRgUniqueString}'`). The subscription comes from
config (`aks.subscriptionId`, bootstrap's `subscriptionId`), so every name is known,
and checked, before any resource is registered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from settings.types import Rule

# ------------------------------------------------------------- uniqueString
#
# ARM's template function: "Creates a deterministic hash string based on the values
# provided as parameters. The returned value is 13 characters long." (learn.microsoft.com
# /azure/azure-resource-manager/templates/template-functions-string#uniquestring).
# Its implementation (Azure.Deployments.Expression, ExpressionBuiltInFunctions.UniqueString,
# as published in Microsoft's NuGet package): the arguments joined with '-', hashed with
# ComputeHash.MurmurHash64 (seed 0) of the UTF-8 bytes, then Base32Encode: 13 characters of
# "abcdefghijklmnopqrstuvwxyz234567", each the top 5 bits of the 64-bit value shifted left
# by 5 each time. The same MurmurHash64, constants and all, is in Microsoft's
# Azure-App-Service/KuduLite @ 27ef54b0 Kudu.Core/Helpers/HashHelper.cs, which this follows.
# tests/test_names.py checks it against outputs of real ARM deployments.

_MASK32 = 0xFFFFFFFF
_C1, _C2, _C3, _C4, _C5, _C6 = 0x239B961B, 0xAB0E9789, 0x561CCD1B, 0x0BCAA747, 0x85EBCA6B, 0xC2B2AE35
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
UNIQUE_STRING_LENGTH = 13
UNIQUE_STRING_ALPHABET = frozenset(_BASE32)


def _rotl32(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & _MASK32


def _mix_k1(k1: int) -> int:
    return (_rotl32((k1 * _C1) & _MASK32, 15) * _C2) & _MASK32


def _mix_k2(k2: int) -> int:
    return (_rotl32((k2 * _C2) & _MASK32, 17) * _C1) & _MASK32


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * _C5) & _MASK32
    h ^= h >> 13
    h = (h * _C6) & _MASK32
    return h ^ (h >> 16)


def murmur_hash64(data: bytes) -> int:
    """Microsoft's MurmurHash64 (two 32-bit lanes, seed 0), as ARM's uniqueString uses it."""
    h1 = h2 = 0
    full = len(data) - len(data) % 8
    for index in range(0, full, 8):
        h1 ^= _mix_k1(int.from_bytes(data[index : index + 4], "little"))
        h1 = (_rotl32(h1, 19) + h2) & _MASK32
        h1 = (h1 * 5 + _C3) & _MASK32
        h2 ^= _mix_k2(int.from_bytes(data[index + 4 : index + 8], "little"))
        h2 = (_rotl32(h2, 13) + h1) & _MASK32
        h2 = (h2 * 5 + _C4) & _MASK32
    tail = data[full:]
    if tail:
        h1 ^= _mix_k1(int.from_bytes(tail[:4], "little"))
        if len(tail) > 4:
            h2 ^= _mix_k2(int.from_bytes(tail[4:], "little"))
    h1 ^= len(data) & _MASK32
    h2 ^= len(data) & _MASK32
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    h1, h2 = _fmix32(h1), _fmix32(h2)
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    """ARM's `uniqueString(values...)`: 13 characters of [a-z2-7]. Case-sensitive, like ARM's."""
    if not values:
        raise ValueError("uniqueString needs at least one value")
    value = murmur_hash64("-".join(values).encode("utf-8"))
    out = []
    for _ in range(UNIQUE_STRING_LENGTH):
        out.append(_BASE32[value >> 59])
        value = (value << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(out)


# ----------------------------------------------------------------- the rules
#
# Source, unless a rule says otherwise: "Naming rules and restrictions for Azure resources"
# (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules;
# MicrosoftDocs/azure-docs articles/azure-resource-manager/management/resource-name-rules.md
# @ 0010dc26). Names are compared case-insensitively by Azure; where a rule says
# "lower-case", upper case is refused.


@dataclass(frozen=True)
class NameRule:
    """One Azure resource type's naming rule, checked piece by piece so an error says which part fails."""

    kind: str
    """What a person calls it: 'storage account', 'Key Vault'..."""
    min_length: int
    max_length: int
    allowed: str
    """A regex character class body of the allowed characters."""
    allowed_text: str
    first: str = ""
    """Character class body the first character must match ('' = any allowed)."""
    first_text: str = ""
    last: str = ""
    last_text: str = ""
    no_double_hyphen: bool = False
    globally_unique: bool = False

    @property
    def a_kind(self) -> str:
        """'a Key Vault', 'an AKS cluster'."""
        return ("an " if self.kind[0] in "aeiouAEIOU" else "a ") + self.kind

    def problems(self, name: str) -> list[str]:
        """What is wrong with `name`, one phrase per broken part of the rule."""
        found = []
        if not self.min_length <= len(name) <= self.max_length:
            found.append(f"is {len(name)} characters; {self.a_kind} name has {self.min_length}-{self.max_length}")
        bad = sorted({c for c in name if not re.fullmatch(f"[{self.allowed}]", c)})
        if bad:
            found.append(f"has {''.join(bad)!r}; {self.a_kind} name allows only {self.allowed_text}")
        if name and self.first and not re.fullmatch(f"[{self.first}]", name[0]):
            found.append(f"starts with {name[0]!r}; {self.a_kind} name starts with {self.first_text}")
        if name and self.last and not re.fullmatch(f"[{self.last}]", name[-1]):
            found.append(f"ends with {name[-1]!r}; {self.a_kind} name ends with {self.last_text}")
        if self.no_double_hyphen and "--" in name:
            found.append(f"has consecutive hyphens, which {self.a_kind} name may not")
        return found

    @property
    def text(self) -> str:
        """The rule in words, for the configuration reference."""
        parts = [f"{self.a_kind} name: {self.min_length}-{self.max_length} characters, {self.allowed_text}"]
        if self.first_text:
            parts.append(f"starting with {self.first_text}")
        if self.last_text:
            parts.append(f"ending with {self.last_text}")
        if self.no_double_hyphen:
            parts.append("no consecutive hyphens")
        if self.globally_unique:
            parts.append("unique across all of Azure")
        return ", ".join(parts)

    def check(self, name: str) -> str:
        """`name`, or ValueError with every broken part in one line."""
        found = self.problems(name)
        if found:
            raise ValueError(f"{name!r} is not a valid {self.kind} name: " + "; ".join(found))
        return name


_ALNUM = "a-zA-Z0-9"
_NETWORK = dict(
    allowed=r"a-zA-Z0-9_.\-",
    allowed_text="letters, digits, '_', '.' and '-'",
    first=_ALNUM,
    first_text="a letter or digit",
    last=r"a-zA-Z0-9_",
    last_text="a letter, digit or '_'",
)

STORAGE_ACCOUNT = NameRule("storage account", 3, 24, "a-z0-9", "lower-case letters and digits", globally_unique=True)
BLOB_CONTAINER = NameRule(
    # "Each hyphen must be immediately preceded and followed by a letter or number"
    # (pulumi_azure_native 3.29.0 storage/blob_container.py, container_name).
    "blob container", 3, 63, r"a-z0-9\-", "lower-case letters, digits and '-'",
    first="a-z0-9", first_text="a lower-case letter or digit",
    last="a-z0-9", last_text="a lower-case letter or digit", no_double_hyphen=True,
)  # fmt: skip
KEY_VAULT = NameRule(
    "Key Vault", 3, 24, r"a-zA-Z0-9\-", "letters, digits and '-'",
    first="a-zA-Z", first_text="a letter", last=_ALNUM, last_text="a letter or digit",
    no_double_hyphen=True, globally_unique=True,
)  # fmt: skip
KEY_VAULT_OBJECT = NameRule("Key Vault key or secret", 1, 127, r"a-zA-Z0-9\-", "letters, digits and '-'")
CONTAINER_REGISTRY = NameRule("container registry", 5, 50, _ALNUM, "letters and digits", globally_unique=True)
RESOURCE_GROUP = NameRule(
    # The page also allows Unicode letters; this project keeps to ASCII.
    "resource group", 1, 90, r"a-zA-Z0-9_().\-", "letters, digits, '_', '(', ')', '.' and '-'",
    last=r"a-zA-Z0-9_()\-", last_text="anything but '.'",
)  # fmt: skip
MANAGED_CLUSTER = NameRule(
    "AKS cluster", 1, 63, r"a-zA-Z0-9_\-", "letters, digits, '_' and '-'",
    first=_ALNUM, first_text="a letter or digit", last=_ALNUM, last_text="a letter or digit",
)  # fmt: skip
MANAGED_IDENTITY = NameRule(
    "managed identity", 3, 128, r"a-zA-Z0-9_\-", "letters, digits, '_' and '-'",
    first=_ALNUM, first_text="a letter or digit",
)  # fmt: skip
# MicrosoftDocs/entra-docs docs/workload-id/workload-identity-federation-considerations.md
# @ 03ffb81c: "Alphanumeric, dash, underscore ... 3-120 symbols. First symbol is alphanumeric."
FEDERATED_CREDENTIAL = NameRule(
    "federated identity credential", 3, 120, r"a-zA-Z0-9_\-", "letters, digits, '_' and '-'",
    first=_ALNUM, first_text="a letter or digit",
)  # fmt: skip
VIRTUAL_NETWORK = NameRule("virtual network", 2, 64, **_NETWORK)
SUBNET = NameRule("subnet", 1, 80, **_NETWORK)
PUBLIC_IP = NameRule("public IP address", 1, 80, **_NETWORK)
# natGateways has no row in the snapshot above; it is a Microsoft.Network resource like
# publicIPAddresses, and this is that namespace's rule (research note: not verified for NAT).
NAT_GATEWAY = NameRule("NAT gateway", 1, 80, **_NETWORK)
# Container apps and jobs: Azure CLI containerapp `--name` help: "A name must consist of lower
# case alphanumeric characters or '-', start with a letter, end with an alphanumeric character,
# cannot have '--', and must be less than 32 characters" (Azure/azure-cli @ 96dbbccc
# src/azure-cli/azure/cli/command_modules/containerapp/_constants.py
# MAXIMUM_CONTAINER_APP_NAME_LENGTH = 32; PSRule.Rules.Azure Azure.ContainerApp.Rule.yaml
# `^([a-z][0-9a-z-]{0,30}[0-9a-z])$`, 2-32).
CONTAINER_APP_JOB = NameRule(
    "container app job", 2, 32, r"a-z0-9\-", "lower-case letters, digits and '-'",
    first="a-z", first_text="a lower-case letter", last="a-z0-9", last_text="a lower-case letter or digit",
    no_double_hyphen=True,
)  # fmt: skip
# No published rule for managedEnvironments was found; the container app rule is a safe subset.
CONTAINER_APP_ENVIRONMENT = NameRule(
    "container apps environment", 2, 32, r"a-z0-9\-", "lower-case letters, digits and '-'",
    first="a-z", first_text="a lower-case letter", last="a-z0-9", last_text="a lower-case letter or digit",
    no_double_hyphen=True,
)  # fmt: skip
# Authorization locks: 1-90, alphanumerics, periods, underscores, hyphens and parentheses; not ending in '.'.
MANAGEMENT_LOCK = NameRule(
    "management lock", 1, 90, r"a-zA-Z0-9_().\-", "letters, digits, '_', '(', ')', '.' and '-'",
    last=r"a-zA-Z0-9_()\-", last_text="anything but '.'",
)  # fmt: skip

RULES = (
    STORAGE_ACCOUNT, BLOB_CONTAINER, KEY_VAULT, KEY_VAULT_OBJECT, CONTAINER_REGISTRY, RESOURCE_GROUP,
    MANAGED_CLUSTER, MANAGED_IDENTITY, FEDERATED_CREDENTIAL, VIRTUAL_NETWORK, SUBNET, PUBLIC_IP, NAT_GATEWAY,
    CONTAINER_APP_JOB, CONTAINER_APP_ENVIRONMENT, MANAGEMENT_LOCK,
)  # fmt: skip


# -------------------------------------------------------------- derived names


def name_part(text: str, length: int) -> str:
    """`text` reduced to lower-case letters and digits, at most `length` of them: the piece of a
    stack's name that fits any rule above ('prod_2' -> 'prod2')."""
    return re.sub(r"[^a-z0-9]", "", text.lower())[:length]


def suffix(subscription_id: str, project: str, stack: str) -> str:
    """The stable 13-character suffix of a stack's globally unique names. The subscription is
    lower-cased first: uniqueString is case-sensitive and Azure hands out both casings."""
    return unique_string(subscription_id.lower(), project, stack)


def derived(rule: NameRule, prefix: str, stack: str, unique: str, separator: str = "") -> str:
    """prefix, the stack's name part and the unique suffix, joined by `separator`, the stack part
    cut so the whole fits `rule`'s length; checked against `rule`."""
    room = rule.max_length - len(prefix) - len(unique) - 2 * len(separator)
    return rule.check(separator.join(p for p in (prefix, name_part(stack, room), unique) if p))


def registry_name(subscription_id: str, stack: str) -> str:
    """The platform stack's registry: 'acrplatform<stack>' + suffix, e.g. 'acrplatformprodxxxxxxxxxxxxx'."""
    return derived(CONTAINER_REGISTRY, "acrplatform", stack, suffix(subscription_id, "platform", stack))


def vault_name(subscription_id: str, stack: str) -> str:
    """The platform stack's certificate vault: 'kv-<stack, 7>-' + suffix, at most 24 characters."""
    return derived(KEY_VAULT, "kv", stack, suffix(subscription_id, "platform", stack), separator="-")


# ------------------------------------------------------------- domain types


def _name_type(rule: NameRule, type_name: str) -> object:
    return Annotated[str, AfterValidator(rule.check), Rule(type_name, rule.text)]


StorageAccountName = _name_type(STORAGE_ACCOUNT, "StorageAccountName")
BlobContainerName = _name_type(BLOB_CONTAINER, "BlobContainerName")
KeyVaultName = _name_type(KEY_VAULT, "KeyVaultName")
KeyVaultObjectName = _name_type(KEY_VAULT_OBJECT, "KeyVaultObjectName")
RegistryName = _name_type(CONTAINER_REGISTRY, "RegistryName")
ResourceGroupName = _name_type(RESOURCE_GROUP, "ResourceGroupName")
ClusterName = _name_type(MANAGED_CLUSTER, "ClusterName")
IdentityName = _name_type(MANAGED_IDENTITY, "IdentityName")
ContainerAppName = _name_type(CONTAINER_APP_JOB, "ContainerAppName")
ContainerAppEnvironmentName = _name_type(CONTAINER_APP_ENVIRONMENT, "ContainerAppEnvironmentName")
NetworkName = _name_type(NAT_GATEWAY, "NetworkName")
