"""Config of a service's outbound traffic: every service namespace denies
egress by default, and each service declares what it must reach."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, model_validator

from settings.base import Model
from settings.types import Cidr

# The Azure Instance Metadata Service hands out node identity tokens; no
# service pod may ever reach it (workload identity uses the projected token).
# AKSDOCS articles/aks/operator-best-practices-cluster-security.md l.73-99
# (MicrosoftDocs/azure-aks-docs @ fb060abe) blocks exactly this /32.
IMDS_CIDR = "169.254.169.254/32"


def imds_inside(cidr: str) -> bool:
    """Whether the range covers the metadata endpoint (IPv6 ranges never do)."""
    network = ipaddress.ip_network(cidr)
    return network.version == 4 and ipaddress.ip_network(IMDS_CIDR).subnet_of(network)  # type: ignore[arg-type]


class EgressRule(Model):
    """One destination range a service's pods may open connections to."""

    cidr: Cidr = Field(
        description=(
            "Destination range, e.g. the database subnet '10.20.0.0/24'. A range that covers the metadata "
            f"endpoint ({IMDS_CIDR}) gets it excepted; the endpoint alone is refused."
        )
    )
    ports: list[int] = Field(min_length=1, description="Destination ports (1-65535).")
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="Transport protocol of the ports.")

    @model_validator(mode="after")
    def _reachable_and_not_imds(self) -> EgressRule:
        """`cidr` is a network address and is not the instance metadata endpoint itself."""
        for port in self.ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is outside 1-65535")
        # Kubernetes requires ipBlock.except to be a strict subset of cidr
        # (k8s.io/kubernetes pkg/apis/networking/validation ValidateIPBlock),
        # so the endpoint itself cannot be "excepted": refuse it.
        if imds_inside(self.cidr) and ipaddress.ip_network(self.cidr).prefixlen == 32:
            raise ValueError(f"{self.cidr} is the instance metadata endpoint, which service pods must never reach")
        return self

    def except_cidrs(self) -> list[str]:
        """What the policy's ipBlock must leave out of `cidr`."""
        return [IMDS_CIDR] if imds_inside(self.cidr) else []
