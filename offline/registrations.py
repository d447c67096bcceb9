"""Every stack's registrations, as the engine would receive them, in one JSON file per stack.

    python -m offline.registrations OUT_DIR          # write OUT_DIR/<stack>.json
    python -m offline.registrations --compare A B    # what differs between two such dumps

For refactors that must not change what is deployed: dump before, dump after,
compare. A resource that moved (a new type token or parent) matches its old
record through its aliases, resolved the way the engine resolves them: an alias
names the old type, name or parent, and a child inherits every old identity of
its parent."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offline.engine import STACKS, Evaluation, Registration, evaluate


def record(registration: Registration) -> dict[str, Any]:
    """What reaches the engine for one resource; the order of registration is left out (it varies)."""
    return {
        "type": registration.type,
        "name": registration.name,
        "parent": registration.parent,
        "inputs": registration.raw,
        "provider": registration.provider,
        "protect": registration.protect,
        "ignoreChanges": registration.ignore_changes,
        "dependencies": sorted(registration.dependencies),
        "deleteBeforeReplace": registration.delete_before_replace,
        "aliases": registration.aliases,
    }


def dump(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    return {r.urn: record(r) for r in sorted(evaluation.resources, key=lambda r: r.urn)}


# ------------------------------------------------------------------ aliases

Chain = tuple[tuple[str, str], ...]
"""A resource's logical identity: (type, name) of each ancestor, then its own."""


def _chain_of_urn(urn: str, records: dict[str, dict[str, Any]]) -> Chain:
    """The identity a URN stands for: from the records when it is one of them, else read
    off the URN itself (its last type and its name), as for an alias's old parent."""
    rec = records.get(urn)
    if rec is None:
        if not urn or urn.split("::")[2] == "pulumi:pulumi:Stack":
            return ()
        return (((urn.split("::")[2].split("$")[-1]), urn.split("::")[3]),)
    return (*_chain_of_urn(rec["parent"], records), (rec["type"], rec["name"]))


def identities(records: dict[str, dict[str, Any]]) -> dict[str, set[Chain]]:
    """Every identity each resource may have had: its own, each alias's (an alias names an
    old type, name or parent), and each of those under every old identity of its parent:
    a child inherits its parent's aliases, as the engine resolves them
    (pulumi/pulumi pkg/resource/deploy/source_eval.go, `generateAliases`)."""
    known: dict[str, set[Chain]] = {}

    def of(urn: str) -> set[Chain]:
        if urn in known:
            return known[urn]
        rec = records.get(urn)
        if rec is None:
            return {_chain_of_urn(urn, records)}
        own = (rec["type"], rec["name"])
        parents = of(rec["parent"]) if rec["parent"] else {()}
        found = {(*parent, own) for parent in parents}
        for alias in rec["aliases"]:
            spec = alias.get("spec", alias)
            old = (spec.get("type") or rec["type"], spec.get("name") or rec["name"])
            old_parent = spec.get("parentUrn")
            if old_parent:
                found.add((*_chain_of_urn(old_parent, records), old))
            else:
                found |= {(*parent, old) for parent in parents}
        known[urn] = found
        return found

    for urn in records:
        of(urn)
    return known


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """One line per difference: a resource gone, a new one, or one whose engine inputs,
    options, provider or dependencies changed (those two compared by identity, not URN)."""
    problems: list[str] = []
    old_by_chain = {_chain_of_urn(urn, before): urn for urn in before}
    was: dict[str, str] = {}  # new URN -> old URN
    for urn, chains in sorted(identities(after).items()):
        old = sorted(old_by_chain[chain] for chain in chains if chain in old_by_chain)
        if old:
            was[urn] = old[0]
        else:
            problems.append(f"new: {urn}")
    fields = ("inputs", "protect", "ignoreChanges", "deleteBeforeReplace")
    for urn, old in was.items():
        rec, old_rec = after[urn], before[old]
        changed = [f for f in fields if old_rec[f] != rec[f]]
        provider_urn, _, provider_id = rec["provider"].rpartition("::")
        if rec["provider"] and f"{was.get(provider_urn, provider_urn)}::{provider_id}" != old_rec["provider"]:
            changed.append("provider")
        if sorted(was.get(d, d) for d in rec["dependencies"]) != old_rec["dependencies"]:
            changed.append("dependencies")
        if changed:
            problems.append(f"changed {', '.join(changed)}: {urn}")
    problems += [f"gone: {urn}" for urn in sorted(before.keys() - set(was.values()))]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.registrations", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="OUT_DIR to write; or, with --compare, two dump directories")
    parser.add_argument("--compare", action="store_true", help="compare dumps BEFORE and AFTER, stack by stack")
    args = parser.parse_args(argv)
    if not args.compare:
        out = Path(args.paths[0])
        out.mkdir(parents=True, exist_ok=True)
        for stack in STACKS:
            (out / f"{stack}.json").write_text(json.dumps(dump(evaluate(stack)), indent=1, sort_keys=True))
            print(f"wrote {out / f'{stack}.json'}")
        return 0
    if len(args.paths) != 2:
        parser.error("--compare takes two directories: BEFORE AFTER")
    status = 0
    for stack in STACKS:
        before, after = (json.loads((Path(p) / f"{stack}.json").read_text()) for p in args.paths)
        problems = compare(before, after)
        print(f"{stack}: {len(after)} resources, {len(problems)} differences")
        for line in problems:
            print(f"  {line}")
        status |= bool(problems)
    return status


if __name__ == "__main__":
    sys.exit(main())
