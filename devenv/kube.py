"""Small helpers around a Kubernetes API server: what a failed request says, in a few
words; whether an object is Ready; waiting for a condition; re-creating a deleted object."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Callable
from typing import Any


def is_ready(obj: Any) -> bool:
    """A pod or node whose `Ready` condition is True."""
    return any(c.type == "Ready" and c.status == "True" for c in (obj.status.conditions or []))


def recreatable(saved: dict[str, Any]) -> dict[str, Any]:
    """A serialised object as the body that creates it again: its name, namespace, labels and
    annotations kept, what the server set (uid, resourceVersion, timestamps) and its status not."""
    metadata = {k: v for k, v in saved["metadata"].items() if k in ("name", "namespace", "labels", "annotations")}
    return {**{k: v for k, v in saved.items() if k != "status"}, "metadata": metadata}


def wait_until(condition: Callable[[], object], what: str, timeout: float, interval: float = 0.5) -> None:
    """Poll `condition` until it holds; past `timeout`, stop with SystemExit naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def failure_reason(err: BaseException, width: int = 200) -> str:
    """The innermost cause of a failed request, shortened at a word boundary: urllib3
    nests it (MaxRetryError -> NewConnectionError -> "[Errno 111] Connection refused")
    behind a long preamble, which a cut at a fixed length lands in, mid-word."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, ApiException):
        return f"HTTP {err.status} {err.reason or ''}".strip()
    cause: BaseException = err
    while isinstance(getattr(cause, "reason", None), BaseException):
        cause = cause.reason  # type: ignore[attr-defined]
    text = " ".join(str(cause).split()) or type(cause).__name__
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*", "", text)  # urllib3's connection repr
    return textwrap.shorten(f"{type(cause).__name__}: {text}", width, placeholder=" …")
