"""Config of a service's outbound traffic: every service namespace denies
egress by default, and each service declares what it must reach."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, model_validator

from settings.base import Model
from settings.host_endpoints import IMDS_CIDR, WIRESERVER_CIDR, host_endpoints_inside
from settings.types import Cidr


class EgressRule(Model):
    """One destination range a service's pods may open connections to."""

    cidr: Cidr = Field(
        description=(
            "Destination range, e.g. the database subnet '10.20.0.0/24'. A range that covers the metadata "
            f"endpoint ({IMDS_CIDR}) or the wireserver ({WIRESERVER_CIDR}) gets them excepted; either "
            "endpoint alone is refused."
        )
    )
    ports: list[int] = Field(min_length=1, description="Destination ports (1-65535).")
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="Transport protocol of the ports.")

    @model_validator(mode="after")
    def _reachable_and_not_a_host_endpoint(self) -> EgressRule:
        """`ports` are 1-65535, and `cidr` is neither the metadata endpoint nor the wireserver itself."""
        for port in self.ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is outside 1-65535")
        # Kubernetes requires ipBlock.except to be a strict subset of cidr
        # (k8s.io/kubernetes pkg/apis/networking/validation ValidateIPBlock),
        # so an endpoint itself cannot be "excepted": refuse it.
        names = {IMDS_CIDR: "the instance metadata endpoint", WIRESERVER_CIDR: "the Azure wireserver"}
        for endpoint in host_endpoints_inside(self.cidr):
            if ipaddress.ip_network(self.cidr).prefixlen == 32:
                raise ValueError(f"{self.cidr} is {names[endpoint]}, which service pods must never reach")
        return self

    def except_cidrs(self) -> list[str]:
        """What the policy's ipBlock must leave out of `cidr`."""
        return host_endpoints_inside(self.cidr)
