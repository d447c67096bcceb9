"""One run at a time where two would collide: a file lock that says who waits
for what, instead of failing or corrupting shared state."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class LockTimeout(Exception):  # noqa: N818 - an expected outcome, reported to the person
    """Another run held the lock longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive(
    path: Path, what: str, log: Callable[[str], None], timeout: float | None = None, poll: float = 0.5
) -> Iterator[None]:
    """Hold an exclusive flock on `path`. When another process holds it, say so once
    and wait (at most `timeout` seconds, if given). The kernel drops the lock when its
    holder dies, so a crashed run never blocks the next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        started = time.monotonic()
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    log(f"waiting for another run that is {what} ({path})")
                    announced = True
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise LockTimeout(f"another run kept {what} for more than {timeout:.0f} s ({path})") from None
                time.sleep(poll)
        if announced:
            log(f"the other run is done after {time.monotonic() - started:.0f} s; carrying on")
        yield
