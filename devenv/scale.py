"""How the dev loop scales with the number of services, through the real
engine: the real runner (`python -m devenv.dev`), the real Pulumi CLI and
Kubernetes provider, on a private local cluster (own directory, own ports).

    python -m devenv.scale [--services 1,20,50]          (make scale)

For each count N the dev stack gets N services, each a full copy of the base
`admin` service with the dev overlay (its own namespace, Deployment, Service,
Ingress, CronJobs, Secret, quota and policies), and this measures, in order:
  evaluate   the program under mocks, in a fresh interpreter (offline/engine.py)
  first up   `make dev` on an empty stack: secrets, refresh, create, summary
  preview    `make preview` with nothing changed
  destroy    `make destroy`
Each N starts from an empty state; the cluster is shared. CPU is the user+system
time of every process the step ran (runner, pulumi, provider, program). Not a
test: the numbers depend on the machine, and it prints the load average beside them."""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from devenv.paths import ROOT

TEMPLATE = "admin"


def stack_file_with(services: int) -> dict:
    """Pulumi.dev.yaml with `services` copies of the admin service (the first is admin itself)."""
    from settings.loader import deep_merge, read_yaml

    base = read_yaml(ROOT / "Pulumi.yaml")["config"]["platform:services"]["value"][TEMPLATE]
    dev = read_yaml(ROOT / "Pulumi.dev.yaml")
    overlay = dev["config"]["platform:services"][TEMPLATE]
    admin = deep_merge(copy.deepcopy(base), overlay)
    copies = {}
    for index in range(services):
        name = TEMPLATE if index == 0 else f"{TEMPLATE}{index:02d}"
        spec = copy.deepcopy(admin)
        if spec.get("web", {}).get("ingress"):
            spec["web"]["ingress"]["host"] = f"{name}.localtest.me"  # one host per service
        copies[name] = spec
    dev["config"]["platform:services"] = copies
    return dev


def _timed(command: list[str], env: dict[str, str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        failed = f"{' '.join(command)} failed ({result.returncode})"
        raise SystemExit(f"{failed}:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return {"seconds": round(wall, 2), "cpu": round(cpu, 2), "load": round(os.getloadavg()[0], 2), "out": result.stdout}


def _evaluate(stack_file: Path, env: dict[str, str]) -> dict:
    code = (
        "import json, sys, time, yaml\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from offline.engine import evaluate\n"
        f"doc = yaml.safe_load(open({str(stack_file)!r}))\n"
        "start = time.perf_counter()\n"
        "ev = evaluate('dev', stack_file=doc['config'])\n"
        "print(json.dumps({'seconds': time.perf_counter() - start, 'resources': len(ev.resources)}))\n"
    )
    measured = _timed([sys.executable, "-c", code], env)
    inner = json.loads(measured["out"].strip().splitlines()[-1])
    return {**measured, "seconds": round(inner["seconds"], 2), "resources": inner["resources"]}


def measure(services: int, base: Path, cluster_env: dict[str, str]) -> dict:
    local = base / f"local-{services}"
    stack_file = base / f"Pulumi.dev-{services}.yaml"
    stack_file.write_text(yaml.safe_dump(stack_file_with(services), sort_keys=False))
    env = {**cluster_env, "DEV_LOCAL_DIR": str(local), "DEV_STACK_FILE": str(stack_file)}
    row: dict = {"services": services, "evaluate": _evaluate(stack_file, env)}
    dev = [sys.executable, "-m", "devenv.dev"]
    row["first up"] = _timed([*dev, "up"], env)
    row["preview"] = _timed([*dev, "preview"], env)
    row["destroy"] = _timed([*dev, "destroy"], env)
    return row


def main(argv: list[str]) -> int:
    from devenv.local_cluster import free_port_offset

    parser = argparse.ArgumentParser(prog="python -m devenv.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", default="1,20,50", help="comma-separated service counts")
    args = parser.parse_args(argv[1:])
    counts = [int(n) for n in args.services.split(",")]
    with tempfile.TemporaryDirectory(prefix="aks-scale-") as tmp:
        base = Path(tmp)
        cluster_env = {
            **os.environ,
            "LOCAL_CLUSTER_DIR": str(base / "cluster"),
            "LOCAL_CLUSTER_PORT_OFFSET": str(free_port_offset()),
        }
        cluster = [sys.executable, "-m", "devenv.local_cluster"]
        subprocess.run([*cluster, "up"], cwd=ROOT, env=cluster_env, check=True, capture_output=True)
        try:
            rows = [measure(n, base, cluster_env) for n in counts]
        finally:
            subprocess.run([*cluster, "down"], cwd=ROOT, env=cluster_env, capture_output=True)
    steps = ("evaluate", "first up", "preview", "destroy")
    print(f"{'services':>8} {'resources':>9}  " + "  ".join(f"{s + ' s (cpu s)':>22}" for s in steps) + "   load")
    for row in rows:
        cells = "  ".join(f"{row[s]['seconds']:>12.2f} ({row[s]['cpu']:>6.1f})" for s in steps)
        loads = "/".join(f"{row[s]['load']:.1f}" for s in steps)
        print(f"{row['services']:>8} {row['evaluate']['resources']:>9}  {cells}   {loads}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv))
