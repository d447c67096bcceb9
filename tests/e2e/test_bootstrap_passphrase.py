"""End to end: `make bootstrap`'s first pulumi commands, run by the real pulumi CLI of the
pinned toolchain on a file backend, in a copy of the bootstrap project (so the committed
bootstrap/Pulumi.main.yaml is left alone).

`GITHUB_APP_KEY=~/app.pem make bootstrap` pipes the key into `pulumi config set --secret`.
With its input a pipe, pulumi does not ask for the passphrase: without PULUMI_CONFIG_PASSPHRASE
it stops. bootstrap/admin.py asks for the passphrase once (with_passphrase) and passes it on;
these tests show the failure and the fix on the real CLI."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bootstrap_admin", ROOT / "bootstrap" / "admin.py")
assert SPEC and SPEC.loader
admin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(admin)
KEY = "-----BEGIN RSA PRIVATE KEY-----\ne2e-not-a-real-key\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from devenv.paths import tools_bin

    assert (tools_bin() / "pulumi").exists(), "toolchain missing pulumi: run toolchain/build.sh (make tools)"
    for key in [k for k in os.environ if k.startswith("PULUMI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", f"{tools_bin()}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BOOTSTRAP_BACKEND_URL", f"file://{tmp_path / 'state'}")
    (tmp_path / "state").mkdir()
    directory = tmp_path / "bootstrap"
    directory.mkdir()
    shutil.copy(ROOT / "bootstrap" / "Pulumi.yaml", directory / "Pulumi.yaml")
    return directory


def _pulumi(directory: Path, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    # stdin a pipe, as `make bootstrap` gives `config set --secret` the key file.
    return subprocess.run(
        [admin._pulumi(), *args], cwd=directory, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_without_a_passphrase_pulumi_refuses_a_secret_from_a_pipe(project: Path) -> None:
    env = admin.bootstrap_env()
    created = _pulumi(project, {**env, "PULUMI_CONFIG_PASSPHRASE": "e2e"}, "stack", "init", "main")
    assert created.returncode == 0, created.stderr
    refused = _pulumi(project, env, "config", "set", "--secret", "githubAppPrivateKey", "--stack", "main", stdin=KEY)
    assert refused.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE" in refused.stderr, refused.stderr


def test_the_passphrase_admin_asks_for_once_carries_the_key_in_encrypted(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin.getpass, "getpass", lambda prompt: "typed-by-the-admin")
    env = admin.with_passphrase(admin.bootstrap_env(), interactive=True)
    # The commands of admin.up, in its order.
    selected = _pulumi(project, env, "stack", "select", "--create", "main")
    assert selected.returncode == 0, selected.stderr
    stored = _pulumi(project, env, "config", "set", "--secret", "githubAppPrivateKey", "--stack", "main", stdin=KEY)
    assert stored.returncode == 0, stored.stderr
    stored = yaml.safe_load((project / "Pulumi.main.yaml").read_text())
    value = stored["config"]["bootstrap:githubAppPrivateKey"]
    assert set(value) == {"secure"} and "e2e-not-a-real-key" not in (project / "Pulumi.main.yaml").read_text()
    shown = _pulumi(project, env, "config", "get", "githubAppPrivateKey", "--stack", "main")
    assert shown.stdout.rstrip("\n") == KEY.rstrip("\n"), shown.stdout
