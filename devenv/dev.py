"""The main job: take this machine to a deployed dev stack.

    python -m devenv.dev up          (make dev) tools, local cluster, `pulumi up --stack dev`, summary
    python -m devenv.dev preview     `pulumi preview --stack dev` against the running cluster
    python -m devenv.dev destroy     `pulumi destroy --stack dev`
    python -m devenv.dev summary     namespaces, workloads and ready pods
    python -m devenv.dev pulumi ARGS run any pulumi command in the dev environment

State goes to a local file backend in .local/state (set through
PULUMI_BACKEND_URL, so your own `pulumi login` is left alone), encrypted with
a passphrase (PULUMI_CONFIG_PASSPHRASE, default below: a local-only secret).

Pulumi runs in .local/dev-project: links to the code, plus its own copy of
Pulumi.dev.yaml, refreshed from the repository on every run. Only the local
passphrase salt and the dev secrets (generated when missing) are kept there,
so nothing this job does ever changes a file you commit."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devenv.paths import tools_bin

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"


def log(message: str) -> None:
    print(f"[dev {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pulumi_env(state_dir: Path | None = None) -> dict[str, str]:
    """The environment every pulumi command of the local toolchain runs in."""
    env = dict(os.environ)
    env["PATH"] = f"{tools_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["PULUMI_BACKEND_URL"] = f"file://{state_dir or LOCAL / 'state'}"
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", "local-dev-cluster-only")
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    env.setdefault("PULUMI_HOME", str(LOCAL / "pulumi-home"))
    return env


def pulumi(args: list[str], env: dict[str, str], cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(tools_bin() / "pulumi"), *args], cwd=cwd, env=env, check=check)


def ensure_tools() -> None:
    log("building or reusing the pinned toolchain (a cold build takes about 14 minutes on 2 cores)")
    subprocess.run([str(ROOT / "toolchain" / "build.sh")], check=True, stdout=subprocess.DEVNULL)


# What the project directory needs; Pulumi.dev.yaml is copied, not linked.
PROJECT_ENTRIES = ("Pulumi.yaml", "__main__.py", "components", "settings", ".venv")
LOCAL_ONLY_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


def prepare_project(workdir: Path, extra_config: dict | None = None, stack_file: Path | None = None) -> Path:
    """A project directory that runs this repository's code with a private stack file.

    The stack file is the repository's Pulumi.dev.yaml (or `stack_file`), plus
    `extra_config`, plus what was local before: the salt and the secrets."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT_ENTRIES:
        link = workdir / entry
        if not link.is_symlink() and (ROOT / entry).exists():
            link.symlink_to(ROOT / entry)
    target = workdir / "Pulumi.dev.yaml"
    local = yaml.safe_load(target.read_text()) if target.exists() else {}
    fresh = yaml.safe_load((stack_file or ROOT / "Pulumi.dev.yaml").read_text()) or {}
    from settings.loader import deep_merge

    fresh["config"] = deep_merge(fresh.get("config") or {}, extra_config or {})
    for key in LOCAL_ONLY_KEYS:
        if key in (local or {}):
            fresh[key] = local[key]
    from settings.loader import NAMESPACE, SECRET_KEYS

    local_config = (local or {}).get("config") or {}
    for key in SECRET_KEYS:
        if f"{NAMESPACE}:{key}" in local_config:
            fresh["config"][f"{NAMESPACE}:{key}"] = local_config[f"{NAMESPACE}:{key}"]
    target.write_text(yaml.safe_dump(fresh, sort_keys=False))
    return workdir


def ensure_stack(env: dict[str, str], workdir: Path) -> None:
    Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    exists = subprocess.run(
        [str(tools_bin() / "pulumi"), "stack", "select", "dev"], cwd=workdir, env=env, capture_output=True
    )
    if exists.returncode != 0:
        pulumi(["stack", "init", "dev"], env, workdir)
    ensure_dev_secrets(env, workdir)


def dev_secret_names(stack_file: Path) -> dict[str, list[str]]:
    """Every `secretEnv` name of every service of the dev stack, from its validated config."""
    from settings import settings_from_files

    settings = settings_from_files("dev", stack_file)
    return {name: list(service.secret_env) for name, service in settings.services.items() if service.secret_env}


def ensure_dev_secrets(env: dict[str, str], workdir: Path) -> None:
    stack_file = workdir / "Pulumi.dev.yaml"
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    present = config.get("platform:serviceSecrets") or {}
    for service, names in dev_secret_names(stack_file).items():
        for name in names:
            if name in (present.get(service) or {}):
                continue
            set_secret(env, workdir, f"serviceSecrets.{service}.{name}", secrets.token_urlsafe(24))
            log(f"generated dev secret serviceSecrets.{service}.{name}")


def set_secret(env: dict[str, str], workdir: Path, path: str, value: str) -> None:
    # The value goes through stdin, never the command line.
    subprocess.run(
        [str(tools_bin() / "pulumi"), "config", "set", "--secret", "--path", path, "--stack", "dev"],
        input=value.encode(), cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def summary(kubeconfig: Path | None = None) -> None:
    from kubernetes import client, config

    from devenv.local_cluster import CONTEXT, Paths, default_dir

    path = kubeconfig or Paths(default_dir()).kubeconfig
    api = config.new_client_from_config(str(path), context=CONTEXT)
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    managed = [n.metadata.name for n in core.list_namespace(label_selector="app.kubernetes.io/managed-by=pulumi").items]
    print("\n== summary ==")
    print(f"nodes:      {len(core.list_node().items)}")
    print(f"namespaces: {', '.join(managed) or '-'}")
    for ns in managed:
        for d in apps.list_namespaced_deployment(ns).items:
            print(
                f"  deployment {ns}/{d.metadata.name}: "
                f"{d.status.available_replicas or 0}/{d.status.replicas or 0} available"
            )
        for ds in apps.list_namespaced_daemon_set(ns).items:
            print(
                f"  daemonset  {ns}/{ds.metadata.name}: "
                f"{ds.status.number_ready}/{ds.status.desired_number_scheduled} ready"
            )
        for cj in batch.list_namespaced_cron_job(ns).items:
            print(f"  cronjob    {ns}/{cj.metadata.name}: '{cj.spec.schedule}' ({cj.spec.time_zone})")
        pods = core.list_namespaced_pod(ns).items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]
        print(f"  pods       {ns}: {len(ready)}/{len(pods)} ready")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    env = pulumi_env()
    workdir = LOCAL / "dev-project"
    if command == "up":
        ensure_tools()
        log("starting the local cluster")
        subprocess.run([sys.executable, "-m", "devenv.local_cluster", "up"], cwd=ROOT, check=True)
        ensure_stack(env, prepare_project(workdir))
        log("pulumi up --stack dev")
        pulumi(["up", "--stack", "dev", "--yes", "--skip-preview"], env, workdir)
        summary()
    elif command == "preview":
        ensure_stack(env, prepare_project(workdir))
        pulumi(["preview", "--stack", "dev", *argv[2:]], env, workdir)
    elif command == "destroy":
        pulumi(["destroy", "--stack", "dev", "--yes"], env, prepare_project(workdir))
    elif command == "summary":
        summary()
    elif command == "pulumi":
        return pulumi(argv[2:], env, prepare_project(workdir), check=False).returncode
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv))
