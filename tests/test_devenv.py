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
from dataclasses import dataclass
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
# As pulumi starts its plugins: in its session, each in a process group of its own.
plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], process_group=0)
open(record + ".plugin", "w").write(str(plugin.pid))
def cancel(*_):
    open(record, "a").write("SIGINT\\n")
    time.sleep(float(os.environ.get("FAKE_CANCEL_SECONDS", "0.3")))
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
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")  # the runner runs the PATH's pulumi
    return tmp_path / "record"


def _interrupt_me_after(seconds: float) -> None:
    threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT)).start()


def _gone(pid: int) -> bool:
    from devenv import procs

    return procs.state(pid) in ("", "Z")


def test_ctrl_c_reaches_a_runner_started_with_sigint_ignored(fake_pulumi: Path, tmp_path: Path) -> None:
    """A background job of a shell without job control (a CI script's `cmd &`) starts with
    SIGINT ignored, and Python then raises no KeyboardInterrupt: the runner sets its own."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pulumi = runner.Pulumi(tmp_path, {**os.environ, "FAKE_RECORD": str(fake_pulumi)})
        _interrupt_me_after(0.5)
        assert pulumi.run("up") == 7
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # given back as found
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fake_pulumi.read_text() == "SIGINT\n"


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


def test_the_watchdog_cancels_once_and_leaves_a_slow_cancel_alone(
    fake_pulumi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that stays silent (the cluster is still down) must not get a second
    SIGINT from the watchdog: that would make pulumi abort instead of cancelling."""
    monkeypatch.setattr(runner, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.05)
    env = {**os.environ, "FAKE_RECORD": str(fake_pulumi), "FAKE_SILENT": "1", "FAKE_CANCEL_SECONDS": "2.5"}
    assert runner.Pulumi(tmp_path, env, reachable=lambda: "connection refused").run("up") == 7
    assert fake_pulumi.read_text() == "SIGINT" + chr(10)


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


def test_a_lock_of_a_live_run_is_waited_for_then_the_run_carries_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = subprocess.Popen(["sleep", "1.5"])  # another pulumi, still running
    lock = _lock(tmp_path, other.pid, socket.gethostname())
    threading.Thread(target=lambda: (other.wait(), lock.unlink())).start()  # it ends and drops its lock
    started = time.monotonic()
    runner.wait_for_live_locks(tmp_path, timeout=30, poll=0.1)
    assert 1.0 <= time.monotonic() - started < 10
    out = capsys.readouterr().out
    assert f"locked by a running pulumi (pid {other.pid}" in out and "the dev stack is free" in out


def test_waiting_for_a_live_lock_is_bounded_and_says_what_to_do(tmp_path: Path) -> None:
    _lock(tmp_path, os.getpid(), socket.gethostname())  # a live holder that never lets go
    started = time.monotonic()
    with pytest.raises(runner.RunFailed) as failed:
        runner.wait_for_live_locks(tmp_path, timeout=0.5, poll=0.1)
    assert time.monotonic() - started < 5
    assert f"still locked by pid {os.getpid()}" in str(failed.value) and "make dev" in str(failed.value)


def test_a_second_run_waits_for_the_first_to_leave_the_locked_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from devenv.locking import LockTimeout, exclusive

    order: list[str] = []
    holding = threading.Event()

    def first() -> None:
        with exclusive(tmp_path / "step.lock", "changing the dev stack", runner.log):
            holding.set()
            time.sleep(0.6)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait()
    # flock locks belong to open files, so a second open in this process contends like another run.
    with exclusive(tmp_path / "step.lock", "changing the dev stack", runner.log, poll=0.05):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    assert "waiting for another run that is changing the dev stack" in capsys.readouterr().out
    with (
        exclusive(tmp_path / "step.lock", "x", runner.log),
        pytest.raises(LockTimeout),
        exclusive(tmp_path / "step.lock", "x", runner.log, timeout=0.2, poll=0.05),
    ):
        pass


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


def test_concurrent_first_runs_agree_on_one_whole_passphrase(tmp_path: Path) -> None:
    """Runs started together (three `make dev` at once) each read the same, complete passphrase."""
    import multiprocessing

    for attempt in range(5):
        local = tmp_path / str(attempt)
        with multiprocessing.get_context("fork").Pool(6) as pool:
            paths = pool.map(dev.passphrase_file, [local] * 12)
            seen = pool.map(Path.read_text, paths)
        assert len(set(seen)) == 1 and len(seen[0]) >= 32, seen
        assert [p.name for p in local.iterdir()] == ["passphrase"]  # no partial file left behind


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


def test_an_unreachable_cluster_fails_in_seconds_naming_the_cluster_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    # Your own cluster: the fix names the stack file in use, not a make target that cannot start it.
    own = tmp_path / "my-dev.yaml"
    monkeypatch.setenv("DEV_STACK_FILE", str(own))
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["name"] = config["current-context"] = "kind-kind"
    kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(runner.RunFailed) as failed:
        dev.require_reachable(kubeconfig, "kind-kind")
    assert f"or set platform:local.context in {own}" in str(failed.value)
    assert "make cluster-up" not in str(failed.value)


def _fake_cluster(pods_per_call: list[list], deleted: list[str]):  # type: ignore[no-untyped-def]
    """A CoreV1Api stand-in: two Ready kwok nodes and a real node; each pod listing returns the next batch."""
    from types import SimpleNamespace as Ns

    from devenv import local_cluster

    def node(name: str, kwok: bool) -> Ns:
        annotations = {local_cluster.FAKE_NODE_ANNOTATION: "fake"} if kwok else {}
        ready = Ns(conditions=[Ns(type="Ready", status="True")])
        return Ns(metadata=Ns(name=name, annotations=annotations), status=ready)

    calls = iter(pods_per_call)
    last: list = []

    def list_pods() -> Ns:
        nonlocal last
        last = next(calls, last)
        return Ns(items=last)

    return Ns(
        list_node=lambda: Ns(items=[node("kwok-node-0", True), node("kwok-node-1", True), node("real", False)]),
        list_pod_for_all_namespaces=list_pods,
        delete_namespaced_pod=lambda name, namespace, grace_period_seconds: deleted.append(name),
    )


def _pod(name: str, ready: bool, owned: bool = True, phase: str = "Running", node: str = "kwok-node-0"):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace as Ns

    return Ns(
        metadata=Ns(name=name, namespace="admin", owner_references=[Ns()] if owned else None, deletion_timestamp=None),
        spec=Ns(node_name=node),
        status=Ns(phase=phase, conditions=[Ns(type="Ready", status="True" if ready else "False")]),
    )


def test_after_an_outage_only_controller_owned_pods_left_not_ready_on_kwok_nodes_are_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devenv import local_cluster

    deleted: list[str] = []
    pods = [_pod("stuck", ready=False), _pod("fine", ready=True), _pod("bare", ready=False, owned=False),
            _pod("done", ready=False, phase="Succeeded"), _pod("starting", ready=False, node="real")]  # fmt: skip
    monkeypatch.setattr(local_cluster, "_api", lambda paths: _fake_cluster([pods], deleted))
    local_cluster._restore_pod_readiness(local_cluster.Paths(Path("/nonexistent")))
    assert deleted == ["stuck"]  # the real node's kubelet re-reports its own pods


def test_after_an_outage_pods_marked_after_the_first_pass_are_replaced_within_the_settle_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Everything resumed at once: the node controller marks the pods a moment after the first look."""
    from devenv import local_cluster

    deleted: list[str] = []
    marked_late = [[_pod("a", ready=True)], [_pod("a", ready=True)], [_pod("a", ready=False)], [_pod("a2", ready=True)]]
    fake = _fake_cluster(marked_late, deleted)
    monkeypatch.setattr(local_cluster, "_api", lambda paths: fake)
    monkeypatch.setattr(local_cluster.time, "sleep", lambda seconds: None)
    clock = iter(range(100))
    monkeypatch.setattr(local_cluster.time, "monotonic", lambda: float(next(clock)))
    local_cluster._restore_pod_readiness(local_cluster.Paths(Path("/nonexistent")), settle=6)
    assert deleted == ["a"]
    # Without the settle time, one look: the pod marked later stays NotReady.
    deleted.clear()
    fake = _fake_cluster(marked_late, deleted)
    local_cluster._restore_pod_readiness(local_cluster.Paths(Path("/nonexistent")))
    assert deleted == []


REAL_NODE_LOCAL = {
    "realNode": True,
    "images": [
        {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
        {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
    ],
}


class _PulumiWouldStartError(Exception):
    pass


def _run_up_until_pulumi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: dict, euid: int, commands: list[list[str]],
    installed: tuple[str, ...] = (*dev.REAL_NODE_PROGRAMS, "bridge"),
) -> None:  # fmt: skip
    """`dev up` with the dev stack file plus `local`, on a machine with the programs `installed`,
    stopped where pulumi would start. Records in `commands` the toolchain build and each command run."""
    stack = yaml.safe_load((dev.ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["platform:local"] = local
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    monkeypatch.setenv("DEV_STACK_FILE", str(tmp_path / "Pulumi.dev.yaml"))
    monkeypatch.setattr(dev, "ensure_tools", lambda **_: commands.append(["toolchain/build.sh"]))
    monkeypatch.setattr(dev, "pulumi_env", lambda **_: {})
    monkeypatch.setattr(dev.os, "geteuid", lambda: euid)
    monkeypatch.setattr(dev.shutil, "which", lambda name, **_: f"/usr/bin/{name}" if name in installed else None)
    monkeypatch.setattr(dev.subprocess, "run", lambda command, **_: commands.append(command) or Ns(returncode=0))
    monkeypatch.setattr(dev, "_changing", lambda env: (_ for _ in ()).throw(_PulumiWouldStartError()))
    with pytest.raises(_PulumiWouldStartError):
        dev.up()


def test_a_dev_stack_on_the_real_node_starts_the_cluster_with_it_before_pulumi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `local_cluster up --real-node` builds the images when their inputs changed and imports them every run.
    commands: list[list[str]] = []
    _run_up_until_pulumi(tmp_path, monkeypatch, REAL_NODE_LOCAL, 0, commands)
    assert [c[1:] for c in commands] == [[], ["-m", "devenv.local_cluster", "up", "--real-node"]]
    commands.clear()
    _run_up_until_pulumi(tmp_path, monkeypatch, {}, 0, commands)
    assert [c[1:] for c in commands] == [[], ["-m", "devenv.local_cluster", "up"]]


def test_the_real_node_without_root_fails_before_anything_is_built_or_started_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []
    with pytest.raises(runner.RunFailed) as failed:
        _run_up_until_pulumi(tmp_path, monkeypatch, REAL_NODE_LOCAL, 1000, commands)
    message = str(failed.value)
    assert "platform:local.realNode" in message and str(tmp_path / "Pulumi.dev.yaml") in message
    assert "needs root and Linux" in message and "`make dev` as root" in message and "realNode: false" in message
    assert commands == []  # no toolchain build of many minutes first


def test_the_real_node_without_its_packages_names_make_system_deps_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []
    with pytest.raises(runner.RunFailed) as failed:
        _run_up_until_pulumi(tmp_path, monkeypatch, REAL_NODE_LOCAL, 0, commands, installed=("containerd", "runc"))
    message = str(failed.value)
    missing = ", ".join(p for p in dev.REAL_NODE_PROGRAMS if p not in ("containerd", "runc"))
    assert f"{missing}, the CNI plugins (/usr/lib/cni) not installed" in message, message
    assert "run `make system-deps`" in message and commands == []


# ------------------------------------------------ use what is installed

INSTALLED_PULUMI = """#!/usr/bin/env python3
# Stands in for an installed pulumi CLI: its version and its plugin cache.
import json, sys
if sys.argv[1:] == ["version"]:
    print({version!r})
elif sys.argv[1:] == ["plugin", "ls", "--json"]:
    print(json.dumps({plugins!r}))
else:
    sys.exit(3)
"""


@dataclass
class Machine:
    """A person's machine: an installed pulumi (or none), the pinned toolchain, and a record of
    what `make dev` built and started."""

    installed_bin: Path
    plugin: Path
    build_record: Path
    clusters_started: list[bool]

    @property
    def built(self) -> list[list[str]]:
        """The arguments of each toolchain/build.sh run."""
        lines = self.build_record.read_text().splitlines() if self.build_record.exists() else []
        return [line.split() for line in lines]

    def install_pulumi(self, version: str, plugin_versions: list[str]) -> None:
        plugins = [{"name": "kubernetes", "kind": "resource", "version": v} for v in plugin_versions]
        script = self.installed_bin / "pulumi"
        script.write_text(INSTALLED_PULUMI.format(version=version, plugins=plugins))
        script.chmod(0o755)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    from devenv import tools

    plugin_version = tools.required()[1]
    installed_bin, pinned_bin, home = tmp_path / "usr-bin", tmp_path / "pinned", tmp_path / "pulumi-home"
    for directory in (installed_bin, pinned_bin):
        directory.mkdir()
    plugin = home / "plugins" / f"resource-kubernetes-v{plugin_version}" / "pulumi-resource-kubernetes"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    pinned = pinned_bin / "pulumi"
    pinned.write_text("#!/bin/sh\necho v0.0.0-pinned\n")
    pinned.chmod(0o755)
    monkeypatch.setattr(tools, "tools_bin", lambda: pinned_bin)
    monkeypatch.setenv("PATH", f"{installed_bin}{os.pathsep}{pinned_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", str(home))
    monkeypatch.delenv("DEV_TOOLS", raising=False)
    machine = Machine(installed_bin, plugin, tmp_path / "built", [])
    build = tmp_path / "build.sh"
    # `build.sh plan` (what would be built) answers "nothing"; a build is recorded.
    build.write_text(f'#!/bin/sh\n[ "$1" = plan ] && exit 0\necho "$@" >> {machine.build_record}\n')
    build.chmod(0o755)
    monkeypatch.setattr(dev, "BUILD_SCRIPT", build)
    monkeypatch.setattr(dev, "start_local_cluster", lambda real_node=False: machine.clusters_started.append(True))
    return machine


def _stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: str | None) -> None:
    config = yaml.safe_load((dev.ROOT / "Pulumi.dev.yaml").read_text())
    if context:
        config["config"]["platform:local"] = {"context": context, "kubeconfig": "~/.kube/config"}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DEV_STACK_FILE", str(path))


def _newer(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"v{major}.{int(minor) + 8}.0"


def test_a_compatible_installed_pulumi_and_plugin_with_your_own_cluster_build_and_start_nothing(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devenv import tools

    sdk, plugin_version = tools.required()
    machine.install_pulumi(_newer(sdk), [plugin_version])
    _stack_file(tmp_path, monkeypatch, context="kind-kind")
    chosen = dev.prepare_machine()
    assert machine.built == [] and machine.clusters_started == []
    assert chosen.source == "installed"
    assert (chosen.pulumi, chosen.plugin) == (machine.installed_bin / "pulumi", machine.plugin)
    out = capsys.readouterr().out
    assert (f"using the installed pulumi {_newer(sdk)} ({machine.installed_bin / 'pulumi'}) "
            f"and kubernetes plugin v{plugin_version} ({machine.plugin})") in out  # fmt: skip
    # The engine finds this CLI's language host and this plugin first on PATH.
    path = dev.pulumi_env(tmp_path / "local", chosen)["PATH"].split(os.pathsep)
    assert path[:2] == [str(machine.installed_bin), str(machine.plugin.parent)]


@pytest.mark.parametrize(
    ("version", "plugins", "why"),
    [
        ("v3.100.0", "required", "the pulumi SDK needs >="),  # older than the SDK
        ("v4.0.0", "required", "the pulumi SDK needs >="),  # another major
        ("newer", [], "is not installed"),  # no kubernetes plugin
        ("newer", ["4.24.0", "4.26.0"], "is not installed"),  # the engine wants the exact version
        (None, None, "no pulumi on PATH"),
    ],
)
def test_without_a_compatible_installed_pulumi_only_pulumi_and_its_plugin_are_built_for_your_own_cluster(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    version: str | None, plugins: list[str] | str | None, why: str,
) -> None:  # fmt: skip
    from devenv import tools

    sdk, plugin_version = tools.required()
    if version is not None:
        machine.install_pulumi(_newer(sdk) if version == "newer" else version,
                               [plugin_version] if plugins == "required" else list(plugins or []))  # fmt: skip
    _stack_file(tmp_path, monkeypatch, context="minikube")
    chosen = dev.prepare_machine()
    assert machine.built == [["pulumi"]] and machine.clusters_started == []
    assert chosen.source == "pinned" and chosen.pulumi.parent == tools.tools_bin()
    out = capsys.readouterr().out
    assert "no installed pulumi to use" in out and why in out
    assert "using the pinned toolchain's (toolchain/versions.env) pulumi v0.0.0-pinned" in out


def test_the_project_cluster_builds_only_its_own_binaries_when_pulumi_is_installed(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv import tools

    sdk, plugin_version = tools.required()
    machine.install_pulumi(_newer(sdk), [plugin_version])
    _stack_file(tmp_path, monkeypatch, context=None)
    assert dev.prepare_machine().source == "installed"
    assert machine.built == [["cluster"]] and machine.clusters_started == [True]


def test_with_nothing_installed_the_project_cluster_builds_everything(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stack_file(tmp_path, monkeypatch, context=None)
    assert dev.prepare_machine().source == "pinned"
    assert machine.built == [[]] and machine.clusters_started == [True]


def test_dev_tools_forces_the_pinned_build_or_refuses_to_build(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv import tools

    sdk, plugin_version = tools.required()
    _stack_file(tmp_path, monkeypatch, context="kind-kind")
    monkeypatch.setenv("DEV_TOOLS", "installed")
    with pytest.raises(runner.RunFailed) as refused:
        dev.prepare_machine()
    assert "DEV_TOOLS=installed, but no pulumi on PATH" in str(refused.value) and machine.built == []
    machine.install_pulumi(_newer(sdk), [plugin_version])
    monkeypatch.setenv("DEV_TOOLS", "pinned")
    assert dev.prepare_machine().source == "pinned" and machine.built == [["pulumi"]]


def test_the_pinned_toolchain_is_itself_compatible() -> None:
    """toolchain/versions.env (what build.sh builds) meets the rule devenv/tools.py applies to an installed one."""
    from devenv import tools

    pins = dict(
        line.split("=", 1) for line in (dev.ROOT / "toolchain" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    sdk, plugin_version = tools.required()
    assert tools.cli_compatible(pins["PULUMI_VERSION"], sdk)
    assert pins["PULUMI_KUBERNETES_VERSION"] == plugin_version
    assert not tools.cli_compatible("3.271.9", "3.272.0") and not tools.cli_compatible("v4.0.0", "3.272.0")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_runner_lets_pulumi_cancel_cleanly_instead_of_dying(
    stop: signal.Signals, fake_pulumi: Path, tmp_path: Path
) -> None:
    """make, an IDE's stop button or `timeout` send SIGTERM; a closed terminal, SIGHUP.
    The runner treats both as one Ctrl-C: pulumi cancels (and saves its state), then exits."""
    pulumi = runner.Pulumi(tmp_path, {**os.environ, "FAKE_RECORD": str(fake_pulumi)})
    before = signal.getsignal(stop)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), stop)).start()
    code = pulumi.run("up")
    assert code == 7  # pulumi's own exit after its clean cancel
    assert fake_pulumi.read_text() == "SIGINT\n"
    assert signal.getsignal(stop) == before  # the runner's handling ends with the command
