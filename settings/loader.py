"""Load the stack's configuration into the typed model, before any resource
is registered.

Pulumi gives a stack's value of a key in place of the project's value of
that key. To get kustomize-style overlays (stack files that hold only what
differs) the loader deep-merges each stack value onto the project's base in
`Pulumi.yaml`. Lists of objects with a `name` merge item by item, like a
strategic-merge patch; other lists replace.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pydantic import BaseModel, ValidationError

from settings.base import RuleViolationError
from settings.platform import PlatformSettings

NAMESPACE = "platform"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# Secret keys live apart from the model: they are set with
# `pulumi config set --secret`, and their values only ever travel as secret
# Outputs. The model never holds them, so they can never reach a log line.
SECRET_KEYS = {
    "datadogApiKey": "Datadog API key: the agents send with it, the monitors' provider signs in with it.",
    "datadogAppKey": "Datadog application key: needed with `datadog.monitorsEnabled`, to manage monitors.",
    "datadogClusterAgentToken": "Shared by the node agents and the Cluster Agent; at least 32 characters "
    "(`openssl rand -hex 32`).",
    "serviceSecrets": "`serviceSecrets.<service>.<NAME>`: each value a service lists in `secretEnv` "
    "(set with `--path`).",
}

# The Cluster Agent refuses a shorter token: DataDog/datadog-agent
# pkg/api/security/security.go `validateAuthToken` (authTokenMinimalLen = 32).
CLUSTER_AGENT_TOKEN_MIN_LENGTH = 32


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. Its message has one actionable line per problem."""


@dataclass(frozen=True)
class PlatformSecrets:
    """Secret config values, each wrapped as a secret Output."""

    datadog_api_key: pulumi.Output[str] | None = None
    datadog_app_key: pulumi.Output[str] | None = None
    datadog_cluster_agent_token: pulumi.Output[str] | None = None
    """Shared by the node agents and the Cluster Agent; set once, so a preview shows no diff."""
    # service -> variable name -> secret value
    service_secrets: dict[str, dict[str, pulumi.Output[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedConfig:
    stack: str
    settings: PlatformSettings
    secrets: PlatformSecrets


# ----------------------------------------------------------------- raw config


def _parse(value: Any) -> Any:
    """Pulumi hands objects and arrays to the program as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def display_path(path: Path) -> str:
    """A file as a message names it: relative to the repository when inside it, else in full."""
    try:
        return str(path.resolve().relative_to(PROJECT_FILE.parent))
    except ValueError:
        return str(path)


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...] = (), seen: set[int] | None = None) -> list[str]:
    """One line per key written twice in one mapping, with both lines, anywhere in `node`.

    PyYAML keeps the last of two equal keys without a word (PyYAML 6.0.3 constructor.py
    BaseConstructor.construct_mapping: `mapping[key] = value`), so a service written twice
    would lose the first one's workloads. Pulumi's own reader refuses such a file
    (gopkg.in/yaml.v3 v3.0.1 decode.go: "mapping key ... already defined at line N"), but
    never sees it when the runner rewrites the file first."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked
        return []
    seen.add(id(node))
    found = []
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                identity = (key_node.tag, key_node.value)
                if identity in lines:
                    found.append(f"{_key_path((*path, key))} at lines {lines[identity]} and {line}")
                else:
                    lines[identity] = line
            found += _duplicate_keys(value_node, (*path, key), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, f"[{index}]"), seen)
    return found


def _key_path(parts: tuple[str, ...]) -> str:
    """('config', 'platform:services', 'admin') -> 'platform:services.admin'; lists as [i]."""
    parts = parts[1:] if parts[:1] == ("config",) and len(parts) > 1 else parts
    return "".join(part if part.startswith("[") or not index else f".{part}" for index, part in enumerate(parts))


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file as a mapping. A syntax error names the file, line and column; a key
    written twice in one mapping is refused with both lines; no traceback either way."""
    where = display_path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {where}: {err.strerror or err}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(node) if node is not None else []
        if duplicates:
            raise ConfigError("\n".join(
                f"duplicate key in {where}: {duplicate}; YAML would silently keep only the last: remove one"
                for duplicate in duplicates
            ))  # fmt: skip
        content = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"invalid YAML in {at}: {problem}") from None
    finally:
        loader.dispose()
    if content is not None and not isinstance(content, dict):
        raise ConfigError(f"invalid YAML in {where}: expected a mapping at the top")
    return content or {}


def read_project_base(project_file: Path = PROJECT_FILE) -> dict[str, Any]:
    """The `platform:*` values of the project file's `config:` block."""
    project = read_yaml(project_file)
    base: dict[str, Any] = {}
    for key, entry in (project.get("config") or {}).items():
        namespace, _, name = key.rpartition(":")
        if namespace != NAMESPACE:
            continue
        if isinstance(entry, dict) and ("value" in entry or "default" in entry):
            entry = entry.get("value", entry.get("default"))
        base[name] = entry
    return base


def runtime_config_of(namespace: str = NAMESPACE) -> dict[str, Any]:
    """Every `<namespace>:*` key Pulumi passed to this program."""
    from pulumi.runtime import config as runtime_config

    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    prefix = f"{namespace}:"
    return {key[len(prefix) :]: _parse(value) for key, value in values.items() if key.startswith(prefix)}


def deep_merge(base: Any, overlay: Any) -> Any:
    """Overlay wins; mappings merge recursively; lists of named objects merge by name."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    if _is_named_list(base) and _is_named_list(overlay):
        by_name = {item["name"]: item for item in base}
        merged_list = [deep_merge(by_name.get(item["name"], {}), item) for item in overlay]
        overlay_names = {item["name"] for item in overlay}
        return [item for item in base if item["name"] not in overlay_names] + merged_list
    return overlay


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)


def effective_config(base: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """Merge each stack value onto its base. A key the stack does not set
    arrives as the base value itself, which merges onto itself unchanged."""
    merged = dict(base)
    for key, value in runtime.items():
        if key in SECRET_KEYS:
            continue
        merged[key] = deep_merge(base[key], value) if key in base else value
    return merged


# --------------------------------------------------------------------- errors


def _field_alias(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    return info.alias or name


def _model_at(loc: tuple[Any, ...], root: type[BaseModel] = PlatformSettings) -> type[BaseModel] | None:
    """The model class found by walking `loc` from the root, for listing valid keys."""
    current: Any = root
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        by_alias = {_field_alias(current, n): f for n, f in current.model_fields.items()}
        if part not in by_alias:
            return None
        current = _unwrap(by_alias[part].annotation)
        if typing.get_origin(current) in (dict, list):
            # The next part is a map key or a list index, not a field.
            current = _unwrap(typing.get_args(current)[-1])
            if parts:
                parts.pop(0)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; `Annotated[X, ...]` -> X."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(args[0])
    return annotation


class _Named(str):
    """A list item named by its `name` key (`jobs[name=nightly-load]`) instead of its index."""


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, _Named):
            text += f"[name={_printable(part)}]"
        elif part == "[key]":
            text += " (as a name)"
        else:
            text += f".{_printable(part)}" if text else _printable(part)
    return text


def _printable(key: Any) -> str:
    """A key as written, quoted when it holds what would break the line (a newline, a space)."""
    text = str(key)
    return text if re.fullmatch(r"[!-~]+", text) and "]" not in text else repr(text)


_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _parse_loc(path: str) -> tuple[Any, ...]:
    """'local.images[0].name' -> ('local', 'images', 0, 'name'): a validator's key, as a loc."""
    return tuple(int(index) if index else key for index, key in _PATH_PART.findall(path))


def _user_loc(loc: tuple[Any, ...], merged: Any) -> tuple[Any, ...]:
    """`loc` with each index into a list of named objects replaced by the item's name.

    The loader merges such lists by name (deep_merge): the base's items not in the
    stack file come first, so the model's index is not the one in the file a person
    edits (their `jobs[0]` is `jobs[1]` once merged). The name is the same in both."""
    named: list[Any] = []
    current = merged
    for part in loc:
        if isinstance(part, int) and _is_named_list(current) and 0 <= part < len(current):
            current = current[part]
            named.append(_Named(current["name"]))
            continue
        named.append(part)
        if isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current):
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str):
            current = current.get(part)
        else:
            current = None
    return tuple(named)


def _describe(error: dict[str, Any], root: type[BaseModel] = PlatformSettings) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1], root)
        expected = sorted(_field_alias(model, n) for n in model.model_fields) if model else []
        hint = f"; expected one of: {', '.join(expected)}" if expected else ""
        return f"unknown key{hint}"
    if error["type"] == "missing":
        return "is required but not set"
    value = error.get("input")
    if isinstance(value, (str, int, float, bool)) and error["type"] not in ("value_error", "assertion_error"):
        return f"{message} (got {value!r})"
    return message


def problems_of(
    error: ValidationError, root: type[BaseModel] = PlatformSettings, merged: Any = None
) -> list[tuple[str, str]]:
    """One (key, reason) per problem; a validator's RuleViolationError become one each.
    Items of named lists are named by `name` (see _user_loc), with `merged` the validated input."""
    problems = []
    for e in error.errors():
        loc = tuple(e["loc"])
        violations = (e.get("ctx") or {}).get("error")
        if isinstance(violations, RuleViolationError):
            problems += [
                (_format_loc(_user_loc((*loc, *_parse_loc(path)), merged)), reason)
                for path, reason in violations.problems
            ]
        else:
            problems.append((_format_loc(_user_loc(loc, merged)), _describe(dict(e), root)))
    return problems


def _format_errors(stack: str, errors: list[tuple[str, str]], stack_file: str | None = None) -> str:
    # The files a person edits: the stack's overlay and the base under it.
    lines = [f"stack '{stack}': {NAMESPACE}:{path}: {reason}" for path, reason in errors]
    where = stack_file or stack_file_in_use(stack)
    return f"invalid configuration in {where} (over the base in Pulumi.yaml):\n" + "\n".join(lines)


# Set by whoever runs the program on a copy of the stack file (make dev runs it on a
# private project copy): the file the person edits, which messages must name.
STACK_FILE_VARIABLE = "PLATFORM_STACK_FILE"


def stack_file_in_use(stack: str) -> str:
    """The stack file a person edits: Pulumi.<stack>.yaml, unless $PLATFORM_STACK_FILE names another."""
    return os.environ.get(STACK_FILE_VARIABLE) or f"Pulumi.{stack}.yaml"


# -------------------------------------------------------------------- secrets


def is_encrypted(value: Any) -> bool:
    """A value `pulumi config set --secret` wrote: `{secure: <ciphertext>}`."""
    return isinstance(value, dict) and list(value) == ["secure"] and isinstance(value["secure"], str)


def plain_secret_paths(config: dict[str, Any]) -> list[str]:
    """The config paths (e.g. 'serviceSecrets.admin.DATABASE_URL') of every value under a
    secret key of a stack file's `config:` that is not encrypted.

    Pulumi marks a whole key secret when any value under it is (`--path` sets one leaf),
    so a plain leaf beside an encrypted one passes `is_config_secret`, reaches the
    program and, as config of the update, the state's history in plain text. Only a
    look at each leaf of the file tells."""
    paths: list[str] = []
    for key in SECRET_KEYS:
        if f"{NAMESPACE}:{key}" in config:
            paths += _plain_leaves(config[f"{NAMESPACE}:{key}"], key)
    return paths


def _plain_leaves(value: Any, path: str) -> list[str]:
    if is_encrypted(value):
        return []
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _plain_leaves(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _plain_leaves(item, f"{path}[{index}]")]
    return [path]


def encrypted_only(value: Any) -> Any:
    """`value` with every leaf that is not encrypted left out; None when nothing is left."""
    if is_encrypted(value):
        return value
    if isinstance(value, dict):
        kept = {key: encrypted_only(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item is not None} or None
    return None


def _secret_problems(settings: PlatformSettings, runtime: dict[str, Any], stack: str) -> list[tuple[str, str]]:
    from pulumi.runtime import config as runtime_config

    dev = dev_generated_keys(settings) if settings.environment == "dev" else None
    problems = _stack_file_secret_problems(stack, dev)
    reported = {path.split(".")[0].split("[")[0] for path, _ in problems}
    for key in SECRET_KEYS:
        if key in runtime and key not in reported and not runtime_config.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.append((key, _plain_text_hint(key, dev)))
    if settings.datadog.enabled:
        if not runtime.get("datadogApiKey"):
            hint = _set_hint("datadogApiKey", dev)
            problems.append(("datadogApiKey", f"is not set but datadog.enabled is true: {hint}"))
        problems += _cluster_agent_token_problems(runtime.get("datadogClusterAgentToken"), dev)
        if settings.datadog.monitors_enabled and not runtime.get("datadogAppKey"):
            problems.append(
                ("datadogAppKey", f"is not set but datadog.monitorsEnabled is true: {_set_hint('datadogAppKey', dev)}")
            )
    service_secrets = runtime.get("serviceSecrets") or {}
    if not isinstance(service_secrets, dict):
        return [*problems, ("serviceSecrets", "must be a map of service -> NAME -> value")]
    for name, service in settings.services.items():
        available = service_secrets.get(name) or {}
        for variable in service.secret_env:
            if variable not in available:
                problems.append(
                    (
                        f"services.{name}.secretEnv",
                        f"needs secret {variable!r}: {_set_hint(f'serviceSecrets.{name}.{variable}', dev)}",
                    )
                )
    return problems


def required_secrets(settings: PlatformSettings) -> list[str]:
    """The secret config paths a stack with these settings must have set, as `pulumi config set
    --secret --path` spells them: the Datadog keys where Datadog is on, each service's `secretEnv`."""
    paths = []
    if settings.datadog.enabled:
        paths += ["datadogApiKey", "datadogClusterAgentToken"]
        if settings.datadog.monitors_enabled:
            paths.append("datadogAppKey")
    paths += [f"serviceSecrets.{name}.{var}" for name, spec in settings.services.items() for var in spec.secret_env]
    return paths


# Every other secret, in dev: pulumi in `make dev`'s environment (its state, passphrase
# and project copy); the value is read from stdin or a prompt, never the command line.
DEV_SET_SECRET = ".venv/bin/python -m devenv.dev pulumi config set --secret --path"


def dev_generated_keys(settings: PlatformSettings) -> tuple[str, ...]:
    """The secrets `make dev` generates values for (devenv/dev.py ensure_dev_secrets), by
    top-level key: every serviceSecrets value and the Cluster Agent token, which no one
    outside the cluster needs; on the real node the Datadog API key too, as the agents
    there are stand-ins that send nothing (devenv/images.py)."""
    return _dev_generated_keys(settings.local.real_node)


def _dev_generated_keys(real_node: bool) -> tuple[str, ...]:
    keys = ("serviceSecrets", "datadogClusterAgentToken")
    return (*keys, "datadogApiKey") if real_node else keys


def _set_hint(key: str, dev: tuple[str, ...] | None) -> str:
    """A command that sets `key` where the message is shown: `make dev` for dev, pulumi elsewhere.
    `dev`: the dev stack's dev_generated_keys; None on any other stack."""
    if dev is not None and key.split(".")[0] in dev:
        return "run `make dev`, which generates it"
    if dev is not None:
        return f"`{DEV_SET_SECRET} '{key}'`"
    if key == "datadogClusterAgentToken":
        return f"`openssl rand -hex 32 | pulumi config set --secret {key}`"
    if "." in key:
        return f"`pulumi config set --secret --path '{key}' …`"
    return f"`pulumi config set --secret {key} …`"


def _plain_text_hint(key: str, dev: tuple[str, ...] | None, file: str | None = None, stack: str = "") -> str:
    """How to fix a secret stored in plain text in `file` (default: the stack file in use)."""
    if dev is not None:
        # In dev, pulumi writes to a private copy, never to the file you edit: the value
        # must go from that file, and its secret is then set in the copy.
        return f"is stored in plain text: delete it from {file or stack_file_in_use('dev')}, then {_set_hint(key, dev)}"
    where = f" in {file}" if file else ""
    stack_flag = f" --stack {stack}" if stack else ""
    return (f"is stored in plain text{where}: encrypt it in place with "
            f"`pulumi config set --secret --path '{key}'{stack_flag}`, which asks for the value")  # fmt: skip


def _stack_file_secret_problems(stack: str, dev: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """Plain values under secret keys of the stack file this run reads (in the program's
    directory: the project copy under `make dev`), leaf by leaf (see plain_secret_paths)."""
    path = Path.cwd() / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return []
    config = read_yaml(path).get("config") or {}
    return [(leaf, _plain_text_hint(leaf, dev, None, stack)) for leaf in plain_secret_paths(config)]


def _cluster_agent_token_problems(token: Any, dev: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    # Never quote the value: only its presence and length reach the message.
    key = "datadogClusterAgentToken"
    if not token:
        return [(key, f"is not set but datadog.enabled is true: {_set_hint(key, dev)}")]
    if len(str(token)) < CLUSTER_AGENT_TOKEN_MIN_LENGTH:
        return [
            (key, f"is {len(str(token))} characters; the Cluster Agent needs at least {CLUSTER_AGENT_TOKEN_MIN_LENGTH}")
        ]
    return []


def _secrets(runtime: dict[str, Any]) -> PlatformSecrets:
    def secret(value: Any) -> pulumi.Output[str] | None:
        return None if value in (None, "") else pulumi.Output.secret(str(value))

    service_secrets = {
        service: {name: pulumi.Output.secret(str(value)) for name, value in (values or {}).items()}
        for service, values in (runtime.get("serviceSecrets") or {}).items()
    }
    return PlatformSecrets(
        datadog_api_key=secret(runtime.get("datadogApiKey")),
        datadog_app_key=secret(runtime.get("datadogAppKey")),
        datadog_cluster_agent_token=secret(runtime.get("datadogClusterAgentToken")),
        service_secrets=service_secrets,
    )


# ----------------------------------------------------------------------- main


def _overlay_problems(runtime: dict[str, Any]) -> list[tuple[str, str]]:
    # An empty map replaces the base's services with nothing: almost never meant.
    if runtime.get("services") == {}:
        return [
            (
                "services",
                "is an empty map in the stack file, which would drop every service of the base; "
                "to leave one out of this stack, set `services.<name>.enabled: false` instead",
            )
        ]
    return []


def _stack_file_values(path: Path) -> dict[str, Any]:
    config = read_yaml(path).get("config") or {}
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


def sibling_names(stack: str, root: Path | None = None) -> dict[str, dict[str, str]]:
    """Every other stack file's registry and vault names (created or attached, explicit or
    derived), by stack: what a prod stack must not name (settings/platform.py). A stack
    file that does not validate is left out: its own run reports it."""
    from settings.azure.aks import AksSettings

    base = read_project_base()
    found: dict[str, dict[str, str]] = {}
    for path in sorted((root or PROJECT_FILE.parent).glob("Pulumi.*.yaml")):
        other = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if other == stack:
            continue
        try:
            merged = effective_config(base, _stack_file_values(path))
            if merged.get("target", "aks") != "aks" or not isinstance(merged.get("aks"), dict):
                continue
            aks = AksSettings.model_validate(merged["aks"])
        except (ConfigError, ValidationError, ValueError):
            continue
        named = {"aks.registry": aks.registry_name(other), "aks.keyVault": aks.vault_name(other)}
        found[other] = {key: name for key, name in named.items() if name}
    return found


def _validated(stack: str, runtime: dict[str, Any]) -> tuple[PlatformSettings | None, list[tuple[str, str]]]:
    """The settings, or the problems that stop them: one (key, reason) each."""
    problems = _overlay_problems(runtime)
    if problems:
        return None, problems
    merged = effective_config(read_project_base(), runtime)
    try:
        context = {"stack": stack, "siblings": sibling_names(stack)}
        return PlatformSettings.model_validate(merged, context=context), []
    except ValidationError as err:
        return None, problems_of(err, merged=merged)


def validate_settings(stack: str, runtime: dict[str, Any], stack_file: str | None = None) -> PlatformSettings:
    """The one validation pipeline: the stack's `platform:*` values merged onto
    the project base, then the typed model with its environment rules.
    Raises ConfigError with one line per problem."""
    settings, problems = _validated(stack, runtime)
    if settings is None:
        raise ConfigError(_format_errors(stack, problems, stack_file))
    return settings


def check_signed_in_subscription(stack: str, settings: PlatformSettings, signed_in: str) -> None:
    """Refuse a run whose Azure credentials are for another subscription than `aks.subscriptionId`:
    the names derived from it, and the stack itself, belong to that one."""
    if settings.aks is None or settings.aks.subscription_id.lower() == signed_in.lower():
        return
    reason = (
        f"is {settings.aks.subscription_id}, but Azure is signed in to subscription {signed_in}: "
        f"`az account set --subscription {settings.aks.subscription_id}`, or correct the key"
    )
    raise ConfigError(_format_errors(stack, [("aks.subscriptionId", reason)]))


def settings_from_files(stack: str, stack_file: Path | None = None) -> PlatformSettings:
    """`validate_settings` for a stack read from its files, outside a Pulumi run
    (make diff, the dev runner), and every value under a secret key checked to be
    encrypted (plain_secret_paths), so none ever reaches pulumi. Whether a secret is
    set at all is a matter for `load_settings`."""
    path = stack_file or PROJECT_FILE.parent / f"Pulumi.{stack}.yaml"
    config = read_yaml(path).get("config") or {}
    prefix = f"{NAMESPACE}:"
    runtime = {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}
    settings, problems = _validated(stack, runtime)
    if settings is not None:
        dev = dev_generated_keys(settings) if settings.environment == "dev" else None
    else:  # the hint still says how to set it where the file says it is
        local = runtime.get("local") if isinstance(runtime.get("local"), dict) else {}
        dev = _dev_generated_keys(bool(local.get("realNode"))) if runtime.get("environment") == "dev" else None
    where = display_path(path)
    plain = [(leaf, _plain_text_hint(leaf, dev, where, stack)) for leaf in plain_secret_paths(config)]
    if plain or settings is None:
        raise ConfigError(_format_errors(stack, [*plain, *problems], str(stack_file) if stack_file else None))
    return settings


def load_settings(stack: str | None = None) -> LoadedConfig:
    """Validate the whole configuration of this Pulumi run, or raise ConfigError."""
    stack = stack or pulumi.get_stack()
    runtime = runtime_config_of()
    settings = validate_settings(stack, runtime)
    problems = _secret_problems(settings, runtime, stack)
    if problems:
        raise ConfigError(_format_errors(stack, problems))
    return LoadedConfig(stack=stack, settings=settings, secrets=_secrets(runtime))
