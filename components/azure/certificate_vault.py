"""CertificateVault: the Key Vault the AKS application routing add-on reads
TLS certificates from, created here or attached by resource ID."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault

from components.azure.roles import grant_role
from components.moves import moved_from
from settings.azure.key_vault import KeyVaultSettings

# Built-in role Key Vault Certificate User: what `az aks approuting update
# --attach-kv` grants the add-on identity (AKSDOCS articles/aks/app-routing-dns-ssl.md
# l.26-28, l.63-71, MicrosoftDocs/azure-aks-docs @ fb060abe); GUID from
# MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md.
CERTIFICATE_USER_ROLE = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"


@dataclass(frozen=True)
class CertificateVaultArgs:
    settings: KeyVaultSettings
    name: str
    """The vault's name: attached, explicit or derived (settings/azure/key_vault.py)."""
    cluster_name: str
    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    add_on_object_id: pulumi.Input[str]
    """The application routing add-on's identity (ingress_profile.web_app_routing.identity)."""
    tags: dict[str, str]
    protect: bool


class CertificateVault(pulumi.ComponentResource):
    """The vault (RBAC-authorized, soft delete and purge protection on) or an
    existing one, and Key Vault Certificate User on it for the add-on."""

    vault_id: pulumi.Output[str]
    vault_uri: pulumi.Output[str]

    def __init__(self, name: str, args: CertificateVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "platform:azure:CertificateVault", name, None, moved_from("platform:cluster:CertificateVault", opts)
        )
        self._args = args
        vault_name = args.name
        if args.settings.resource_id is not None:
            self.vault_id = pulumi.Output.from_input(args.settings.resource_id)
            # The data-plane URI of a vault in Azure's public cloud.
            self.vault_uri = pulumi.Output.from_input(f"https://{vault_name}.vault.azure.net/")
        else:
            vault = self._build_vault(name, vault_name)
            self.vault_id = vault.id
            # keyvault 3.29.0 outputs.py: vault_uri lives under properties.
            self.vault_uri = vault.properties.apply(lambda p: p.vault_uri or f"https://{vault_name}.vault.azure.net/")
        self._build_certificate_user(name)
        self.register_outputs({"vaultId": self.vault_id, "vaultUri": self.vault_uri})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=self._args.protect)

    def _build_vault(self, name: str, vault_name: str) -> keyvault.Vault:
        a = self._args
        # pulumi_azure_native 3.29.0 keyvault/_inputs.py VaultPropertiesArgs:
        # enable_rbac_authorization defaults to false when unset, so it is set;
        # enable_purge_protection "does not accept false", so it is only ever True.
        return keyvault.Vault(
            name,
            vault_name=vault_name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            properties={
                "tenant_id": a.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "enable_purge_protection": True,
            },
            tags=a.tags,
            opts=self._child(),
        )

    def _build_certificate_user(self, name: str) -> None:
        a = self._args
        grant_role(
            f"{name}-certificate-user",
            cluster_name=a.cluster_name,
            purpose="app-routing-certificate-user",
            role_id=CERTIFICATE_USER_ROLE,
            principal_id=a.add_on_object_id,
            subscription_id=a.subscription_id,
            scope=self.vault_id,
            opts=self._child(),
        )
