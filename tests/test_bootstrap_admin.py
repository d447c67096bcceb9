"""bootstrap/admin.py, the commands behind `make bootstrap`, `make adopt-bootstrap` and
`make secrets-provider`: Pulumi.yaml's bootstrap lines rewritten in place, and each platform stack
created under, or moved to, its azurekeyvault:// key, with stand-ins for pulumi on PATH."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import shutil
from pathlib import Path

import pytest

from harness import ROOT
from settings.loader import effective_config, read_project_base
from settings.platform import PlatformSettings

SPEC = importlib.util.spec_from_file_location("bootstrap_admin", ROOT / "bootstrap" / "admin.py")
assert SPEC and SPEC.loader
admin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(admin)

URL = "azurekeyvault://kv-pulumi-abc.vault.azure.net/keys/pulumi-staging"
BACKEND = "azblob://state?storage_account=stpulumiabc"


def test_the_marked_lines_of_pulumi_yaml_take_the_bootstraps_outputs(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.yaml").read_text()
    values = {"subscriptionId": "12345678-aaaa-bbbb-cccc-1234567890ab", "runnerEgressIp": "20.48.1.7"}
    adopted = admin.adopt_project_file(text, values)
    changed = [(a, b) for a, b in zip(text.splitlines(), adopted.splitlines(), strict=True) if a != b]
    assert [b.strip() for _, b in changed] == [
        "subscriptionId: 12345678-aaaa-bbbb-cccc-1234567890ab # bootstrap output subscriptionId",
        "runnerEgressIp: 20.48.1.7 # bootstrap output runnerEgressIp",
        "- 20.48.1.7/32 # bootstrap output runnerEgressIp (the runners' NAT gateway)",
    ]
    # Comments and every other line kept; the result is the config the stacks validate with.
    path = tmp_path / "Pulumi.yaml"
    path.write_text(adopted)
    for stack in ("prod", "staging"):
        runtime = {k.split(":", 1)[1]: v for k, v in __import__("harness").stack_file_config(stack).items()}
        settings = PlatformSettings.model_validate(
            effective_config(read_project_base(path), runtime), context={"stack": stack}
        )
        assert settings.aks is not None and settings.aks.runner_egress_ip == "20.48.1.7"
        assert any(
            ipaddress.ip_address("20.48.1.7") in ipaddress.ip_network(c)
            for c in settings.aks.api_server_authorized_ip_ranges
        )


def test_a_missing_marker_is_one_line() -> None:
    text = (ROOT / "Pulumi.yaml").read_text().replace("# bootstrap output runnerEgressIp", "# the runners")
    with pytest.raises(admin.AdminError) as raised:
        admin.adopt_project_file(text, {"runnerEgressIp": "20.48.1.7"})
    assert str(raised.value) == (
        "Pulumi.yaml has no line marked `# bootstrap output runnerEgressIp`: add it back (git show HEAD:Pulumi.yaml)"
    )


# --------------------------------------------------- the secrets provider

FAKE_PULUMI = """#!/usr/bin/env bash
# A stand-in for pulumi: records its arguments (and stdin for `config set`), answers `stack ls`.
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "stack ls") echo "$FAKE_STACKS" ;;
  "config set") echo "stdin:$(cat)" >> "$FAKE_LOG" ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    log = tmp_path / "pulumi.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PLATFORM_CONFIG_PASSPHRASE", raising=False)
    # The stack files live in a copy of the repository root; the settings are the real ones.
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.staging.yaml", root / "Pulumi.staging.yaml")
    monkeypatch.setattr(admin, "ROOT", root)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    return log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_a_new_stack_is_created_under_its_key_and_its_secrets_are_listed(
    fake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_STACKS", "[]")
    admin.move_secrets_provider("staging", URL, BACKEND)
    calls = _calls(fake)
    assert calls[:2] == ["stack ls --json", f"stack init staging --secrets-provider {URL}"]
    assert not any("change-secrets-provider" in c for c in calls)
    # The Cluster Agent's token is generated (64 hex characters); the others are asked for or listed.
    token = calls.index("config set --secret --path datadogClusterAgentToken --stack staging")
    assert len(calls[token + 1].removeprefix("stdin:")) == 64
    printed = capsys.readouterr().out
    for key in ("datadogApiKey", "serviceSecrets.admin.DATABASE_URL", "serviceSecrets.admin.SECRET_KEY_BASE"):
        assert f"pulumi config set --secret --path '{key}' --stack staging < file" in printed


def test_a_passphrase_stack_needs_its_passphrase_to_move(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack_file = admin.ROOT / "Pulumi.staging.yaml"
    stack_file.write_text("encryptionsalt: v1:abc:def\n" + stack_file.read_text())
    monkeypatch.setenv("FAKE_STACKS", json.dumps([{"name": "organization/platform/staging"}]))
    with pytest.raises(admin.AdminError) as raised:
        admin.move_secrets_provider("staging", URL, BACKEND)
    assert "set PLATFORM_CONFIG_PASSPHRASE" in str(raised.value) and "\n" not in str(raised.value)
    assert not fake.exists()  # nothing was run
    monkeypatch.setenv("PLATFORM_CONFIG_PASSPHRASE", "the-old-one")
    admin.move_secrets_provider("staging", URL, BACKEND)
    calls = _calls(fake)
    assert f"stack change-secrets-provider {URL} --stack staging" in calls
    assert not any(c.startswith("stack init") for c in calls)


def test_a_stack_already_under_its_key_is_left_alone(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack_file = admin.ROOT / "Pulumi.staging.yaml"
    stack_file.write_text(f"secretsprovider: {URL}\nencryptedkey: abc\n" + stack_file.read_text())
    monkeypatch.setenv("FAKE_STACKS", json.dumps([{"name": "organization/platform/staging"}]))
    admin.move_secrets_provider("staging", URL, BACKEND)
    calls = _calls(fake)
    assert not any("change-secrets-provider" in c or c.startswith("stack init") for c in calls)


def test_the_platform_commands_use_the_bootstraps_backend_and_the_cli_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_CONFIG_PASSPHRASE", "old")
    env = admin.platform_env(BACKEND)
    assert env["PULUMI_BACKEND_URL"] == BACKEND and env["AZURE_TOKEN_CREDENTIALS"] == "AzureCLICredential"
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "old"
    assert env["PATH"].startswith(str(ROOT / ".venv" / "bin"))


def test_without_bootstrap_outputs_adopt_says_to_run_the_bootstrap(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAP_BACKEND_URL", "file:///nonexistent")
    (fake.parent / "bin" / "pulumi").write_text('#!/bin/sh\necho "{}"\n')
    with pytest.raises(admin.AdminError) as raised:
        admin.bootstrap_outputs()
    assert str(raised.value) == (
        "the bootstrap stack 'main' has no output backendUrl, secretsProviders, runnerEgressIp, subscriptionId: "
        "run `make bootstrap` first"
    )


def test_the_bootstrap_passphrase_is_asked_for_once_or_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """pulumi asks for it only on a terminal, and `config set --secret` reads the key from a
    pipe (tests/e2e/test_bootstrap_passphrase.py shows both on the real CLI)."""
    asked: list[str] = []
    monkeypatch.setattr(admin.getpass, "getpass", lambda prompt: asked.append(prompt) or "typed")
    assert admin.with_passphrase({}, interactive=True)["PULUMI_CONFIG_PASSPHRASE"] == "typed"
    assert len(asked) == 1
    assert admin.with_passphrase({"PULUMI_CONFIG_PASSPHRASE": "set"}, interactive=True) == {
        "PULUMI_CONFIG_PASSPHRASE": "set"
    }
    assert len(asked) == 1, "a passphrase in the environment is not asked for again"
    with pytest.raises(admin.AdminError, match=r"^no passphrase for the bootstrap stack: set PULUMI_CONFIG_PASSPHRASE"):
        admin.with_passphrase({}, interactive=False)
    monkeypatch.setattr(admin.getpass, "getpass", lambda prompt: "")
    with pytest.raises(admin.AdminError, match="empty passphrase"):
        admin.with_passphrase({}, interactive=True)


def test_help_is_printed_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert admin.main(["--help"]) == 0
    assert "make bootstrap" in capsys.readouterr().out
    assert admin.main(["nonsense"]) == 2
