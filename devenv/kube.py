"""What a failed request to a Kubernetes API server says, in a few words."""

from __future__ import annotations

import re
import textwrap


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
