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
    from settings.local.cluster import LocalSettings

    cluster_minor = ".".join(toolchain()["KUBERNETES_VERSION"].split(".")[:2])
    assert read_project_base()["aks"]["kubernetesVersion"] == cluster_minor
    assert LocalSettings().kubernetes_version == cluster_minor


def test_a_cold_build_announces_each_step_with_its_number_and_an_estimate(tmp_path: Path) -> None:
    """A person waiting on a cold build sees where it is and roughly how long is left."""
    import os
    import subprocess

    fake_go = tmp_path / "bin" / "go"
    fake_go.parent.mkdir()
    # Stands in for `go install`: drops an executable into GOBIN, as the real one would.
    fake_go.write_text('#!/bin/sh\nprintf "#!/bin/sh\\n" > "$GOBIN/actionlint"; chmod +x "$GOBIN/actionlint"\n')
    fake_go.chmod(0o755)
    env = {**os.environ, "TOOLS_CACHE": str(tmp_path / "cache"), "PATH": f"{fake_go.parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(ROOT / "toolchain" / "build.sh"), "actionlint"], env=env, capture_output=True, text=True, check=True
    )
    assert "[1/14] building actionlint" in result.stderr
    assert "cold: about 0 min 30 s on 2 idle cores" in result.stderr
    again = subprocess.run(
        [str(ROOT / "toolchain" / "build.sh"), "actionlint"], env=env, capture_output=True, text=True
    )
    assert "building" not in again.stderr  # cached: nothing to announce
