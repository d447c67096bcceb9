"""Every Kubernetes object of every stack is valid against the strict
OpenAPI schema of that stack's cluster version: unknown fields fail."""

from __future__ import annotations

import kubernetes_validate
import pytest

from harness import STACKS, evaluate


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_validates_strictly(stack: str) -> None:
    ev = evaluate(stack)
    manifests = ev.manifests()
    assert len(manifests) >= 10
    version = _kubernetes_version(ev)
    failures = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            failures.append(f"{manifest['kind']}/{manifest['metadata'].get('name')}: {err.message}")
    assert failures == []


def _kubernetes_version(ev) -> str:  # type: ignore[no-untyped-def]
    """The minor the stack runs, as pinned in its service namespaces' Pod Security labels."""
    namespace = next(r for r in ev.of_type("kubernetes:core/v1:Namespace") if r.name == "admin-ns")
    return namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"].removeprefix("v")


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The check above can fail: a typo'd field is caught."""
    manifest = next(m for m in evaluate("dev").manifests() if m["kind"] == "Deployment")
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.34", strict=True)
