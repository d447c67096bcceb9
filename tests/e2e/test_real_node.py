"""End to end on a real node: the dev stack, deployed by the real Pulumi engine
through the dev runner (`python -m devenv.dev up`, what `make dev` runs), runs
its admin service in real containers on a real kubelet with containerd and runc
(devenv/real_node.py), from images built here from Debian packages
(devenv/images.py). Each test names what a user relies on; kwok nodes, which
only mark pods Running, could not show any of it.

The stack file is the repository's Pulumi.dev.yaml plus what a person sets to
run the dev stack on the real node (docs/testing.md, "The real node"):
- `platform:local.realNode: true` and `platform:local.images`, which map the
  admin app to the project's stand-in (devenv/standin) and nginx-unprivileged to
  Debian's nginx-light; the program adds the node's toleration and nodeSelector
  and imagePullPolicy Never to every service pod;
- `platform:datadog` on, without monitors (the real node's agents report
  nothing): the agent DaemonSet and the Cluster Agent run from the Datadog
  STAND-IN images (devenv/standin/datadog.py), which the node holds under
  Datadog's own pinned names; `make dev` generates a throwaway API key for them;
- the web app's autoscaler at 2 to 4 pods (AUTOSCALING below): one pod per real
  node, and a 20 s scale-down window so a test sees metrics-server's figures move
  it up and back down.
Nothing else is changed by the tests, except in the experiments that say so
(preStop, DD_HEALTH_PORT, the HPA, a policy or the guard removed through the API or
on the host), each of which puts back what it took. The CronJobs keep their schedules: the tests
make their own Jobs, with names of their own.

The cluster runs the real nodes' data plane (devenv/dataplane.py): kube-proxy,
CoreDNS, metrics-server and kube-router's NetworkPolicy firewall. Traffic to the web
app comes from a pod of the ingress controller's namespace (the role the app's
NetworkPolicy admits) and goes to the Service's ClusterIP, so every request crosses
kube-proxy's endpoint handling and the policy engine. Requests a kubelet would make
(probes, a direct look at one pod) come from the node itself, in the cluster's
network namespace. The Datadog tests say where they use the stand-in:
they show that our Datadog manifests start, initialise and pass their probes on a
real kubelet with a process that behaves as the agent does at those points, not
that Datadog's own agent collects anything."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devenv import traffic
from devenv.kube import recreatable
from devenv.node_network import NodeNetwork
from harness import pod_ready, wait_for

if TYPE_CHECKING:
    from kubernetes.client import V1Pod

ROOT = Path(__file__).resolve().parents[2]
NS = "admin"
NODE = "real-0"
REAL_NODES = ("real-0", "real-1")  # the second joins in the fixture, for the spread
# The ingress controller's namespace in the dev stack (local.ingressControllerNamespace): the
# only one whose pods the web app's NetworkPolicy admits. The tests' client pod runs there.
CLIENT_NS = "ingress-nginx"
# A second service, to show one service's pods cannot reach another's.
PEER = "peer"
# Declared egress of the admin service in this suite: a port on the tests' outside hosts
# (an address range on the cluster's bridge that no pod or node has).
DECLARED_PORT = 8099
UNDECLARED_PORT = 8100
# What a person writes in the dev stack file to run it on the real node (docs/dev-loop.md, "Real pods").
REAL_NODE_LOCAL = {
    "realNode": True,
    "images": [
        {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
        {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
    ],
}
IMAGES = {"nginx": "docker.io/local/nginx:dev", "app": "docker.io/local/admin-app:dev"}
DATADOG = {"enabled": True, "monitorsEnabled": False, "apmEnabled": True}
# The web app's autoscaler in this suite. Only the scale-down window is shorter than the
# platform's default (300 s), through the typed config, so a test sees it come back down.
AUTOSCALING = {
    "minReplicas": 2,
    "maxReplicas": 4,
    "cpuTargetPercent": 50,
    "behavior": {"scaleDownStabilizationSeconds": 20, "scaleDownPeriodSeconds": 15},
}
DATADOG_NS = "datadog"
REQUEST_INTERVAL_SECONDS = 0.02
# Concurrent request loops: enough traffic that a sub-second gap in service shows as failures.
SENDERS = 4
# The request loops' hard bounds are devenv/traffic.py's: they send only to this run's own
# cluster (its network namespace) and stop by themselves.

pytestmark = pytest.mark.e2e


@dataclass
class Cluster:
    env: dict[str, str]
    """For the dev runner and the cluster: private directories, ports and stack file."""
    kubeconfig: Path
    stack_file: Path
    network: NodeNetwork
    results: dict[str, object] = field(default_factory=dict)

    def node_get(self, url: str, timeout: float = 5) -> tuple[int, str]:
        """A GET from the node itself, in the cluster's network namespace, as the kubelet
        probes a pod: (status, body); status 0 when no connection was made."""
        script = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n"
            f"    r = urllib.request.urlopen({url!r}, timeout={timeout})\n"
            "    print(r.status); print(r.read().decode().strip())\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n"
            "except OSError as e:\n"
            "    print(0); print(e)\n"
        )
        out = subprocess.run(self.network.command(sys.executable, "-c", script), capture_output=True, text=True)
        status, _, body = out.stdout.partition("\n")
        return int(status or 0), body.strip()

    def api(self):  # type: ignore[no-untyped-def]
        from kubernetes import client, config

        api = config.new_client_from_config(str(self.kubeconfig))
        return client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.DiscoveryV1Api(api)

    def cluster(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "devenv.local_cluster", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )

    def dev_up(self) -> tuple[subprocess.CompletedProcess, float]:
        """What `make dev` runs, in this run's private directories; and how long it took."""
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "devenv.dev", "up"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        return result, time.monotonic() - started

    def write_stack_file(self, rollout: str | None = None) -> None:
        """The repository's Pulumi.dev.yaml plus the real-node settings; `rollout` sets an
        app environment variable, a change to the pod template that rolls the pods."""
        import yaml

        from settings.loader import deep_merge

        web: dict = {"autoscaling": AUTOSCALING}
        if rollout:
            web["app"] = {"env": {"E2E_ROLLOUT": rollout}}
        # Declared egress to the tests' outside hosts; the range also covers the address
        # that plays the metadata endpoint here, which the program excepts.
        declared = {"cidr": f"{self.network.outside_host(0)}/28", "ports": [DECLARED_PORT]}
        peer = {"team": "e2e", "web": {"app": {"image": "ghcr.io/example-org/admin-app:1.8.2", "port": 3000},
                                       "autoscaling": {"minReplicas": 1, "maxReplicas": 1}}}  # fmt: skip
        extra = {
            "platform:local": REAL_NODE_LOCAL,
            "platform:services": {"admin": {"web": web, "egress": [declared]}, PEER: peer},
            "platform:datadog": DATADOG,
        }
        committed = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
        committed["config"] = deep_merge(committed["config"], extra)
        self.stack_file.write_text(yaml.safe_dump(committed, sort_keys=False))


def _tail(result: subprocess.CompletedProcess) -> str:
    return result.stdout[-4000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from devenv.local_cluster import free_port_offset
    from devenv.real_node import HOST_LEFTOVERS

    assert os.geteuid() == 0, "the real node needs root (containerd, mounts, cgroups, a bridge)"
    # What the kubelet and containerd make on the host whatever their flags say: `down` must
    # remove each one that was not there before. The agent's writable hostPath must never
    # reach the host at all (the node maps it into its own directory: pod_host_path).
    absent_before = [path for path in (*HOST_LEFTOVERS, "/var/lib/datadog-agent") if not Path(path).exists()]
    host_before = _host_state()
    base = tmp_path_factory.mktemp("real")
    offset = free_port_offset(start=900)
    env = {
        **os.environ,
        "LOCAL_CLUSTER_DIR": str(base / "cluster"),
        "LOCAL_CLUSTER_PORT_OFFSET": str(offset),
        "LOCAL_CLUSTER_NODES": "1",  # one kwok node beside the real one: the pods all go to the real node
        "DEV_LOCAL_DIR": str(base / "local"),
        "DEV_STACK_FILE": str(base / "Pulumi.dev.yaml"),
    }
    cluster = Cluster(
        env=env,
        kubeconfig=base / "cluster" / "kubeconfig",
        stack_file=base / "Pulumi.dev.yaml",
        network=NodeNetwork(offset),
    )
    cluster.write_stack_file()
    try:
        # Two real nodes, as AKS's pools have at least two: the cluster and its first real
        # node, then a second one, before the dev runner deploys onto both.
        for command in (("up", "--real-node"), ("add-real-node",)):
            started = cluster.cluster(*command)
            assert started.returncode == 0, _tail(started)
        result, seconds = cluster.dev_up()
        print(f"\nfirst `devenv.dev up` (cluster, real node, data plane, images, pulumi up): {seconds:.0f}s")
        assert result.returncode == 0, _tail(result)
        wait_for(lambda: len(_ready_web_pods(cluster)) == 2, "2 ready web pods on the real nodes", timeout=120)
        from devenv.traffic import start_client

        start_client(cluster.api()[0].api_client, CLIENT_NS, IMAGES["app"], node=NODE)
        yield cluster
    finally:
        stopped = cluster.cluster("down")
        assert stopped.returncode == 0, _tail(stopped)
        assert [path for path in absent_before if Path(path).exists()] == []
        assert _host_state() == host_before, "the host's sysctls or firewall changed"
        assert _leftovers(cluster) == [], "down left these"


def _host_state() -> dict[str, str]:
    """What the real nodes must never change on the host: its forwarding sysctls and its
    own (host namespace) firewall rules."""
    keys = ("net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet", "net.ipv4.conf.all.forwarding")
    state = {key: subprocess.run(["sysctl", "-n", key], capture_output=True, text=True).stdout.strip() for key in keys}
    state["nft"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return state


def _leftovers(cluster: Cluster) -> list[str]:
    """Anything of the cluster's real nodes still on the host after `down`."""
    network, offset = cluster.network, cluster.network.offset
    found = [f"netns {network.netns}"] if network.exists() else []
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {network.host_veth}"] if f" {network.host_veth}" in links else []
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    prefixes = (f"10.254.{network.slot}.", f"10.253.{network.slot}.", f"10.96.{network.slot}.")
    found += [f"route {line}" for line in routes.splitlines() if line.startswith(prefixes)]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/aks-real-node-{offset}-*")]
    found += [str(p) for p in Path("/run/aks-platform").glob(f"{network.netns}-*")]
    cluster_dir = str(cluster.kubeconfig.parent)
    found += [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cluster_dir in line]
    return found


def _web_pods(cluster: Cluster) -> list:
    core, _, _, _ = cluster.api()
    return core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=web").items


def _ready_web_pods(cluster: Cluster) -> list:
    return [p for p in _web_pods(cluster) if pod_ready(p)]


def _exec(
    cluster: Cluster, pod: str, container: str, command: list[str], namespace: str = NS, timeout: float = 30
) -> tuple[int, str]:
    """Run `command` in the container through the API server and the kubelet; (exit code, output)."""
    from devenv.traffic import exec_in

    return exec_in(cluster.api()[0].api_client, pod, namespace, container, command, timeout)


def _service_url(cluster: Cluster, service: str = "web", namespace: str = NS, path: str = "/") -> str:
    from devenv.traffic import service_url

    return service_url(cluster.api()[0].api_client, service, namespace, path)


def ServiceClient(cluster: Cluster, path: str = "/", senders: int = SENDERS):  # type: ignore[no-untyped-def]  # noqa: N802
    """The ingress controller's part (devenv/traffic.py): the client pod of its namespace sends
    a steady stream of requests to the web Service's ClusterIP, through kube-proxy and the
    policy engine; counts answers per pod and failures."""
    from devenv.traffic import Traffic

    api = cluster.api()[0].api_client
    return Traffic(api, CLIENT_NS, _service_url(cluster, path=path), senders, REQUEST_INTERVAL_SECONDS)


def _restart_rollout(cluster: Cluster, reason: str) -> None:
    """What `kubectl rollout restart` does: a new pod-template annotation."""
    _, apps, _, _ = cluster.api()
    patch = {"spec": {"template": {"metadata": {"annotations": {"e2e/restartedAt": f"{time.time()}-{reason}"}}}}}
    apps.patch_namespaced_deployment("web", NS, patch)


def _rollout_done(cluster: Cluster) -> bool:
    _, apps, _, _ = cluster.api()
    d = apps.read_namespaced_deployment("web", NS)
    s = d.status
    settled = (s.observed_generation or 0) >= d.metadata.generation and (
        s.updated_replicas == s.replicas == s.available_replicas == 2
    )
    # ...and the old pods are gone, so their whole termination happened under traffic.
    return settled and len(_web_pods(cluster)) == 2


def _rollout_under_traffic(cluster: Cluster, reason: str) -> ServiceClient:
    with ServiceClient(cluster) as client:
        time.sleep(2)
        _restart_rollout(cluster, reason)
        time.sleep(2)
        wait_for(lambda: _rollout_done(cluster), "the rollout and the old pods' termination", timeout=120)
        time.sleep(2)
    return client


# ----------------------------------------------------------------------------


def test_the_engine_runs_the_dev_stack_on_the_real_node_with_the_local_images(real: Cluster) -> None:
    """What the settings ask for reached the live objects through `pulumi up`, and the web
    app's pods are spread over both real nodes."""
    from devenv.real_node import REAL_NODE_LABEL, REAL_NODE_TAINT

    _, apps, batch, _ = real.api()
    pods = [p.spec for p in _web_pods(real)]
    crons = [c.spec.job_template.spec.template.spec for c in batch.list_namespaced_cron_job(NS).items]
    for spec in [apps.read_namespaced_deployment("web", NS).spec.template.spec, *pods, *crons]:
        assert {c.image for c in spec.containers} <= set(IMAGES.values()), [c.image for c in spec.containers]
        assert {c.image_pull_policy for c in spec.containers} == {"Never"}
        assert spec.node_selector == {REAL_NODE_LABEL: "true"}
        assert [t.key for t in spec.tolerations if t.effect == REAL_NODE_TAINT["effect"]] == [REAL_NODE_LABEL]
    # Two pods, two real nodes: the stack's topology spread (by hostname) put one on each.
    assert sorted(spec.node_name for spec in pods) == list(REAL_NODES), "the web pods are not spread"
    assert len(crons) == 2


# ------------------------------------------------------- Datadog, as stand-ins


def _datadog_pods_on_real_nodes(cluster: Cluster, name: str) -> list[V1Pod]:
    """The Datadog pods `name` on the real nodes, none on its way out."""
    core, _, _, _ = cluster.api()
    pods = core.list_namespaced_pod(DATADOG_NS, label_selector=f"app.kubernetes.io/name={name}").items
    return [p for p in pods if p.spec.node_name in REAL_NODES and p.metadata.deletion_timestamp is None]


def _datadog_pod_on_the_real_node(cluster: Cluster, name: str, node: str | None = None) -> V1Pod | None:
    """The Datadog pod `name` on `node`, or on any real node (the Cluster Agent's one pod
    lands on either; the agent DaemonSet has one on each)."""
    pods = _datadog_pods_on_real_nodes(cluster, name)
    return next((p for p in pods if node is None or p.spec.node_name == node), None)


def _has_health_port(pod: V1Pod) -> bool:
    return any(e.name == "DD_HEALTH_PORT" for e in pod.spec.containers[0].env or [])


def _agent_on_a_real_node(cluster: Cluster, with_health_port: bool) -> V1Pod | None:
    agents = _datadog_pods_on_real_nodes(cluster, "datadog-agent")
    return next((p for p in agents if _has_health_port(p) == with_health_port), None)


def _probe(cluster: Cluster, pod: V1Pod, port: int, path: str) -> tuple[int, str]:
    # From the node, to the pod's IP, as the kubelet probes it.
    return cluster.node_get(f"http://{pod.status.pod_ip}:{port}{path}")


def test_the_datadog_agent_stand_in_initialises_and_passes_the_daemonsets_probes(real: Cluster) -> None:
    """STAND-IN: the node agent image here is devenv/standin/datadog.py under the name
    gcr.io/datadoghq/agent:<pinned>. On a real kubelet, the DaemonSet's pod on the real node
    ran both init containers to completion (the image's config copied into the `config`
    emptyDir, the cont-init.d scripts run on it, as root with a read-only root filesystem),
    and the agent passes the startup, readiness and liveness probes the manifest declares,
    on the port its own DD_HEALTH_PORT opens. It also made its IPC auth token in the
    writable config volume. Kubelet v1.34.4 runs the probes; the test reads their result."""
    from components.datadog.agent import HEALTH_PORT
    from devenv.images import datadog_standins

    pod = wait_for(
        lambda: (p := _datadog_pod_on_the_real_node(real, "datadog-agent")) and pod_ready(p) and p,
        "the Datadog agent's pod on the real node to be Ready",
        timeout=120,
    )
    assert {c.image for c in pod.spec.containers} == {datadog_standins()[0].ref}
    inits = {s.name: s.state.terminated for s in pod.status.init_container_statuses}
    assert {name: t.exit_code if t else None for name, t in inits.items()} == {"init-volume": 0, "init-config": 0}
    # The agent, and the trace agent (the suite turns APM on): neither restarted.
    assert {s.name: s.restart_count for s in pod.status.container_statuses} == {"agent": 0, "trace-agent": 0}
    for path in ("/live", "/ready", "/startup"):
        status, body = _probe(real, pod, HEALTH_PORT, path)
        assert status == 200 and json.loads(body)["Unhealthy"] is None, (path, status, body)
    code, listing = _exec(real, pod.metadata.name, "agent", ["ls", "/etc/datadog-agent"], DATADOG_NS)
    assert code == 0 and {"datadog.yaml", "auth_token"} <= set(listing.split()), listing
    code, output = _exec(real, pod.metadata.name, "agent", ["touch", "/opt/written"], DATADOG_NS)
    assert code != 0 and "Read-only file system" in output, output


def test_the_cluster_agent_stand_in_loads_kube_state_metrics_core_from_the_confd_configmap(real: Cluster) -> None:
    """STAND-IN: the Cluster Agent image here is devenv/standin/datadog.py behind an
    /entrypoint.sh that copies /conf.d the way Datadog's does. The Deployment's pod runs
    on the real node as our non-root UID, passes its probes on 5556, and the KSM core
    config from our ConfigMap lands where the Cluster Agent reads check configs."""
    from components.datadog.cluster_agent import CONFIG_DIR, HEALTH_PORT, KSM_CONFD_FILE, confd_files
    from components.kubernetes.hardening import RUN_AS_USER

    pod = wait_for(
        lambda: (p := _datadog_pod_on_the_real_node(real, "datadog-cluster-agent")) and pod_ready(p) and p,
        "the Cluster Agent's pod on the real node to be Ready",
        timeout=120,
    )
    for path in ("/live", "/ready", "/startup"):
        assert _probe(real, pod, HEALTH_PORT, path)[0] == 200, path
    name = pod.metadata.name
    code, content = _exec(real, name, "cluster-agent", ["cat", f"{CONFIG_DIR}/conf.d/{KSM_CONFD_FILE}"], DATADOG_NS)
    assert code == 0 and content == confd_files()[KSM_CONFD_FILE.split("/")[1]], content
    code, ids = _exec(real, name, "cluster-agent", ["id", "-u"], DATADOG_NS)
    assert (code, ids.strip()) == (0, str(RUN_AS_USER))
    core, _, _, _ = real.api()
    logs = core.read_namespaced_pod_log(name, DATADOG_NS, container="cluster-agent")
    loaded = next(line for line in logs.splitlines() if "loaded check configs: " in line)
    assert f"conf.d/{KSM_CONFD_FILE}" in loaded.split("loaded check configs: ")[1].split(", "), logs


def test_without_its_health_port_the_agent_stays_unready_with_refused_probes(real: Cluster) -> None:
    """STAND-IN: the agent image is devenv/standin/datadog.py, whose health_port defaults
    to 0, no probe server, as Datadog's does. An experiment outside the engine, to show the
    probes above can fail: DD_HEALTH_PORT is patched out of the live DaemonSet, as a
    manifest that forgot it would be, and the new pod on a real node stays unready with
    refused probes. The DaemonSet replaces one node's pod at a time (maxUnavailable 10%) and
    an unready pod stops the rollout, so the first real node it reaches is the one watched.
    The stack's DaemonSet is put back at the end, and every real node's agent is Ready."""
    _, apps, _, _ = real.api()
    daemonset = apps.read_namespaced_daemon_set("datadog-agent", DATADOG_NS)
    saved = apps.api_client.sanitize_for_serialization(daemonset.spec.template.spec.containers[0].env)
    assert sum(e["name"] == "DD_HEALTH_PORT" for e in saved) == 1, saved
    patch = lambda env: {"spec": {"template": {"spec": {"containers": [{"name": "agent", "env": env}]}}}}  # noqa: E731
    # A strategic merge patch merges env by name; `$patch: delete` removes the one entry.
    apps.patch_namespaced_daemon_set(
        "datadog-agent", DATADOG_NS, patch([{"name": "DD_HEALTH_PORT", "$patch": "delete"}])
    )
    try:
        pod = wait_for(
            lambda: (
                (p := _agent_on_a_real_node(real, with_health_port=False))
                and p.status.container_statuses
                and p.status.container_statuses[0].started is not None
                and p
            ),
            "the agent's pod without DD_HEALTH_PORT to start",
            timeout=120,
        )
        core, _, _, _ = real.api()
        selector = f"involvedObject.name={pod.metadata.name},reason=Unhealthy"

        def refused_probes() -> int:
            events = core.list_namespaced_event(DATADOG_NS, field_selector=selector).items
            return sum(e.count or 1 for e in events if "connection refused" in (e.message or ""))

        # Two refused probes: the 15 s initial delay and one 15 s period, each failing.
        wait_for(lambda: refused_probes() >= 2, "two refused probes of the agent without its health port", 90)
        assert not pod_ready(core.read_namespaced_pod(pod.metadata.name, DATADOG_NS))
    finally:
        apps.patch_namespaced_daemon_set("datadog-agent", DATADOG_NS, patch(saved))
        wait_for(
            lambda: (
                len(agents := _datadog_pods_on_real_nodes(real, "datadog-agent")) == len(REAL_NODES)
                and all(_has_health_port(p) and pod_ready(p) for p in agents)
            ),
            "every real node's agent pod with the stack's DD_HEALTH_PORT to be Ready again",
            timeout=150,
        )


def test_a_rollout_by_the_engine_under_steady_traffic_loses_no_request(real: Cluster) -> None:
    """A rolling update made the way a person makes one, a changed value and `make dev`,
    while requests flow: the preStop delay keeps each old pod serving until the endpoint
    change has reached the client, so nothing fails."""
    _, apps, _, _ = real.api()
    old_pods = {p.metadata.name for p in _web_pods(real)}
    real.write_stack_file(rollout="1")
    with ServiceClient(real) as client:
        time.sleep(2)
        result, seconds = real.dev_up()
        assert result.returncode == 0, _tail(result)
        wait_for(lambda: _rollout_done(real) and not old_pods & {p.metadata.name for p in _web_pods(real)},
                 "the old pods' termination", timeout=120)  # fmt: skip
        time.sleep(2)
    real.results["loss_with_prestop"] = (len(client.failures), client.total)
    print(f"\nrollout by `devenv.dev up` ({seconds:.0f}s) with preStop: "
          f"{len(client.failures)} of {client.total} requests failed")  # fmt: skip
    app = next(c for c in apps.read_namespaced_deployment("web", NS).spec.template.spec.containers if c.name == "app")
    assert {"name": "E2E_ROLLOUT", "value": "1"} in [{"name": e.name, "value": e.value} for e in app.env or []]
    assert client.total > 1000, f"too few requests to judge: {client.total}"
    assert len(set(client.served) - old_pods) >= 2, f"the rollout did not replace the pods: {client.served}"
    assert client.failures == [], f"{len(client.failures)} of {client.total} failed: {client.failures[:5]}"


def test_without_prestop_the_same_rollout_loses_requests(real: Cluster) -> None:
    """An explicit experiment outside the engine: the preStop sleep is patched out of
    the live Deployment through the API, then a rollout (`kubectl rollout restart`'s
    patch) runs under the same traffic. The old pods stop at once while the client
    still routes to them. Shows the test above can see a loss (and measures it); the
    stack keeps its preStop, which the end of the experiment puts back."""
    _, apps, _, _ = real.api()
    containers = apps.read_namespaced_deployment("web", NS).spec.template.spec.containers
    saved = [{"name": c.name, "lifecycle": apps.api_client.sanitize_for_serialization(c.lifecycle)} for c in containers]
    assert all(c["lifecycle"]["preStop"]["sleep"]["seconds"] > 0 for c in saved), saved
    apps.patch_namespaced_deployment("web", NS, _containers_patch([{**c, "lifecycle": None} for c in saved]))
    wait_for(lambda: _rollout_done(real), "the rollout to pods without preStop", timeout=120)
    try:
        client = _rollout_under_traffic(real, "without-prestop")
        real.results["loss_without_prestop"] = (len(client.failures), client.total)
        print(f"\nrollout without preStop: {len(client.failures)} of {client.total} requests failed")
        assert client.failures, f"no request failed in {client.total}: the test could not see a loss"
    finally:
        apps.patch_namespaced_deployment("web", NS, _containers_patch(saved))
        wait_for(lambda: _rollout_done(real), "the rollout back to the stack's preStop", timeout=120)


def _containers_patch(containers: list[dict]) -> dict:
    """A strategic merge patch of the pod template's containers, matched by name."""
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def test_a_hung_app_is_restarted_by_its_liveness_probe(real: Cluster) -> None:
    """The app stops answering /livez (a deadlock): the kubelet restarts the
    container, in the same pod, and the pod serves again."""
    pod = _ready_web_pods(real)[0]
    status, _ = real.node_get(f"http://{pod.status.pod_ip}:3000/hang")
    assert status == 200
    core, _, _, _ = real.api()

    def restarted():  # type: ignore[no-untyped-def]
        p = core.read_namespaced_pod(pod.metadata.name, NS)
        app = next(c for c in p.status.container_statuses if c.name == "app")
        return p if app.restart_count >= 1 and pod_ready(p) else None

    p = wait_for(restarted, "the kubelet to restart the hung app", timeout=120)
    assert p.metadata.uid == pod.metadata.uid, "the pod was replaced, not its container restarted"
    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={pod.metadata.name}").items
    assert any("Liveness probe failed" in (e.message or "") for e in events), [e.message for e in events]
    assert real.node_get(f"http://{p.status.pod_ip}:8080/") == (200, pod.metadata.name)


def test_a_deleted_pod_is_replaced_and_serves(real: Cluster) -> None:
    core, _, _, _ = real.api()
    victim = _ready_web_pods(real)[0]
    core.delete_namespaced_pod(victim.metadata.name, NS)
    fresh = wait_for(
        lambda: [p for p in _ready_web_pods(real) if p.metadata.creation_timestamp > victim.metadata.creation_timestamp
                 and p.metadata.name != victim.metadata.name],
        "a replacement pod to be ready", timeout=90,
    )  # fmt: skip
    assert real.node_get(f"http://{fresh[0].status.pod_ip}:8080/") == (200, fresh[0].metadata.name)


def _job_from_cronjob(real: Cluster, cron, name: str, command: list[str] | None = None) -> str:  # type: ignore[no-untyped-def]
    """What `kubectl create job --from=cronjob/NAME` does, from the live CronJob."""
    _, _, batch, _ = real.api()
    spec = batch.api_client.sanitize_for_serialization(cron.spec.job_template.spec)
    if command:
        spec["template"]["spec"]["containers"][0]["command"] = command
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS}, "spec": spec}
    batch.create_namespaced_job(NS, job)
    return name


def _job_pods(real: Cluster, job: str) -> list:
    core, _, _, _ = real.api()
    return core.list_namespaced_pod(NS, label_selector=f"job-name={job}").items


def test_each_cronjob_runs_its_command_to_completion(real: Cluster) -> None:
    core, _, batch, _ = real.api()
    crons = batch.list_namespaced_cron_job(NS).items
    assert len(crons) == 2
    jobs = {_job_from_cronjob(real, c, f"{c.metadata.name}-e2e"): c for c in crons}
    for job, cron in jobs.items():
        status = wait_for(
            lambda job=job: batch.read_namespaced_job_status(job, NS).status.succeeded, f"{job}", timeout=90
        )
        assert status == 1
        (pod,) = _job_pods(real, job)
        assert pod.spec.node_name in REAL_NODES, "the Job's pod did not run on a real node"
        command = cron.spec.job_template.spec.template.spec.containers[0].command
        assert core.read_namespaced_pod_log(pod.metadata.name, NS).strip() == f"ran {command[-1]}"


def test_a_failing_job_is_retried_up_to_its_backoff_limit_then_failed(real: Cluster) -> None:
    _, _, batch, _ = real.api()
    cron = batch.list_namespaced_cron_job(NS).items[0]
    limit = cron.spec.job_template.spec.backoff_limit
    job = _job_from_cronjob(real, cron, "failing-e2e", command=["bin/rails", "runner", "Fail.now"])

    def failed():  # type: ignore[no-untyped-def]
        conditions = batch.read_namespaced_job_status(job, NS).status.conditions or []
        return next((c for c in conditions if c.type == "Failed" and c.status == "True"), None)

    condition = wait_for(failed, "the Job to be marked failed", timeout=150)
    assert condition.reason == "BackoffLimitExceeded"
    pods = _job_pods(real, job)
    assert len(pods) == limit + 1, [p.metadata.name for p in pods]
    assert all(p.status.phase == "Failed" for p in pods)


@pytest.mark.parametrize("container", ["app", "nginx"])
def test_the_security_context_is_enforced_by_the_runtime(real: Cluster, container: str) -> None:
    """Read-only root filesystem outside the declared emptyDirs, the configured
    non-root UID, and no capabilities at all, as the running process sees it."""
    from components.kubernetes.hardening import RUN_AS_USER

    pod = _ready_web_pods(real)[0].metadata.name
    code, out = _exec(real, pod, container, ["cat", "/proc/1/status"])
    assert code == 0, out
    status = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert status["Uid"].split() == [str(RUN_AS_USER)] * 4
    assert status["Gid"].split() == [str(RUN_AS_USER)] * 4
    for caps in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, f"{caps}: {status[caps]}"
    assert status["NoNewPrivs"].strip() == "1"
    code, out = _exec(real, pod, container, ["touch", "/etc/e2e-write", "/e2e-write"])
    assert code != 0 and "Read-only file system" in out, out
    writable = "/tmp/e2e-write" if container == "app" else "/var/cache/nginx/e2e-write"
    code, out = _exec(real, pod, container, ["touch", writable])
    assert code == 0, f"the declared emptyDir {writable} is not writable: {out}"


def test_a_pod_whose_readiness_fails_gets_no_requests(real: Cluster) -> None:
    core, _, _, _ = real.api()
    unready, other = (p.metadata.name for p in _ready_web_pods(real)[:2])
    code, out = _exec(real, unready, "app", ["touch", "/tmp/not-ready"])
    assert code == 0, out
    try:
        wait_for(lambda: not pod_ready(core.read_namespaced_pod(unready, NS)), "the pod to turn unready", timeout=60)
        with ServiceClient(real) as client:
            time.sleep(5)
        assert client.served[other] > 200 and client.failures == [], (client.served, client.failures[:5])
        assert client.served[unready] == 0, client.served
    finally:
        _exec(real, unready, "app", ["rm", "-f", "/tmp/not-ready"])
    wait_for(lambda: pod_ready(core.read_namespaced_pod(unready, NS)), "the pod to be ready again", timeout=60)


# ------------------------------------------------------------ the data plane


def _pod_python(cluster: Cluster, pod: str, code: str, namespace: str = NS, container: str = "app") -> str:
    """Run a few lines of Python in a pod's container (the stand-in images have Python)."""
    status, output = _exec(cluster, pod, container, ["python3", "-c", code], namespace, timeout=60)
    assert status == 0, output
    return output.strip()


def _connect(cluster: Cluster, pod: str, host: str, port: int, namespace: str = NS, container: str = "app") -> str:
    """'open', or 'blocked' (refused or timed out: kube-router rejects what a policy does
    not allow, and every destination the tests try has a listener): a TCP connection
    from `pod` to host:port."""
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(3)\n"
        "try:\n"
        f"    s.connect(({host!r}, {port})); print('open')\n"
        "except OSError: print('blocked')\n"
    )
    return _pod_python(cluster, pod, code, namespace, container)


def _resolve(cluster: Cluster, pod: str, name: str) -> str:
    code = f"import socket\ntry:\n    print(socket.gethostbyname({name!r}))\nexcept OSError as e: print('failed', e)\n"
    return _pod_python(cluster, pod, code)


def _app_pod(cluster: Cluster, namespace: str = NS) -> str:
    core, _, _, _ = cluster.api()
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=web").items
    return next(p.metadata.name for p in pods if pod_ready(p))


@contextlib.contextmanager
def _policies_removed(cluster: Cluster, namespace: str, names: list[str] | None = None) -> Iterator[None]:
    """An experiment outside the engine: the namespace's NetworkPolicies (or `names` of
    them) deleted through the API, then re-created as they were."""
    from kubernetes import client

    networking = client.NetworkingV1Api(cluster.api()[0].api_client)
    found = networking.list_namespaced_network_policy(namespace).items
    saved = [
        networking.api_client.sanitize_for_serialization(p) for p in found if names is None or p.metadata.name in names
    ]
    assert saved and (names is None or len(saved) == len(names)), [p.metadata.name for p in found]
    for policy in saved:
        networking.delete_namespaced_network_policy(policy["metadata"]["name"], namespace)
    time.sleep(3)  # kube-router syncs on the watch event
    try:
        yield
    finally:
        for policy in saved:
            networking.create_namespaced_network_policy(namespace, recreatable(policy))
        time.sleep(3)


@pytest.fixture(scope="module")
def outside_hosts(real: Cluster) -> Iterator[dict[str, str]]:
    """Addresses on the cluster's bridge that no pod or node has, standing in for destinations
    outside the cluster: one inside the admin service's declared range, and the address that
    plays the metadata endpoint (inside that range too, and excepted by the program). Each
    listens on the declared and an undeclared port. In the run's own network namespace."""
    hosts = {"declared": real.network.outside_host(1), "metadata": real.network.metadata_endpoint}
    for address in hosts.values():
        real.network.run("ip", "addr", "add", f"{address}/32", "dev", real.network.bridge)
    listeners = [(address, port) for address in hosts.values() for port in (DECLARED_PORT, UNDECLARED_PORT)]
    code = (
        "import socket, threading, time\n"
        "def serve(s):\n"
        "    while True:\n"
        "        s.accept()[0].close()\n"
        f"for a, p in {listeners!r}:\n"
        "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    s.bind((a, p)); s.listen(8)\n"
        "    threading.Thread(target=serve, args=(s,), daemon=True).start()\n"
        "time.sleep(600)\n"  # bounded: the module ends well before
    )
    server = subprocess.Popen(real.network.command(sys.executable, "-c", code))
    try:
        time.sleep(1)
        yield hosts
    finally:
        server.kill()
        server.wait()
        for address in hosts.values():
            real.network.run("ip", "addr", "del", f"{address}/32", "dev", real.network.bridge, check=False)


def test_pods_resolve_services_by_name_under_default_deny_egress(real: Cluster) -> None:
    """CoreDNS pods (kube-system, k8s-app=kube-dns) answer for cluster.local; the admin
    namespace denies all egress but DNS to those pods (its allow-platform-egress), so this
    is the policy's DNS rule at work. A name outside the cluster gets no answer: nothing
    is forwarded off the machine."""
    core, _, _, _ = real.api()
    pod = _app_pod(real)
    for service, namespace in (("web", NS), ("web", PEER), ("datadog-agent", DATADOG_NS)):
        address = _resolve(real, pod, f"{service}.{namespace}.svc.cluster.local")
        assert address == core.read_namespaced_service(service, namespace).spec.cluster_ip, (service, address)
    assert _resolve(real, pod, "web").startswith("10.96."), "the search path of the pod's namespace"
    assert _resolve(real, pod, "example.com").startswith("failed")


def test_without_the_platform_egress_policy_dns_and_the_datadog_agent_are_unreachable(real: Cluster) -> None:
    """The experiment that shows the DNS and Datadog tests can fail: with the admin
    namespace's allow-platform-egress removed (default deny stays), names do not resolve
    and the agent's ports cannot be reached."""
    core, _, _, _ = real.api()
    pod = _app_pod(real)
    trace_ip = core.read_namespaced_service("datadog-agent", DATADOG_NS).spec.cluster_ip
    with _policies_removed(real, NS, ["allow-platform-egress"]):
        assert _resolve(real, pod, "web.admin.svc.cluster.local").startswith("failed")
        assert _connect(real, pod, trace_ip, 8126) == "blocked"
    core_ip = core.read_namespaced_service("web", NS).spec.cluster_ip
    assert _resolve(real, pod, "web.admin.svc.cluster.local") == core_ip, "DNS is back with the policy"


def test_app_pods_reach_the_datadog_agents_dogstatsd_and_trace_ports(real: Cluster) -> None:
    """STAND-IN agent (devenv/standin/datadog.py, which logs each DogStatsD datagram it
    receives): from an app pod, a metric sent to the agent's node-local Service on
    8125/UDP arrives, and its trace port 8126/TCP accepts a connection, through the
    admin namespace's allow-platform-egress."""
    core, _, _, _ = real.api()
    pod = _app_pod(real)
    app_ip = core.read_namespaced_pod(pod, NS).status.pod_ip
    host = "datadog-agent.datadog.svc.cluster.local"
    send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'e2e.dogstatsd:1|c', ({!r}, 8125))"
    _pod_python(real, pod, send.format(host))
    # The one kube-proxy answers as real-0, so the node-local Service leads to real-0's agent.
    agent = _datadog_pod_on_the_real_node(real, "datadog-agent", NODE)
    assert agent is not None

    def arrived() -> bool:
        logs = core.read_namespaced_pod_log(agent.metadata.name, DATADOG_NS, container="agent")
        return f"received 'e2e.dogstatsd' from {app_ip}" in logs

    wait_for(arrived, "the agent to log the DogStatsD datagram", timeout=20)
    # A few tries: the node-local Service (internalTrafficPolicy Local) has no endpoint while
    # real-0's agent is briefly unready (a probe missed on a busy machine), and then drops.
    tries = []
    while len(tries) < 4 and (not tries or tries[-1] != "open"):
        time.sleep(5 if tries else 0)
        tries.append(_connect(real, pod, host, 8126))
    print(f"\ntrace port from an app pod: {tries}")
    if tries[-1] != "open":
        agent = core.read_namespaced_pod(agent.metadata.name, DATADOG_NS)
        states = [(c.name, c.ready, c.restart_count, c.state) for c in agent.status.container_statuses]
        logs = core.read_namespaced_pod_log(agent.metadata.name, DATADOG_NS, container="trace-agent", tail_lines=20)
        raise AssertionError(f"8126 {tries}; the agent's containers: {states}\ntrace-agent:\n{logs}")


def test_one_services_pods_cannot_reach_anothers(real: Cluster) -> None:
    """admin denies all egress it does not declare, and peer admits only the ingress
    controller on its web port: neither reaches the other's pods, though both run on
    the same node and bridge."""
    core, _, _, _ = real.api()
    admin, peer = _app_pod(real), _app_pod(real, PEER)
    peer_ip = core.read_namespaced_pod(peer, PEER).status.pod_ip
    admin_ip = core.read_namespaced_pod(admin, NS).status.pod_ip
    assert _connect(real, admin, peer_ip, 8080) == "blocked"
    assert _connect(real, peer, admin_ip, 8080, PEER) == "blocked"
    # The experiment: without the two namespaces' policies, the same connection opens.
    with _policies_removed(real, NS), _policies_removed(real, PEER):
        assert _connect(real, admin, peer_ip, 8080) == "open"
    assert _connect(real, admin, peer_ip, 8080) == "blocked"


def test_declared_egress_is_open_and_everything_else_closed(real: Cluster, outside_hosts: dict[str, str]) -> None:
    """The admin service declares one range and port. Inside it: open. The same host on
    another port: closed. The address that plays the metadata endpoint, inside the declared
    range but excepted by the program: closed, as 169.254.169.254 is on AKS."""
    pod = _app_pod(real)
    declared, metadata = outside_hosts["declared"], outside_hosts["metadata"]
    assert _connect(real, pod, declared, DECLARED_PORT) == "open"
    assert _connect(real, pod, declared, UNDECLARED_PORT) == "blocked"
    assert _connect(real, pod, metadata, DECLARED_PORT) == "blocked"
    # The experiments: without the declared rule, the declared port closes too; without any
    # of the namespace's egress policies, the undeclared port and the excepted address open.
    with _policies_removed(real, NS, ["allow-declared-egress"]):
        assert _connect(real, pod, declared, DECLARED_PORT) == "blocked"
    with _policies_removed(real, NS):
        assert _connect(real, pod, declared, UNDECLARED_PORT) == "open"
        assert _connect(real, pod, metadata, DECLARED_PORT) == "open"


def test_the_kubelet_refuses_anonymous_callers_and_pods_cannot_reach_it(real: Cluster) -> None:
    """The kubelets listen on the node IP. An anonymous request for their pods is refused
    (401); and a pod, even of a namespace with no policy at all, reaches no listener of the
    node itself: the network's guard fences it. The API server, with its client
    certificate, still execs (every test here that runs a command in a pod)."""
    from devenv.real_node import RealNode

    port = RealNode(Path("."), real.network, 0).kubelet_port
    url = f"https://{real.network.node_ip}:{port}/pods"
    code = (
        "import ssl, urllib.request, urllib.error\n"
        "try:\n"
        f"    urllib.request.urlopen({url!r}, context=ssl._create_unverified_context(), timeout=5); print(200)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
        "except OSError as e: print('blocked')\n"
    )
    from_node = subprocess.run(real.network.command(sys.executable, "-c", code), capture_output=True, text=True)
    assert from_node.stdout.strip() == "401", from_node.stdout + from_node.stderr
    assert _pod_python(real, traffic.CLIENT, code, CLIENT_NS, container="client") == "blocked"


def test_pods_reach_the_api_server_and_nothing_else_on_the_host(real: Cluster) -> None:
    """The guard (devenv/node_network.py): from the client pod, whose namespace has no
    NetworkPolicy, so nothing but the guard stands in the way, the `kubernetes` Service
    (the API relay on the host's end of the link) opens and a listener the test holds on
    that same host address does not. The experiment: with the guard's table deleted, the
    same listener opens; `up` puts the guard back."""
    import socket

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((real.network.host_ip, 0))
    listener.listen(8)
    host, port = listener.getsockname()
    from_client = lambda h, p: _connect(real, traffic.CLIENT, h, p, CLIENT_NS, container="client")  # noqa: E731
    try:
        assert from_client("kubernetes.default.svc.cluster.local", 443) == "open"
        assert from_client(host, port) == "blocked"
        real.network.run("nft", "delete", "table", "inet", "aks-guard")
        try:
            assert from_client(host, port) == "open"
        finally:
            resumed = real.cluster("up", "--real-node")
            assert resumed.returncode == 0, _tail(resumed)
        assert from_client(host, port) == "blocked"
    finally:
        listener.close()


def _hpa_sample(cluster: Cluster, started: float) -> dict:
    from kubernetes import client

    autoscaling = client.AutoscalingV2Api(cluster.api()[0].api_client)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS)
    metrics = hpa.status.current_metrics or []
    utilization = next((m.resource.current.average_utilization for m in metrics if m.resource), None)
    return {"t": round(time.monotonic() - started), "replicas": hpa.status.current_replicas,
            "desired": hpa.status.desired_replicas, "cpu%": utilization}  # fmt: skip


def _cores(quantity: str) -> float:
    """metrics-server's CPU in cores: it writes nanocores ('1234567n'), which config never does."""
    from settings.types import quantity_value

    if quantity.endswith(("n", "u")):
        return int(quantity[:-1]) / (1e9 if quantity.endswith("n") else 1e6)
    return float(quantity_value(quantity))


def _web_cpu_percent(cluster: Cluster) -> float:
    """The web pods' CPU use as metrics-server reports it, as a share of their requests
    (what the autoscaler's 50 % target is measured against), averaged over the pods."""
    from kubernetes import client

    custom = client.CustomObjectsApi(cluster.api()[0].api_client)
    usage = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")["items"]
    pods = {p.metadata.name: p for p in _web_pods(cluster)}
    shares = []
    for item in usage:
        pod = pods.get(item["metadata"]["name"])
        if pod is None:
            continue
        used = sum(_cores(c["usage"]["cpu"]) for c in item["containers"])
        requested = sum(_cores(c.resources.requests["cpu"]) for c in pod.spec.containers)
        shares.append(100 * used / requested)
    return sum(shares) / len(shares) if shares else 0.0


def _load_until(cluster: Cluster, done, seconds: float, samples: list, started: float) -> bool:  # type: ignore[no-untyped-def]
    """CPU load through the Service (each request keeps the app busy 40 ms) until `done()`
    or `seconds`; samples the autoscaler every 5 s. True when `done()` was reached."""
    with ServiceClient(cluster, path="/burn?ms=40", senders=3):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            samples.append(_hpa_sample(cluster, started))
            if done():
                return True
            time.sleep(5)
    return False


def test_the_web_autoscaler_scales_up_under_load_and_back_down_after_it(real: Cluster) -> None:
    """metrics-server scrapes the real kubelet; the HorizontalPodAutoscaler the stack
    declares (minReplicas 2, maxReplicas 4, 50 % CPU; scale-down window 20 s, 100 % per
    15 s: the suite's values, through the typed config) adds pods while CPU load arrives
    through the Service, and removes them once the load has stopped for its window."""
    from kubernetes import client

    autoscaling = client.AutoscalingV2Api(real.api()[0].api_client)
    behavior = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS).spec.behavior
    assert behavior.scale_down.stabilization_window_seconds == 20
    assert [(p.type, p.value, p.period_seconds) for p in behavior.scale_down.policies] == [("Percent", 100, 15)]
    started, samples = time.monotonic(), []
    wait_for(lambda: _hpa_sample(real, started)["cpu%"] is not None, "the autoscaler's first CPU metric", timeout=90)
    assert _hpa_sample(real, started)["replicas"] == 2
    scaled = _load_until(real, lambda: (samples[-1]["replicas"] or 0) >= 3, 150, samples, started)
    assert scaled, f"no scale-up under load: {samples}"
    stopped = time.monotonic()

    def back_at_minimum() -> bool:
        samples.append(_hpa_sample(real, started))
        return samples[-1]["replicas"] == 2

    wait_for(back_at_minimum, "the autoscaler back at minReplicas", timeout=150, interval=5)
    down_after = time.monotonic() - stopped
    real.results["hpa"] = samples
    print(f"\nautoscaler under load, then without (t in s): {samples}\nback to 2 pods {down_after:.0f}s after the load")
    # The window at work: the first CPU sample below target after the peak, and the first
    # recommendation below the peak's replica count, are at least the 20 s window apart,
    # less one 5 s sampling step at each end (with a window of 0 they would be one step apart).
    peak = max(sample["replicas"] or 0 for sample in samples)
    low = next(x["t"] for x in samples if x["replicas"] == peak and (x["cpu%"] or 0) < 50)
    down = next(x["t"] for x in samples if x["t"] >= low and (x["desired"] or peak) < peak)
    assert down - low >= 10, f"scaled down {down - low}s after the load's metrics fell: {samples}"
    wait_for(lambda: len(_ready_web_pods(real)) == 2, "the web pods back at two", timeout=120)


def test_without_the_autoscaler_the_same_load_adds_no_pod(real: Cluster) -> None:
    """The experiment that shows the test above can fail: with the web HPA deleted through
    the API, the same load for 30 s, which metrics-server shows above the target, leaves
    the Deployment at two pods. The HPA is put back."""
    from kubernetes import client

    autoscaling = client.AutoscalingV2Api(real.api()[0].api_client)
    saved = autoscaling.api_client.sanitize_for_serialization(
        autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS)
    )
    autoscaling.delete_namespaced_horizontal_pod_autoscaler("web", NS)
    _, apps, _, _ = real.api()
    try:
        replicas, cpu = [], []
        with ServiceClient(real, path="/burn?ms=40", senders=3) as client_load:
            for _ in range(6):
                time.sleep(5)
                replicas.append(apps.read_namespaced_deployment("web", NS).spec.replicas)
                cpu.append(_web_cpu_percent(real))
        assert replicas == [2] * 6, replicas
        # The load was real: the pods ran above the 50 % target the autoscaler would have acted on.
        assert client_load.failures == [] and max(cpu) > 50, (cpu, client_load.failures[:3])
    finally:
        autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, recreatable(saved))


def test_a_second_cluster_with_a_real_node_runs_beside_this_one_and_leaves_it_alone(real: Cluster) -> None:
    """Two local clusters with real nodes on one machine, each at its own port offset:
    its own network namespace, ranges, cgroups and processes. The second starts, serves
    DNS on its own node and goes; this one keeps serving through all of it, and the host
    directories the kubelets insist on stay while this cluster still runs."""
    from devenv.local_cluster import free_port_offset
    from devenv.real_node import HOST_RECORD

    other_offset = free_port_offset(start=real.network.offset + 37)
    # A short directory: the kubelet's sockets live under it (devenv/real_node.py KUBELET_ROOT_MAX).
    tmp_path = Path(tempfile.mkdtemp(prefix="aks-e2e-", dir="/tmp"))
    env = {**real.env, "LOCAL_CLUSTER_DIR": str(tmp_path / "other"), "LOCAL_CLUSTER_PORT_OFFSET": str(other_offset)}
    cluster = lambda *args: subprocess.run([sys.executable, "-m", "devenv.local_cluster", *args],  # noqa: E731
                                           cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    with ServiceClient(real) as client:
        started = time.monotonic()
        up = cluster("up", "--real-node", "--nodes", "0")
        up_seconds = time.monotonic() - started
        try:
            logs = sorted((tmp_path / "other" / "logs").glob("*.log"))
            assert up.returncode == 0, _tail(up) + "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in logs)
            other = NodeNetwork(other_offset)
            assert other.netns != real.network.netns and other.block != real.network.block
            from kubernetes import client as kubernetes_client
            from kubernetes import config as kubernetes_config

            kubeconfig = str(tmp_path / "other" / "kubeconfig")
            other_api = kubernetes_client.CoreV1Api(kubernetes_config.new_client_from_config(kubeconfig))
            (node,) = other_api.list_node().items
            assert node.metadata.name == NODE and node.status.addresses[0].address == other.node_ip
            dns = other_api.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
            assert dns and all(pod_ready(p) for p in dns)
            assert cluster("status").returncode == 0
        finally:
            down = cluster("down")
            mounts = [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(tmp_path) in m]
            if down.returncode == 0 and not mounts:
                shutil.rmtree(tmp_path)  # what is left: the cluster's lock file
        assert down.returncode == 0, _tail(down)
        assert mounts == [], "the second cluster's down left these mounts"
        time.sleep(2)
    print(f"\nsecond cluster with a real node: up {up_seconds:.0f}s beside this one; "
          f"this one served {client.total} requests meanwhile, {len(client.failures)} failed")  # fmt: skip
    assert client.failures == [] and client.total > 500, (client.total, client.failures[:5])
    assert real.network.exists() and not NodeNetwork(other_offset).exists()
    # This cluster still counts in the machine's record; the second no longer does (a developer's
    # own real-node cluster may be in it too: the two clusters here must not depend on it).
    clusters = json.loads(HOST_RECORD.read_text())["clusters"]
    assert str(Path(real.env["LOCAL_CLUSTER_DIR"]) / "node") in clusters
    assert str(tmp_path / "other" / "node") not in clusters
