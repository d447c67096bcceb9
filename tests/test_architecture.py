"""The rooms and the arrows between them (docs/architecture.md), checked on the source.

Every import counts, wherever it stands (inside a function or under TYPE_CHECKING):
a cycle drawn by a lazy import is still a cycle a reader has to untangle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("components", "settings", "devenv", "offline", "policy", "bootstrap")
ROOMS = ("azure", "datadog", "service", "local", "bootstrap")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_modules() -> dict[str, Path]:
    found = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    # bootstrap/ is a Pulumi project, not a package: its program is a module of its own.
    found["bootstrap"] = found.pop("bootstrap.__main__")
    found["__main__"] = ROOT / "__main__.py"
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The first-party modules `path` imports: `from a.b import c` counts a.b.c when that
    is a module, else a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = first_party_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room_graph(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """Arrows between the folders directly under `package`; a module at its top level
    (settings.base, settings.platform) is a node of its own."""

    def room(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 2 else module

    arrows: dict[str, set[str]] = {}
    for source, targets in graph.items():
        if source.split(".")[0] != package:
            continue
        for target in targets:
            if target.split(".")[0] == package and room(source) != room(target):
                arrows.setdefault(room(source), set()).add(room(target))
    return arrows


def test_no_two_modules_import_each_other_directly_or_through_others(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    """The check above could pass by finding nothing: show it finds a planted cycle."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_config_layer_imports_neither_the_components_nor_the_dev_machine(graph: dict[str, set[str]]) -> None:
    wrong = {
        (source, target)
        for source, targets in graph.items()
        if source.startswith("settings")
        for target in targets
        if target.split(".")[0] in ("components", "devenv", "offline", "policy")
    }
    assert wrong == set()


@pytest.mark.parametrize("package", ["components", "settings"])
def test_the_rooms_of_each_layer_form_no_cycle(graph: dict[str, set[str]], package: str) -> None:
    assert cycles(room_graph(graph, package)) == []


@pytest.mark.parametrize("package", ["components", "settings"])
def test_each_layer_has_the_same_rooms(package: str) -> None:
    """A person who changes Datadog opens components/datadog/ and settings/datadog/."""
    folders = {p.name for p in (ROOT / package).iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert set(ROOMS) <= folders
    assert folders - set(ROOMS) <= {"kubernetes"}, "a new room: add it to ROOMS and docs/architecture.md"


def test_components_rooms_point_one_way(graph: dict[str, set[str]]) -> None:
    """The arrows docs/architecture.md draws: every room may use the shared Kubernetes
    pieces; the service room uses Datadog's (its agent's address, the monitor shape);
    nothing points back at the service room or between the cluster rooms; the bootstrap
    room stands alone (it runs before any platform stack exists)."""
    arrows = room_graph(graph, "components")
    assert not arrows.get("kubernetes")
    assert "service" not in set().union(*[targets for room, targets in arrows.items() if room != "service"])
    assert not {"azure", "local"} & set().union(*arrows.values())
    assert not arrows.get("bootstrap") and "bootstrap" not in set().union(*arrows.values())


def test_the_two_programs_import_only_their_own_rooms(graph: dict[str, set[str]]) -> None:
    """The platform program never reaches into the bootstrap's components, nor the bootstrap into the platform's."""
    assert not {m for m in graph["__main__"] if m.startswith(("components.bootstrap", "settings.bootstrap"))}
    assert {m.split(".")[1] for m in graph["bootstrap"] if m.startswith("components.")} == {"bootstrap"}
