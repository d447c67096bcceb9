"""The house rules for components, checked on the source: one
ComponentResource per file, a `platform:<area>:<Name>` type token whose area is
the component's room (its folder under components/), a typed args object, and
`register_outputs` as the constructor's last statement."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

COMPONENTS_DIR = Path(__file__).resolve().parent.parent / "components"
COMPONENTS = sorted(COMPONENTS_DIR.rglob("*.py"))


def component_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node for node in tree.body
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "pulumi.ComponentResource" for b in node.bases)
    ]  # fmt: skip


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.as_posix().split("components/")[-1])
def test_component_file_follows_the_conventions(path: Path) -> None:
    tree = ast.parse(path.read_text())
    classes = component_classes(tree)
    assert len(classes) <= 1, f"{path.name}: one component per file"
    if not classes:
        return
    cls = classes[0]
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    token = ast.unparse(init.body[0])
    room = path.relative_to(COMPONENTS_DIR).parts[0]
    assert re.search(r"super\(\).__init__\('platform:" + room + ":" + cls.name + "'", token), token
    args = init.args.args[2]
    assert args.annotation is not None and ast.unparse(args.annotation) == f"{cls.name}Args"
    assert ast.unparse(init.body[-1]).startswith("self.register_outputs("), f"{cls.name}: register_outputs last"
    assert len(init.body) <= 25, f"{cls.name}: split the constructor into _build_* helpers"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_resource_is_a_child_of_a_component(stack: str) -> None:
    """Nothing hangs off the stack directly: each resource belongs to a component."""
    from harness import evaluate

    for registration in evaluate(stack).resources:
        parent_type = registration.parent.split("::")[2].split("$")[-1]
        if registration.type.startswith("platform:"):
            assert parent_type.startswith(("platform:", "pulumi:pulumi:Stack")), registration.name
        else:
            assert parent_type.startswith("platform:"), f"{registration.type} {registration.name} under {parent_type}"
