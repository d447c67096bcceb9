"""Steady traffic to a Service from where the ingress controller sits: a pod of its
namespace (the only one a web app's NetworkPolicy admits) on a real node runs a bounded
request loop (devenv/standin/load_client.py) against the Service's ClusterIP, so every
request crosses kube-proxy's endpoint handling and the policy engine on real packets.

Used by the upgrade rehearsal (devenv/rehearsal.py) and the real-node tests."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devenv.dataplane import REAL_NODE_SELECTOR, REAL_NODE_TOLERATION, SYSTEM_POOL_TOLERATION
from devenv.kube import is_ready, wait_until

CLIENT = "load-client"
SCRIPT = Path(__file__).resolve().parent / "standin" / "load_client.py"
# Hard bounds, whatever a caller waits for: the loop sends only to this cluster's
# Services (its own network namespace) and stops by itself.
MAX_REQUESTS = 40_000
MAX_SECONDS = 240


def exec_in(
    api_client: Any, pod: str, namespace: str, container: str, command: list[str], timeout: float = 30
) -> tuple[int, str]:
    """Run `command` in the container through the API server and the kubelet; (exit code, output)."""
    from kubernetes import client
    from kubernetes.stream import stream

    core = client.CoreV1Api(api_client)
    session = stream(
        core.connect_get_namespaced_pod_exec, pod, namespace, container=container, command=command,
        stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False,
    )  # fmt: skip
    session.run_forever(timeout=timeout)
    code = session.returncode  # from the error channel, before the output is read (reading clears it)
    output = session.read_channel(1) + session.read_channel(2)
    session.close()
    return code, output


def start_client(api_client: Any, namespace: str, image: str, node: str | None = None) -> str:
    """The client pod in `namespace` (made if missing), on a real node (`node`: that one), Ready."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except ApiException as err:
        if err.status != 409:
            raise
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": CLIENT}, "data": {"load_client.py": SCRIPT.read_text()}}
    )
    selector = {**REAL_NODE_SELECTOR, **({"kubernetes.io/hostname": node} if node else {})}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": CLIENT, "labels": {"app": CLIENT}},
        "spec": {
            "nodeSelector": selector, "tolerations": [REAL_NODE_TOLERATION, SYSTEM_POOL_TOLERATION],
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "client", "image": image, "imagePullPolicy": "Never",
                            "command": ["python3", "-c", "import time; time.sleep(10**9)"],
                            "volumeMounts": [{"name": "load", "mountPath": "/load"}]}],
            "volumes": [{"name": "load", "configMap": {"name": CLIENT}}],
        },
    })  # fmt: skip
    ready = lambda: is_ready(core.read_namespaced_pod(CLIENT, namespace))  # noqa: E731
    wait_until(ready, f"the traffic client pod in {namespace} to become ready", timeout=90)
    return CLIENT


def service_url(api_client: Any, service: str, namespace: str, path: str = "/") -> str:
    from kubernetes import client

    svc = client.CoreV1Api(api_client).read_namespaced_service(service, namespace)
    return f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}{path}"


class Traffic:
    """A steady stream of requests from the client pod to `url`, while the `with` block
    runs; then the answers per pod (the stand-in app answers with its pod's name) and
    the failures."""

    def __init__(self, api_client: Any, namespace: str, url: str, senders: int = 4, interval: float = 0.02) -> None:
        self._api, self._namespace, self._url = api_client, namespace, url
        self._senders, self._interval = senders, interval
        self._stop_file = f"/tmp/stop-{time.monotonic_ns()}"
        self._output = ""
        self._thread = threading.Thread(target=self._run)
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self.seconds = 0.0

    def _run(self) -> None:
        command = ["python3", "/load/load_client.py", self._url, self._stop_file, str(self._senders),
                   str(self._interval), str(MAX_SECONDS), str(MAX_REQUESTS)]  # fmt: skip
        _, self._output = exec_in(self._api, CLIENT, self._namespace, "client", command, timeout=MAX_SECONDS + 30)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        exec_in(self._api, CLIENT, self._namespace, "client", ["touch", self._stop_file])
        self._thread.join()
        if exc_type is not None:
            return  # the block's own failure is the one to report
        result = json.loads(self._output.strip().splitlines()[-1])
        self.served, self.failures, self.seconds = Counter(result["served"]), result["failures"], result["seconds"]
        if result["stopped_by"] != "stop-file":
            # The loop ended on its own bound (MAX_SECONDS, MAX_REQUESTS) before the block did:
            # what came after went unmeasured, so no count may be read as the whole.
            raise RuntimeError(f"the traffic stopped by itself ({result['stopped_by']}) before the block ended")

    @property
    def total(self) -> int:
        return sum(self.served.values()) + len(self.failures)
