"""Processes as Linux's /proc shows them: the one place that parses `/proc/<pid>/stat`
(proc(5): after the command in parentheses come state, ppid, pgrp, session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str
    """R, S, T for stopped, Z for a zombie, ..."""
    ppid: int
    session: int


def _read(stat: Path) -> Proc | None:
    try:
        state, ppid, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        return Proc(int(stat.parent.name), state, int(ppid), int(session))
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


def processes() -> list[Proc]:
    """Every process there is now; none where there is no /proc."""
    return [proc for stat in PROC.glob("[0-9]*/stat") if (proc := _read(stat)) is not None]


def state(pid: int) -> str:
    """The process's state letter, '' if it is gone."""
    proc = _read(PROC / str(pid) / "stat")
    return proc.state if proc else ""
