"""Render every Kubernetes object of a stack to YAML, offline.

    python -m offline.render STACK [OUT_DIR]      (make render STACK=prod)

One file per object under OUT_DIR/<namespace>/ (cluster-scoped objects under
OUT_DIR/_cluster/), named <kind>-<name>.yaml. The program is evaluated under
mocks, so no cloud or cluster is touched. Output is deterministic (sorted
keys, sorted files) and every Secret value is redacted."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

REDACTED = "<redacted>"


def _redact(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "Secret":
        for field in ("data", "stringData"):
            if field in manifest:
                manifest[field] = {key: REDACTED for key in manifest[field]}
    return manifest


def _name_generated_ones(manifest: dict[str, Any], resource_name: str) -> dict[str, Any]:
    # Pulumi names these at deploy time as <resource name>-<random suffix>.
    metadata = manifest.setdefault("metadata", {})
    if not metadata.get("name"):
        metadata["generateName"] = f"{resource_name}-"
    return manifest


def render_manifests(stack: str, stack_file: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The stack's objects as manifests, secrets redacted, in a stable order; `stack_file`, the
    stack file's config to use instead of the committed one."""
    from offline.engine import evaluate, to_manifest

    evaluation = evaluate(stack, stack_file=stack_file)
    manifests = [_redact(_name_generated_ones(to_manifest(r), r.name)) for r in evaluation.kubernetes()]
    return sorted(manifests, key=_sort_key)


def _sort_key(manifest: dict[str, Any]) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return (meta.get("namespace", ""), manifest["kind"], meta.get("name") or meta.get("generateName", ""))


def manifest_path(manifest: dict[str, Any]) -> Path:
    meta = manifest["metadata"]
    name = meta.get("name") or meta["generateName"].rstrip("-")
    return Path(meta.get("namespace", "_cluster")) / f"{manifest['kind'].lower()}-{name}.yaml"


def write_manifests(manifests: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for manifest in manifests:
        path = out_dir / manifest_path(manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="the stack to render: prod, staging or dev")
    parser.add_argument("out_dir", nargs="?", help="where to write (default: build/manifests/STACK)")
    args = parser.parse_args(argv[1:])
    out_dir = Path(args.out_dir) if args.out_dir else Path("build/manifests") / args.stack
    written = write_manifests(render_manifests(args.stack), out_dir)
    print(f"rendered {len(written)} objects of stack '{args.stack}' to {out_dir}/")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main(sys.argv))
