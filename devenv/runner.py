"""Running the Pulumi CLI for the dev stack so that a person is never left
stuck: Ctrl-C cancels cleanly, a lock left by a dead run is cleared, pending
operations are cleared after a refresh, and an unreachable API server fails
in seconds instead of hanging.

Why not subprocess.run: on Ctrl-C it kills the child 0.25 s later, which is
exactly what left locked stacks, pending operations and orphaned plugins."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devenv import procs
from devenv.procs import processes
from devenv.tools import which_pulumi

# How long an update may go without printing anything while the API server
# does not answer, before the watchdog cancels it.
STALL_SECONDS = 60.0
POLL_SECONDS = 2.0
# How long a run waits for another live run's lock on the dev stack: longer than
# a first deploy, shorter than "forever".
LOCK_WAIT_SECONDS = 15 * 60.0


class RunFailed(Exception):  # noqa: N818 - an expected outcome, not a programming error
    """A step failed in a way the person was already told about; exit with this code, no traceback."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code


def log(message: str) -> None:
    print(f"[dev {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------- locks


@dataclass(frozen=True)
class Lock:
    path: Path
    pid: int
    hostname: str
    timestamp: str


def stack_locks(state_dir: Path) -> list[Lock]:
    """Lock files of the file backend: .pulumi/locks/<stack>/<id>.json, each naming the pid and host
    that holds it (pulumi pkg/v3@v3.274.1 backend/diy/lock.go)."""
    locks = []
    for path in (state_dir / ".pulumi" / "locks").rglob("*.json"):
        try:
            content = json.loads(path.read_text())
            locks.append(Lock(path, int(content["pid"]), str(content["hostname"]), str(content.get("timestamp", ""))))
        except (OSError, ValueError, KeyError):
            continue
    return locks


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_locks(state_dir: Path) -> list[Lock]:
    """Remove locks held by processes of this machine that no longer exist.
    A lock of a live process is a run in progress: it is left alone."""
    cleared = []
    for lock in stack_locks(state_dir):
        if lock.hostname == socket.gethostname() and not _alive(lock.pid):
            lock.path.unlink(missing_ok=True)
            log(f"cleared a lock left by an interrupted run (pid {lock.pid}, gone, since {lock.timestamp})")
            cleared.append(lock)
    return cleared


def wait_for_live_locks(state_dir: Path, timeout: float | None = None, poll: float = 1.0) -> None:
    """Clear locks of dead runs; wait (bounded) while a live process holds the stack,
    saying whose lock it is, instead of failing with "the stack is currently locked"."""
    timeout = LOCK_WAIT_SECONDS if timeout is None else timeout
    started = time.monotonic()
    announced: set[Path] = set()
    while True:
        clear_stale_locks(state_dir)
        held = stack_locks(state_dir)
        if not held:
            if announced:
                log(f"the dev stack is free after {time.monotonic() - started:.0f} s; carrying on")
            return
        for lock in held:
            if lock.path not in announced:
                log(f"the dev stack is locked by a running pulumi (pid {lock.pid} on {lock.hostname}, "
                    f"since {lock.timestamp}); waiting for it to finish (at most {timeout:.0f} s)")  # fmt: skip
                announced.add(lock.path)
        if time.monotonic() - started >= timeout:
            lock = held[0]
            raise RunFailed(4, f"the dev stack is still locked by pid {lock.pid} on {lock.hostname} after "
                               f"{timeout:.0f} s: let it finish, or stop it, then run `make dev` again")  # fmt: skip
        time.sleep(poll)


# ------------------------------------------------------------------ running

# After a second Ctrl-C pulumi aborts at once; if it has not ended after this long (a plugin
# it waits for, a hung write), the runner ends it and its plugins itself.
ABORT_GRACE_SECONDS = 5.0
# How long pulumi's session gets to go after SIGTERM before SIGKILL.
REAP_GRACE_SECONDS = 3.0
# Every process of one run carries this variable with the run's own value: the proof,
# with the session id, that a leftover process belongs to that run (end_leftovers).
RUN_MARKER = "DEV_RUNNER_RUN"


@dataclass
class Pulumi:
    """The pulumi CLI in one project directory and environment."""

    workdir: Path
    env: dict[str, str]
    reachable: Callable[[], str | None] | None = None
    """Returns None when the cluster answers, else why not; enables the stall watchdog."""
    records: Path | None = None
    """Where each long command leaves a record of its run while it lasts (end_leftovers)."""
    _watchdog_cancelled: bool = field(default=False, init=False, repr=False)

    def capture(self, *args: str) -> subprocess.CompletedProcess:
        """A short command whose output the runner reads (no prompt, no progress)."""
        return subprocess.run(
            [which_pulumi(self.env), *args], cwd=self.workdir, env=self.env,
            capture_output=True, text=True, preexec_fn=_private_files,
        )  # fmt: skip

    def run(self, *args: str) -> int:
        """Run a command that may take long, streaming its output; Ctrl-C cancels it cleanly,
        a second Ctrl-C ends it within seconds, and no process of it outlives the run."""
        marker = secrets.token_hex(8)
        self._watchdog_cancelled = False
        # Signals are only recorded from before pulumi starts until its session is reaped:
        # an exception raised at an arbitrary point (inside Popen.wait, holding its lock)
        # could leave pulumi unreaped and the runner waiting on it forever.
        with _signals_recorded() as received:
            process = subprocess.Popen(
                [which_pulumi(self.env), *args], cwd=self.workdir, env={**self.env, RUN_MARKER: marker},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                # Its own session: the terminal's Ctrl-C reaches only this runner,
                # which forwards exactly one SIGINT (a second one makes pulumi abort).
                start_new_session=True, preexec_fn=_private_files,
            )  # fmt: skip
            record = RunRecord.of(process.pid, marker).write(self.records) if self.records else None
            try:
                last_output = [time.monotonic()]
                threading.Thread(target=_pump, args=(process, last_output), daemon=True).start()
                code = self._wait(process, last_output, received)
            finally:
                _reap_group(process)
                if record:
                    record.unlink(missing_ok=True)
        return code

    def _wait(self, process: subprocess.Popen, last_output: list[float], received: list[int]) -> int:
        interrupts = 0
        unreachable_since: float | None = None
        next_watch = time.monotonic() + POLL_SECONDS
        abort_deadline: float | None = None
        while (code := process.poll()) is None:
            while received:
                interrupts += 1
                abort_deadline = _interrupt(process, signal.Signals(received.pop(0)), interrupts) or abort_deadline
            now = time.monotonic()
            if abort_deadline is not None and now >= abort_deadline:
                log(f"pulumi did not stop within {ABORT_GRACE_SECONDS:.0f} s of the abort: ending it and its plugins")
                _kill_session(process.pid)
                abort_deadline = None
            if now >= next_watch:
                unreachable_since = self._watchdog(process, last_output, unreachable_since)
                next_watch = now + POLL_SECONDS
            time.sleep(0.05)
        if interrupts:
            log("pulumi stopped after the interrupt; the next `make dev` refreshes and carries on")
        return code

    def _watchdog(self, process: subprocess.Popen, last_output: list[float], since: float | None) -> float | None:
        if self.reachable is None or self._watchdog_cancelled or time.monotonic() - last_output[0] < STALL_SECONDS / 2:
            return None  # once cancelled, pulumi is left to finish its cancel: a second SIGINT would abort it
        problem = self.reachable()
        if problem is None:
            return None
        now = time.monotonic()
        since = since or now
        if now - since >= STALL_SECONDS / 2 and now - last_output[0] >= STALL_SECONDS:
            log(f"no progress for {now - last_output[0]:.0f} s and the cluster does not answer ({problem}): "
                "cancelling the update")  # fmt: skip
            _signal(process, signal.SIGINT)
            self._watchdog_cancelled = True
            return None
        return since


def _interrupt(process: subprocess.Popen, sig: signal.Signals, count: int) -> float | None:
    """Pass the person's `count`th interrupt on to pulumi, saying what it does. Returns the
    moment by which an aborting pulumi must have ended, when the abort starts now."""
    what = "Ctrl-C" if sig == signal.SIGINT else sig.name  # SIGTERM, SIGHUP: said as they are
    if count == 1:
        log(f"{what}: asking pulumi to cancel cleanly (it finishes the steps in flight). "
            "Press Ctrl-C again to abort at once.")  # fmt: skip
        _signal(process, signal.SIGINT)
        return None
    if count == 2:
        log(f"{what} again: aborting. Steps in flight are left as pending operations in the "
            "state; the next `make dev` clears them after a refresh.")  # fmt: skip
        _signal(process, signal.SIGINT)
        return time.monotonic() + ABORT_GRACE_SECONDS
    log(f"{what} a third time: ending pulumi and its plugins now")
    _kill_session(process.pid)
    return None


@contextlib.contextmanager
def _signals_recorded() -> Iterator[list[int]]:
    """SIGINT (Ctrl-C), SIGTERM (make, an IDE's stop button, `timeout`) and SIGHUP (a closed
    terminal) are recorded, in order, for the wait loop to act on; nothing is raised. All
    three mean "stop": pulumi gets one SIGINT and the runner waits for its clean cancel.
    Dying at once would leave pulumi to die on its next write to our pipe, unreaped and,
    as dev writes the state once per command, with its run unrecorded. SIGINT is set here
    too rather than left to Python: a process started in the background by a shell without
    job control inherits SIGINT ignored, and Python then raises no KeyboardInterrupt at all
    (a CI run started that way, 2026-11-29 17:37 UTC, lost the two Ctrl-C unit tests to it).

    Why not raise KeyboardInterrupt, as Python does: it lands wherever the main thread is,
    and inside `Popen.wait(timeout)` that can be between taking its `_waitpid_lock` and the
    `try` that releases it (CPython 3.11 Lib/subprocess.py `_wait`); every later wait then
    spins or blocks and pulumi stays a zombie: the hang of a second Ctrl-C (issue 23)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _pump(process: subprocess.Popen, last_output: list[float]) -> None:
    assert process.stdout is not None
    echo = True
    for line in process.stdout:
        last_output[0] = time.monotonic()
        if not echo:
            continue  # keep draining: pulumi must never block or die on a full or broken pipe
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except OSError:  # our own output is gone (a closed terminal, a broken pipe)
            echo = False


def _signal(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)


def _kill_session(session: int) -> None:
    """SIGKILL pulumi's session at once: every process of it (its plugins each have a group of their own)."""
    for pid in _session_members(session):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _reap_group(process: subprocess.Popen) -> None:
    """Make sure no plugin (language host, provider) outlives pulumi. They live in pulumi's
    session but each in a process group of its own (pulumi sdk v3.274.1
    go/common/resource/plugin/plugin.go: `cmdutil.RegisterProcessGroup`, Setpgid), so a
    pulumi that was killed leaves them behind unless the whole session is ended. Bounded:
    SIGKILL follows SIGTERM after REAP_GRACE_SECONDS."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=REAP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _end_session(process.pid)


def _end_session(
    session: int, grace: float = REAP_GRACE_SECONDS, members: Callable[[], list[int]] | None = None
) -> None:
    """SIGTERM every process of `session` (or of `members()`), then SIGKILL what is still
    there after `grace` s; gives up, saying so, on what even SIGKILL does not end in 5 s more
    (a process stuck in the kernel)."""
    members = members or (lambda: _session_members(session))
    started = time.monotonic()
    sig = signal.SIGTERM
    while left := members():
        elapsed = time.monotonic() - started
        if elapsed > grace + 5:
            log(f"could not end process(es) {', '.join(map(str, left))} of pulumi's session {session}")
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if elapsed > grace:
            sig = signal.SIGKILL
        time.sleep(0.1)


def _session_members(session: int) -> list[int]:
    """Live processes whose session id is `session`."""
    return [proc.pid for proc in processes() if proc.session == session and proc.state != "Z"]


def _private_files() -> None:
    # State, backups and logs the CLI writes are readable by their owner only.
    os.umask(0o077)


# ------------------------------------------------------ leftovers of killed runs


@dataclass(frozen=True)
class RunRecord:
    """A long pulumi command while it runs: the runner's pid and start time, pulumi's (its
    session id: pulumi leads a session of its own) and the run's marker, which every process
    of the run inherits in its environment. Removed when the run ends; left behind only when
    the runner is killed (SIGKILL, a terminal's whole process group), and then the next run
    uses it to find and end what that run left (end_leftovers)."""

    runner: int
    runner_start: str | None
    session: int
    session_start: str | None
    marker: str

    @classmethod
    def of(cls, pulumi_pid: int, marker: str) -> RunRecord:
        return cls(os.getpid(), procs.start_time(os.getpid()), pulumi_pid, procs.start_time(pulumi_pid), marker)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.runner}-{self.session}.json"
        path.write_text(json.dumps(dataclasses.asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> RunRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def runner_alive(self) -> bool:
        return procs.alive(self.runner) and procs.start_time(self.runner) == self.runner_start

    def leftovers(self) -> list[int]:
        """Live processes of the run: in its session, and carrying its marker."""
        return [
            proc.pid
            for proc in processes()
            if proc.session == self.session
            and proc.state != "Z"
            and procs.environment_has(proc.pid, f"{RUN_MARKER}={self.marker}")
        ]


def end_leftovers(records: Path) -> int:
    """End the processes of runs whose runner died without reaping them (a SIGKILL leaves
    pulumi's plugins running, hundreds of MB, indefinitely). Only what a record proves is
    that run's: its session and its marker. Runs whose runner lives are left alone.
    Returns how many processes were ended."""
    ended = 0
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        record = RunRecord.read(path)
        if record is not None and record.runner_alive():
            continue
        left = record.leftovers() if record is not None else []
        if left:
            names = ", ".join(f"{pid} {Path((procs.command_line(pid) or ['?'])[0]).name}" for pid in left)
            log(f"ending {len(left)} process(es) left by a run whose runner was killed (pid {record.runner}): {names}")
            _end_session(record.session, members=record.leftovers)  # type: ignore[union-attr]
            ended += len(left)
        path.unlink(missing_ok=True)
    return ended


# ---------------------------------------------------------- pending operations


def pending_operations(pulumi: Pulumi, stack: str) -> list[str]:
    """The URNs of operations an interrupted run left in flight."""
    exported = pulumi.capture("stack", "export", "--stack", stack)
    if exported.returncode != 0:
        return []
    deployment = json.loads(exported.stdout).get("deployment") or {}
    return [op.get("resource", {}).get("urn", "?") for op in deployment.get("pending_operations") or []]


def clear_pending_operations(pulumi: Pulumi, stack: str) -> None:
    """A refresh finds out what really happened to each one; --clear-pending-creates drops the rest."""
    pending = pending_operations(pulumi, stack)
    if not pending:
        return
    log(f"{len(pending)} operation(s) left pending by an interrupted run; refreshing to clear them")
    code = pulumi.run("refresh", "--stack", stack, "--yes", "--skip-preview", "--clear-pending-creates")
    if code != 0:
        raise RunFailed(code, "the refresh that clears pending operations failed (see above)")
