"""The bootstrap stack's typed configuration: every `bootstrap:*` key of bootstrap/Pulumi.<stack>.yaml.

Defaults live here; the stack file holds what is particular to a subscription and a repository.
Everything is validated before any resource is registered (settings/bootstrap/loader.py)."""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from settings.azure import names
from settings.azure.names import BlobContainerName, KeyVaultName, RegistryName, ResourceGroupName, StorageAccountName
from settings.base import Model, RuleViolationError
from settings.types import Cidr, K8sName, ObjectId

# Where the Container Apps environment's infrastructure subnet may not overlap: the ranges a
# workload profiles environment reserves (MicrosoftDocs/azure-docs
# articles/container-apps/custom-virtual-networks.md @ 1783cfce, "Subnet address range restrictions").
RESERVED_RANGES = (
    "169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24",
    "100.100.0.0/17", "100.100.128.0/19", "100.100.160.0/19", "100.100.192.0/19",
)  # fmt: skip
# Same page: "/27 is the minimum subnet size" for a workload profiles environment.
SMALLEST_SUBNET_PREFIX = 27


class Reviewer(Model):
    """Who may approve a deploy to a protected GitHub environment (GitHub REST "Create or update
    an environment": reviewers, each `{type: User|Team, id}`; docs.github.com/rest/deployments/environments)."""

    type: Literal["User", "Team"] = Field(description="A user or a team of the repository's owner.")
    id: int = Field(
        ge=1, description="Its numeric ID (`gh api users/<login> -q .id`, `gh api orgs/<org>/teams/<slug> -q .id`)."
    )


class GithubSettings(Model):
    """The repository whose workflows deploy the platform, and the GitHub App its runners register with."""

    # The characters of GitHub owner and repository names; any other would break the OIDC
    # subject claim `repo:<owner>/<repo>:...` (docs.github.com/en/actions/reference/security/oidc).
    owner: str = Field(
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", description="User or organization, e.g. 'example-org'."
    )
    repository: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Repository name, e.g. 'aks-platform'.")
    default_branch: str = Field(
        "main",
        pattern=r"^[A-Za-z0-9._/-]+$",
        description=(
            "The branch the scheduled drift check runs on: its OIDC subject is "
            "`repo:<owner>/<repo>:ref:refs/heads/<branch>`."
        ),
    )
    api_url: str = Field(
        "https://api.github.com",
        pattern=r"^https://[^\s/]+(/[^\s]*)?$",
        description="GitHub's REST API (GHES: its /api/v3).",
    )
    server_url: str = Field("https://github.com", pattern=r"^https://[^\s/]+$", description="GitHub's web address.")
    app_id: int = Field(
        ge=1,
        description="The GitHub App the runners register with (its private key is the secret `githubAppPrivateKey`).",
    )
    installation_id: int = Field(
        ge=1,
        description="The App's installation on the owner (Settings → GitHub Apps → Configure: the number in the URL).",
    )
    runner_scope: Literal["repo", "org"] = Field(
        "repo",
        description=(
            "Register the runners on the repository (the App needs Administration: read and write) or on the "
            "organization (the App needs only the organization's Self-hosted runners permission; KEDA docs, "
            "github-runner scaler)."
        ),
    )
    production_reviewers: list[Reviewer] = Field(
        default_factory=list, description="Required reviewers of the environments marked `approval` (below)."
    )

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.repository}"


class EnvironmentSettings(Model):
    """One platform stack the pipeline deploys: its GitHub environment, its resource group, its identity."""

    github_environment: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,255}$",
        description="The GitHub environment its deploy job runs under; its deploy identity trusts only that subject.",
    )
    resource_group_name: ResourceGroupName | None = Field(
        None, description="Defaults to 'rg-platform-<stack>', the platform stack's own default (aks.resourceGroupName)."
    )
    approval: bool = Field(
        False, description="Give the GitHub environment `github.productionReviewers` as required reviewers."
    )
    existing_group: bool = Field(
        False,
        description=(
            "The group exists already (the stack was deployed before the bootstrap, and created it): import it "
            "instead of creating it. The platform program then reads it and lets go of it (docs/first-deploy.md)."
        ),
    )

    @property
    def credential_name(self) -> str:
        """The deploy identity's federated credential for this environment."""
        return f"github-environment-{self.github_environment}"

    @field_validator("github_environment")
    @classmethod
    def _names_a_valid_credential(cls, value: str) -> str:
        """The credential named after it is a valid federated identity credential name."""
        names.FEDERATED_CREDENTIAL.check(f"github-environment-{value}")
        return value


class StateBackendSettings(Model):
    """The storage account and container of every platform stack's Pulumi state (`azblob://`)."""

    account_name: StorageAccountName | None = Field(
        None, description="Default: 'stpulumi' and uniqueString(subscriptionId, 'bootstrap', stack)."
    )
    container_name: BlobContainerName = Field("state", description="The one container of the platform's state.")
    sku: Literal[
        "Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS", "Standard_RAGRS", "Standard_RAGZRS"
    ] = Field("Standard_GRS", description="Redundancy (pulumi_azure_native 3.29.0 storage SkuName).")
    # pulumi_azure_native 3.29.0 storage/_inputs.py DeleteRetentionPolicyArgs.days: "minimum ... 1 and maximum ... 365".
    soft_delete_days: int = Field(
        30, ge=1, le=365, description="How long deleted blobs, versions and containers can be restored."
    )


class SecretsVaultSettings(Model):
    """The Key Vault whose keys encrypt the platform stacks' secrets (`azurekeyvault://`); it also holds
    the runners' App key."""

    name: KeyVaultName | None = Field(
        None, description="Default: 'kv-pulumi-' and uniqueString(subscriptionId, 'bootstrap', stack)."
    )
    # keyvault KeyPropertiesArgs.key_size (pulumi_azure_native 3.29.0): "The key size in bits. For example:
    # 2048, 3072, or 4096 for RSA."
    key_size: Literal[2048, 3072, 4096] = Field(3072, description="Size of each environment's RSA key.")
    # keyvault VaultPropertiesArgs.soft_delete_retention_in_days: ">=7 and <=90".
    soft_delete_retention_days: int = Field(
        90, ge=7, le=90, description="How long a deleted vault, key or secret can be recovered."
    )


class RunnerSettings(Model):
    """Self-hosted GitHub runners: an event-driven Container Apps job (KEDA `github-runner` scaler) in a VNet
    whose NAT gateway gives them one static egress address, the one the clusters admit."""

    labels: list[str] = Field(
        default_factory=lambda: ["aks-platform"],
        min_length=1,
        description="Labels the runners register with, besides self-hosted, Linux and X64; jobs name them in runs-on.",
    )
    registry_name: RegistryName | None = Field(
        None,
        description=(
            "Registry of the runner image. Default: 'acrrunners' and uniqueString(subscriptionId, 'bootstrap', stack)."
        ),
    )
    vnet_cidr: Cidr = Field("10.90.0.0/24", description="Address space of the runners' VNet.")
    subnet_cidr: Cidr = Field(
        "10.90.0.0/27",
        description="The environment's infrastructure subnet: inside vnetCidr, /27 or larger, fixed once created.",
    )
    cpu: float = Field(2.0, description="vCPUs per runner.")
    memory: str = Field("4Gi", pattern=r"^[0-9]+(\.[0-9]+)?Gi$", description="Memory per runner, twice the CPU in Gi.")
    max_executions: int = Field(10, ge=1, le=100, description="At most this many runners at once.")
    polling_interval_seconds: int = Field(30, ge=10, le=300, description="How often KEDA asks GitHub for queued jobs.")
    replica_timeout_seconds: int = Field(
        4200,
        ge=300,
        le=86400,
        description="A runner is stopped after this long: longer than any workflow job's timeout-minutes.",
    )

    @field_validator("labels")
    @classmethod
    def _labels_are_plain(cls, labels: list[str]) -> list[str]:
        """Each label is letters, digits, '-', '_' or '.', and not one GitHub gives every runner."""
        for label in labels:
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", label):
                raise ValueError(f"{label!r} is not a runner label: letters, digits, '-', '_' and '.'")
            # config.sh --labels: "Extra labels in addition to the default: 'self-hosted,Linux,X64'".
            if label.lower() in ("self-hosted", "linux", "x64"):
                raise ValueError(f"{label!r} is a default label every runner has: name this platform's own")
        return labels

    @model_validator(mode="after")
    def _subnet_fits(self) -> RunnerSettings:
        """The subnet sits inside the VNet, is /27 or larger, and overlaps no range Container Apps reserves."""
        subnet, vnet = ipaddress.ip_network(self.subnet_cidr), ipaddress.ip_network(self.vnet_cidr)
        problems = []
        if not subnet.subnet_of(vnet):  # type: ignore[arg-type]
            problems.append(("subnetCidr", f"{subnet} must sit inside vnetCidr {vnet}"))
        if subnet.prefixlen > SMALLEST_SUBNET_PREFIX:
            problems.append(
                ("subnetCidr", f"{subnet} is smaller than a /27, the least a workload profiles environment takes")
            )
        for reserved in RESERVED_RANGES:
            if subnet.overlaps(ipaddress.ip_network(reserved)):
                problems.append(("subnetCidr", f"{subnet} overlaps {reserved}, which Container Apps reserves"))
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _allocation_is_one_container_apps_offers(self) -> RunnerSettings:
        """`cpu` is a multiple of 0.25 up to 4 and `memory` twice it in Gi, as the Consumption profile offers."""
        # ARM's error for any other pair: "Total CPU and memory for all containers defined in a Container App must
        # add up to one of the following CPU - Memory combinations: [cpu: 0.25, memory: 0.5Gi]; [cpu: 0.5, memory:
        # 1.0Gi]; ..." (https://learn.microsoft.com/azure/container-apps/containers#allocations).
        cpu = Fraction(str(self.cpu))
        if cpu <= 0 or cpu > 4 or cpu % Fraction(1, 4) != 0:
            raise ValueError(f"cpu {self.cpu} is not one of 0.25, 0.5, ... 4.0")
        if Fraction(self.memory.removesuffix("Gi")) != 2 * cpu:
            raise ValueError(
                f"memory {self.memory} with cpu {self.cpu}: the Consumption profile pairs it with {float(2 * cpu)}Gi"
            )
        return self


def _default_environments() -> dict[str, EnvironmentSettings]:
    return {
        "staging": EnvironmentSettings(github_environment="staging"),
        "prod": EnvironmentSettings(github_environment="production", approval=True),
    }


class BootstrapSettings(Model):
    """Everything the bootstrap stack can configure, under the `bootstrap:` namespace."""

    subscription_id: ObjectId = Field(
        description="The subscription everything is made in; a run signed in to another is refused. Names hash it."
    )
    location: str = Field(
        "japaneast", pattern=r"^[a-z0-9]+$", description="Azure region of everything the bootstrap makes."
    )
    resource_group_name: ResourceGroupName = Field(
        "rg-platform-bootstrap", description="The bootstrap's own group: state, secrets vault, identities, runners."
    )
    admin_principal_type: Literal["User", "ServicePrincipal", "Group"] = Field(
        "User",
        description=(
            "What signs in to run the bootstrap (`az login`): it gets data access to the state and the keys, "
            "to create the platform stacks and move their secrets (make adopt-bootstrap)."
        ),
    )
    github: GithubSettings = Field(description="The repository and the GitHub App.")
    environments: dict[K8sName, EnvironmentSettings] = Field(
        default_factory=_default_environments,
        min_length=1,
        description=(
            "The platform stacks the pipeline deploys, by stack name; each gets a resource group, a key and a "
            "deploy identity."
        ),
    )
    state_backend: StateBackendSettings = Field(
        default_factory=StateBackendSettings, description="Where Pulumi state lives."
    )
    secrets_vault: SecretsVaultSettings = Field(
        default_factory=SecretsVaultSettings, description="What encrypts the stacks' secrets."
    )
    runners: RunnerSettings = Field(default_factory=RunnerSettings, description="The self-hosted runners.")

    @model_validator(mode="after")
    def _one_of_each(self) -> BootstrapSettings:
        """Resource groups and GitHub environments are one per stack, and none is the bootstrap's own group."""
        problems = []
        groups: dict[str, str] = {self.resource_group_name.lower(): "resourceGroupName"}
        environments: dict[str, str] = {}
        for stack in self.environments:
            key = f"environments.{stack}"
            group = self.group_name(stack).lower()
            if group in groups:
                problems.append((f"{key}.resourceGroupName", f"{self.group_name(stack)!r} is {groups[group]}'s too"))
            groups.setdefault(group, f"{key}.resourceGroupName")
            github = self.environments[stack].github_environment
            if github in environments:
                problems.append((f"{key}.githubEnvironment", f"{github!r} is {environments[github]}'s too"))
            environments.setdefault(github, f"{key}.githubEnvironment")
        if any(e.approval for e in self.environments.values()) and not self.github.production_reviewers:
            problems.append(
                ("github.productionReviewers", "is empty, but an environment asks for approval: name who approves")
            )
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _derived_names_are_valid(self, info: ValidationInfo) -> BootstrapSettings:
        """The derived names (storage account, vault, registry) are valid for their type."""
        stack = (info.context or {}).get("stack")
        if stack:
            for name in (self.account_name(stack), self.vault_name(stack), self.registry_name(stack)):
                assert name  # each derivation checks its rule and raises with the name's problems
        return self

    # -------------------------------------------------------------- names

    def group_name(self, stack: str) -> str:
        """The platform stack `stack`'s resource group."""
        return self.environments[stack].resource_group_name or f"rg-platform-{stack}"

    def suffix(self, stack: str) -> str:
        return names.suffix(self.subscription_id, "bootstrap", stack)

    def account_name(self, stack: str) -> str:
        return self.state_backend.account_name or names.derived(
            names.STORAGE_ACCOUNT, "stpulumi", "", self.suffix(stack)
        )

    def vault_name(self, stack: str) -> str:
        return self.secrets_vault.name or names.derived(names.KEY_VAULT, "kv-pulumi-", "", self.suffix(stack))

    def registry_name(self, stack: str) -> str:
        return self.runners.registry_name or names.derived(
            names.CONTAINER_REGISTRY, "acrrunners", "", self.suffix(stack)
        )


# Secret keys of the bootstrap stack, set with `pulumi config set --secret` (cd bootstrap).
SECRET_KEYS = {
    "githubAppPrivateKey": "The GitHub App's private key (PEM): "
    "`pulumi config set --secret githubAppPrivateKey < app.pem`. It goes to the secrets vault, which the runners' "
    "job reads through its identity.",
}
