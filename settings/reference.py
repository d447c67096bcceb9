"""The configuration reference, generated from the typed model itself.

    python -m settings.reference            # write docs/reference/configuration.md
    python -m settings.reference --check    # exit 1 when that page is out of date

Every field of every model under `PlatformSettings`: its key as a stack file spells
it, type, default, description and validation (constraints, domain types' rules,
allowed values), then the model's own rules (its validators' docstrings), the
environment rules and the secret keys. Like the Azure Verified Modules' README,
written from the module, so it cannot drift from it."""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from settings.bootstrap.config import SECRET_KEYS as BOOTSTRAP_SECRET_KEYS
from settings.bootstrap.config import BootstrapSettings
from settings.bootstrap.loader import NAMESPACE as BOOTSTRAP_NAMESPACE
from settings.loader import NAMESPACE, SECRET_KEYS
from settings.platform import ENVIRONMENT_RULES, PlatformSettings
from settings.types import Rule

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "configuration.md"
BOOTSTRAP_PAGE = PAGE.parent / "bootstrap.md"
NAMESPACES = (NAMESPACE, BOOTSTRAP_NAMESPACE)

HEADER = """\
# Configuration reference

<!-- Generated from the typed model by `make docs` (python -m settings.reference).
     Do not edit by hand: tests/test_reference.py fails when this page is out of date. -->

Every key a stack can set, under the `platform:` namespace. `Pulumi.yaml` holds the
base every stack shares; each `Pulumi.<stack>.yaml` holds only what differs, deep-merged
onto it (maps key by key, lists of objects with a `name` item by item, other lists
replaced). A key written nowhere takes the default below. Everything is validated
before any resource is registered; an unknown key is an error.

How to read a table: **key** as a stack file spells it; **type** (a domain type's rule
is under [Domain types](#domain-types)); **default** (`required` when there is none);
**validation** beyond the type. Each object's **rules** are checks across its fields.
"""


# ------------------------------------------------------------------- types


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _rule(annotation: Any) -> Rule | None:
    if typing.get_origin(annotation) is typing.Annotated:
        return next((m for m in annotation.__metadata__ if isinstance(m, Rule)), None)
    return None


def type_text(annotation: Any) -> str:
    """A type as a person reads it: 'list of K8sName', 'one of: a, b', 'AksSettings, or null'."""
    origin = typing.get_origin(annotation)
    if (rule := _rule(annotation)) is not None:
        return f"[{rule.name}](#{rule.name.lower()})"
    if origin is typing.Annotated:
        return type_text(_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in _args(annotation) if a is not type(None)]
        text = " or ".join(type_text(a) for a in options)
        return f"{text}, or null" if type(None) in _args(annotation) else text
    if origin is typing.Literal:
        return "one of: " + ", ".join(f"`{value}`" for value in _args(annotation))
    if origin is list:
        return f"list of {type_text(_args(annotation)[0])}"
    if origin is dict:
        key, value = _args(annotation)
        return f"map of {type_text(key)} to {type_text(value)}"
    if _is_model(annotation):
        return f"object ({annotation.__name__})"
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(annotation, str(annotation))


def _nested_models(annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The models a field holds, with the key suffix that reaches them: '' for an
    object, '[]' for a list item, '.<name>' for a map value."""
    origin = typing.get_origin(annotation)
    if _is_model(annotation):
        yield "", annotation
    elif origin is typing.Annotated:
        yield from _nested_models(_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for option in _args(annotation):
            yield from _nested_models(option)
    elif origin is list:
        yield from (("[]" + suffix, model) for suffix, model in _nested_models(_args(annotation)[0]))
    elif origin is dict:
        yield from ((".<name>" + suffix, model) for suffix, model in _nested_models(_args(annotation)[1]))


def _rules_in(annotation: Any) -> Iterator[Rule]:
    if (rule := _rule(annotation)) is not None:
        yield rule
    for arg in _args(annotation):
        if not isinstance(arg, (str, int, bool)):
            yield from _rules_in(arg)


# --------------------------------------------------------------- the table


def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "its fields' defaults"
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            value = [item.model_dump(by_alias=True, exclude_defaults=True) for item in value]
        if isinstance(value, dict) and value and all(isinstance(item, BaseModel) for item in value.values()):
            value = {key: item.model_dump(by_alias=True, exclude_defaults=True) for key, item in value.items()}
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return f"`{json.dumps(value, ensure_ascii=False)}`"


_CONSTRAINTS = {
    annotated_types.Ge: ("≥ {}", "ge"),
    annotated_types.Le: ("≤ {}", "le"),
    annotated_types.Gt: ("> {}", "gt"),
    annotated_types.Lt: ("< {}", "lt"),
    annotated_types.MinLen: ("at least {} {}", "min_length"),
    annotated_types.MaxLen: ("at most {} {}", "max_length"),
}


def validation_text(field: FieldInfo) -> str:
    unit = "item(s)" if typing.get_origin(field.annotation) in (list, dict) else "characters"
    parts = []
    for item in field.metadata:
        for kind, (words, attribute) in _CONSTRAINTS.items():
            if isinstance(item, kind):
                parts.append(words.format(getattr(item, attribute), unit))
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _rules_of(model: type[BaseModel]) -> list[str]:
    decorators = model.__pydantic_decorators__
    found = [*decorators.field_validators.values(), *decorators.model_validators.values()]
    return [_cell(inspect_doc(d.func)) for d in found]


def inspect_doc(func: Any) -> str:
    doc = getattr(func, "__doc__", None) or getattr(getattr(func, "__func__", None), "__doc__", None)
    if not doc:
        raise ValueError(f"{func!r} has no docstring: every rule says what it checks (settings/reference.py)")
    return doc.strip()


def _annotated(field: FieldInfo) -> Any:
    """The field's type with its metadata: pydantic moves a field's own `Annotated[str, ...]`
    (a domain type such as K8sName) into `field.metadata`, leaving `str` as its annotation."""
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def model_section(key: str, model: type[BaseModel]) -> list[str]:
    title = f"{key}:<key>" if key in NAMESPACES else key
    lines = [f"### `{title}`", "", _cell(model.__doc__ or ""), ""]
    lines += ["| key | type | default | description | validation |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        row = (
            f"`{_key(name, field)}`",
            type_text(_annotated(field)),
            default_text(field),
            _cell(field.description or ""),
            validation_text(field),
        )
        lines.append("| " + " | ".join(row) + " |")
    rules = _rules_of(model)
    if rules:
        lines += ["", "Rules:", ""] + [f"- {rule}" for rule in rules]
    return [*lines, ""]


def sections(prefix: str, model: type[BaseModel], seen: set[str]) -> Iterator[list[str]]:
    """This model's section, then each nested model's, depth first, by key path."""
    if prefix in seen:
        return
    seen.add(prefix)
    yield model_section(prefix, model)
    for name, field in model.model_fields.items():
        for suffix, nested in _nested_models(field.annotation):
            separator = ":" if prefix in NAMESPACES else "."
            yield from sections(f"{prefix}{separator}{_key(name, field)}{suffix}", nested, seen)


def all_models(root: type[BaseModel] = PlatformSettings, namespace: str = NAMESPACE) -> dict[str, type[BaseModel]]:
    """Every model reachable from `root` (PlatformSettings), by its key path."""
    found: dict[str, type[BaseModel]] = {}

    def walk(prefix: str, model: type[BaseModel]) -> None:
        found[prefix] = model
        for name, field in model.model_fields.items():
            for suffix, nested in _nested_models(field.annotation):
                separator = ":" if prefix in NAMESPACES else "."
                walk(f"{prefix}{separator}{_key(name, field)}{suffix}", nested)

    walk(namespace, root)
    return found


def domain_types(root: type[BaseModel] = PlatformSettings, namespace: str = NAMESPACE) -> list[Rule]:
    rules: dict[str, Rule] = {}
    for model in all_models(root, namespace).values():
        for field in model.model_fields.values():
            for rule in _rules_in(_annotated(field)):
                rules[rule.name] = rule
    return sorted(rules.values(), key=lambda rule: rule.name)


def render() -> str:
    lines = [HEADER, "## Keys", ""]
    for section in sections(NAMESPACE, PlatformSettings, set()):
        lines += section
    lines += ["## Environment rules", "", "Checked for the stack whose `platform:environment` is named:", ""]
    for environment, rules in ENVIRONMENT_RULES.items():
        lines += [f"- **{environment}**: " + " ".join(_cell(inspect_doc(rule)) for rule in rules)]
    lines += [
        "",
        "## Secret keys",
        "",
        "Set with `pulumi config set --secret`; never in the model, never in a log.",
        "",
    ]
    lines += ["| key | what it is |", "|---|---|"]
    lines += [f"| `{NAMESPACE}:{key}` | {_cell(text)} |" for key, text in SECRET_KEYS.items()]
    lines += ["", "## Domain types", ""]
    for rule in domain_types():
        lines += [f"### {rule.name}", "", _cell(rule.text[0].upper() + rule.text[1:]) + ".", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


BOOTSTRAP_HEADER = """\
# Bootstrap configuration reference

<!-- Generated from the typed model by `make docs` (python -m settings.reference).
     Do not edit by hand: tests/test_reference.py fails when this page is out of date. -->

Every key of the bootstrap stack (bootstrap/Pulumi.<stack>.yaml), under the `bootstrap:`
namespace: what `make bootstrap` makes once per subscription before the platform stacks'
first deploy (docs/first-deploy.md). Everything is validated before any resource is
registered; an unknown key is an error. Tables read as in the platform's reference
(configuration.md).
"""


def render_bootstrap() -> str:
    lines = [BOOTSTRAP_HEADER, "## Keys", ""]
    for section in sections(BOOTSTRAP_NAMESPACE, BootstrapSettings, set()):
        lines += section
    lines += ["## Secret keys", "", "Set with `pulumi config set --secret` (cd bootstrap).", ""]
    lines += ["| key | what it is |", "|---|---|"]
    lines += [f"| `{BOOTSTRAP_NAMESPACE}:{key}` | {_cell(text)} |" for key, text in BOOTSTRAP_SECRET_KEYS.items()]
    lines += ["", "## Domain types", ""]
    for rule in domain_types(BootstrapSettings, BOOTSTRAP_NAMESPACE):
        lines += [f"### {rule.name}", "", _cell(rule.text[0].upper() + rule.text[1:]) + ".", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settings.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page is out of date")
    args = parser.parse_args(argv)
    generated = {PAGE: render(), BOOTSTRAP_PAGE: render_bootstrap()}
    if args.check:
        stale = [path for path, page in generated.items() if not path.exists() or path.read_text() != page]
        for path in stale:
            print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} is out of date: "
                  "run `make docs`", file=sys.stderr)  # fmt: skip
        return 1 if stale else 0
    for path, page in generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
