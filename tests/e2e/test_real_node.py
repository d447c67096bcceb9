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
- `autoscaling.minReplicas: 2`: there is no metrics server here, but the HPA
  controller enforces minReplicas before it reads any metric (kubernetes v1.34.4
  pkg/controller/podautoscaler/horizontal.go, reconcileAutoscaler: "Current
  number of replicas below Spec.MinReplicas"), so the Deployment gets 2 pods.
Nothing else is changed by the tests, except in the one experiment that says so
(preStop removed through the API). The CronJobs keep their schedules: the tests
make their own Jobs, with names of their own.

No ingress controller, kube-proxy or NetworkPolicy enforcement runs here, so
the client below stands in for the ingress controller: it follows the Service's
EndpointSlices (as ingress-nginx does) and sends each request to a ready pod's
IP on the run's own bridge. The Datadog tests say where they use the stand-in:
they show that our Datadog manifests start, initialise and pass their probes on a
real kubelet with a process that behaves as the agent does at those points, not
that Datadog's own agent collects anything."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness import pod_ready, wait_for

if TYPE_CHECKING:
    from kubernetes.client import V1Pod

ROOT = Path(__file__).resolve().parents[2]
NS = "admin"
# What a person writes in the dev stack file to run it on the real node (docs/dev-loop.md, "Real pods").
REAL_NODE_LOCAL = {
    "realNode": True,
    "images": [
        {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
        {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
    ],
}
IMAGES = {"nginx": "docker.io/local/nginx:dev", "app": "docker.io/local/admin-app:dev"}
DATADOG = {"enabled": True, "monitorsEnabled": False}
DATADOG_NS = "datadog"
# How often the client re-reads the endpoints: ingress-nginx applies endpoint changes
# in about a second (its sync), the delay a preStop sleep exists to cover.
ENDPOINTS_REFRESH_SECONDS = 1.0
REQUEST_INTERVAL_SECONDS = 0.02
# Concurrent request loops: enough traffic that a sub-second gap in service shows as failures.
SENDERS = 4
# Hard bounds on the request loops, whatever a test waits for: they send only to the
# ready pod IPs of this run's own cluster (its bridge and the pods' network namespaces,
# all made by the run), and stop by themselves after this many requests or seconds.
MAX_REQUESTS = 40_000
MAX_TRAFFIC_SECONDS = 240

pytestmark = pytest.mark.e2e


@dataclass
class Cluster:
    env: dict[str, str]
    """For the dev runner and the cluster: private directories, ports and stack file."""
    kubeconfig: Path
    stack_file: Path
    results: dict[str, object] = field(default_factory=dict)

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

        web: dict = {"autoscaling": {"minReplicas": 2}}
        if rollout:
            web["app"] = {"env": {"E2E_ROLLOUT": rollout}}
        extra = {
            "platform:local": REAL_NODE_LOCAL,
            "platform:services": {"admin": {"web": web}},
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
    base = tmp_path_factory.mktemp("real")
    env = {
        **os.environ,
        "LOCAL_CLUSTER_DIR": str(base / "cluster"),
        "LOCAL_CLUSTER_PORT_OFFSET": str(free_port_offset(start=900)),
        "LOCAL_CLUSTER_NODES": "1",  # one kwok node beside the real one: the pods all go to the real node
        "DEV_LOCAL_DIR": str(base / "local"),
        "DEV_STACK_FILE": str(base / "Pulumi.dev.yaml"),
    }
    cluster = Cluster(env=env, kubeconfig=base / "cluster" / "kubeconfig", stack_file=base / "Pulumi.dev.yaml")
    cluster.write_stack_file()
    try:
        result, seconds = cluster.dev_up()
        print(f"\nfirst `devenv.dev up` (cluster, real node, images, pulumi up): {seconds:.0f}s")
        assert result.returncode == 0, _tail(result)
        wait_for(lambda: len(_ready_web_pods(cluster)) == 2, "2 ready web pods on the real node", timeout=120)
        yield cluster
    finally:
        stopped = cluster.cluster("down")
        assert stopped.returncode == 0, _tail(stopped)
        assert [path for path in absent_before if Path(path).exists()] == []


def _web_pods(cluster: Cluster) -> list:
    core, _, _, _ = cluster.api()
    return core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=web").items


def _ready_web_pods(cluster: Cluster) -> list:
    return [p for p in _web_pods(cluster) if pod_ready(p)]


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as err:
        return err.code, ""


def _exec(cluster: Cluster, pod: str, container: str, command: list[str], namespace: str = NS) -> tuple[int, str]:
    """Run `command` in the container through the API server and the kubelet; (exit code, output)."""
    from kubernetes.stream import stream

    core, _, _, _ = cluster.api()
    client = stream(
        core.connect_get_namespaced_pod_exec, pod, namespace, container=container, command=command,
        stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False,
    )  # fmt: skip
    client.run_forever(timeout=30)
    code = client.returncode  # from the error channel, before the output is read (reading clears the channels)
    output = client.read_channel(1) + client.read_channel(2)
    client.close()
    return code, output


class EndpointClient:
    """Stands in for the ingress controller: follows the Service's ready endpoints
    (re-read every ENDPOINTS_REFRESH_SECONDS) and sends a steady stream of requests
    across them; counts answers per pod and failures."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._stop = threading.Event()
        self._targets: list[str] = []
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._deadline = 0.0
        senders = [threading.Thread(target=self._send, args=(n,)) for n in range(SENDERS)]
        self._threads = [threading.Thread(target=self._follow), *senders]

    def _ready_addresses(self) -> list[str]:
        _, _, _, discovery = self._cluster.api()
        slices = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=web").items
        port = 8080
        return sorted(
            f"http://{address}:{port}/"
            for s in slices
            for e in s.endpoints or []
            if e.conditions and e.conditions.ready
            for address in e.addresses
        )

    def _follow(self) -> None:
        while self._bounded():
            # An API hiccup: keep the last list, as an ingress controller does.
            with contextlib.suppress(Exception):
                self._targets = self._ready_addresses()
            self._stop.wait(ENDPOINTS_REFRESH_SECONDS)

    def _bounded(self) -> bool:
        """True while the loops may go on: not stopped, and within MAX_REQUESTS and MAX_TRAFFIC_SECONDS."""
        with self._lock:  # the senders add to `served` meanwhile
            sent = self.total
        return not self._stop.is_set() and time.monotonic() < self._deadline and sent < MAX_REQUESTS

    def _send(self, i: int) -> None:
        while self._bounded():
            targets = self._targets
            if targets:
                url = targets[i % len(targets)]
                i += 1
                try:
                    status, body = _get(url)
                    outcome = body if status == 200 else f"{url}: HTTP {status}"
                except Exception as err:
                    status, outcome = 0, f"{url}: {err}"
                with self._lock:
                    if status == 200:
                        self.served[outcome] += 1
                    else:
                        self.failures.append(outcome)
            self._stop.wait(REQUEST_INTERVAL_SECONDS)

    def __enter__(self) -> EndpointClient:
        self._targets = self._ready_addresses()
        self._deadline = time.monotonic() + MAX_TRAFFIC_SECONDS
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    @property
    def total(self) -> int:
        return sum(self.served.values()) + len(self.failures)


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


def _rollout_under_traffic(cluster: Cluster, reason: str) -> EndpointClient:
    with EndpointClient(cluster) as client:
        time.sleep(2)
        _restart_rollout(cluster, reason)
        time.sleep(2)
        wait_for(lambda: _rollout_done(cluster), "the rollout and the old pods' termination", timeout=120)
        time.sleep(2)
    return client


# ----------------------------------------------------------------------------


def test_the_engine_runs_the_dev_stack_on_the_real_node_with_the_local_images(real: Cluster) -> None:
    """What the settings ask for reached the live objects through `pulumi up`."""
    from devenv.real_node import REAL_NODE_LABEL, REAL_NODE_TAINT

    _, apps, batch, _ = real.api()
    pods = [p.spec for p in _web_pods(real)]
    crons = [c.spec.job_template.spec.template.spec for c in batch.list_namespaced_cron_job(NS).items]
    for spec in [apps.read_namespaced_deployment("web", NS).spec.template.spec, *pods, *crons]:
        assert {c.image for c in spec.containers} <= set(IMAGES.values()), [c.image for c in spec.containers]
        assert {c.image_pull_policy for c in spec.containers} == {"Never"}
        assert spec.node_selector == {REAL_NODE_LABEL: "true"}
        assert [t.key for t in spec.tolerations if t.effect == REAL_NODE_TAINT["effect"]] == [REAL_NODE_LABEL]
    assert {spec.node_name for spec in pods} == {socket.gethostname()}, "a web pod is not on the real node"
    assert len(crons) == 2


# ------------------------------------------------------- Datadog, as stand-ins


def _datadog_pod_on_the_real_node(cluster: Cluster, name: str) -> V1Pod | None:
    core, _, _, _ = cluster.api()
    pods = core.list_namespaced_pod(DATADOG_NS, label_selector=f"app.kubernetes.io/name={name}").items
    return next(
        (p for p in pods if p.spec.node_name == socket.gethostname() and p.metadata.deletion_timestamp is None), None
    )


def _probe(pod: V1Pod, port: int, path: str) -> tuple[int, str]:
    # The pod's IP on the run's own bridge, as the kubelet probes it.
    return _get(f"http://{pod.status.pod_ip}:{port}{path}")


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
    assert [s.restart_count for s in pod.status.container_statuses] == [0]
    for path in ("/live", "/ready", "/startup"):
        status, body = _probe(pod, HEALTH_PORT, path)
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
        assert _probe(pod, HEALTH_PORT, path)[0] == 200, path
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
    manifest that forgot it would be, and the new pod on the real node stays unready with
    refused probes. The stack's DaemonSet is put back at the end."""
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
                (p := _datadog_pod_on_the_real_node(real, "datadog-agent"))
                and not any(e.name == "DD_HEALTH_PORT" for e in p.spec.containers[0].env or [])
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
                (p := _datadog_pod_on_the_real_node(real, "datadog-agent"))
                and any(e.name == "DD_HEALTH_PORT" for e in p.spec.containers[0].env or [])
                and pod_ready(p)
            ),
            "the agent's pod with the stack's DD_HEALTH_PORT to be Ready again",
            timeout=150,
        )


def test_a_rollout_by_the_engine_under_steady_traffic_loses_no_request(real: Cluster) -> None:
    """A rolling update made the way a person makes one, a changed value and `make dev`,
    while requests flow: the preStop delay keeps each old pod serving until the endpoint
    change has reached the client, so nothing fails."""
    _, apps, _, _ = real.api()
    old_pods = {p.metadata.name for p in _web_pods(real)}
    real.write_stack_file(rollout="1")
    with EndpointClient(real) as client:
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
    status, _ = _get(f"http://{pod.status.pod_ip}:3000/hang")
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
    assert _get(f"http://{p.status.pod_ip}:8080/") == (200, pod.metadata.name)


def test_a_deleted_pod_is_replaced_and_serves(real: Cluster) -> None:
    core, _, _, _ = real.api()
    victim = _ready_web_pods(real)[0]
    core.delete_namespaced_pod(victim.metadata.name, NS)
    fresh = wait_for(
        lambda: [p for p in _ready_web_pods(real) if p.metadata.creation_timestamp > victim.metadata.creation_timestamp
                 and p.metadata.name != victim.metadata.name],
        "a replacement pod to be ready", timeout=90,
    )  # fmt: skip
    assert _get(f"http://{fresh[0].status.pod_ip}:8080/") == (200, fresh[0].metadata.name)


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
        assert pod.spec.node_name == socket.gethostname(), "the Job's pod did not run on the real node"
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
        with EndpointClient(real) as client:
            time.sleep(2 * ENDPOINTS_REFRESH_SECONDS + 3)
        assert client.served[other] > 200 and client.failures == [], (client.served, client.failures[:5])
        assert client.served[unready] == 0, client.served
    finally:
        _exec(real, unready, "app", ["rm", "-f", "/tmp/not-ready"])
    wait_for(lambda: pod_ready(core.read_namespaced_pod(unready, NS)), "the pod to be ready again", timeout=60)
