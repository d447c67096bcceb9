"""Turn the kubeconfig AKS hands out into one that logs in without a person.

With local accounts disabled, `listManagedClusterUserCredentials` returns an
exec entry that runs `kubelogin get-token --login devicecode`, which waits for
someone to type a code into a browser. CI cannot, so the exec arguments are
rewritten to the mode chosen in config, as `kubelogin convert-kubeconfig` would.
"""

from __future__ import annotations

import itertools
from typing import Any

import yaml

# Flags each login mode needs from the original entry; the rest (client id,
# device-code specifics) belong to the interactive flow and are dropped.
_KEPT_FLAGS = {
    "azurecli": ("--server-id",),
    "workloadidentity": ("--server-id", "--environment"),
    "spn": ("--server-id", "--environment", "--tenant-id"),
}


def _flag_values(args: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for flag, value in itertools.pairwise(args):
        if flag.startswith("--") and not value.startswith("--"):
            values[flag] = value
    return values


def _convert_exec(exec_entry: dict[str, Any], mode: str) -> dict[str, Any]:
    values = _flag_values(list(exec_entry.get("args") or []))
    if "--server-id" not in values:
        raise ValueError("kubelogin exec entry has no --server-id; is this an Entra ID enabled AKS kubeconfig?")
    args = ["get-token", "--login", mode]
    for flag in _KEPT_FLAGS[mode]:
        if flag in values:
            args += [flag, values[flag]]
    return {**exec_entry, "args": args}


def to_non_interactive(kubeconfig: str, mode: str) -> str:
    """Rewrite every kubelogin user of `kubeconfig` to log in with `mode`."""
    if mode not in _KEPT_FLAGS:
        raise ValueError(f"unknown kubelogin mode {mode!r}: use one of {', '.join(_KEPT_FLAGS)}")
    config = yaml.safe_load(kubeconfig)
    for user in config.get("users") or []:
        exec_entry = (user.get("user") or {}).get("exec")
        if exec_entry and str(exec_entry.get("command", "")).endswith("kubelogin"):
            user["user"]["exec"] = _convert_exec(exec_entry, mode)
    return yaml.safe_dump(config, sort_keys=False)
