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

from harness import ROOT

PROGRAM = ROOT / "devenv" / "standin" / "datadog.py"
TOKEN = "t" * 32


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = _free_port()
    env = {"DD_HEALTH_PORT": str(port), "DD_DOGSTATSD_PORT": str(_free_port(socket.SOCK_DGRAM))}
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
    agent = _start(tmp_path, "agent", ["run"], {"DD_DOGSTATSD_PORT": str(_free_port(socket.SOCK_DGRAM))})
    try:
        _wait_running(agent)
        assert _tcp_listeners(agent.pid) == 0
    finally:
        assert _stop(agent) == 0


def test_the_agent_refuses_to_start_without_a_writable_config_dir_for_its_auth_token(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/datadog-agent").write_text("not a directory")  # as a read-only, unmounted path would fail
    agent = _start(tmp_path, "agent", ["run"], {"DD_HEALTH_PORT": str(_free_port())})
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
    dca = _start(tmp_path, "datadog-cluster-agent", ["start"], {"DD_HEALTH_PORT": str(_free_port()), **env})
    output, _ = dca.communicate(timeout=10)
    assert dca.returncode == 1 and message in output, output


def test_the_trace_agent_exits_cleanly_when_apm_is_off_and_fails_without_an_api_key(tmp_path: Path) -> None:
    off = _start(tmp_path, "trace-agent", [], {"DD_APM_ENABLED": "false", "DD_API_KEY": "k"})
    assert off.wait(timeout=10) == 0
    keyless = _start(tmp_path, "trace-agent", [], {"DD_APM_RECEIVER_PORT": str(_free_port())})
    assert keyless.wait(timeout=10) == 1


def test_the_cluster_agent_lists_the_check_configs_its_entrypoint_copied(tmp_path: Path) -> None:
    _image_dirs(tmp_path)
    check = tmp_path / "etc/datadog-agent/conf.d/kubernetes_state_core.d/kubernetes_state_core.yaml.default"
    check.parent.mkdir(parents=True)
    check.write_text("instances: [{}]\n")
    env = {"DD_API_KEY": "k", "DD_CLUSTER_AGENT_AUTH_TOKEN": TOKEN, "DD_HEALTH_PORT": str(_free_port())}
    env["DD_CLUSTER_AGENT_CMD_PORT"] = str(_free_port())
    dca = _start(tmp_path, "datadog-cluster-agent", ["start"], env)
    try:
        output = _wait_running(dca)
    finally:
        _stop(dca)
    assert "loaded check configs: conf.d/kubernetes_state_core.d/kubernetes_state_core.yaml.default" in output
