"""The administrator's commands around the bootstrap stack (docs/first-deploy.md):

    python bootstrap/admin.py up                     (make bootstrap)
        pulumi up of the bootstrap stack with your Azure CLI sign-in, then the runner image
        built into its registry when missing (az acr build), then what to run next.
    python bootstrap/admin.py adopt                  (make adopt-bootstrap)
        the bootstrap's outputs into the platform: Pulumi.yaml's lines marked "bootstrap output",
        the repository's variables and environments (gh), and every platform stack created in
        the new backend under its azurekeyvault:// key, its missing secrets asked for.
    python bootstrap/admin.py secrets-provider STACK (make secrets-provider STACK=prod)
        one platform stack moved from the passphrase to its key (pulumi stack change-secrets-provider).

Environment: BOOTSTRAP_BACKEND_URL (the bootstrap stack's own state; default a file backend in
~/.aks-platform-bootstrap, as the state backend does not exist before the first run),
BOOTSTRAP_STACK (default main), GITHUB_APP_KEY (a .pem file to set as the stack's secret
githubAppPrivateKey), PULUMI_CONFIG_PASSPHRASE (the bootstrap stack's passphrase),
PLATFORM_CONFIG_PASSPHRASE (a platform stack's old passphrase, when it has one to move from).
Every failure is one line on stderr and exit status 1."""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml

BOOTSTRAP_DIR = ROOT / "bootstrap"
PROJECT_FILE = ROOT / "Pulumi.yaml"
DEFAULT_BACKEND = Path.home() / ".aks-platform-bootstrap"
MARKER = "# bootstrap output"
# The resource providers the bootstrap and the platform create resources of. A subscription must
# have a provider registered before it takes that provider's resources ("MissingSubscriptionRegistration";
# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types), and
# registering is a subscription-wide action the pipeline's identities do not have.
RESOURCE_PROVIDERS = (
    "Microsoft.App", "Microsoft.Compute", "Microsoft.ContainerRegistry", "Microsoft.ContainerService",
    "Microsoft.KeyVault", "Microsoft.ManagedIdentity", "Microsoft.Network", "Microsoft.Storage",
)  # fmt: skip


class AdminError(Exception):
    """One line for the person: what failed and what to do."""


# ------------------------------------------------------------------ running


def _pulumi() -> str:
    found = shutil.which("pulumi")
    if found:
        return found
    from devenv.paths import tools_bin

    pinned = tools_bin() / "pulumi"
    if pinned.exists():
        return str(pinned)
    raise AdminError("no pulumi CLI on PATH and none built: install pulumi, or run `make tools`")


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    # The programs' virtualenv first: its python runs both programs.
    env["PATH"] = os.pathsep.join([str(ROOT / ".venv" / "bin"), env.get("PATH", "")])
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    return env


def bootstrap_env() -> dict[str, str]:
    """pulumi for the bootstrap stack: its own backend, whatever `pulumi login` says."""
    env = _base_env()
    backend = os.environ.get("BOOTSTRAP_BACKEND_URL")
    if not backend:
        DEFAULT_BACKEND.mkdir(parents=True, exist_ok=True)
        backend = f"file://{DEFAULT_BACKEND}"
    env["PULUMI_BACKEND_URL"] = backend
    return env


def platform_env(backend_url: str) -> dict[str, str]:
    """pulumi for the platform stacks: the bootstrap's backend, the az CLI sign-in for blobs and keys."""
    env = _base_env()
    env["PULUMI_BACKEND_URL"] = backend_url
    # azidentity's DefaultAzureCredential, pinned to the Azure CLI (v1.14.0 AZURE_TOKEN_CREDENTIALS).
    env["AZURE_TOKEN_CREDENTIALS"] = "AzureCLICredential"
    if os.environ.get("PLATFORM_CONFIG_PASSPHRASE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = os.environ["PLATFORM_CONFIG_PASSPHRASE"]
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None, capture: bool = False) -> str:
    """Run a command, shown first; its stdout when `capture`. A failure is AdminError with its last line."""
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"+ {shown}", file=sys.stderr)
    result = subprocess.run(
        args, cwd=cwd, env=env, input=stdin, text=True,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None,
    )  # fmt: skip
    if result.returncode != 0:
        last = ((result.stderr or "").strip().splitlines() or ["see above"])[-1]
        raise AdminError(f"`{shown}` failed ({result.returncode}): {last}")
    return result.stdout or ""


def bootstrap_outputs() -> dict:
    stack = os.environ.get("BOOTSTRAP_STACK", "main")
    out = run([_pulumi(), "stack", "output", "--json", "--stack", stack], BOOTSTRAP_DIR, bootstrap_env(), capture=True)
    outputs = json.loads(out or "{}")
    missing = [k for k in ("backendUrl", "secretsProviders", "runnerEgressIp", "subscriptionId") if not outputs.get(k)]
    if missing:
        raise AdminError(
            f"the bootstrap stack {stack!r} has no output {', '.join(missing)}: run `make bootstrap` first"
        )
    return outputs


# ---------------------------------------------------------------- up


def with_passphrase(env: dict[str, str], interactive: bool) -> dict[str, str]:
    """The bootstrap stack's passphrase in `env`, asked for once when the environment has none.
    pulumi would ask itself, but not when its input is a pipe (`config set --secret` from the
    key file): it then stops with "passphrase must be set with PULUMI_CONFIG_PASSPHRASE"
    (pulumi v3.274.1 pkg/secrets/passphrase/manager.go)."""
    if env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return env
    if not interactive:
        raise AdminError(
            "no passphrase for the bootstrap stack: set PULUMI_CONFIG_PASSPHRASE (or run this in a terminal, "
            "which asks for it)"
        )
    passphrase = getpass.getpass("passphrase of the bootstrap stack (new: choose one and keep it in a safe place): ")
    if not passphrase:
        raise AdminError("an empty passphrase protects nothing: run again and type one")
    return {**env, "PULUMI_CONFIG_PASSPHRASE": passphrase}


def up(yes: bool) -> None:
    stack = os.environ.get("BOOTSTRAP_STACK", "main")
    env = with_passphrase(bootstrap_env(), interactive=sys.stdin.isatty())
    if shutil.which("az") is None:
        raise AdminError("the Azure CLI (az) is needed: the bootstrap runs with your `az login`")
    run(["az", "account", "show", "--output", "none"], ROOT, env)
    for namespace in RESOURCE_PROVIDERS:  # idempotent; quick once registered
        run(["az", "provider", "register", "--namespace", namespace, "--wait"], ROOT, env)
    run([_pulumi(), "stack", "select", "--create", stack], BOOTSTRAP_DIR, env)
    key = os.environ.get("GITHUB_APP_KEY")
    if key:
        run([_pulumi(), "config", "set", "--secret", "githubAppPrivateKey", "--stack", stack],
            BOOTSTRAP_DIR, env, stdin=Path(key).read_text())  # fmt: skip
    run([_pulumi(), "up", "--stack", stack, *(["--yes"] if yes else [])], BOOTSTRAP_DIR, env)
    outputs = json.loads(
        run([_pulumi(), "stack", "output", "--json", "--stack", stack], BOOTSTRAP_DIR, env, capture=True)
    )
    build_runner_image(outputs["runnerRegistry"], outputs["runnerImage"])
    print("\nbootstrap done. Next: `make adopt-bootstrap` (writes Pulumi.yaml's bootstrap lines, sets the "
          "repository's variables with gh, creates staging and prod under their azurekeyvault:// keys).")  # fmt: skip


def build_runner_image(registry: str, image: str) -> None:
    """`az acr build` of bootstrap/runner unless the registry already has this image's tag."""
    repository, tag = image.split("/", 1)[1].split(":", 1)
    env = _base_env()
    try:
        tags = run(["az", "acr", "repository", "show-tags", "--name", registry, "--repository", repository,
                    "--output", "tsv"], ROOT, env, capture=True).split()  # fmt: skip
    except AdminError:
        tags = []  # no repository yet
    if tag in tags:
        print(f"runner image {image} is in the registry", file=sys.stderr)
        return
    run(["az", "acr", "build", "--registry", registry, "--image", f"{repository}:{tag}",
         str(BOOTSTRAP_DIR / "runner")], ROOT, env)  # fmt: skip


# ------------------------------------------------------------- adopt


def adopt_project_file(text: str, values: dict[str, str]) -> str:
    """Pulumi.yaml with each line marked `# bootstrap output <key>` carrying `values[key]`:
    `<key>: <value>` lines, and list items (`- <ip>/<bits>`) for runnerEgressIp."""
    found: set[str] = set()
    lines = []
    for line in text.splitlines(keepends=True):
        match = re.match(r"^(\s*)(- |[A-Za-z]+: )(\S+)(\s+" + MARKER + r" (\w+).*)$", line.rstrip("\n"))
        if match and match.group(5) in values:
            indent, lead, _, rest, key = match.groups()
            value = values[key]
            if lead == "- ":
                address = ipaddress.ip_address(value)
                value = f"{address}/{address.max_prefixlen}"
            line = f"{indent}{lead}{value}{rest}\n"
            found.add(key)
        lines.append(line)
    missing = sorted(set(values) - found)
    if missing:
        raise AdminError(
            f"Pulumi.yaml has no line marked `{MARKER} {missing[0]}`: add it back (git show HEAD:Pulumi.yaml)"
        )
    return "".join(lines)


def adopt() -> None:
    outputs = bootstrap_outputs()
    values = {"subscriptionId": outputs["subscriptionId"], "runnerEgressIp": outputs["runnerEgressIp"]}
    PROJECT_FILE.write_text(adopt_project_file(PROJECT_FILE.read_text(), values))
    print(f"wrote {', '.join(f'{k}={v}' for k, v in values.items())} into Pulumi.yaml", file=sys.stderr)
    setup = outputs.get("githubSetup", "")
    if shutil.which("gh") and subprocess.run(["gh", "auth", "status"], capture_output=True).returncode == 0:
        run(["bash", "-euo", "pipefail"], ROOT, _base_env(), stdin=setup)
    else:
        print("gh is not signed in here; run these as a repository admin:\n" + setup)
    for stack, url in outputs["secretsProviders"].items():
        move_secrets_provider(stack, url, outputs["backendUrl"])
    print("\nadopted. Next: commit Pulumi.yaml and the stack files, push, and open a pull request: its preview runs "
          "on the new runners; merging deploys staging, then prod after an approval.")  # fmt: skip


# --------------------------------------------------- secrets provider


def _stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def _current_provider(stack: str) -> str | None:
    """The stack file's secrets provider: its URL, 'passphrase' (an encryption salt), or None."""
    path = _stack_file(stack)
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = data or {}
    if data.get("secretsprovider"):
        return str(data["secretsprovider"])
    return "passphrase" if data.get("encryptionsalt") else None


def _stack_exists(stack: str, env: dict[str, str]) -> bool:
    listed = json.loads(run([_pulumi(), "stack", "ls", "--json"], ROOT, env, capture=True) or "[]")
    return any(entry.get("name", "").split("/")[-1] == stack for entry in listed)


def move_secrets_provider(stack: str, url: str, backend_url: str) -> None:
    """Create `stack` under `url`, or move it there from its passphrase; then ask for missing secrets."""
    if not _stack_file(stack).exists():
        raise AdminError(
            f"Pulumi.{stack}.yaml does not exist: the bootstrap names stack {stack!r}, the repository has none"
        )
    env = platform_env(backend_url)
    current = _current_provider(stack)
    needs_passphrase = current == "passphrase"
    if needs_passphrase and not (env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise AdminError(
            f"Pulumi.{stack}.yaml's secrets are under a passphrase: set PLATFORM_CONFIG_PASSPHRASE to it, so "
            f"`pulumi stack change-secrets-provider` can open them and re-encrypt them with {url}"
        )
    exists = _stack_exists(stack, env)
    if not exists:
        # A stack file with passphrase secrets keeps its salt: created under the passphrase, then moved.
        run([_pulumi(), "stack", "init", stack, "--secrets-provider", "passphrase" if needs_passphrase else url],
            ROOT, env)  # fmt: skip
    if (exists or needs_passphrase) and current != url:
        # pulumi pkg v3.274.1 cmd/pulumi/stack/stack_change_secrets_provider.go: decrypts with the current
        # provider, re-encrypts the config and the checkpoint with the new one.
        run([_pulumi(), "stack", "change-secrets-provider", url, "--stack", stack], ROOT, env)
    print(f"stack {stack}: secrets under {url}", file=sys.stderr)
    set_missing_secrets(stack, env)


def _has_path(config: dict, key: str) -> bool:
    top, *rest = key.split(".")
    node = config.get(f"platform:{top}")
    for part in rest:
        node = node.get(part) if isinstance(node, dict) else None
    return isinstance(node, dict) and "secure" in node


def set_missing_secrets(stack: str, env: dict[str, str]) -> None:
    """Every secret the stack needs and its file lacks: generated (the Cluster Agent's token) or asked for."""
    from settings.loader import required_secrets, settings_from_files

    config = (yaml.safe_load(_stack_file(stack).read_text()) or {}).get("config") or {}
    missing = [key for key in required_secrets(settings_from_files(stack)) if not _has_path(config, key)]
    interactive = sys.stdin.isatty()
    for key in missing:
        if key == "datadogClusterAgentToken":
            value = secrets.token_hex(32)  # as `openssl rand -hex 32`: at least 32 characters
        elif interactive:
            value = getpass.getpass(f"stack {stack}: value of secret {key}: ")
        else:
            print(f"stack {stack}: set secret {key}: pulumi config set --secret --path '{key}' --stack {stack} < file")
            continue
        run([_pulumi(), "config", "set", "--secret", "--path", key, "--stack", stack], ROOT, env, stdin=value)


# -------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["up"]:
            up(yes="--yes" in argv[1:])
        elif argv[:1] == ["adopt"]:
            adopt()
        elif argv[:1] == ["secrets-provider"] and len(argv) == 2:
            outputs = bootstrap_outputs()
            urls = outputs["secretsProviders"]
            if argv[1] not in urls:
                raise AdminError(f"the bootstrap made no key for stack {argv[1]!r}; it has {', '.join(sorted(urls))}")
            move_secrets_provider(argv[1], urls[argv[1]], outputs["backendUrl"])
        elif argv[:1] in (["--help"], ["-h"]):
            print(__doc__)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except AdminError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
