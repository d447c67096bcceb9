"""The container registry the nodes pull from: `platform:aks.registry`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from settings.azure import names
from settings.azure.names import RegistryName
from settings.base import Model


class ContainerRegistrySettings(Model):
    """The Azure Container Registry the kubelets pull private images from:
    created by the program, or an existing one by resource ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[a-zA-Z0-9]{5,50}$",
        description="Attach this existing registry instead of creating one.",
    )
    name: RegistryName | None = Field(
        None,
        description=(
            "Name of the created registry. Default: 'acrplatform<stack>' and a 13-character suffix, "
            "uniqueString(aks.subscriptionId, 'platform', stack), stable for the stack. A stack whose registry "
            "was created under the old default 'acrplatform<stack>' sets that name here to keep it (a new name "
            "replaces the registry)."
        ),
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field("Standard", description="SKU of the created registry.")

    def registry_name(self, stack: str, subscription_id: str) -> str:
        """The attached registry's name, the explicit one, or the derived default."""
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or names.registry_name(subscription_id, stack)

    def login_server(self, stack: str, subscription_id: str) -> str:
        """'<name>.azurecr.io': the registry host images must name (public cloud, no domain-label scope)."""
        return f"{self.registry_name(stack, subscription_id).lower()}.azurecr.io"
