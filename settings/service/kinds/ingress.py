"""Config of a web app's Ingress: its host, its TLS certificate and who may
reach it. Kept apart from spec.py so the web kind's other options stay short."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from settings.base import Model
from settings.types import Cidr

# Matched whole and ASCII-only (see settings/types.py): `$` would let a trailing newline through.
_HOST = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)
# https://<vault>.vault.azure.net/certificates/<name>[/<version>]: the form the
# add-on reads (AKSDOCS articles/aks/app-routing-dns-ssl.md l.103-110,
# MicrosoftDocs/azure-aks-docs @ fb060abe). Without a version it tracks the latest.
_CERTIFICATE_URI = re.compile(
    r"^https://[a-zA-Z0-9-]{3,24}\.vault\.azure\.net/certificates/[a-zA-Z0-9-]{1,127}(/[0-9a-f]{32})?$"
)
_CERTIFICATE_NAME = re.compile(r"[a-zA-Z0-9-]{1,127}", re.ASCII)


class IngressTls(Model):
    """Where the certificate comes from: the application routing add-on reads
    it from Azure Key Vault. Give exactly one of the two fields."""

    certificate_name: str | None = Field(
        None, description="A certificate in the stack's own Key Vault (`aks.keyVault`), e.g. 'admin-tls'."
    )
    certificate_uri: str | None = Field(
        None,
        description=(
            "An existing certificate elsewhere: 'https://<vault>.vault.azure.net/certificates/<name>'. "
            "That vault must grant the add-on identity Key Vault Certificate User."
        ),
    )

    @model_validator(mode="after")
    def _one_source(self) -> IngressTls:
        """Exactly one of `certificateName` and `certificateUri`."""
        if (self.certificate_name is None) == (self.certificate_uri is None):
            raise ValueError("give exactly one of `certificateName` and `certificateUri`")
        if self.certificate_name is not None and not _CERTIFICATE_NAME.fullmatch(self.certificate_name):
            raise ValueError(f"{self.certificate_name!r} is not a Key Vault certificate name (letters, digits, '-')")
        if self.certificate_uri is not None and not _CERTIFICATE_URI.fullmatch(self.certificate_uri):
            raise ValueError(
                f"{self.certificate_uri!r} is not a certificate URI like 'https://<vault>.vault.azure.net/certificates/<name>'"
            )
        return self


class WebIngress(Model):
    """How people reach the web app: an Ingress on the cluster's ingress
    controller (AKS: the application routing add-on's managed NGINX)."""

    host: str = Field(description="The app's hostname in this stack, e.g. 'admin.example.com'.")
    tls: IngressTls | None = Field(
        None, description="The certificate: required in prod; a local cluster serves no TLS."
    )
    allowed_source_ranges: list[Cidr] = Field(
        default_factory=list, description="Client ranges allowed in; empty means everyone (refused in prod)."
    )

    @model_validator(mode="after")
    def _host_is_dns_name(self) -> WebIngress:
        """`host` is a DNS name (no scheme, port or path)."""
        if not _HOST.fullmatch(self.host):
            raise ValueError(f"host {self.host!r} is not a lower-case DNS name like 'admin.example.com'")
        return self
