"""Processes as Linux's /proc shows them: the one place that parses `/proc/<pid>/stat`
(proc_pid_stat(5): after the command in parentheses come (3) state, (4) ppid, (5) pgrp,
(6) session, ... (22) starttime, the clock ticks from boot to the process's start) and
`/proc/<pid>/cmdline` (its arguments, each ended by a NUL).

A pid alone does not name a process: after a reboot or a long uptime the kernel hands it
to another one. A pid with its start time does: no two processes of one boot share both."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_STARTTIME = 22  # proc_pid_stat(5) field numbers, counted from 1 (pid)
_STATE = 3


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str
    """R, S, T for stopped, Z for a zombie, ..."""
    ppid: int
    pgrp: int
    session: int
    start_time: int
    """Clock ticks from boot to its start: with the pid, a name no other process has."""


def _read(stat: Path) -> Proc | None:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        state, ppid, pgrp, session = fields[:4]
        start_time = int(fields[_STARTTIME - _STATE])
        return Proc(int(stat.parent.name), state, int(ppid), int(pgrp), int(session), start_time)
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


def processes() -> list[Proc]:
    """Every process there is now; none where there is no /proc."""
    return [proc for stat in PROC.glob("[0-9]*/stat") if (proc := _read(stat)) is not None]


def process(pid: int) -> Proc | None:
    """The process with this pid, None if there is none (or no /proc)."""
    return _read(PROC / str(pid) / "stat")


def state(pid: int) -> str:
    """The process's state letter, '' if it is gone."""
    proc = process(pid)
    return proc.state if proc else ""


def alive(pid: int) -> bool:
    """A process with this pid exists and is not a zombie (any owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's: it exists
    return state(pid) not in ("Z", "X")


def start_time(pid: int) -> str | None:
    """When the process started, as a token that differs for a pid handed to another
    process: its starttime from /proc, or where there is no /proc `ps -o lstart=`."""
    if PROC.is_dir():
        proc = process(pid)
        return str(proc.start_time) if proc else None
    found = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True)
    return found.stdout.strip() or None


def boot_id() -> str | None:
    """This boot's random id (Linux: /proc/sys/kernel/random/boot_id): a start time counts
    from boot, so it names a process only together with the boot."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip() or None
    except OSError:
        return None


def command_line(pid: int) -> list[str] | None:
    """The process's arguments (argv), None when it is gone or they cannot be read."""
    if PROC.is_dir():
        try:
            raw = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] or None
    found = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    return found.stdout.split() or None


def environment_has(pid: int, entry: str) -> bool:
    """`entry` ('NAME=value') is in the process's environment as it started (our own processes only)."""
    try:
        return entry.encode() in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
