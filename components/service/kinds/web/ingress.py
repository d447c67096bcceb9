"""How a web app is reached from outside: its Ingress on the cluster's
ingress controller, and the NetworkPolicy peer that is that controller.
Builders used by the WebApp component (not a component of their own)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.runtime import IngressFacts
from components.service.workload import WorkloadIdentity
from settings.service.kinds.ingress import WebIngress

INGRESS_NAME = "web"
# The add-on serves the certificate from the Secret `keyvault-<ingress name>`,
# which it syncs from the URI in this annotation (AKSDOCS articles/aks/app-routing-dns-ssl.md
# l.103-110, MicrosoftDocs/azure-aks-docs @ fb060abe; Azure/aks-app-routing-operator
# @ 3c53beff pkg/controller/keyvault/spc/ingress.go l.153, spc/consts.go).
KEYVAULT_URI_ANNOTATION = "kubernetes.azure.com/tls-cert-keyvault-uri"
TLS_SECRET_NAME = f"keyvault-{INGRESS_NAME}"
# ingress-nginx's source-IP allowlist; `whitelist-source-range` is the older
# name, which newer releases keep as an alias of `allowlist-source-range`
# (kubernetes/ingress-nginx internal/ingress/annotations/ipallowlist/main.go @ 38b133a1).
ALLOWLIST_ANNOTATION = "nginx.ingress.kubernetes.io/whitelist-source-range"
# pulumi-kubernetes waits for an Ingress's .status.loadBalancer.ingress (SDK 4.25.0
# networking/v1/Ingress.py docstring), which no controller sets on a local
# cluster; this annotation skips that await (pulumi/pulumi-kubernetes
# provider/pkg/await/await.go: `if metadata.SkipAwaitLogic(c.Inputs)`, and
# provider/pkg/metadata/annotations.go `pulumi.com/skipAwait` == "true").
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"


def controller_peer(facts: IngressFacts) -> dict:
    """The NetworkPolicy peer that is the ingress controller's pods."""
    # kubernetes.io/metadata.name is set on every namespace by the API server
    # (KEP-2161, stable since 1.22), so no label of ours is needed.
    peer: dict = {"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": facts.controller_namespace}}}
    if facts.controller_pod_labels:
        peer["pod_selector"] = {"match_labels": dict(facts.controller_pod_labels)}
    return peer


def certificate_uri(spec: WebIngress, facts: IngressFacts) -> pulumi.Input[str] | None:
    tls = spec.tls
    if tls is None or not facts.serves_tls:
        return None
    if tls.certificate_uri is not None:
        return tls.certificate_uri
    # The config model refuses certificateName without aks.keyVault.
    assert facts.key_vault_uri is not None and tls.certificate_name is not None
    name = tls.certificate_name
    return facts.key_vault_uri.apply(lambda uri: f"{uri.rstrip('/')}/certificates/{name}")


def _annotations(spec: WebIngress, facts: IngressFacts) -> dict[str, pulumi.Input[str]]:
    annotations: dict[str, pulumi.Input[str]] = {}
    uri = certificate_uri(spec, facts)
    if uri is not None:
        annotations[KEYVAULT_URI_ANNOTATION] = uri
    if spec.allowed_source_ranges:
        annotations[ALLOWLIST_ANNOTATION] = ",".join(spec.allowed_source_ranges)
    if facts.skip_await:
        annotations[SKIP_AWAIT_ANNOTATION] = "true"
    return annotations


def build_ingress(
    resource_name: str,
    identity: WorkloadIdentity,
    spec: WebIngress,
    facts: IngressFacts,
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """An Ingress for `spec.host` to the web Service's http port."""
    rule = {
        "host": spec.host,
        "http": {
            "paths": [
                {
                    "path": "/",
                    "path_type": "Prefix",
                    "backend": {"service": {"name": service.metadata.name, "port": {"name": "http"}}},
                }
            ]
        },
    }
    ingress_spec: dict = {"ingress_class_name": facts.class_name, "rules": [rule]}
    if spec.tls is not None and facts.serves_tls:
        ingress_spec["tls"] = [{"hosts": [spec.host], "secret_name": TLS_SECRET_NAME}]
    return k8s.networking.v1.Ingress(
        resource_name,
        metadata=identity.metadata(INGRESS_NAME, annotations=_annotations(spec, facts)),
        spec=ingress_spec,
        opts=opts,
    )
