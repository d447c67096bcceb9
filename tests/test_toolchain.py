"""The pinned toolchain and the Python pins agree: the engine the tests run
is the one requirements.txt and the workflows expect."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {n.lower().replace("_", "-"): v for n, _, v in (line.partition("==") for line in lines if "==" in line)}


def toolchain() -> dict[str, str]:
    lines = (ROOT / "toolchain" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_kubernetes_provider_binary_matches_its_python_sdk() -> None:
    assert pins()["pulumi-kubernetes"] == toolchain()["PULUMI_KUBERNETES_VERSION"]


def test_pulumi_cli_is_not_older_than_the_python_sdk() -> None:
    assert version(toolchain()["PULUMI_VERSION"]) >= version(pins()["pulumi"])


def test_local_control_plane_runs_the_minor_the_stacks_pin() -> None:
    from settings.loader import read_project_base
    from settings.model import LocalSettings

    cluster_minor = ".".join(toolchain()["KUBERNETES_VERSION"].split(".")[:2])
    assert read_project_base()["aks"]["kubernetesVersion"] == cluster_minor
    assert LocalSettings().kubernetes_version == cluster_minor
