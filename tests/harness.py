"""The offline engine as the tests use it, plus the tests' own fixtures."""

from __future__ import annotations

import copy
from typing import Any

from offline.engine import (
    ROOT,
    SERVER_ID,
    STACKS,
    TENANT_ID,
    Evaluation,
    PlatformMocks,
    RecordingMonitor,
    Registration,
    devicecode_kubeconfig,
    engine_config,
    evaluate,
    is_secret,
    placeholder_secrets,
    project_config,
    secret_values,
    stack_file_config,
    to_manifest,
    unwrap_secrets,
)

__all__ = [
    "ROOT", "SERVER_ID", "STACKS", "TENANT_ID", "Evaluation", "PlatformMocks", "RecordingMonitor", "Registration",
    "devicecode_kubeconfig", "engine_config", "evaluate", "evaluate_recording", "is_secret", "patched_stack_file",
    "placeholder_secrets", "project_config", "secret_values", "stack_file_config", "to_manifest", "unwrap_secrets",
]  # fmt: skip


def patched_stack_file(stack: str, patch: dict[str, Any]) -> dict[str, Any]:
    """The stack file's config with `patch` deep-merged in, as an edit of that file would."""
    from settings.loader import deep_merge

    return deep_merge(stack_file_config(stack), copy.deepcopy(patch))


def evaluate_recording(stack: str, **kwargs: Any) -> tuple[RecordingMonitor, Exception | None]:
    """Evaluate, keeping the monitor, so a test can see what was registered before a failure."""
    monitor = RecordingMonitor(PlatformMocks())
    try:
        evaluate(stack, monitor=monitor, **kwargs)
    except Exception as err:
        return monitor, err
    return monitor, None
