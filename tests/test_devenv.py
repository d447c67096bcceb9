"""The dev runner keeps a person unstuck: Ctrl-C cancels pulumi cleanly and
leaves no process behind, a stalled update against a dead API server is
cancelled, stale locks are cleared, the passphrase is private, and the
project's stack file is never half-written. Real processes and signals, with
a small stand-in for the pulumi CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace as Ns

import pytest
import yaml

from devenv import dev, runner

FAKE_PULUMI = """#!/usr/bin/env python3
# Stands in for the pulumi CLI: starts a 'plugin' child, prints, and on SIGINT
# records it, 'cancels' for a moment and exits 7, as pulumi does.
import os, signal, subprocess, sys, time
record = os.environ["FAKE_RECORD"]
plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(record + ".plugin", "w").write(str(plugin.pid))
def cancel(*_):
    open(record, "a").write("SIGINT\\n")
    time.sleep(0.3)
    sys.exit(7)
signal.signal(signal.SIGINT, cancel)
print("Updating (dev)", flush=True)
if os.environ.get("FAKE_SILENT") != "1":
    print("  + creating ...", flush=True)
time.sleep(30)
"""


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI)
    script.chmod(0o755)
    monkeypatch.setattr(runner, "tools_bin", lambda: bin_dir)
    return tmp_path / "record"


def _interrupt_me_after(seconds: float) -> None:
    threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT)).start()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_ctrl_c_is_forwarded_once_and_pulumi_may_finish_its_cancel(fake_pulumi: Path, tmp_path: Path) -> None:
    pulumi = runner.Pulumi(tmp_path, {**os.environ, "FAKE_RECORD": str(fake_pulumi)})
    _interrupt_me_after(0.5)
    started = time.monotonic()
    code = pulumi.run("up")
    assert code == 7  # pulumi's own exit, after its clean cancel, not a kill
    assert fake_pulumi.read_text() == "SIGINT\n"  # exactly one: a second would make pulumi abort
    assert time.monotonic() - started >= 0.8  # the runner waited out the 0.3 s cancel
    plugin = int(Path(str(fake_pulumi) + ".plugin").read_text())
    deadline = time.monotonic() + 5
    while not _gone(plugin) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(plugin), "a plugin process outlived pulumi"


def test_a_silent_update_against_a_dead_api_server_is_cancelled_with_a_reason(
    fake_pulumi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "STALL_SECONDS", 1.0)
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.1)
    env = {**os.environ, "FAKE_RECORD": str(fake_pulumi), "FAKE_SILENT": "1"}
    pulumi = runner.Pulumi(tmp_path, env, reachable=lambda: "connection refused")
    started = time.monotonic()
    assert pulumi.run("up") == 7
    assert time.monotonic() - started < 10
    assert fake_pulumi.read_text() == "SIGINT\n"
    assert "the cluster does not answer (connection refused): cancelling the update" in capsys.readouterr().out


def test_the_watchdog_leaves_a_slow_update_alone_while_the_cluster_answers(
    fake_pulumi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.1)
    env = {**os.environ, "FAKE_RECORD": str(fake_pulumi), "FAKE_SILENT": "1"}
    pulumi = runner.Pulumi(tmp_path, env, reachable=lambda: None)
    _interrupt_me_after(1.2)  # only the person's Ctrl-C ends it, after more than twice the stall time
    assert pulumi.run("up") == 7
    assert fake_pulumi.read_text() == "SIGINT\n"


def _lock(state: Path, pid: int, hostname: str) -> Path:
    path = state / ".pulumi" / "locks" / "organization" / "platform" / "dev" / f"{pid}-{hostname}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "username": "u", "hostname": hostname, "timestamp": "t"}))
    return path


def test_only_locks_of_dead_processes_on_this_machine_are_cleared(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = _lock(tmp_path, finished.pid, socket.gethostname())
    live = _lock(tmp_path, os.getpid(), socket.gethostname())
    elsewhere = _lock(tmp_path, finished.pid, "another-machine")
    cleared = runner.clear_stale_locks(tmp_path)
    assert [lock.path for lock in cleared] == [dead]
    assert not dead.exists() and live.exists() and elsewhere.exists()


def test_pending_operations_are_read_from_the_stack_export(tmp_path: Path) -> None:
    class Exported(runner.Pulumi):
        def capture(self, *args: str) -> subprocess.CompletedProcess:
            export = {"deployment": {"pending_operations": [{"resource": {"urn": "urn:x::web"}, "type": "creating"}]}}
            return subprocess.CompletedProcess(args, 0, json.dumps(export), "")

    assert runner.pending_operations(Exported(tmp_path, {}), "dev") == ["urn:x::web"]


def test_the_passphrase_is_random_per_checkout_and_private(tmp_path: Path) -> None:
    first, second = dev.passphrase_file(tmp_path / "a"), dev.passphrase_file(tmp_path / "b")
    assert first.read_text() != second.read_text() and len(first.read_text()) >= 32
    assert first.stat().st_mode & 0o777 == 0o600
    assert dev.passphrase_file(tmp_path / "a").read_text() == first.read_text()  # made once


def test_existing_dev_state_keeps_the_old_passphrase_so_its_secrets_still_open(tmp_path: Path) -> None:
    (tmp_path / "state" / ".pulumi").mkdir(parents=True)
    assert dev.passphrase_file(tmp_path).read_text() == dev.LEGACY_PASSPHRASE


def test_concurrent_runs_never_see_a_half_written_stack_file(tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    dev.prepare_project(workdir)
    seen: list[object] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(yaml.safe_load((workdir / "Pulumi.dev.yaml").read_text()))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=dev.prepare_project, args=(workdir,)) for _ in range(20)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    reader.join()
    assert seen and all(isinstance(config, dict) and "config" in config for config in seen)


def test_an_unreachable_cluster_fails_in_seconds_naming_the_cluster_and_the_fix(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed once the block ends: nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "aks-platform-local",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "aks-platform-local", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    started = time.monotonic()
    with pytest.raises(runner.RunFailed) as failed:
        dev.require_reachable(kubeconfig, "aks-platform-local")
    assert time.monotonic() - started < 5
    assert "the dev cluster 'aks-platform-local'" in str(failed.value)
    assert "make cluster-up" in str(failed.value)


def test_after_an_outage_only_controller_owned_pods_left_not_ready_are_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace as Ns

    from devenv import local_cluster

    def pod(name: str, ready: bool, owned: bool = True, phase: str = "Running") -> Ns:
        return Ns(
            metadata=Ns(name=name, namespace="admin", owner_references=[Ns()] if owned else None,
                        deletion_timestamp=None),
            status=Ns(phase=phase, conditions=[Ns(type="Ready", status="True" if ready else "False")]),
        )  # fmt: skip

    deleted: list[str] = []
    pods = [pod("stuck", ready=False), pod("fine", ready=True), pod("bare", ready=False, owned=False),
            pod("done", ready=False, phase="Succeeded")]  # fmt: skip
    api = Ns(
        list_pod_for_all_namespaces=lambda: Ns(items=pods),
        delete_namespaced_pod=lambda name, namespace, grace_period_seconds: deleted.append(name),
    )
    monkeypatch.setattr(local_cluster, "_api", lambda paths: api)
    local_cluster._restore_pod_readiness(local_cluster.Paths(Path("/nonexistent")))
    assert deleted == ["stuck"]


REAL_NODE_LOCAL = {
    "realNode": True,
    "images": [
        {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
        {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
    ],
}


class _PulumiWouldStartError(Exception):
    pass


def _run_up_until_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: dict, euid: int) -> list[list[str]]:
    """`dev up` with the dev stack file plus `local`, stopped where pulumi would start; the commands it ran."""
    stack = yaml.safe_load((dev.ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["platform:local"] = local
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    monkeypatch.setenv("DEV_STACK_FILE", str(tmp_path / "Pulumi.dev.yaml"))
    commands: list[list[str]] = []
    monkeypatch.setattr(dev, "ensure_tools", lambda: None)
    monkeypatch.setattr(dev.os, "geteuid", lambda: euid)
    monkeypatch.setattr(dev.subprocess, "run", lambda command, **_: commands.append(command) or Ns(returncode=0))
    monkeypatch.setattr(dev, "_ready_to_change", lambda env: (_ for _ in ()).throw(_PulumiWouldStartError()))
    with pytest.raises(_PulumiWouldStartError):
        dev.up({})
    return commands


def test_a_dev_stack_on_the_real_node_starts_the_cluster_with_it_before_pulumi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `local_cluster up --real-node` builds the images when their inputs changed and imports them every run.
    (command,) = _run_up_until_pulumi(tmp_path, monkeypatch, REAL_NODE_LOCAL, euid=0)
    assert command[1:] == ["-m", "devenv.local_cluster", "up", "--real-node"]
    (command,) = _run_up_until_pulumi(tmp_path, monkeypatch, {}, euid=0)
    assert command[1:] == ["-m", "devenv.local_cluster", "up"]


def test_the_real_node_without_root_fails_before_anything_starts_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(runner.RunFailed) as failed:
        _run_up_until_pulumi(tmp_path, monkeypatch, REAL_NODE_LOCAL, euid=1000)
    message = str(failed.value)
    assert "platform:local.realNode" in message and str(tmp_path / "Pulumi.dev.yaml") in message
    assert "needs root and Linux" in message and "`make dev` as root" in message and "realNode: false" in message
