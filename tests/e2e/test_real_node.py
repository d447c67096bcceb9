"""End to end on a real node: the dev stack's admin service, as the program
renders it (offline.render), runs in real containers on a real kubelet with
containerd and runc (devenv/real_node.py), from images built here from Debian
packages (devenv/images.py). Each test names what a user relies on; kwok
nodes, which only mark pods Running, could not show any of it.

What the tests change in the rendered manifests, and nothing else:
- the images: Debian's nginx-light for nginx-unprivileged, and the project's
  admin-app stand-in (devenv/standin) for the admin app, with imagePullPolicy
  Never (no registry is reachable; the stacks keep Always);
- a toleration and nodeSelector for the real node, which is tainted;
- the Deployment gets 2 replicas (the HPA, not applied, would set them), the
  CronJobs are suspended (the tests make their Jobs), and the Secret gets
  throwaway values.
The Ingress, HPA and NetworkPolicies are not applied: no ingress controller,
metrics server or policy enforcement here, and no kube-proxy either. So the
client below stands in for the ingress controller: it follows the Service's
EndpointSlices (as ingress-nginx does) and sends each request to a ready pod's
IP on the run's own bridge. The Datadog agent cannot run here (its image cannot
be built): this cluster has Datadog off, and the kwok suite covers its manifests."""

from __future__ import annotations

import contextlib
import copy
import os
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

import pytest

from harness import pod_ready, wait_for

ROOT = Path(__file__).resolve().parents[2]
NS = "admin"
IMAGES = {"nginx": "docker.io/local/nginx:dev", "app": "docker.io/local/admin-app:dev"}
# How often the client re-reads the endpoints: ingress-nginx applies endpoint changes
# in about a second (its sync), the delay a preStop sleep exists to cover.
ENDPOINTS_REFRESH_SECONDS = 1.0
REQUEST_INTERVAL_SECONDS = 0.02
# Concurrent request loops: enough traffic that a sub-second gap in service shows as failures.
SENDERS = 4

pytestmark = pytest.mark.e2e


@dataclass
class Cluster:
    env: dict[str, str]
    kubeconfig: Path
    manifests: list[dict]
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


def _for_real_node(pod_spec: dict) -> dict:
    from devenv.real_node import REAL_NODE_LABEL, REAL_NODE_TAINT

    spec = copy.deepcopy(pod_spec)
    for container in spec["containers"]:
        container["image"] = IMAGES["nginx"] if container["name"] == "nginx" else IMAGES["app"]
        container["imagePullPolicy"] = "Never"
    spec["tolerations"] = [*spec.get("tolerations", []), {**REAL_NODE_TAINT, "operator": "Equal"}]
    spec["nodeSelector"] = {**spec.get("nodeSelector", {}), REAL_NODE_LABEL: "true"}
    return spec


def _admin_manifests() -> list[dict]:
    """The dev stack's admin objects as the program renders them, made to run on the real node."""
    from offline.render import render_manifests

    applied = {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "CronJob",
               "ResourceQuota", "LimitRange"}  # fmt: skip
    out = []
    for m in render_manifests("dev"):
        if m["kind"] not in applied or m["metadata"].get("namespace", m["metadata"].get("name")) != NS:
            continue
        m = copy.deepcopy(m)
        if m["kind"] == "Secret":
            m["metadata"]["name"] = m["metadata"].pop("generateName").rstrip("-")
            m["stringData"] = {key: f"e2e-throwaway-{key.lower()}" for key in m.pop("stringData", m.pop("data", {}))}
        if m["kind"] == "Deployment":
            m["spec"]["replicas"] = 2
            m["spec"]["template"]["spec"] = _for_real_node(m["spec"]["template"]["spec"])
        if m["kind"] == "CronJob":
            m["spec"]["suspend"] = True
            template = m["spec"]["jobTemplate"]["spec"]["template"]
            template["spec"] = _for_real_node(template["spec"])
        out.append(m)
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from kubernetes import utils

    from devenv.local_cluster import free_port_offset

    assert os.geteuid() == 0, "the real node needs root (containerd, mounts, cgroups, a bridge)"
    base = tmp_path_factory.mktemp("real")
    env = {
        **os.environ,
        "LOCAL_CLUSTER_DIR": str(base / "cluster"),
        "LOCAL_CLUSTER_PORT_OFFSET": str(free_port_offset(start=900)),
    }
    cluster = Cluster(env=env, kubeconfig=base / "cluster" / "kubeconfig", manifests=_admin_manifests())
    try:
        started = cluster.cluster("up", "--nodes", "1", "--real-node")
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        core, _, _, _ = cluster.api()
        for m in cluster.manifests:
            utils.create_from_dict(core.api_client, m)
        wait_for(lambda: len(_ready_web_pods(cluster)) == 2, "2 ready web pods on the real node", timeout=120)
        yield cluster
    finally:
        stopped = cluster.cluster("down")
        assert stopped.returncode == 0, stopped.stdout[-3000:] + stopped.stderr[-3000:]


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


def _exec(cluster: Cluster, pod: str, container: str, command: list[str]) -> tuple[int, str]:
    """Run `command` in the container through the API server and the kubelet; (exit code, output)."""
    from kubernetes.stream import stream

    core, _, _, _ = cluster.api()
    client = stream(
        core.connect_get_namespaced_pod_exec, pod, NS, container=container, command=command,
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
        while not self._stop.is_set():
            # An API hiccup: keep the last list, as an ingress controller does.
            with contextlib.suppress(Exception):
                self._targets = self._ready_addresses()
            self._stop.wait(ENDPOINTS_REFRESH_SECONDS)

    def _send(self, i: int) -> None:
        while not self._stop.is_set():
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


def test_a_rollout_under_steady_traffic_loses_no_request(real: Cluster) -> None:
    """A rolling update while requests flow: the preStop delay keeps each old pod
    serving until the endpoint change has reached the client, so nothing fails."""
    client = _rollout_under_traffic(real, "with-prestop")
    real.results["loss_with_prestop"] = (len(client.failures), client.total)
    print(f"\nrollout with preStop: {len(client.failures)} of {client.total} requests failed")
    assert client.total > 1000, f"too few requests to judge: {client.total}"
    assert len(set(client.served)) >= 3, f"the rollout did not replace the pods: {client.served}"
    assert client.failures == [], f"{len(client.failures)} of {client.total} failed: {client.failures[:5]}"


def test_without_prestop_the_same_rollout_loses_requests(real: Cluster) -> None:
    """The same measurement with the preStop sleep patched out: the old pods stop
    at once while the client still routes to them. Shows the test above can see a
    loss (and measures it); the stack's own manifests keep the preStop."""
    _, apps, _, _ = real.api()
    deployment = next(m for m in real.manifests if m["kind"] == "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": c["name"], "lifecycle": None} for c in containers]}}}
    }
    apps.patch_namespaced_deployment("web", NS, patch)
    wait_for(lambda: _rollout_done(real), "the rollout to pods without preStop", timeout=120)
    try:
        client = _rollout_under_traffic(real, "without-prestop")
        real.results["loss_without_prestop"] = (len(client.failures), client.total)
        print(f"\nrollout without preStop: {len(client.failures)} of {client.total} requests failed")
        assert client.failures, f"no request failed in {client.total}: the test could not see a loss"
    finally:
        apps.replace_namespaced_deployment("web", NS, deployment)
        wait_for(lambda: _rollout_done(real), "the rollout back to the stack's manifest", timeout=120)


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


def _job_from_cronjob(real: Cluster, cron: dict, name: str, command: list[str] | None = None) -> str:
    """What `kubectl create job --from=cronjob/NAME` does."""
    _, _, batch, _ = real.api()
    spec = copy.deepcopy(cron["spec"]["jobTemplate"]["spec"])
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
    crons = [m for m in real.manifests if m["kind"] == "CronJob"]
    assert len(crons) == 2
    jobs = {_job_from_cronjob(real, c, f"{c['metadata']['name']}-e2e"): c for c in crons}
    for job, cron in jobs.items():
        status = wait_for(
            lambda job=job: batch.read_namespaced_job_status(job, NS).status.succeeded, f"{job}", timeout=90
        )
        assert status == 1
        (pod,) = _job_pods(real, job)
        command = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
        assert core.read_namespaced_pod_log(pod.metadata.name, NS).strip() == f"ran {command[-1]}"


def test_a_failing_job_is_retried_up_to_its_backoff_limit_then_failed(real: Cluster) -> None:
    _, _, batch, _ = real.api()
    cron = next(m for m in real.manifests if m["kind"] == "CronJob")
    limit = cron["spec"]["jobTemplate"]["spec"]["backoffLimit"]
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
    from components.pod_spec import RUN_AS_USER

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
