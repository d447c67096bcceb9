"""The container registry the nodes pull from: `platform:aks.registry`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from settings.base import Model


class ContainerRegistrySettings(Model):
    """The Azure Container Registry the kubelets pull private images from:
    created by the program, or an existing one by resource ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[a-zA-Z0-9]{5,50}$",
        description="Attach this existing registry instead of creating one.",
    )
    name: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9]{5,50}$",
        description="Name of the created registry; defaults to 'acrplatform<stack>'.",
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field("Standard", description="SKU of the created registry.")

    def registry_name(self, stack: str) -> str:
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or "acrplatform" + re.sub(r"[^a-z0-9]", "", stack.lower())

    def login_server(self, stack: str) -> str:
        """'<name>.azurecr.io': the registry host images must name (public cloud, no domain-label scope)."""
        return f"{self.registry_name(stack).lower()}.azurecr.io"
