"""The CVE day, rehearsed: AKS's node upgrade, step by step, on real nodes under traffic.

    python -m devenv.rehearsal              (make upgrade-rehearsal) the upgrade, with the stack's PDB
    python -m devenv.rehearsal --show-loss  then the same without the PDB and the preStop window, which loses requests
    python -m devenv.rehearsal --report F   also write the timeline and counts to F (JSON)

AKS upgrades a node pool by adding a surge node, then cordoning and draining each old
node through the eviction API, honouring PodDisruptionBudgets, and deleting it (AKS docs,
articles/aks/upgrade-aks-node-pools-rolling.md @14299c46: "add surge nodes → cordon and
drain → ..."; upgrade-conceptual.md @b7980cf8). This runs that sequence on a private local
cluster of its own (root, Linux; about 3 minutes with --show-loss, measured):

1. a cluster with two real nodes: `real-0`, tainted as AKS's system pool
   (CriticalAddonsOnly), which runs the cluster's add-ons and the traffic's client, and
   `real-1`, the user pool's node the upgrade replaces;
2. the dev stack deployed by the dev runner, as `make dev` does, on the real nodes: the
   admin web app's two pods land on `real-1`, with the stack's PodDisruptionBudget
   (maxUnavailable 1), preStop delay and topology spread;
3. under steady traffic to the app's Service from a pod of the ingress controller's
   namespace: a surge node (`real-2`) is added; `real-1` is cordoned and drained
   (devenv/drain.py: evictions, each one a budget refuses retried every 5 s); the app is
   available on the surge node; `real-1` is removed;
4. the report: requests sent and failed, the drain's time, each eviction the budget refused.

With --show-loss a second round upgrades `real-2` the same way with the PDB deleted
first and each eviction asking a 1 s grace period (`kubectl drain --grace-period=1`):
both pods are evicted at once, stop at once, and the Service has no endpoint until the
replacements are ready. The PDB alone is not enough to show a loss: the stack's 10 s
preStop window keeps a terminating pod serving, and kube-proxy sends traffic to serving
terminating endpoints when no ready one is left (k8s.io/kubernetes v1.34.4
pkg/proxy/topology.go, CategorizeEndpoints), so whether requests fail without the
PDB depends on whether the replacements are ready within 10 s (measured: 138 of 2,896
failed in one run, 0 of 2,648 in another). A third round shows a drain a budget blocks: with
maxUnavailable 0 it stops after its timeout, names the pods and the budget, and the node
is schedulable again."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devenv.paths import ROOT

NS = "admin"
CLIENT_NS = "ingress-nginx"  # the dev stack's ingress controller namespace (local.ingressControllerNamespace)
SYSTEM_NODE, OLD_NODE = "real-0", "real-1"
SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}
BLOCKED_DRAIN_TIMEOUT = 20.0
EXPERIMENT_GRACE_SECONDS = 1
# The stack a person would write to run the dev stack on real nodes (docs/dev-loop.md),
# with the web app's autoscaler held at two pods and Datadog off: what is measured is the
# app's availability through the upgrade.
EXTRA_CONFIG = {
    "platform:local": {
        "realNode": True,
        "images": [
            {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
            {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
        ],
    },
    "platform:services": {"admin": {"web": {"autoscaling": {"minReplicas": 2, "maxReplicas": 2}}}},
    "platform:datadog": {"enabled": False},
}


def log(message: str) -> None:
    print(f"[rehearsal {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Round:
    name: str
    old_node: str
    surge_node: str = ""
    events: list[tuple[float, str]] = field(default_factory=list)
    refusals: list[tuple[float, str, str]] = field(default_factory=list)
    drain_seconds: float = 0.0
    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    served_by: dict[str, int] = field(default_factory=dict)
    blocked: str = ""


@dataclass
class Environment:
    base: Path
    env: dict[str, str]

    @property
    def kubeconfig(self) -> Path:
        return self.base / "c" / "kubeconfig"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"`python -m {' '.join(args)}` failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        return result

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))


def _environment() -> Environment:
    from devenv.local_cluster import free_port_offset

    # Short: the kubelets' sockets live under it (devenv/real_node.py KUBELET_ROOT_MAX).
    base = Path(tempfile.mkdtemp(prefix="aks-rehearsal-", dir="/tmp"))
    stack_file = base / "Pulumi.dev.yaml"
    from settings.loader import deep_merge

    committed = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    committed["config"] = deep_merge(committed["config"], EXTRA_CONFIG)
    stack_file.write_text(yaml.safe_dump(committed, sort_keys=False))
    env = {
        **os.environ,
        "LOCAL_CLUSTER_DIR": str(base / "c"),
        # Another network slot than the real-node suite's (offset % 250: 150 there, 210 here).
        "LOCAL_CLUSTER_PORT_OFFSET": str(free_port_offset(start=1460)),
        "LOCAL_CLUSTER_NODES": "1",
        "DEV_LOCAL_DIR": str(base / "local"),
        "DEV_STACK_FILE": str(stack_file),
    }
    return Environment(base, env)


def _set_up(environment: Environment) -> Any:
    """Two real nodes (the system one tainted), the dev stack on the user node, the client."""
    from kubernetes import client

    from devenv.traffic import start_client

    environment.run("devenv.local_cluster", "up", "--real-node")
    api = environment.api_client()
    core = client.CoreV1Api(api)
    core.patch_node(SYSTEM_NODE, {"spec": {"taints": [*(core.read_node(SYSTEM_NODE).spec.taints or []), SYSTEM_TAINT]}})
    environment.run("devenv.local_cluster", "add-real-node")
    started = time.monotonic()
    environment.run("devenv.dev", "up")
    log(f"dev stack deployed on the real nodes in {time.monotonic() - started:.0f}s")
    start_client(api, CLIENT_NS, "docker.io/local/admin-app:dev", node=SYSTEM_NODE)
    return api


def _web_pods(api: Any) -> list[Any]:
    from kubernetes import client

    pods = client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=web").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _available_on(api: Any, excluded: str) -> bool:
    """Both web pods Ready, none on `excluded`, none on its way out."""
    from devenv.kube import is_ready

    pods = _web_pods(api)
    return len([p for p in pods if is_ready(p)]) == 2 and all(p.spec.node_name != excluded for p in pods)


def upgrade_node(environment: Environment, api: Any, old: str, name: str, unprotected: bool = False) -> Round:
    """One node of the pool, as AKS upgrades it: surge, cordon, drain, wait, remove.
    `unprotected`: the experiment, without the PDB and with a 1 s grace period."""
    from kubernetes import client

    from devenv.drain import drain
    from devenv.kube import recreatable, wait_until
    from devenv.traffic import Traffic, service_url

    result = Round(name=name, old_node=old)
    start = time.monotonic()
    clock = lambda: round(time.monotonic() - start, 1)  # noqa: E731

    def note(what: str) -> None:
        result.events.append((clock(), what))
        log(f"[{clock():6.1f}s] {what}")

    policy = client.PolicyV1Api(api)
    saved = None
    if unprotected:
        saved = policy.read_namespaced_pod_disruption_budget("web", NS)
        policy.delete_namespaced_pod_disruption_budget("web", NS)
        note(f"the experiment: deleted the web PodDisruptionBudget; evictions ask {EXPERIMENT_GRACE_SECONDS}s of grace")
    try:
        with Traffic(api, CLIENT_NS, service_url(api, "web", NS)) as traffic:
            time.sleep(3)
            note("traffic flowing")
            result.surge_node = environment.run("devenv.local_cluster", "add-real-node").stdout.strip().splitlines()[-1]
            note(f"surge node {result.surge_node} ready")
            grace = EXPERIMENT_GRACE_SECONDS if unprotected else None
            report = drain(api, old, timeout=300, clock=clock, log=lambda line: None, grace_period_seconds=grace)
            result.events += [(e.seconds, e.what) for e in report.events]
            result.refusals, result.drain_seconds = report.refusals, round(report.seconds, 1)
            wait_until(lambda: _available_on(api, old), f"the web app available without {old}", timeout=120)
            note(f"the web app available on {sorted({p.spec.node_name for p in _web_pods(api)})}")
            environment.run("devenv.local_cluster", "remove-real-node", old)
            note(f"removed {old}")
            time.sleep(3)
    finally:
        if saved is not None:
            body = recreatable(client.ApiClient().sanitize_for_serialization(saved))
            policy.create_namespaced_pod_disruption_budget(NS, body)
    result.sent, result.failed = traffic.total, len(traffic.failures)
    result.failures, result.served_by = traffic.failures[:10], dict(traffic.served)
    log(f"{name}: {result.failed} of {result.sent} requests failed; drain {result.drain_seconds}s, "
        f"{len(result.refusals)} eviction(s) refused by the budget")  # fmt: skip
    return result


def blocked_drain(api: Any, node: str) -> Round:
    """A budget that allows no disruption (maxUnavailable 0): the drain stops at its timeout,
    says which pods and budget held it, and leaves the node schedulable."""
    from kubernetes import client

    from devenv.drain import DrainBlockedError, drain

    policy, core = client.PolicyV1Api(api), client.CoreV1Api(api)
    result = Round(name="blocked", old_node=node)
    policy.patch_namespaced_pod_disruption_budget("web", NS, {"spec": {"maxUnavailable": 0}})
    try:
        drain(api, node, timeout=BLOCKED_DRAIN_TIMEOUT, log=lambda line: None)
        raise SystemExit("a drain a budget of maxUnavailable 0 holds finished: the budget was not honoured")
    except DrainBlockedError as err:
        result.blocked = str(err)
    finally:
        policy.patch_namespaced_pod_disruption_budget("web", NS, {"spec": {"maxUnavailable": 1}})
    if core.read_node(node).spec.unschedulable:
        raise SystemExit(f"{node} is still cordoned after the blocked drain")
    log(f"blocked drain: {result.blocked}")
    return result


def rehearse(show_loss: bool = False, keep: bool = False) -> list[Round]:
    environment = _environment()
    rounds: list[Round] = []
    try:
        api = _set_up(environment)
        rounds.append(upgrade_node(environment, api, OLD_NODE, "with the PodDisruptionBudget"))
        if show_loss:
            node = rounds[-1].surge_node
            name = "without the PodDisruptionBudget and the preStop window"
            rounds.append(upgrade_node(environment, api, node, name, unprotected=True))
            rounds.append(blocked_drain(api, rounds[-1].surge_node))
    finally:
        if not keep:
            _tear_down(environment)
    return rounds


def _tear_down(environment: Environment) -> None:
    """`down`, once more if it fails; the directory goes only when the cluster did, since
    its pid files are what a later `down` needs."""
    down = [sys.executable, "-m", "devenv.local_cluster", "down"]
    for _ in range(2):
        result = subprocess.run(down, cwd=ROOT, env=environment.env, capture_output=True, text=True)
        if result.returncode == 0:
            shutil.rmtree(environment.base, ignore_errors=True)
            return
    where = " ".join(f"{k}={environment.env[k]}" for k in ("LOCAL_CLUSTER_DIR", "LOCAL_CLUSTER_PORT_OFFSET"))
    raise SystemExit(f"the rehearsal's cluster did not come down; run `{where} python -m devenv.local_cluster "
                     f"down` as root:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--show-loss",
        action="store_true",
        help="also upgrade without the PDB and the preStop window, and a blocked drain",
    )
    parser.add_argument("--report", type=Path, help="write the rounds as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="leave the private cluster running (to look at it)")
    args = parser.parse_args(argv[1:])
    if os.geteuid() != 0:
        print("the rehearsal runs real nodes: run it as root on Linux", file=sys.stderr)
        return 2
    rounds = rehearse(show_loss=args.show_loss, keep=args.keep)
    if args.report:
        args.report.write_text(json.dumps([asdict(r) for r in rounds], indent=1))
    first = rounds[0]
    refused = len(first.refusals)
    print(f"\nupgrade of {first.old_node} with the stack's PodDisruptionBudget: {first.failed} of {first.sent} "
          f"requests failed; drain {first.drain_seconds}s; {refused} eviction(s) refused by the budget")  # fmt: skip
    for seconds, what in first.events:
        print(f"  {seconds:6.1f}s  {what}")
    return 0 if first.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
