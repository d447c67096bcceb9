"""The Datadog stand-in (devenv/standin/datadog.py), run as a process on the host:
the behaviours of Datadog's agents it copies, which the real-node tests rely on
(each with its upstream source in the program's docstring). The pods themselves
are in tests/e2e/test_real_node.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from harness import ROOT, free_port

PROGRAM = ROOT / "devenv" / "standin" / "datadog.py"
TOKEN = "t" * 32


def _start(tmp_path: Path, role: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """The program under the name the image gives it (/usr/bin/<role>), rooted in tmp_path."""
    link = tmp_path / "bin" / role
    link.parent.mkdir(exist_ok=True)
    if not link.exists():
        link.symlink_to(PROGRAM)
    return subprocess.Popen(
        [sys.executable, str(link), *args],
        env={"PATH": os.environ["PATH"], "STANDIN_ROOT": str(tmp_path), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _image_dirs(tmp_path: Path) -> None:
    for d in ("etc/datadog-agent", "var/log/datadog", "opt/datadog-agent/run"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)


def _wait_running(process: subprocess.Popen) -> str:
    lines = []
    for line in process.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if line.rstrip().endswith("running"):
            return "".join(lines)
    raise AssertionError(f"exited {process.wait()} before running:\n{''.join(lines)}")


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


def _tcp_listeners(pid: int) -> int:
    """How many listening TCP sockets the process holds (its fds matched against /proc/net/tcp)."""
    inodes = {
        os.readlink(fd).removeprefix("socket:[").removesuffix("]")
        for fd in Path(f"/proc/{pid}/fd").iterdir()
        if os.readlink(fd).startswith("socket:[")
    }
    rows = [line.split() for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[3] == "0A" and row[9] in inodes)  # 0A: TCP_LISTEN


def _get(port: int, path: str) -> tuple[int, dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, json.loads(response.read())


def test_the_agent_answers_every_probe_path_on_its_health_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    _image_dirs(tmp_path)
    port = free_port()
    env = {"DD_HEALTH_PORT": str(port), "DD_DOGSTATSD_PORT": str(free_port(socket.SOCK_DGRAM))}
    agent = _start(tmp_path, "agent", ["run"], env)
    try:
        _wait_running(agent)
        for path in ("/live", "/ready", "/startup", "/anything"):  # unknown paths answer as /live
            status, body = _get(port, path)
            assert status == 200 and body["Unhealthy"] is None and "healthcheck" in body["Healthy"], path
        token = tmp_path / "etc/datadog-agent/auth_token"
        assert len(token.read_text()) == 64 and token.stat().st_mode & 0o777 == 0o600
    finally:
        assert _stop(agent) == 0


def test_without_a_health_port_the_agent_runs_but_nothing_answers_its_probes(tmp_path: Path) -> None:
    """health_port defaults to 0: no server, so a manifest that forgets DD_HEALTH_PORT gets refused probes."""
    _image_dirs(tmp_path)
    agent = _start(tmp_path, "agent", ["run"], {"DD_DOGSTATSD_PORT": str(free_port(socket.SOCK_DGRAM))})
    try:
        _wait_running(agent)
        assert _tcp_listeners(agent.pid) == 0
    finally:
        assert _stop(agent) == 0


def test_the_agent_refuses_to_start_without_a_writable_config_dir_for_its_auth_token(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/datadog-agent").write_text("not a directory")  # as a read-only, unmounted path would fail
    agent = _start(tmp_path, "agent", ["run"], {"DD_HEALTH_PORT": str(free_port())})
    output, _ = agent.communicate(timeout=10)
    assert agent.returncode == 1 and "cannot create the IPC auth token" in output, output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DD_CLUSTER_AGENT_AUTH_TOKEN": TOKEN}, "no API key configured"),
        ({"DD_API_KEY": "k", "DD_CLUSTER_AGENT_AUTH_TOKEN": TOKEN[:31]}, "at least 32 characters"),
    ],
    ids=["no-api-key", "short-token"],
)
def test_the_cluster_agent_refuses_to_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    _image_dirs(tmp_path)
    dca = _start(tmp_path, "datadog-cluster-agent", ["start"], {"DD_HEALTH_PORT": str(free_port()), **env})
    output, _ = dca.communicate(timeout=10)
    assert dca.returncode == 1 and message in output, output


def test_the_trace_agent_exits_cleanly_when_apm_is_off_and_fails_without_an_api_key(tmp_path: Path) -> None:
    off = _start(tmp_path, "trace-agent", [], {"DD_APM_ENABLED": "false", "DD_API_KEY": "k"})
    assert off.wait(timeout=10) == 0
    keyless = _start(tmp_path, "trace-agent", [], {"DD_APM_RECEIVER_PORT": str(free_port())})
    output, _ = keyless.communicate(timeout=10)
    assert keyless.returncode == 1 and "no API key configured" in output, output


def test_the_cluster_agent_lists_the_check_configs_it_finds_in_its_confd_path(tmp_path: Path) -> None:
    _image_dirs(tmp_path)
    check = tmp_path / "etc/datadog-agent/conf.d/kubernetes_state_core.d/kubernetes_state_core.yaml.default"
    check.parent.mkdir(parents=True)
    check.write_text("instances: [{}]\n")
    env = {"DD_API_KEY": "k", "DD_CLUSTER_AGENT_AUTH_TOKEN": TOKEN, "DD_HEALTH_PORT": str(free_port())}
    env["DD_CLUSTER_AGENT_CMD_PORT"] = str(free_port())
    dca = _start(tmp_path, "datadog-cluster-agent", ["start"], env)
    try:
        output = _wait_running(dca)
    finally:
        _stop(dca)
    assert "loaded check configs: conf.d/kubernetes_state_core.d/kubernetes_state_core.yaml.default" in output


# ------------------------------------------------------------ the images' scripts

STANDIN = ROOT / "devenv" / "standin"
KSM = "kubernetes_state_core.d/kubernetes_state_core.yaml.default"


def _configmap_volume(mount: Path, items: dict[str, str]) -> None:
    """A ConfigMap volume as the kubelet lays it out (pkg/volume/util/atomic_writer.go):
    the files in a "..<timestamp>" directory, "..data" linking to it, and each item's
    first path element linked from the top through "..data"."""
    stamp = mount / "..2026_11_29_17_00_00.000000001"
    for path, content in items.items():
        (stamp / path).parent.mkdir(parents=True, exist_ok=True)
        (stamp / path).write_text(content)
    (mount / "..data").symlink_to(stamp.name)
    for top in {path.split("/")[0] for path in items}:
        (mount / top).symlink_to(f"..data/{top}")


def _script(tmp_path: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(STANDIN / name), *args],
        env={"PATH": os.environ["PATH"], "STANDIN_ROOT": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_cluster_agent_entrypoint_copies_the_configmaps_checks_to_their_confd_paths(tmp_path: Path) -> None:
    """Our Cluster Agent ConfigMap's layout (items with a `<check>.d/` path), through the
    entrypoint's copy: each file lands once, at its item path, without the "..*" directories."""
    from components.datadog.cluster_agent import APISERVER_CONFD_FILE, KSM_CONFD_FILE, confd_files

    items = {path: confd_files()[path.split("/")[1]] for path in (KSM_CONFD_FILE, APISERVER_CONFD_FILE)}
    _configmap_volume(tmp_path / "conf.d", {**items, "flat.yaml": "x: 1\n", "notes.txt": "not a config\n"})
    ran = _script(tmp_path, "datadog-entrypoint.sh", ["echo", "exec'd"], {"DD_API_KEY": "k"})
    assert ran.returncode == 0 and ran.stdout.endswith("exec'd\n"), ran
    confd = tmp_path / "etc/datadog-agent/conf.d"
    copied = sorted(str(p.relative_to(confd)) for p in confd.rglob("*") if p.is_file())
    assert copied == sorted([KSM_CONFD_FILE, APISERVER_CONFD_FILE, "flat.yaml"])
    assert (confd / KSM_CONFD_FILE).read_text() == items[KSM_CONFD_FILE]


def test_the_cluster_agent_entrypoint_refuses_to_start_without_an_api_key_before_copying(tmp_path: Path) -> None:
    _configmap_volume(tmp_path / "conf.d", {KSM: "instances: [{}]\n"})
    ran = _script(tmp_path, "datadog-entrypoint.sh", ["echo", "exec'd"], {})
    assert ran.returncode == 1 and "DD_API_KEY" in ran.stdout and "exec'd" not in ran.stdout, ran
    assert not (tmp_path / "etc").exists()


def test_the_node_agents_cont_init_scripts(tmp_path: Path) -> None:
    """01-check-apikey.sh fails without a key; 89-copy-customfiles.sh copies *.yaml under /conf.d
    and *.py under /checks.d to the same paths under /etc/datadog-agent, and nothing else."""
    assert _script(tmp_path, "datadog-check-apikey.sh", [], {}).returncode == 1
    assert _script(tmp_path, "datadog-check-apikey.sh", [], {"DD_API_KEY": "k"}).returncode == 0
    for path in ("conf.d/redisdb.d/conf.yaml", "conf.d/skip.yaml.default", "checks.d/custom.py", "checks.d/x.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    assert _script(tmp_path, "datadog-copy-customfiles.sh", [], {}).returncode == 0
    config = tmp_path / "etc/datadog-agent"
    copied = sorted(str(p.relative_to(config)) for p in config.rglob("*") if p.is_file())
    assert copied == ["checks.d/custom.py", "conf.d/redisdb.d/conf.yaml"]
