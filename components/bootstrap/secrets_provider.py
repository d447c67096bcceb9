"""SecretsProvider: the Key Vault whose keys encrypt the platform stacks' secrets, one RSA key per
stack, used as `azurekeyvault://<vault>.vault.azure.net/keys/<key>` instead of a shared passphrase."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault

from settings.bootstrap.config import SecretsVaultSettings


def key_name(stack: str) -> str:
    """The key of one platform stack."""
    return f"pulumi-{stack}"


def secrets_provider_url(vault_name: str, stack: str) -> str:
    """gocloud.dev secrets/azurekeyvault/akv.go URLOpener:
    `azurekeyvault://{vault}.vault.azure.net/keys/{key}`, the latest version, RSA-OAEP-256."""
    return f"azurekeyvault://{vault_name}.vault.azure.net/keys/{key_name(stack)}"


@dataclass(frozen=True)
class SecretsProviderArgs:
    settings: SecretsVaultSettings
    vault_name: str
    stacks: tuple[str, ...]
    resource_group_name: pulumi.Input[str]
    location: str
    tenant_id: pulumi.Input[str]
    tags: dict[str, str]


class SecretsProvider(pulumi.ComponentResource):
    """The vault (RBAC authorization, soft delete, purge protection, all protected) and a key per stack."""

    vault_id: pulumi.Output[str]
    vault_uri: pulumi.Output[str]
    key_ids: dict[str, pulumi.Output[str]]
    urls: dict[str, str]

    def __init__(self, name: str, args: SecretsProviderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:SecretsProvider", name, None, opts)
        self._args = args
        vault = self._build_vault(name)
        self.vault_id = vault.id
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri or f"https://{args.vault_name}.vault.azure.net/")
        self.key_ids = {stack: self._build_key(stack, vault).id for stack in args.stacks}
        self.urls = {stack: secrets_provider_url(args.vault_name, stack) for stack in args.stacks}
        self.register_outputs({"vaultId": self.vault_id, "vaultUri": self.vault_uri, "urls": self.urls})

    def _build_vault(self, name: str) -> keyvault.Vault:
        a = self._args
        # pulumi_azure_native 3.29.0 keyvault/_inputs.py VaultPropertiesArgs: enable_rbac_authorization is false
        # when unset; enable_purge_protection "does not accept false". Public network access stays on: the
        # runners and the administrator's machine reach it over the internet, with Entra ID tokens only.
        return keyvault.Vault(
            name,
            vault_name=a.vault_name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            properties={
                "tenant_id": a.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": a.settings.soft_delete_retention_days,
                "enable_purge_protection": True,
            },
            tags=a.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

    def _build_key(self, stack: str, vault: keyvault.Vault) -> keyvault.Key:
        # Pulumi wraps each stack's data key with Encrypt and opens it with Decrypt (pulumi pkg v3.274.1
        # secrets/cloud/manager.go); RSA-OAEP-256 is gocloud's default algorithm.
        return keyvault.Key(
            f"key-{stack}",
            resource_group_name=self._args.resource_group_name,
            vault_name=vault.name,
            key_name=key_name(stack),
            properties={"kty": "RSA", "key_size": self._args.settings.key_size, "key_ops": ["encrypt", "decrypt"]},
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
