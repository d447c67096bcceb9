"""Which pulumi CLI and Kubernetes plugin the dev stack runs: the ones already on
this machine when they are compatible, else the pinned toolchain (toolchain/build.sh).

Compatible means what this repository's Python SDKs need (requirements.txt), read
from the installed packages, not copied here:

- **the CLI**: the first `pulumi` on PATH outside the pinned toolchain whose
  `pulumi version` has the major version of the `pulumi` Python SDK and is at least
  as new as it. The SDK's own CLI check refuses another major (pulumi 3.272.0
  pulumi/automation/_cmd.py `_parse_and_validate_pulumi_version`), and installs the
  CLI of its own version by default (`PulumiCommand.install`); a newer CLI is
  supported (toolchain/versions.env).
- **the plugin**: `pulumi-resource-kubernetes` at exactly the version the
  pulumi-kubernetes SDK asks for (pulumi_kubernetes/pulumi-plugin.json), in the
  plugin cache of that CLI as `pulumi plugin ls --json` lists it ($PULUMI_HOME/plugins,
  default ~/.pulumi/plugins). The engine takes a cached plugin only on an exact
  version match (pulumi sdk/v3@v3.274.1 go/common/workspace/plugins.go
  `SelectCompatiblePlugin`). A plugin found only on PATH is not used: it has no
  version to check (the binary has no version flag).

The dev runner keeps its own PULUMI_HOME, so it hands the engine the chosen plugin
through PATH, which the engine searches first ("ambient" plugins, plugins.go
`getPluginInfoAndPath`).

DEV_TOOLS=pinned always uses (and builds) the pinned toolchain; DEV_TOOLS=installed
refuses to build and says why the installed tools do not fit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from devenv.paths import tools_bin

PLUGIN = "pulumi-resource-kubernetes"


@dataclass(frozen=True)
class Tools:
    pulumi: Path
    plugin: Path
    source: str
    """'installed' or 'pinned'."""
    version: str
    """What `pulumi version` says."""
    plugin_version: str

    def path_entries(self) -> list[str]:
        """PATH entries that make the engine find this CLI's language host and this plugin first."""
        return list(dict.fromkeys([str(self.pulumi.parent), str(self.plugin.parent)]))

    def describe(self) -> str:
        what = "the installed" if self.source == "installed" else "the pinned toolchain's (toolchain/versions.env)"
        return (
            f"using {what} pulumi {self.version} ({self.pulumi}) "
            f"and kubernetes plugin v{self.plugin_version} ({self.plugin})"
        )


def required() -> tuple[str, str]:
    """(the pulumi Python SDK's version, the kubernetes plugin version its SDK asks for)."""
    import pulumi_kubernetes

    plugin_json = Path(pulumi_kubernetes.__file__).parent / "pulumi-plugin.json"
    return metadata.version("pulumi"), json.loads(plugin_json.read_text())["version"]


def _release(version: str) -> tuple[int, ...] | None:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", version.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def cli_compatible(version: str, sdk: str) -> bool:
    have, need = _release(version), _release(sdk)
    return have is not None and need is not None and have[0] == need[0] and have >= need


def _installed_pulumi(env: dict[str, str]) -> Path | None:
    """The first `pulumi` on PATH that is not the pinned toolchain's."""
    own = tools_bin().resolve()
    for entry in os.get_exec_path(env):
        candidate = Path(entry) / "pulumi"
        if candidate.is_file() and os.access(candidate, os.X_OK) and Path(entry).resolve() != own:
            return candidate
    return None


def _pulumi_home(env: dict[str, str]) -> Path:
    # pulumi sdk/go/common/workspace/paths.go GetPulumiHomeDir: $PULUMI_HOME, else ~/.pulumi.
    return Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")


def installed(env: dict[str, str] | None = None) -> Tools | str:
    """The compatible tools on this machine, or why there are none."""
    env = dict(os.environ if env is None else env)
    sdk, plugin_version = required()
    pulumi = _installed_pulumi(env)
    if pulumi is None:
        return "no pulumi on PATH"
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    try:
        version = subprocess.run([str(pulumi), "version"], env=env, capture_output=True, text=True, timeout=30)
        listed = subprocess.run(
            [str(pulumi), "plugin", "ls", "--json"], env=env, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{pulumi} does not run ({err})"
    found = version.stdout.strip()
    if version.returncode != 0 or not cli_compatible(found, sdk):
        below = f"{int(sdk.split('.')[0]) + 1}.0.0"
        return f"{pulumi} is {found or 'of unknown version'}; the pulumi SDK needs >= {sdk} and < {below}"
    try:
        plugins = json.loads(listed.stdout) or []
    except json.JSONDecodeError:
        plugins = []
    if not any(p.get("kind") == "resource" and p.get("name") == "kubernetes" and p.get("version") == plugin_version
               for p in plugins):  # fmt: skip
        return f"the kubernetes plugin v{plugin_version} is not installed for {pulumi} (`pulumi plugin ls`)"
    # The cache's layout: <home>/plugins/resource-kubernetes-v<version>/ (plugins.go PluginDescriptor.Dir).
    plugin = _pulumi_home(env) / "plugins" / f"resource-kubernetes-v{plugin_version}" / PLUGIN
    if not os.access(plugin, os.X_OK):
        return f"{plugin} is missing"
    return Tools(pulumi, plugin, "installed", found, plugin_version)


def pinned() -> Tools:
    """The pinned toolchain (built by toolchain/build.sh, which alone knows its versions)."""
    bin_dir = tools_bin()
    try:
        version = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        version = "(not built yet: `make tools`)"
    return Tools(bin_dir / "pulumi", bin_dir / PLUGIN, "pinned", version or "?", required()[1])


def mode() -> str:
    value = os.environ.get("DEV_TOOLS", "auto")
    if value not in ("auto", "installed", "pinned"):
        raise SystemExit(f"DEV_TOOLS={value}: expected auto, installed or pinned")
    return value


def which_pulumi(env: dict[str, str]) -> str:
    """The pulumi an environment made by the dev runner runs."""
    return shutil.which("pulumi", path=env.get("PATH")) or "pulumi"
