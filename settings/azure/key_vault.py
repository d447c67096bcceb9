"""The Key Vault of the services' TLS certificates: `platform:aks.keyVault`."""

from __future__ import annotations

from pydantic import Field

from settings.azure import names
from settings.azure.names import KeyVaultName
from settings.base import Model


class KeyVaultSettings(Model):
    """The Key Vault the application routing add-on reads TLS certificates
    from: one per stack created by the program, or an existing one by ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[a-zA-Z0-9-]{3,24}$",
        description="Use this existing vault instead of creating one.",
    )
    name: KeyVaultName | None = Field(
        None,
        description=(
            "Name of a created vault. Default: 'kv-<stack, 7 characters>-' and a 13-character suffix, "
            "uniqueString(aks.subscriptionId, 'platform', stack), stable for the stack. A stack whose vault was "
            "created under the old default 'kv-platform-<stack>' sets that name here to keep it (a new name "
            "replaces the vault and its certificates)."
        ),
    )

    def vault_name(self, stack: str, subscription_id: str) -> str:
        """The attached vault's name, the explicit one, or the derived default."""
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or names.vault_name(subscription_id, stack)
