"""Load the bootstrap stack's configuration (`bootstrap:*`) into its typed model, before any
resource is registered; one line per problem, naming the stack, the key and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pydantic import ValidationError

from settings.bootstrap.config import SECRET_KEYS, BootstrapSettings
from settings.loader import ConfigError, problems_of, read_yaml, runtime_config_of

NAMESPACE = "bootstrap"
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent / "bootstrap"


@dataclass(frozen=True)
class LoadedBootstrap:
    stack: str
    settings: BootstrapSettings
    github_app_private_key: pulumi.Output[str]
    """A secret Output: the value never reaches a log line or an error."""


def format_errors(stack: str, problems: list[tuple[str, str]]) -> str:
    lines = [f"stack '{stack}': {NAMESPACE}:{key}: {reason}" for key, reason in problems]
    return f"invalid configuration in bootstrap/Pulumi.{stack}.yaml:\n" + "\n".join(lines)


def validate_bootstrap(stack: str, runtime: dict[str, Any]) -> BootstrapSettings:
    """The stack's `bootstrap:*` values (secrets left out) as the typed model, or ConfigError."""
    values = {key: value for key, value in runtime.items() if key not in SECRET_KEYS}
    try:
        return BootstrapSettings.model_validate(values, context={"stack": stack})
    except ValidationError as err:
        raise ConfigError(format_errors(stack, problems_of(err, BootstrapSettings))) from None


def bootstrap_from_file(stack: str, stack_file: Path | None = None) -> BootstrapSettings:
    """`validate_bootstrap` for a stack read from its file, outside a Pulumi run (tests, make adopt-bootstrap)."""
    config = read_yaml(stack_file or PROJECT_DIR / f"Pulumi.{stack}.yaml").get("config") or {}
    prefix = f"{NAMESPACE}:"
    return validate_bootstrap(stack, {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)})


def _secret_problems(runtime: dict[str, Any]) -> list[tuple[str, str]]:
    from pulumi.runtime import config as runtime_config

    key = "githubAppPrivateKey"
    value = runtime.get(key)
    hint = f"`pulumi config set --secret {key} < app.pem` (cd bootstrap)"
    if not value:
        return [(key, f"is not set: the runners register with the GitHub App's private key; {hint}")]
    if not runtime_config.is_config_secret(f"{NAMESPACE}:{key}"):
        return [(key, f"is stored in plain text: set it with {hint}")]
    text = str(value)
    # Never quote the value: only whether it has a PEM private key's frame.
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        return [(key, f"is not a PEM private key (the .pem file GitHub gives for the App): {hint}")]
    return []


def load_bootstrap(stack: str | None = None) -> LoadedBootstrap:
    """Validate the whole configuration of this bootstrap run, or raise ConfigError."""
    stack = stack or pulumi.get_stack()
    runtime = runtime_config_of(NAMESPACE)
    problems = _secret_problems(runtime)
    try:
        settings = validate_bootstrap(stack, runtime)
    except ConfigError as err:
        if not problems:
            raise
        extra = "\n".join(f"stack '{stack}': {NAMESPACE}:{key}: {reason}" for key, reason in problems)
        raise ConfigError(f"{err}\n{extra}") from None
    if problems:
        raise ConfigError(format_errors(stack, problems))
    key = pulumi.Output.secret(str(runtime["githubAppPrivateKey"]))
    return LoadedBootstrap(stack=stack, settings=settings, github_app_private_key=key)


def check_signed_in(stack: str, settings: BootstrapSettings, signed_in: str) -> None:
    """Refuse a run whose Azure credentials are for another subscription than `subscriptionId`."""
    if settings.subscription_id.lower() != signed_in.lower():
        reason = (
            f"is {settings.subscription_id}, but Azure is signed in to subscription {signed_in}: "
            f"`az account set --subscription {settings.subscription_id}`, or correct the key"
        )
        raise ConfigError(format_errors(stack, [("subscriptionId", reason)]))
