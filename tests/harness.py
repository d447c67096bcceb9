"""The offline engine as the tests use it, plus the tests' own fixtures."""

from __future__ import annotations

import copy
import os
import socket
from typing import Any

from offline.engine import (
    BOOTSTRAP_STACK,
    PLACEHOLDER_APP_KEY,
    ROOT,
    RUNNER_EGRESS_IP,
    SERVER_ID,
    STACKS,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Evaluation,
    PlatformMocks,
    RecordingMonitor,
    Registration,
    bootstrap_stack_file_config,
    client_id_of,
    devicecode_kubeconfig,
    engine_config,
    evaluate_bootstrap,
    is_secret,
    placeholder_secrets,
    principal_id_of,
    project_config,
    secret_values,
    stack_file_config,
    to_manifest,
    unwrap_secrets,
)
from offline.engine import evaluate as evaluate_fresh

__all__ = [
    "BOOTSTRAP_STACK",
    "PLACEHOLDER_APP_KEY",
    "ROOT",
    "RUNNER_EGRESS_IP",
    "SERVER_ID",
    "STACKS",
    "SUBSCRIPTION_ID",
    "TENANT_ID",
    "Evaluation",
    "PlatformMocks",
    "RecordingMonitor",
    "Registration",
    "bootstrap_stack_file_config",
    "client_id_of",
    "devicecode_kubeconfig",
    "engine_config",
    "evaluate",
    "evaluate_bootstrap",
    "evaluate_fresh",
    "evaluate_recording",
    "free_port",
    "is_secret",
    "monitor_specs_for",
    "patched_stack_file",
    "placeholder_secrets",
    "pod_ready",
    "principal_id_of",
    "project_config",
    "secret_values",
    "stack_file_config",
    "to_manifest",
    "unwrap_secrets",
    "wait_for",
]  # fmt: skip


_PLAIN_EVALUATIONS: dict[tuple[str, str | None], Evaluation] = {}


def evaluate(stack: str, **overrides: Any) -> Evaluation:
    """The offline engine's evaluation, each with a fresh event loop, mocks and monitor.

    A stack evaluated exactly as its files say (no overrides) gives the same result
    every time, so that one is made once per session and handed out as a deep copy:
    no test sees another's changes. The key includes LOCAL_CLUSTER_DIR, which the
    program reads. Everything with overrides is evaluated afresh."""
    if overrides:
        return evaluate_fresh(stack, **overrides)
    key = (stack, os.environ.get("LOCAL_CLUSTER_DIR"))
    if key not in _PLAIN_EVALUATIONS:
        _PLAIN_EVALUATIONS[key] = evaluate_fresh(stack)
    return copy.deepcopy(_PLAIN_EVALUATIONS[key])


def patched_stack_file(stack: str, patch: dict[str, Any]) -> dict[str, Any]:
    """The stack file's config with `patch` deep-merged in, as an edit of that file would."""
    from settings.loader import deep_merge

    return deep_merge(stack_file_config(stack), copy.deepcopy(patch))


def evaluate_recording(stack: str, **kwargs: Any) -> tuple[RecordingMonitor, Exception | None]:
    """Evaluate, keeping the monitor, so a test can see what was registered before a failure."""
    monitor = RecordingMonitor(PlatformMocks())
    try:
        evaluate_fresh(stack, monitor=monitor, **kwargs)
    except Exception as err:
        return monitor, err
    return monitor, None


def wait_for(condition: Any, what: str, timeout: float = 90, interval: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy, and return that; fail naming `what`."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on at the moment of asking (TCP, or `kind`)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pod_ready(pod: Any) -> bool:
    """A pod that is Ready and not on its way out."""
    from devenv.kube import is_ready

    return pod.metadata.deletion_timestamp is None and is_ready(pod)


# A worker, a jobs-only service and a fixed-size web app beside a stack's own services: every
# kind's monitors.
EVERY_KIND = {
    "mailer": {"team": "growth", "worker": {"image": "ghcr.io/example-org/mailer:0.9.0", "probe": {"command": ["true"]},
                                            "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}},
    "etl": {"team": "data", "jobs": [{"name": "load", "schedule": "0 3 * * *", "command": ["etl"],
                                      "image": "ghcr.io/example-org/etl:2.0.1"}]},
}  # fmt: skip


def monitor_specs_for(stack: str, extra_services: dict | None = None) -> list:
    """Every MonitorSpec of `stack` (plus `extra_services`), built from the stack file as the
    program builds them, without evaluating the program or importing pulumi_datadog."""
    from components.service.monitors import monitor_specs
    from settings.loader import validate_settings

    runtime = {key.split(":", 1)[1]: value for key, value in stack_file_config(stack).items()}
    if extra_services:
        runtime["services"] = {**(runtime.get("services") or {}), **extra_services}
    settings = validate_settings(stack, runtime)
    cluster = settings.cluster_name(stack)
    return monitor_specs(settings.datadog, dict(settings.services), cluster, settings.environment)
