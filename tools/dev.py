"""The main job: take this machine to a deployed dev stack.

    python -m tools.dev up          (make dev) tools, local cluster, `pulumi up --stack dev`, summary
    python -m tools.dev preview     `pulumi preview --stack dev` against the running cluster
    python -m tools.dev destroy     `pulumi destroy --stack dev`
    python -m tools.dev summary     namespaces, workloads and ready pods
    python -m tools.dev pulumi ARGS run any pulumi command in the dev environment

State goes to a local file backend in .local/state (set through
PULUMI_BACKEND_URL, so your own `pulumi login` is left alone), encrypted with
a passphrase (PULUMI_CONFIG_PASSPHRASE, default below: a local-only secret).
The dev secrets live in .local/Pulumi.dev.yaml, a copy of Pulumi.dev.yaml
that is never committed; missing ones are generated."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
DEV_SECRETS = {"admin": ("DATABASE_URL", "SECRET_KEY_BASE")}


def log(message: str) -> None:
    print(f"[dev {time.strftime('%H:%M:%S')}] {message}", flush=True)


def tools_bin() -> Path:
    from tools.local_cluster import tools_bin as bin_dir

    return bin_dir()


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
    log("building or reusing the pinned toolchain (a cold build takes about 20 minutes)")
    subprocess.run([str(ROOT / "toolchain" / "build.sh")], check=True, stdout=subprocess.DEVNULL)


def ensure_stack(env: dict[str, str], config_file: Path, cwd: Path = ROOT) -> None:
    Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if not config_file.exists():
        config_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cwd / "Pulumi.dev.yaml", config_file)
    exists = subprocess.run(
        [str(tools_bin() / "pulumi"), "stack", "select", "dev"], cwd=cwd, env=env, capture_output=True
    )
    if exists.returncode != 0:
        pulumi(["stack", "init", "dev"], env, cwd)
    _ensure_dev_secrets(env, config_file, cwd)


def _ensure_dev_secrets(env: dict[str, str], config_file: Path, cwd: Path) -> None:
    config = (yaml.safe_load(config_file.read_text()) or {}).get("config") or {}
    present = config.get("platform:serviceSecrets") or {}
    for service, names in DEV_SECRETS.items():
        for name in names:
            if name in (present.get(service) or {}):
                continue
            value = secrets.token_urlsafe(24)
            subprocess.run(
                [str(tools_bin() / "pulumi"), "config", "set", "--secret", "--path", f"serviceSecrets.{service}.{name}",
                 "--config-file", str(config_file), "--stack", "dev"],
                input=value.encode(), cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            log(f"generated dev secret serviceSecrets.{service}.{name}")


def summary(kubeconfig: Path | None = None) -> None:
    from kubernetes import client, config

    from tools.local_cluster import CONTEXT, Paths, default_dir

    path = kubeconfig or Paths(default_dir()).kubeconfig
    api = config.new_client_from_config(str(path), context=CONTEXT)
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    managed = [n.metadata.name for n in core.list_namespace(label_selector="app.kubernetes.io/managed-by=pulumi").items]
    print("\n== summary ==")
    print(f"nodes:      {len(core.list_node().items)}")
    print(f"namespaces: {', '.join(managed) or '-'}")
    for ns in managed:
        for d in apps.list_namespaced_deployment(ns).items:
            print(f"  deployment {ns}/{d.metadata.name}: {d.status.available_replicas or 0}/{d.status.replicas or 0} available")
        for ds in apps.list_namespaced_daemon_set(ns).items:
            print(f"  daemonset  {ns}/{ds.metadata.name}: {ds.status.number_ready}/{ds.status.desired_number_scheduled} ready")
        for cj in batch.list_namespaced_cron_job(ns).items:
            print(f"  cronjob    {ns}/{cj.metadata.name}: '{cj.spec.schedule}' ({cj.spec.time_zone})")
        pods = core.list_namespaced_pod(ns).items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]
        print(f"  pods       {ns}: {len(ready)}/{len(pods)} ready")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    env = pulumi_env()
    config_file = LOCAL / "Pulumi.dev.yaml"
    if command == "up":
        ensure_tools()
        log("starting the local cluster")
        subprocess.run([sys.executable, "-m", "tools.local_cluster", "up"], cwd=ROOT, check=True)
        ensure_stack(env, config_file)
        log("pulumi up --stack dev")
        pulumi(["up", "--stack", "dev", "--yes", "--skip-preview", "--config-file", str(config_file)], env)
        summary()
    elif command == "preview":
        ensure_stack(env, config_file)
        pulumi(["preview", "--stack", "dev", "--config-file", str(config_file), *argv[2:]], env)
    elif command == "destroy":
        pulumi(["destroy", "--stack", "dev", "--yes", "--config-file", str(config_file)], env)
    elif command == "summary":
        summary()
    elif command == "pulumi":
        return pulumi(argv[2:], env, check=False).returncode
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv))
