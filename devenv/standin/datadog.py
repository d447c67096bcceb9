#!/usr/bin/python3
"""The Datadog stand-in: what the real node runs under the names of the Datadog
agent and Cluster Agent images (pinned in settings/datadog/agents.py), which cannot be
pulled here. It sends nothing anywhere. It copies Datadog's agents at the points
listed below, and only there, each from DataDog/datadog-agent's sources (paths
as read in its repository); everything else about them (collection, the
components' own health, the 500 an unhealthy agent answers, its bind settings)
it does not imitate:

    agent run                     the node agent
    trace-agent -config=FILE      the APM receiver
    datadog-cluster-agent start   the Cluster Agent, after the image's /entrypoint.sh

- Health probes: served only when `health_port` (DD_HEALTH_PORT) is above 0; its
  default is 0, no server, so every probe fails (pkg/config/setup/config.go
  `BindEnvAndSetDefault("health_port", int64(0))`). On 0.0.0.0, /live, /ready and
  /startup, any other path as /live, 200 and {"Healthy":[...],"Unhealthy":null}
  (comp/core/healthprobe/impl/healthprobe.go, pkg/status/health/health.go). Unlike
  Datadog's, whose components report healthy only after their first 15 s ping,
  the stand-in is healthy at once.
- At start the agents create their IPC auth token beside datadog.yaml,
  /etc/datadog-agent/auth_token, when it is missing (pkg/api/security/security.go).
  The stand-in refuses to start when it cannot: its own, stricter choice. A
  read-only /etc/datadog-agent or run_path /opt/datadog-agent/run only gets a
  warning, as in cmd/agent/subcommands/run/rofs_check.go; the log file
  (/var/log/datadog/agent.log, cluster-agent.log: pkg/util/defaultpaths/path_nix.go)
  falls back to the console.
- The node agent itself does not check DD_API_KEY (the image's cont-init.d
  01-check-apikey.sh does); the trace agent and the Cluster Agent refuse to start
  without it (comp/trace/config/setup.go ErrMissingAPIKey;
  cmd/cluster-agent/subcommands/start/command.go "no API key configured, exiting").
- The Cluster Agent lists the check configs it loads from /etc/datadog-agent/conf.d
  (its confd_path, pkg/config/setup/config_nix.go). It also refuses a
  DD_CLUSTER_AGENT_AUTH_TOKEN shorter than 32 characters: Datadog's rejects such a
  token (pkg/api/security/security.go authTokenMinimalLen), but whether at start
  or on first use was not traced, so that exit is the stand-in's own choice.
- The trace agent exits 0 when DD_APM_ENABLED is false (comp/trace/agent/impl/agent.go).
- Ports, on 0.0.0.0 whatever the *_NON_LOCAL_TRAFFIC settings: DogStatsD UDP
  DD_DOGSTATSD_PORT (8125), the trace receiver TCP DD_APM_RECEIVER_PORT (8126),
  the Cluster Agent's command API TCP DD_CLUSTER_AGENT_CMD_PORT (5005).
- SIGTERM: exit 0."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Under "/" in the image; elsewhere only in tests/test_datadog_standin.py, which runs it on the host.
ROOT = Path(os.environ.get("STANDIN_ROOT", "/"))
CONFIG_DIR = ROOT / "etc/datadog-agent"
LOG_DIR = ROOT / "var/log/datadog"
RUN_PATH = ROOT / "opt/datadog-agent/run"
CLUSTER_AGENT_CMD_PORT = 5005  # cluster_agent.cmd_port (DD_CLUSTER_AGENT_CMD_PORT) default
MIN_TOKEN_LENGTH = 32
PROBE_PATHS = ("/live", "/ready", "/startup")


def say(role: str, message: str) -> None:
    print(f"[{role} stand-in] {message}", flush=True)


def fail(role: str, message: str) -> None:
    say(role, message)
    sys.exit(1)


class Health(BaseHTTPRequestHandler):
    components: list[str] = []

    def do_GET(self) -> None:
        # Every path answers, the unknown ones as /live ("Default route for backward compatibility").
        status = {"Healthy": ["healthcheck", *self.components], "Unhealthy": None}
        body = json.dumps(status, separators=(",", ":")).encode()  # Go's encoding/json spacing
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def env_port(variable: str, default: int) -> int:
    """A port from its DD_* variable; unset or empty: the agent's default."""
    return int(os.environ.get(variable) or default)


def serve_health(role: str, components: list[str]) -> None:
    port = env_port("DD_HEALTH_PORT", 0)
    if port == 0:
        say(role, "health_port is 0: no health probe server (DD_HEALTH_PORT is not set)")
        return
    Health.components = components
    server = ThreadingHTTPServer(("0.0.0.0", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(role, f"health probes on :{port} {', '.join(PROBE_PATHS)}")


def write_start_files(role: str, log_name: str) -> None:
    """The IPC auth token (fatal if it cannot be made), the writable-path check and the log file."""
    token = CONFIG_DIR / "auth_token"
    try:
        if not token.exists():
            token.write_text(secrets.token_hex(32))
            token.chmod(0o600)
    except OSError as error:
        fail(role, f"cannot create the IPC auth token {token}: {error}")
    for directory in (CONFIG_DIR, RUN_PATH):
        if not os.access(directory, os.W_OK):
            say(role, f"WARN Write permission check failed for {directory}")
    try:
        (LOG_DIR / log_name).write_text(f"{role} stand-in started\n")
    except OSError as error:
        say(role, f"cannot open the log file, logging to the console only: {error}")


def _go_bool(value: str) -> bool:
    """Go's strconv.ParseBool, which reads DD_* booleans (anything else: false here)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def require_api_key(role: str) -> None:
    if not os.environ.get("DD_API_KEY"):
        fail(role, "no API key configured, exiting")


def listen(kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    return sock


def node_agent(args: list[str]) -> list[socket.socket]:
    role = "agent"
    if args[:1] != ["run"]:
        fail(role, f"unknown command {args}: the pod runs `agent run`")
    write_start_files(role, "agent.log")
    serve_health(role, ["agent", "forwarder", "dogstatsd"])  # names of our own, for the body's shape
    port = env_port("DD_DOGSTATSD_PORT", 8125)
    say(role, f"dogstatsd on udp :{port}")
    sock = listen(socket.SOCK_DGRAM, port)
    threading.Thread(target=receive_dogstatsd, args=(role, sock), daemon=True).start()
    return [sock]


def receive_dogstatsd(role: str, sock: socket.socket) -> None:
    """Logs the metric name and sender of each datagram, so a test sees what arrived
    (the agent aggregates and forwards them; the stand-in only shows they got here)."""
    while True:
        try:
            data, (address, _) = sock.recvfrom(65535)
        except OSError:
            return  # closed at SIGTERM
        say(role, f"dogstatsd: received {data.split(b':', 1)[0].decode(errors='replace')!r} from {address}")


def trace_agent(args: list[str]) -> list[socket.socket]:
    role = "trace-agent"
    config = next((a.split("=", 1)[1] for a in args if a.startswith("-config=")), None)
    if config and not Path(config).exists():
        say(role, f"{config} does not exist: running from the environment alone")
    if not _go_bool(os.environ.get("DD_APM_ENABLED", "true")):
        say(role, "trace-agent not enabled. Set the environment variable DD_APM_ENABLED=true. Exiting...")
        sys.exit(0)
    require_api_key(role)
    port = env_port("DD_APM_RECEIVER_PORT", 8126)
    say(role, f"trace receiver on tcp :{port}")
    return [listen(socket.SOCK_STREAM, port)]


def cluster_agent(args: list[str]) -> list[socket.socket]:
    role = "datadog-cluster-agent"
    if args[:1] != ["start"]:
        fail(role, f"unknown command {args}: the image runs `datadog-cluster-agent start`")
    require_api_key(role)
    if len(os.environ.get("DD_CLUSTER_AGENT_AUTH_TOKEN", "")) < MIN_TOKEN_LENGTH:
        fail(role, f"cluster agent authentication token must be at least {MIN_TOKEN_LENGTH} characters long")
    write_start_files(role, "cluster-agent.log")
    checks = sorted(str(p.relative_to(CONFIG_DIR)) for p in (CONFIG_DIR / "conf.d").glob("*.d/*.yaml*"))
    say(role, f"loaded check configs: {', '.join(checks) or 'none'}")
    serve_health(role, ["cluster-agent", "leader-election"])  # names of our own, for the body's shape
    port = env_port("DD_CLUSTER_AGENT_CMD_PORT", CLUSTER_AGENT_CMD_PORT)
    say(role, f"command API on tcp :{port}")
    return [listen(socket.SOCK_STREAM, port)]


ROLES = {"agent": node_agent, "trace-agent": trace_agent, "datadog-cluster-agent": cluster_agent}


def main(argv: list[str]) -> None:
    name = Path(argv[0]).name
    if name not in ROLES:
        fail(name, f"run as one of {', '.join(ROLES)}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sockets = ROLES[name](argv[1:])
    say(name, "running")
    stop.wait()
    for sock in sockets:
        sock.close()
    say(name, "SIGTERM: exiting")


if __name__ == "__main__":
    main(sys.argv)
