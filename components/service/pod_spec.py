"""Pod building blocks shared by every workload of a service: resources, env,
probes, the graceful stop (the hardening itself is components/kubernetes/hardening.py).
Not a component: plain functions that return Kubernetes dicts."""

from __future__ import annotations

import math
from typing import Any

from components.service.workload import SecretRef, WorkloadIdentity
from settings.service.workload import Resources


def image_tag(image: str) -> str:
    """'repo/app:1.2.3' -> '1.2.3'; a digest-pinned image -> the short digest."""
    if "@" in image:
        return image.rsplit("@", 1)[1].removeprefix("sha256:")[:12]
    return image.rsplit(":", 1)[1]


def container_resources(resources: Resources) -> dict[str, Any]:
    # No CPU limit on purpose: CFS throttling adds latency even on idle nodes.
    return {
        "requests": {"cpu": resources.cpu, "memory": resources.memory},
        "limits": {"memory": resources.memory_limit},
    }


def container_env(values: dict[str, str], secret: SecretRef | None, identity: WorkloadIdentity) -> list[dict[str, Any]]:
    """The identity's Datadog variables, plain variables from config, then each
    key of the service's Secret by reference. A name set in config or the
    Secret replaces the Datadog default (one entry per name: server-side apply
    rejects duplicates)."""
    own = set(values) | set(secret.keys if secret else ())
    env: list[dict[str, Any]] = [e for e in identity.datadog_env() if e["name"] not in own]
    env += [{"name": name, "value": value} for name, value in sorted(values.items())]
    if secret is not None:
        env += [
            {"name": key, "value_from": {"secret_key_ref": {"name": secret.name, "key": key}}}
            for key in sorted(secret.keys)
        ]
    return env


def http_check(path: str, port: int | str) -> dict[str, Any]:
    return {"http_get": {"path": path, "port": port}}


def exec_check(command: list[str]) -> dict[str, Any]:
    return {"exec": {"command": list(command)}}


def _probe(check: dict[str, Any], *, period: int, failures: int) -> dict[str, Any]:
    return {**check, "period_seconds": period, "timeout_seconds": 2, "failure_threshold": failures}


STARTUP_PERIOD_SECONDS = 2


def probes(
    readiness: dict[str, Any], liveness: dict[str, Any] | None = None, startup_seconds: int = 120
) -> dict[str, Any]:
    """Readiness gates traffic; liveness restarts a hung process; the startup probe
    (on the liveness check) holds liveness off for up to `startup_seconds`, so a
    slow boot is never killed and liveness can stay strict. One check serves all
    three when the container has a single health endpoint."""
    liveness = liveness or readiness
    startup_failures = math.ceil(startup_seconds / STARTUP_PERIOD_SECONDS)
    return {
        "startup_probe": _probe(liveness, period=STARTUP_PERIOD_SECONDS, failures=startup_failures),
        "readiness_probe": _probe(readiness, period=5, failures=3),
        "liveness_probe": _probe(liveness, period=10, failures=3),
    }


def pre_stop_sleep(seconds: int) -> dict[str, Any]:
    """Keep serving `seconds` after termination starts, while endpoints and the
    ingress stop routing here. The kubelet's own sleep action: no shell in the
    image (KEP-3960, feature gate PodLifecycleSleepAction GA and locked on in 1.34:
    kubernetes/website content/en/docs/reference/command-line-tools-reference/
    feature-gates/PodLifecycleSleepAction.md)."""
    return {"pre_stop": {"sleep": {"seconds": seconds}}}


# Checkov findings every service workload fails on purpose, each with its reason.
WORKLOAD_CHECKOV_SKIPS = {
    "CKV_K8S_11": "No CPU limit by design: CFS throttling adds latency; requests plus the namespace quota bound usage",
    "CKV_K8S_43": "Images are pinned by immutable release tag; a digest can be set per stack in config",
    "CKV_K8S_35": "Apps read 12-factor env vars; the Secret is built from Pulumi secret config and stays secret",
}
