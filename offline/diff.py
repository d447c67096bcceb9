"""What differs between two stacks: the effective typed config (base plus
overlay, defaults filled in) and the rendered Kubernetes manifests.

    python -m offline.diff A B          (make diff A=staging B=prod)

Offline and deterministic; secret values are redacted in the manifests and
never part of the typed config."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def effective_config(stack: str) -> dict[str, Any]:
    """The validated config of `stack` as the program sees it, through the
    program's own loader (and so its checks)."""
    from settings import settings_from_files

    return settings_from_files(stack).model_dump(mode="json", by_alias=True)


def _lines(value: Any) -> list[str]:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


Render = Callable[[str], list[dict[str, Any]]]


def _manifests_by_path(stack: str, render: Render) -> dict[str, list[str]]:
    from offline.render import manifest_path

    return {str(manifest_path(m)): _lines(m) for m in render(stack)}


def stack_diff(a: str, b: str, render: Render | None = None) -> str:
    """`render` is offline.render's render_manifests unless a caller already holds the renders."""
    if render is None:
        from offline.render import render_manifests as render
    out = [f"### typed config: {a} -> {b}\n"]
    out += difflib.unified_diff(_lines(effective_config(a)), _lines(effective_config(b)), f"{a}/config", f"{b}/config")
    left, right = _manifests_by_path(a, render), _manifests_by_path(b, render)
    out.append(f"\n### manifests: {a} -> {b}\n")
    for path in sorted(set(left) | set(right)):
        if path not in right:
            out.append(f"only in {a}: {path}\n")
        elif path not in left:
            out.append(f"only in {b}: {path}\n")
        else:
            out += difflib.unified_diff(left[path], right[path], f"{a}/{path}", f"{b}/{path}")
    return "".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", metavar="STACK_A")
    parser.add_argument("b", metavar="STACK_B")
    args = parser.parse_args(argv[1:])
    sys.stdout.write(stack_diff(args.a, args.b))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main(sys.argv))
