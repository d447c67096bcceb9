"""`make render` and `make diff`: offline, deterministic, schema-valid, and
never showing a secret."""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness import STACKS, placeholder_secrets, secret_values
from offline.diff import stack_diff
from offline.render import REDACTED, render_manifests, write_manifests


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*.yaml"))
    }


def secret_strings(*stacks: str) -> list[str]:
    values = [value for stack in stacks for value in secret_values(placeholder_secrets(stack))]
    assert values, "the stacks ask for secrets, so the leak checks below check something"
    return values


@functools.cache
def _rendered(stack: str) -> tuple[dict[str, Any], ...]:
    """One render per stack for this module: the diff test reads the renders the first test made."""
    return tuple(render_manifests(stack))


def rendered(stack: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered(stack)))


@pytest.mark.parametrize("stack", STACKS)
def test_render_is_deterministic_valid_and_redacted(stack: str, tmp_path: Path) -> None:
    first = write_manifests(rendered(stack), tmp_path / "one")
    write_manifests(render_manifests(stack), tmp_path / "two")  # a second, fresh evaluation
    assert digest(tmp_path / "one") == digest(tmp_path / "two")  # identical bytes, run after run
    assert {p.parent.name for p in first} >= {"_cluster", "admin"}  # grouped by namespace
    text = ""
    for path in first:
        manifest = yaml.safe_load(path.read_text())
        kubernetes_validate.validate(manifest, "1.34", strict=True)
        if manifest["kind"] == "Secret":
            assert set(manifest["stringData"].values()) == {REDACTED}
        text += path.read_text()
    for secret in secret_strings(stack):
        assert secret not in text


def test_diff_shows_the_overlay_differences_between_staging_and_prod() -> None:
    diff = stack_diff("staging", prod := "prod", render=rendered)
    assert "### typed config: staging -> prod" in diff
    assert "-  skuTier: Free\n+  skuTier: Standard" in diff
    assert "-        image: ghcr.io/example-org/admin-app:1.9.0-rc.1" in diff
    assert f"+++ {prod}/admin/deployment-web.yaml" in diff
    assert "+  protect: true" in diff
    for secret in secret_strings("staging", "prod"):
        assert secret not in diff


def test_diff_of_a_stack_with_itself_is_empty_of_changes() -> None:
    diff = stack_diff("dev", "dev")  # two fresh renders; prod's are compared byte for byte above
    assert not [
        line for line in diff.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
