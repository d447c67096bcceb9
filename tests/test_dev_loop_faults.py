"""Issue 23: the faults a person's machine brings to the dev loop, each refused or
recovered from with one line: a stale pid file, a second Ctrl-C that hangs, a runner
killed with SIGKILL. Real processes and signals, with a small stand-in for the pulumi
CLI; no cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv import local_cluster, procs, runner

ROOT = Path(__file__).resolve().parent.parent
ENCRYPTED = {"secure": "v1:c2FsdA==:ZW5jcnlwdGVk"}  # what `pulumi config set --secret` writes
PLANTED = "planted-plain-value-7f3e"

# Stands in for the pulumi CLI: starts a 'plugin' child in a group of its own (as pulumi
# does), records its pid, then on SIGINT cancels for a moment and exits 7, or, with
# FAKE_IGNORE_SIGINT=1, ignores SIGINT as a pulumi stuck in its abort would.
FAKE_PULUMI = """#!/usr/bin/env python3
import os, signal, subprocess, sys, time
record = os.environ["FAKE_RECORD"]
plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], process_group=0)
open(record + ".plugin", "w").write(str(plugin.pid))
def cancel(*_):
    open(record, "a").write("SIGINT\\n")
    time.sleep(0.3)
    sys.exit(7)
signal.signal(signal.SIGINT, signal.SIG_IGN if os.environ.get("FAKE_IGNORE_SIGINT") == "1" else cancel)
print("Updating (dev)", flush=True)
time.sleep(120)
"""

# A runner in a process of its own: its signals, its exit, its SIGKILL are the test's.
RUNNER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from devenv import runner
# Outside the run, a late signal of the test's burst is not the runner's to handle.
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda *_: None)
records = Path(os.environ["RUNS"]) if os.environ.get("RUNS") else None
runner.ABORT_GRACE_SECONDS = float(os.environ.get("ABORT_GRACE_SECONDS", getattr(runner, "ABORT_GRACE_SECONDS", 5)))
kwargs = {{"records": records}} if records and "records" in runner.Pulumi.__dataclass_fields__ else {{}}
code = runner.Pulumi(Path({workdir!r}), dict(os.environ), **kwargs).run("up")
print(f"runner exit {{code}}", flush=True)
"""


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RECORD", str(tmp_path / "record"))
    return tmp_path / "record"


def _gone(pid: int) -> bool:
    return procs.state(pid) in ("", "Z")


def _wait_until(condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start_runner(tmp_path: Path, **env: str) -> subprocess.Popen:
    script = RUNNER.format(root=str(ROOT), workdir=str(tmp_path))
    return subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _fake_pulumi_pid(record: Path) -> int:
    """The fake pulumi: the plugin's parent."""
    plugin = int(Path(f"{record}.plugin").read_text())
    return next(proc.ppid for proc in procs.processes() if proc.pid == plugin)


@contextlib.contextmanager
def _cleanup(*pids: int) -> Iterator[None]:
    """Whatever happens, no process of the test outlives it."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


# ------------------------------------------------------------- 4: pid files


def _cluster_paths(tmp_path: Path) -> local_cluster.Paths:
    paths = local_cluster.Paths(tmp_path / "cluster")
    paths.pids.mkdir(parents=True)
    return paths


def test_a_pid_file_whose_pid_another_process_now_has_is_not_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 4. After a reboot ~/.cache persists and pids are reused: a pid file naming an
    unrelated live process made `make cluster-up` say "already running" and wait 90 s.
    A pid file is trusted only for the process the cluster started: same program, same
    start time. The stale one is said so, left alone, and the component is started."""
    paths = _cluster_paths(tmp_path)
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)
    with _cleanup(unrelated.pid):
        (paths.pids / "etcd.pid").write_text(str(unrelated.pid))  # as written before records
        assert local_cluster._pid(paths, "etcd") is None
        # A record with the right program but another start time is another process too.
        stale = local_cluster.PidRecord(unrelated.pid, "1", ["sleep", "60"])
        stale.write(paths.pids / "kwok.pid")
        assert local_cluster._pid(paths, "kwok") is None
        command = [sys.executable, "-c", "import time; time.sleep(60)"]
        assert local_cluster._start(paths, "etcd", [], command=command) is True
        started = local_cluster._pid(paths, "etcd")
        with _cleanup(started or 0):
            out = capsys.readouterr().out
            assert f"etcd: its pid file is stale (pid {unrelated.pid} is now another process (sleep 60))" in out
            assert started and started != unrelated.pid and "already running" not in out
            assert local_cluster._start(paths, "etcd", [], command=command) is False  # ours, now trusted
            assert unrelated.poll() is None  # never signalled
            local_cluster._stop(paths, "etcd")
            _wait_until(lambda: _gone(started), "etcd to stop", timeout=5)
            assert unrelated.poll() is None


def test_cluster_status_prints_no_traceback_with_a_stale_pid_file_or_a_silent_api_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 4. `make cluster-status` claimed the API server ran (a reused pid) and printed a
    100-line traceback when listing the nodes failed. Now: stale is said, and a silent API
    server is one line."""
    paths = _cluster_paths(tmp_path)
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)
    with _cleanup(unrelated.pid):
        for name in local_cluster.COMPONENTS:
            (paths.pids / f"{name}.pid").write_text(str(unrelated.pid))
        env = {**os.environ, "LOCAL_CLUSTER_DIR": str(paths.root)}
        status = subprocess.run([sys.executable, "-m", "devenv.local_cluster", "status"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert status.returncode == 1, status.stdout + status.stderr
    assert "Traceback" not in status.stderr and "running" not in status.stdout.replace("not running", "")
    (apiserver,) = [line for line in status.stdout.splitlines() if line.startswith("kube-apiserver ")]
    assert apiserver.split()[1:7] == ["stopped", "(stale", "pid", "file:", "pid", f"{unrelated.pid}"], apiserver
    # Every component runs, but the API server does not answer: one line, no traceback.
    monkeypatch.setattr(local_cluster, "_pid", lambda paths, name: 4242)
    monkeypatch.setattr(local_cluster, "existing_nodes", lambda paths: (_ for _ in ()).throw(TimeoutError("timed out")))
    assert local_cluster.status(paths) == 1
    out = capsys.readouterr().out
    assert "nodes: the API server does not answer (TimeoutError: timed out): `make cluster-up`" in out


# ------------------------------------------------------------ 5, 6: signals


def test_a_second_ctrl_c_ends_the_run_within_seconds_even_when_pulumi_does_not_stop(
    fake_pulumi: Path, tmp_path: Path
) -> None:
    """Item 5. One second Ctrl-C in five never returned: the runner waited on a pulumi
    that stayed a zombie, holding the dev-stack lock for the next `make dev`. Now a pulumi
    that has not ended ABORT_GRACE_SECONDS after the abort is ended, with its plugins."""
    grace = 1.0
    started = time.monotonic()
    run = _start_runner(tmp_path, FAKE_IGNORE_SIGINT="1", ABORT_GRACE_SECONDS=str(grace))
    with _cleanup(run.pid):
        _wait_until(lambda: Path(f"{fake_pulumi}.plugin").exists(), "the fake pulumi's plugin")
        pulumi, plugin = _fake_pulumi_pid(fake_pulumi), int(Path(f"{fake_pulumi}.plugin").read_text())
        with _cleanup(pulumi, plugin):
            for _ in range(2):
                run.send_signal(signal.SIGINT)
                time.sleep(0.3)
            try:
                out, _ = run.communicate(timeout=grace + 10)
            except subprocess.TimeoutExpired:
                raise AssertionError("the runner did not end after a second Ctrl-C") from None
            elapsed = time.monotonic() - started
            assert "Ctrl-C again: aborting" in out and "did not stop within" in out, out
            assert "Traceback" not in out and "runner exit" in out, out
            assert elapsed < grace + 8, elapsed
            _wait_until(lambda: _gone(pulumi) and _gone(plugin), "pulumi and its plugin to be gone", timeout=5)


def test_a_burst_of_interrupts_never_hangs_the_runner_or_prints_a_traceback(fake_pulumi: Path, tmp_path: Path) -> None:
    """Item 5. Ctrl-C pressed again and again (or SIGTERM and SIGHUP among them): whatever
    the runner is doing when each lands, it ends, reaps pulumi and says what it did."""
    for attempt in range(3):
        Path(f"{fake_pulumi}.plugin").unlink(missing_ok=True)
        run = _start_runner(tmp_path)
        with _cleanup(run.pid):
            _wait_until(lambda: Path(f"{fake_pulumi}.plugin").exists(), "the fake pulumi's plugin")
            plugin = int(Path(f"{fake_pulumi}.plugin").read_text())
            with _cleanup(plugin):
                for number in range(40):
                    run.send_signal(
                        (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)[number % 3] if attempt else signal.SIGINT
                    )
                    time.sleep(0.005)
                out, _ = run.communicate(timeout=30)
                assert "Traceback" not in out and "runner exit" in out, out
                _wait_until(lambda plugin=plugin: _gone(plugin), "the plugin to be gone", timeout=5)


def test_the_next_run_ends_what_a_runner_killed_with_sigkill_left_and_nothing_else(
    fake_pulumi: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 6. A runner killed with SIGKILL (a terminal's whole process group) left
    pulumi's plugins running indefinitely (≈330 MB), and the next `make dev` did not end
    them. The run's record (its session and a marker in its processes' environment) lets
    the next run prove they are that run's, and end them; anything else is left alone."""
    records = tmp_path / "runs"
    run = _start_runner(tmp_path, RUNS=str(records))
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)  # not the run's
    with _cleanup(run.pid, other.pid):
        _wait_until(lambda: Path(f"{fake_pulumi}.plugin").exists(), "the run")
        pulumi, plugin = _fake_pulumi_pid(fake_pulumi), int(Path(f"{fake_pulumi}.plugin").read_text())
        with _cleanup(pulumi, plugin):
            _wait_until(lambda: list(records.glob("*.json")), "the run's record")
            run.kill()
            run.wait()
            time.sleep(0.5)
            assert not _gone(plugin) and not _gone(pulumi)  # what a SIGKILLed runner leaves
            # A live run's record is its own business.
            live = runner.RunRecord.of(other.pid, "another-run").write(records)
            assert runner.end_leftovers(records) == 2
            _wait_until(lambda: _gone(plugin) and _gone(pulumi), "the killed run's pulumi and plugin to be gone")
            assert other.poll() is None and live.exists()
            assert [p.name for p in records.glob("*.json")] == [live.name]
            out = capsys.readouterr().out
            assert "ending 2 process(es) left by a run whose runner was killed" in out
            assert runner.end_leftovers(records) == 0  # nothing twice


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_is_named_as_itself_not_as_ctrl_c(
    stop: signal.Signals, fake_pulumi: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 10. SIGTERM (make, an IDE, `timeout`) was reported as "Ctrl-C"."""
    threading.Timer(0.5, lambda: os.kill(os.getpid(), stop)).start()
    assert runner.Pulumi(tmp_path, dict(os.environ)).run("up") == 7
    out = capsys.readouterr().out
    assert f"{stop.name}: asking pulumi to cancel cleanly" in out and "Ctrl-C:" not in out


# --------------------------------------------------------------- 10: small


def test_ctrl_c_while_the_cluster_starts_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground group: `local_cluster up`, started by `make dev`, too."""
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    for name in ("etcd", "kube-apiserver"):  # a control plane that never gets ready
        (tools / "bin" / name).write_text("#!/bin/sh\nexec sleep 60\n")
        (tools / "bin" / name).chmod(0o755)
    env = {**os.environ, "TOOLS_CACHE": str(tools), "LOCAL_CLUSTER_DIR": str(tmp_path / "cluster"),
           "LOCAL_CLUSTER_PORT_OFFSET": str(local_cluster.free_port_offset())}  # fmt: skip
    cluster = subprocess.Popen([sys.executable, "-m", "devenv.local_cluster", "up"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_until(lambda: (tmp_path / "cluster" / "pids" / "kube-apiserver.pid").exists(), "the API server", 30)
        cluster.send_signal(signal.SIGINT)
        out, err = cluster.communicate(timeout=30)
    finally:
        for name in ("etcd", "kube-apiserver"):
            pid_file = tmp_path / "cluster" / "pids" / f"{name}.pid"
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(text) if text.isdigit() else json.loads(text)["pid"], signal.SIGKILL)
    assert cluster.returncode == 130, out + err
    assert "Traceback" not in err and "interrupted: the cluster may be half started" in out, out + err
