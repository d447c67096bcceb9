"""Issue 23: the faults a person's machine brings to the dev loop, each refused or
recovered from with one line: a plain secret in a stack file or an old project copy,
a preview that hides drift, a stale pid file, a second Ctrl-C that hangs, a runner
killed with SIGKILL, a dead etcd, a namespace being deleted, and the small ones.
Real processes and signals, with a small stand-in for the pulumi CLI; no cluster."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace as Ns

import pytest
import yaml

from devenv import dev, local_cluster, procs, runner
from settings import ConfigError

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


# ------------------------------------------------------- 1, 2: plain secrets


def _dev_stack_file(path: Path, **config: object) -> Path:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"].update(config)
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    return path


def test_a_plain_secret_beside_encrypted_ones_is_refused_before_it_is_copied(tmp_path: Path) -> None:
    """Item 1. Pulumi calls a whole key secret when one value under it is, so a plain
    `serviceSecrets.admin.DATABASE_URL` beside an encrypted one reached the Secret and the
    state's history (fresh checkout), or was silently dropped for the old copy's (warm).
    Now it is refused, leaf by leaf, in the file you edit, before anything is written."""
    workdir = tmp_path / "project"
    stack_file = _dev_stack_file(
        tmp_path / "my-dev.yaml",
        **{"platform:serviceSecrets": {"admin": {"DATABASE_URL": PLANTED, "SECRET_KEY_BASE": ENCRYPTED}}},
    )
    for warm in (False, True):
        if warm:  # an old copy with an encrypted value of the same key
            workdir.mkdir(exist_ok=True)
            old = {"config": {"platform:serviceSecrets": {"admin": {"DATABASE_URL": ENCRYPTED}}}}
            (workdir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(old))
        with pytest.raises(ConfigError) as refused:
            dev.prepare_project(workdir, stack_file=stack_file)
        message = str(refused.value)
        line = next(line for line in message.splitlines() if "serviceSecrets.admin.DATABASE_URL" in line)
        assert "stack 'dev': platform:serviceSecrets.admin.DATABASE_URL: is stored in plain text" in line
        assert f"delete it from {stack_file}, then run `make dev`, which generates it" in line
        assert "SECRET_KEY_BASE" not in message  # encrypted: fine
        assert PLANTED not in message
        written = [p for p in workdir.iterdir() if p.is_file() and not p.is_symlink()] if workdir.exists() else []
        assert all(PLANTED not in p.read_text() for p in written)


def test_a_plain_secret_left_in_an_old_project_copy_is_never_carried_into_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 2. A plain datadogApiKey tried once stayed in the copy under .local/ and every
    later copy inherited it: `make dev` kept failing with "delete it from Pulumi.dev.yaml",
    a file that no longer had it. Only encrypted values are carried, leaf by leaf."""
    workdir = tmp_path / "project"
    workdir.mkdir()
    old = {
        "encryptionsalt": "v1:salt",
        "config": {
            "platform:datadogApiKey": "plain-dd-key",
            "platform:serviceSecrets": {"admin": {"DATABASE_URL": ENCRYPTED, "SECRET_KEY_BASE": "plain-skb"}},
            "platform:datadogClusterAgentToken": ENCRYPTED,
        },
    }
    (workdir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(old))
    dev.prepare_project(workdir, stack_file=_dev_stack_file(tmp_path / "clean.yaml"))
    copy = yaml.safe_load((workdir / "Pulumi.dev.yaml").read_text())
    assert copy["encryptionsalt"] == "v1:salt"
    assert "platform:datadogApiKey" not in copy["config"]
    assert copy["config"]["platform:serviceSecrets"] == {"admin": {"DATABASE_URL": ENCRYPTED}}
    assert copy["config"]["platform:datadogClusterAgentToken"] == ENCRYPTED
    out = capsys.readouterr().out
    assert "dropped platform:datadogApiKey from the previous project copy" in out
    assert "dropped platform:serviceSecrets.admin.SECRET_KEY_BASE" in out
    assert "plain-dd-key" not in out and "plain-skb" not in out
    # ... and the copy now passes the checks every reader makes.
    from settings import settings_from_files

    settings_from_files("dev", workdir / "Pulumi.dev.yaml")


# --------------------------------------------------------------- 3: preview


def test_make_preview_refreshes_first_so_it_shows_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 3. `make preview` said "25 unchanged" after a Deployment was deleted by hand:
    it did not refresh, so it hid what `make dev` (which does) would repair."""
    commands: list[tuple[str, ...]] = []

    @contextlib.contextmanager
    def prepared(env: dict[str, str]) -> Iterator[Ns]:
        yield Ns(run=lambda *args: commands.append(args) or 0)

    monkeypatch.setattr(dev, "_changing", prepared)
    monkeypatch.setattr(dev, "select_tools", lambda: None)
    monkeypatch.setattr(dev, "pulumi_env", lambda chosen=None: {})
    assert dev.run("preview", ["--diff"]) == 0
    (command,) = commands
    assert command[0] == "preview" and "--refresh" in command and "--diff" in command


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


def test_a_component_that_execs_another_program_is_still_known_by_its_pid_file(tmp_path: Path) -> None:
    """The real node's kubelet starts as `unshare ... sh -c '... exec kubelet'`: its program
    changes, its start time does not. A pid file names the process, not the program; and a
    record from another boot (its start time counted from another boot) names nothing."""
    paths = _cluster_paths(tmp_path)
    command = ["sh", "-c", "exec sleep 60"]
    assert local_cluster._start(paths, "kubelet", [], command=command) is True
    pid = local_cluster._pid(paths, "kubelet")
    assert pid is not None
    with _cleanup(pid):
        _wait_until(lambda: (procs.command_line(pid) or [""])[0] == "sleep", "the exec")
        assert local_cluster._pid(paths, "kubelet") == pid
        assert local_cluster._start(paths, "kubelet", [], command=command) is False  # not a second one
        record = local_cluster.PidRecord.read(paths.pids / "kubelet.pid")
        assert record is not None and record.boot == procs.boot_id()
        local_cluster.PidRecord(pid, record.start, command, "another-boot").write(paths.pids / "kubelet.pid")
        assert local_cluster._pid(paths, "kubelet") is None


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


# ------------------------------------------------------------------ 8: etcd


class _NoStorage(http.server.BaseHTTPRequestHandler):
    """An API server whose etcd is dead: /version answers, a read of a stored object hangs."""

    def do_GET(self) -> None:
        if self.path.startswith("/version"):
            fields = ("buildDate", "compiler", "gitCommit", "gitTreeState", "goVersion", "platform")
            body = json.dumps({"major": "1", "minor": "34", "gitVersion": "v1.34.4", **dict.fromkeys(fields, "x")})
            body = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        time.sleep(10)  # waits on etcd

    def log_message(self, *args: object) -> None:
        pass


def test_a_dead_etcd_fails_the_pre_check_in_seconds_naming_etcd_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 8. The pre-check asked /version, which an API server answers with etcd dead;
    the run then failed after 35 s with a timeout naming neither etcd nor the fix."""
    monkeypatch.setattr(dev, "REACHABLE_TIMEOUT_SECONDS", 0.5)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoStorage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "aks-platform-local",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "aks-platform-local", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    try:
        started = time.monotonic()
        with pytest.raises(runner.RunFailed) as failed:
            dev.require_reachable(kubeconfig, "aks-platform-local")
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
    message = str(failed.value)
    assert "answers, but cannot read a stored object (namespace 'default'): its storage, etcd, fails" in message
    assert "`make cluster-up` starts or resumes etcd" in message


def test_the_unreachable_cluster_message_is_not_cut_mid_word(tmp_path: Path) -> None:
    """Item 10. The reason was cut at 160 characters, inside urllib3's preamble: "...Failed to est"."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    problem = dev.unreachable(kubeconfig, "x")
    assert problem is not None and problem.endswith("[Errno 111] Connection refused"), problem
    assert " object at 0x" not in problem


# ------------------------------------------------------ 9: namespace going


def _namespaces(*states: dict[str, bool]):  # type: ignore[no-untyped-def]
    """A CoreV1Api stand-in: each listing returns the next state (name -> being deleted)."""
    calls = iter(states)
    last: dict[str, bool] = {}

    def list_namespace() -> Ns:
        nonlocal last
        last = next(calls, last)
        condition = Ns(type="NamespaceContentRemaining", status="True", message="Some resources are remaining: pods.")
        return Ns(items=[
            Ns(metadata=Ns(name=name, deletion_timestamp="now" if going else None),
               status=Ns(conditions=[condition] if going else []))
            for name, going in last.items()
        ])  # fmt: skip

    return Ns(list_namespace=list_namespace)


def test_make_dev_waits_for_a_namespace_being_deleted_or_says_why_it_cannot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 9. After `kubectl delete ns admin --wait=false`, `make dev` reported a green
    summary for objects about to disappear with their namespace. It waits until the
    namespace is gone (the update then makes it again), or, bounded, says what holds it."""
    from kubernetes import client, config

    fake = _namespaces({"admin": True, "mailer": False}, {"admin": True}, {"admin": False})
    monkeypatch.setattr(config, "new_client_from_config", lambda *args, **kwargs: None)
    monkeypatch.setattr(client, "CoreV1Api", lambda api: fake)
    dev.wait_for_namespaces(tmp_path, "ctx", {"admin", "mailer", "etl"}, timeout=30, poll=0.01)
    out = capsys.readouterr().out
    assert "namespace admin is being deleted: waiting for it to go before deploying" in out
    assert "the namespace is gone after" in out
    fake = _namespaces({"admin": True, "other": True})
    with pytest.raises(runner.RunFailed) as failed:
        dev.wait_for_namespaces(tmp_path, "ctx", {"admin"}, timeout=0.05, poll=0.01)
    assert "namespace admin is still being deleted after 0 s (admin: Some resources are remaining: pods.)" in str(
        failed.value
    )
    assert "`kubectl get namespace admin -o yaml`" in str(failed.value)


def test_up_waits_for_the_namespaces_before_pulumi_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 9: the wait comes before `pulumi up`, for the namespaces of the stack."""
    order: list[str] = []

    @contextlib.contextmanager
    def changing(env: dict[str, str]) -> Iterator[Ns]:
        yield Ns(run=lambda *args: order.append(args[0]) or 1)

    monkeypatch.setattr(dev, "prepare_machine", lambda: None)
    monkeypatch.setattr(dev, "pulumi_env", lambda chosen=None: {})
    monkeypatch.setattr(dev, "_changing", changing)
    monkeypatch.setattr(dev, "cluster_target", lambda stack_file: (Path("k"), "c"))
    monkeypatch.setattr(dev, "stack_namespaces", lambda stack_file: {"admin"})
    monkeypatch.setattr(dev, "wait_for_namespaces", lambda kubeconfig, context, names: order.append(f"wait {names}"))
    with pytest.raises(runner.RunFailed):
        dev.up()
    assert order == ["wait {'admin'}", "up"]


# --------------------------------------------------------------- 10: small


def test_a_missing_dev_stack_file_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEV_STACK_FILE", str(tmp_path / "nowhere.yaml"))
    assert dev.main(["dev", "up"]) == 2
    out = capsys.readouterr()
    assert f"DEV_STACK_FILE names {tmp_path / 'nowhere.yaml'}, which is not a file" in out.out
    assert "Traceback" not in out.out + out.err


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


def test_the_long_build_notice_appears_only_when_something_will_be_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The "about N minutes" notice was printed on every `make dev`, built or not.
    `build.sh plan` answers from the build's own up-to-date checks (stamps in the cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TOOLS_CACHE", str(cache))
    monkeypatch.setattr(dev, "_installed_tools", lambda: "none installed")
    monkeypatch.setattr(dev.tools, "pinned", lambda: Ns(describe=lambda: "pinned tools"))
    monkeypatch.setattr(dev, "BUILD_SCRIPT", tmp_path / "build.sh")
    (tmp_path / "build.sh").write_text(f'#!/bin/sh\nexec {ROOT / "toolchain" / "build.sh"} "$@"\n')
    (tmp_path / "build.sh").chmod(0o755)
    monkeypatch.setattr(dev.subprocess, "run", _plan_only(dev.subprocess.run))  # nothing is really built
    # Every tool of the `pulumi` part is built: its binary, and a stamp of its version.
    versions = dict(line.split("=", 1) for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines()
                    if line and not line.startswith("#"))  # fmt: skip
    (cache / "bin").mkdir(parents=True)
    (cache / "stamps").mkdir()
    for tool, key in (("pulumi", "PULUMI_VERSION"), ("pulumi-resource-kubernetes", "PULUMI_KUBERNETES_VERSION")):
        (cache / "bin" / tool).write_text("#!/bin/sh\n")
        (cache / "bin" / tool).chmod(0o755)
        (cache / "stamps" / tool).write_text(versions[key] + "\n")
    dev.ensure_tools(local_cluster=False)
    out = capsys.readouterr().out
    assert f"{dev.COLD_BUILD_MINUTES} minutes" not in out and "reusing the pinned toolchain: pulumi" in out
    (cache / "stamps" / "pulumi-resource-kubernetes").write_text("0.0.1\n")  # out of date
    dev.ensure_tools(local_cluster=False)
    out = capsys.readouterr().out
    assert "building the pinned toolchain: pulumi-resource-kubernetes v" in out
    assert f"{dev.COLD_BUILD_MINUTES} minutes" in out


def _plan_only(real):  # type: ignore[no-untyped-def]
    """subprocess.run that asks build.sh only for its plan, and pretends the build itself ran."""

    def run(command, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(command) > 1 and command[1] == "plan":
            return real(command, *args, **kwargs)
        return Ns(returncode=0)

    return run


# ------------------------------------------------------- 7: bad inputs, timed


def _committed_dev_config() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())


def _with_services(services: dict) -> str:
    stack = _committed_dev_config()
    stack["config"]["platform:services"] = services
    return yaml.safe_dump(stack, sort_keys=False)


def _with_secrets(service_secrets: dict) -> str:
    stack = _committed_dev_config()
    stack["config"]["platform:serviceSecrets"] = service_secrets
    return yaml.safe_dump(stack, sort_keys=False)


def _job(name: str) -> dict:
    return {"jobs": [{"name": name, "schedule": "0 3 * * *", "command": ["true"]}]}


# What each kind of bad input is, as a stack file's text, and the key its one line must name.
BAD_STACK_FILES: dict[str, tuple[str | None, str]] = {
    "image with upper case and a space": (
        _with_services({"admin": {"web": {"app": {"image": "ghcr.io/Example-Org/Admin App:1.8.2"}}}}),
        "platform:services.admin.web.app.image",
    ),
    "full-width digit in an image tag": (
        _with_services({"admin": {"web": {"app": {"image": "ghcr.io/example-org/admin-app:1.8.\uff12"}}}}),
        "platform:services.admin.web.app.image",
    ),
    "job name longer than a CronJob name": (
        _with_services({"admin": _job("nightly-load-of-the-warehouse-from-every-region-at-three")}),
        "platform:services.admin.jobs[name=nightly-load-of-the-warehouse-from-every-region-at-three].name",
    ),
    "job name with a trailing newline": (
        _with_services({"admin": _job("nightly-load\n")}),
        "platform:services.admin.jobs[name='nightly-load\\n'].name",
    ),
    "a service written twice": (
        "config:\n  platform:environment: dev\n  platform:services:\n    admin:\n      quota: {pods: 30}\n"
        "    admin:\n      quota: {pods: 40}\n",
        "platform:services.admin at lines 4 and 6",
    ),
    "a plain secret beside an encrypted one": (
        _with_secrets({"admin": {"DATABASE_URL": PLANTED, "SECRET_KEY_BASE": ENCRYPTED}}),
        "platform:serviceSecrets.admin.DATABASE_URL",
    ),
    "a YAML syntax error": ("config:\n  platform:services: {admin: [\n", ":3:1"),
    "a DEV_STACK_FILE that does not exist": (None, "DEV_STACK_FILE names"),
}


@pytest.mark.parametrize("kind", BAD_STACK_FILES)
def test_every_bad_input_is_one_line_naming_file_and_key_in_under_two_seconds_with_nothing_started(
    kind: str, tmp_path: Path
) -> None:
    """Items 7 and 10: `make dev` refuses each kind of bad input before it builds, starts or
    deploys anything, in under 2 s, with one line that names the key (and the file: on that
    line, or on the first line of a config error, which lists one line per problem). No
    pulumi is on PATH and DEV_TOOLS=installed: had the run gone on, it would have stopped at
    the tools, with no line naming the key, and started nothing."""
    text, key = BAD_STACK_FILES[kind]
    stack_file = tmp_path / "my-dev.yaml"
    if text is not None:
        stack_file.write_text(text)
    env = {**os.environ, "DEV_STACK_FILE": str(stack_file), "DEV_LOCAL_DIR": str(tmp_path / "local"),
           "LOCAL_CLUSTER_DIR": str(tmp_path / "cluster"), "TOOLS_CACHE": str(tmp_path / "tools"),
           "LOCAL_CLUSTER_PORT_OFFSET": str(local_cluster.free_port_offset()), "DEV_TOOLS": "installed",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "devenv.dev", "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(f"{kind}: refused in {elapsed:.2f} s")
    assert result.returncode == 2, output
    lines = output.splitlines()
    named = [line for line in lines if key in line]
    assert len(named) == 1, output
    assert str(stack_file) in named[0] or (
        lines[0].startswith("invalid configuration in ") and str(stack_file) in lines[0]
    ), output
    assert "Traceback" not in output and PLANTED not in output
    assert elapsed < 2.0, elapsed
    assert not (tmp_path / "cluster").exists() and not (tmp_path / "local" / "state").exists()
