"""The Key Vault of the services' TLS certificates: `platform:aks.keyVault`."""

from __future__ import annotations

from pydantic import Field

from settings.base import Model


class KeyVaultSettings(Model):
    """The Key Vault the application routing add-on reads TLS certificates
    from: one per stack created by the program, or an existing one by ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[a-zA-Z0-9-]{3,24}$",
        description="Use this existing vault instead of creating one.",
    )
    name: str | None = Field(
        None,
        pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$",
        description="Name of a created vault; default 'kv-platform-<stack>'.",
    )

    def vault_name(self, stack: str) -> str:
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or f"kv-platform-{stack}"[:24]
