"""Pod building blocks shared by every workload the platform runs, so the
hardening is written once and every Deployment and CronJob gets the same.
Not a component: plain functions that return Kubernetes dicts."""

from __future__ import annotations

from typing import Any

from settings.model import Resources

# A high, fixed UID/GID: never root, never a UID that exists on the node.
RUN_AS_USER = 10001


def standard_labels(service: str, component: str, team: str, version: str | None = None) -> dict[str, str]:
    """The recommended app.kubernetes.io/* labels plus Datadog unified service tags."""
    labels = {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": service,
        "app.kubernetes.io/managed-by": "pulumi",
        "platform/team": team,
        "tags.datadoghq.com/service": service,
    }
    if version:
        labels["app.kubernetes.io/version"] = version
        labels["tags.datadoghq.com/version"] = version
    return labels


def selector_labels(service: str, component: str) -> dict[str, str]:
    """The stable subset of labels used in selectors (never the version)."""
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/component": component}


def image_tag(image: str) -> str:
    """'repo/app:1.2.3' -> '1.2.3'; a digest-pinned image -> the short digest."""
    if "@" in image:
        return image.rsplit("@", 1)[1].removeprefix("sha256:")[:12]
    return image.rsplit(":", 1)[1]


def pod_security_context() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": RUN_AS_USER,
        "fs_group": RUN_AS_USER,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Pod Security 'restricted' plus a read-only root filesystem."""
    return {
        "run_as_non_root": True,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def container_resources(resources: Resources) -> dict[str, Any]:
    # No CPU limit on purpose: CFS throttling adds latency even on idle nodes.
    return {
        "requests": {"cpu": resources.cpu, "memory": resources.memory},
        "limits": {"memory": resources.memory_limit},
    }


def secret_env(secret_name: Any, names: list[str]) -> list[dict[str, Any]]:
    """Environment variables read from the service's Kubernetes Secret."""
    return [
        {"name": name, "value_from": {"secret_key_ref": {"name": secret_name, "key": name}}} for name in sorted(names)
    ]


def plain_env(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in sorted(values.items())]


def http_probe(path: str, port: int | str, *, period: int = 10, failures: int = 3) -> dict[str, Any]:
    return {
        "http_get": {"path": path, "port": port},
        "period_seconds": period,
        "timeout_seconds": 2,
        "failure_threshold": failures,
    }


def probes(path: str, port: int | str) -> dict[str, Any]:
    """Startup (slow boots are fine), readiness (gate traffic), liveness (restart a hung process)."""
    return {
        "startup_probe": http_probe(path, port, period=2, failures=60),
        "readiness_probe": http_probe(path, port, period=5),
        "liveness_probe": http_probe(path, port, period=10, failures=6),
    }


# Checkov findings every service workload fails on purpose, each with its reason.
WORKLOAD_CHECKOV_SKIPS = {
    "CKV_K8S_11": "No CPU limit by design: CFS throttling adds latency; requests plus the namespace quota bound usage",
    "CKV_K8S_43": "Images are pinned by immutable release tag; a digest can be set per stack in config",
    "CKV_K8S_35": "Apps read 12-factor env vars; the Secret is built from Pulumi secret config and stays secret",
}


def checkov_annotations(skips: dict[str, str]) -> dict[str, str]:
    """`checkov.io/skipN: CHECK=reason`, the annotation checkov honours on a workload."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(skips.items()), 1)}
