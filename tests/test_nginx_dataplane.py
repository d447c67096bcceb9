"""The Pod's data plane, run for real: the nginx.conf the program registers (read
from the ConfigMap of an offline evaluation, never a copy) runs as a non-root
user in front of a stub app server on loopback, and the web pod's graceful stop
is played out with the Deployment's own preStop delay and grace period.

What is rewritten before nginx runs, and why (each must match exactly once, so
a rewrite can never silently miss):
- the paths of the emptyDir volumes the nginx container mounts (/tmp and
  /var/cache/nginx) become fresh temporary directories: the only places nginx
  may write, as in the Pod, whose root filesystem is read-only;
- `listen <containerPort>` becomes 127.0.0.1:<free port> and the upstream's
  127.0.0.1:<app port> the stub's free port: a test binds only to loopback and
  never to a fixed port. Nothing else changes.

kwok runs no containers, so this is the only place our nginx config meets real
traffic. nginx comes from the OS package `nginx` (Debian 12's is built with the
realip module the config needs; the test checks `nginx -V`). Without it, the test
is skipped loudly on a person's machine, and FAILS when the CI environment
variable is set.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from components.kubernetes.hardening import RUN_AS_USER
from harness import Evaluation, evaluate, free_port, patched_stack_file

LOOPBACK = "127.0.0.1"
# Trusting loopback makes the test's own requests come "from the ingress controller".
# A short delay keeps the suite fast; the order of events, not the length, is under test.
DRAIN_PATCH = {
    "platform:services": {
        "admin": {
            "web": {
                "nginx": {"trustedProxyCidrs": ["127.0.0.1/32"]},
                "preStopDelaySeconds": 2,
                "terminationGracePeriodSeconds": 6,
            }
        }
    }
}
INSTALL_HINT = "install the OS package 'nginx' (Debian/Ubuntu: apt-get install -y nginx)"


def _find_nginx() -> tuple[str, str | None]:
    """The nginx binary, and what is wrong with it if anything."""
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not found:
        return "", f"nginx is not installed: {INSTALL_HINT}"
    built = subprocess.run([found, "-V"], capture_output=True, text=True, check=False).stderr
    if "--with-http_realip_module" not in built:
        return found, f"{found} lacks the realip module the config needs: {INSTALL_HINT}"
    return found, None


NGINX_BIN, NGINX_PROBLEM = _find_nginx()
if NGINX_PROBLEM and not os.environ.get("CI"):
    warnings.warn(f"SKIPPING the nginx data-plane test: {NGINX_PROBLEM}", stacklevel=1)
    pytest.skip(f"SKIPPED LOUDLY: {NGINX_PROBLEM}", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def _ci_never_skips() -> None:
    if NGINX_PROBLEM:
        pytest.fail(f"CI must run the nginx data-plane test, but {NGINX_PROBLEM}", pytrace=False)


# ------------------------------------------------------------------ the stub app


SLOW_REQUEST_ARRIVED = threading.Event()


class StubApp(BaseHTTPRequestHandler):
    """The app container's stand-in: health endpoints, a slow endpoint, and an echo of what nginx sent."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/slow":
            SLOW_REQUEST_ARRIVED.set()
            time.sleep(float(parse_qs(url.query)["seconds"][0]))
        body = json.dumps({"path": url.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stub_app() -> Iterator[int]:
    server = ThreadingHTTPServer((LOOPBACK, 0), StubApp)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# ------------------------------------------------------- the pod, as registered


@dataclass
class WebPod:
    """What the program registered for the web pod: the rendered nginx.conf and the pod spec."""

    conf: str
    spec: dict[str, Any]

    @classmethod
    def of(cls, ev: Evaluation) -> WebPod:
        manifests = [m for m in ev.manifests() if m["metadata"].get("namespace") == "admin"]
        (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "web-nginx"]
        (deployment,) = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "web"]
        return cls(conf=config_map["data"]["nginx.conf"], spec=deployment["spec"]["template"]["spec"])

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.spec["containers"] if c["name"] == name)

    def empty_dir_mounts(self) -> list[str]:
        """Where the nginx container may write: its mounts of emptyDir volumes."""
        empty = {v["name"] for v in self.spec["volumes"] if "emptyDir" in v}
        return [m["mountPath"] for m in self.container("nginx")["volumeMounts"] if m["name"] in empty]

    @property
    def pre_stop_seconds(self) -> int:
        return self.container("nginx")["lifecycle"]["preStop"]["sleep"]["seconds"]


@pytest.fixture(scope="module")
def default_pod() -> WebPod:
    """The dev stack as it is: loopback is outside its trusted range."""
    return WebPod.of(evaluate("dev"))


@pytest.fixture(scope="module")
def drain_pod() -> WebPod:
    return WebPod.of(evaluate("dev", stack_file=patched_stack_file("dev", DRAIN_PATCH)))


# -------------------------------------------------------------- running nginx


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    result, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == 1, f"expected exactly one match of {pattern!r} in the rendered nginx.conf, found {count}"
    return result


@dataclass
class Nginx:
    pod: WebPod
    app_port: int
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nginx-pod-")))
    mounts: dict[str, Path] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.chmod(0o755)
        for index, mount in enumerate(self.pod.empty_dir_mounts()):
            self.mounts[mount] = self._writable_dir(f"empty-dir-{index}")
        config_map = self.root / "config-map"  # the read-only ConfigMap mount
        config_map.mkdir(mode=0o755)
        self.conf_path = config_map / "nginx.conf"
        self.conf_path.write_text(self.rewritten_conf())
        self.conf_path.chmod(0o444)

    def _writable_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(path, RUN_AS_USER, RUN_AS_USER)
        return path

    def rewritten_conf(self) -> str:
        conf = self.pod.conf
        for mount, stand_in in self.mounts.items():
            conf = re.sub(rf"(?<=\s){re.escape(mount)}(?=[/;\s])", str(stand_in), conf)
        nginx_port = self.pod.container("nginx")["ports"][0]["containerPort"]
        app_port = self.pod.container("app")["ports"][0]["containerPort"]
        conf = _replace_once(conf, rf"^(\s*)listen {nginx_port};", rf"\1listen {LOOPBACK}:{self.port};")
        return _replace_once(conf, rf"^(\s*)server 127\.0\.0\.1:{app_port};", rf"\1server {LOOPBACK}:{self.app_port};")

    def command(self, *extra: str) -> list[str]:
        # -p/-c: prefix and config in the ConfigMap stand-in; -e: the log before the
        # config is read; -g: the image's own CMD ("daemon off;", docker-nginx-unprivileged).
        base = [NGINX_BIN, "-p", str(self.conf_path.parent), "-c", str(self.conf_path), "-e", "stderr"]
        return [*base, "-g", "daemon off;", *extra]

    def _container_log(self) -> Any:
        """The container's stdout/stderr, owned by its user, as runc hands them over
        (libcontainer's fixStdioPermissions chowns PID 1's stdio to the container
        user), so nginx can reopen /dev/stderr as the config asks."""
        path = self.root / "container.log"
        path.touch(mode=0o600)
        if os.geteuid() == 0:
            os.chown(path, RUN_AS_USER, RUN_AS_USER)
        return path.open("r+")

    def log(self) -> str:
        return (self.root / "container.log").read_text()

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        with self._container_log() as log:
            done = subprocess.run(
                self.command(*extra), stdout=log, stderr=log, check=False, timeout=10, **_as_pod_user()
            )
        return subprocess.CompletedProcess(done.args, done.returncode, self.log(), self.log())

    def start(self) -> Nginx:
        with self._container_log() as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, start_new_session=True, **_as_pod_user()
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"nginx exited: {self.log()}"
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start listening within 10 s")

    def stop(self) -> None:
        # SIGTERM, nginx's fast shutdown: the master takes its workers down with it.
        # Then SIGKILL whatever is left of nginx's own process group, so that no
        # worker outlives the test even if the master did not get to reap it.
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):  # an empty group: nginx stopped cleanly
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict]:
        # A new connection per request, as a fresh client (or a new ingress upstream connection) would open.
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
        try:
            connection.request("GET", path, headers={"Host": "admin.example.com", **(headers or {})})
            response = connection.getresponse()
            body = response.read()
            return response.status, json.loads(body) if response.getheader("Content-Type") == "application/json" else {
                "raw": body.decode()
            }
        finally:
            connection.close()


def _refused_within(nginx: Nginx, seconds: float, since: float) -> float:
    """When a new connection was first refused, in seconds after `since`.

    A reset counts as a refusal: a connection that sat in the listen backlog when nginx
    closed its listener is reset by the kernel, never served (seen in CI, stop 15)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, nginx.port), timeout=0.2).close()
        except (ConnectionRefusedError, ConnectionResetError):
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"nginx still accepted connections {seconds} s after SIGQUIT")


def _as_pod_user() -> dict[str, Any]:
    """Run as the Pod's UID when the tests run as root; as ourselves (not root) otherwise."""
    if os.geteuid() == 0:
        return {"user": RUN_AS_USER, "group": RUN_AS_USER, "extra_groups": []}
    return {}


@pytest.fixture
def nginx_of(stub_app: int) -> Iterator[Any]:
    started: list[Nginx] = []

    def start(pod: WebPod) -> Nginx:
        started.append(Nginx(pod, stub_app))
        return started[-1].start()

    yield start
    for nginx in started:
        nginx.stop()


# ----------------------------------------------------------------------- tests


def test_the_rendered_config_passes_nginx_t_as_a_non_root_user(
    default_pod: WebPod, drain_pod: WebPod, stub_app: int
) -> None:
    for pod in (default_pod, drain_pod):
        nginx = Nginx(pod, stub_app)
        try:
            checked = nginx.run("-t")
            assert checked.returncode == 0, checked.stderr
            assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
        finally:
            nginx.stop()


def test_nginx_writes_only_to_the_pods_empty_dirs(default_pod: WebPod, nginx_of: Any) -> None:
    assert sorted(default_pod.empty_dir_mounts()) == ["/tmp", "/var/cache/nginx"]
    nginx = nginx_of(default_pod)
    conf = nginx.conf_path.read_text()
    written = re.findall(r"^\s*(?:pid|error_log|access_log|\w+_temp_path)\s+(\S+?)[;\s]", conf, re.M)
    assert len(written) >= 8, written
    for path in written:
        assert path in ("/dev/stdout", "/dev/stderr", "off") or any(
            Path(path).is_relative_to(stand_in) for stand_in in nginx.mounts.values()
        ), f"nginx writes to {path}, which is no emptyDir of the Pod"
    assert nginx.process is not None
    uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{nginx.process.pid}/status").read_text(), re.M).group(1))  # type: ignore[union-attr]
    assert uid != 0, "nginx must run as a non-root user"
    # It runs, so it could create its pid file and temp dirs, all inside the /tmp stand-in.
    assert (nginx.mounts["/tmp"] / "nginx.pid").read_text().strip() == str(nginx.process.pid)


def test_worker_processes_follow_the_cpu_request(default_pod: WebPod, nginx_of: Any) -> None:
    nginx = nginx_of(default_pod)
    cpu = default_pod.container("nginx")["resources"]["requests"]["cpu"]
    cores = int(cpu.removesuffix("m")) / 1000 if cpu.endswith("m") else float(cpu)
    assert nginx.process is not None
    workers = subprocess.run(["pgrep", "-P", str(nginx.process.pid)], capture_output=True, text=True, check=False)
    assert len(workers.stdout.split()) == max(1, math.ceil(cores))


def test_health_endpoints_answer(default_pod: WebPod, nginx_of: Any) -> None:
    nginx = nginx_of(default_pod)
    proxy, app = default_pod.container("nginx"), default_pod.container("app")
    # nginx's liveness: nginx alone, the app is not asked.
    status, body = nginx.get(proxy["livenessProbe"]["httpGet"]["path"])
    assert (status, body) == (200, {"raw": "ok\n"})
    # nginx's readiness: the app's shallow liveness endpoint, through nginx's upstream.
    status, body = nginx.get(proxy["readinessProbe"]["httpGet"]["path"])
    assert status == 200 and body["path"] == app["livenessProbe"]["httpGet"]["path"]
    for probe in ("readinessProbe", "livenessProbe"):
        path = app[probe]["httpGet"]["path"]
        status, body = nginx.get(path)
        assert status == 200 and body["path"] == path


def test_a_trusted_ingress_sets_the_client_address_and_the_protocol(drain_pod: WebPod, nginx_of: Any) -> None:
    nginx = nginx_of(drain_pod)
    # The ingress controller appends the peer it saw; only that last entry is believed.
    status, body = nginx.get("/echo", {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"})
    headers = body["headers"]
    assert status == 200
    assert headers["x-forwarded-for"] == headers["x-real-ip"] == "203.0.113.7"
    assert headers["x-forwarded-proto"] == "https"  # TLS ended at the ingress; the app must know
    assert headers["host"] == "admin.example.com"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


def test_an_untrusted_peer_cannot_forge_its_address(default_pod: WebPod, nginx_of: Any) -> None:
    nginx = nginx_of(default_pod)
    _, body = nginx.get("/echo", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert body["headers"]["x-forwarded-for"] == body["headers"]["x-real-ip"] == LOOPBACK
    _, plain = nginx.get("/echo", {"X-Forwarded-Proto": "gopher"})
    assert plain["headers"]["x-forwarded-proto"] == "http"  # not a protocol: nginx's own scheme


def test_a_terminating_pod_serves_through_the_prestop_window_and_drains(drain_pod: WebPod, nginx_of: Any) -> None:
    """The kubelet's order on termination: run the preStop sleep (nginx is not told
    anything and keeps serving), then send the image's STOPSIGNAL, SIGQUIT; SIGKILL
    only when the grace period ends. The test plays the kubelet with the Deployment's
    own numbers. It proves nginx's half: a request arriving during the window is
    served, one in flight at SIGQUIT completes, and a new connection after SIGQUIT
    is refused, which is why the delay must come first. That endpoints and the
    ingress stop sending traffic within the delay is the cluster's half, not tested here."""
    nginx = nginx_of(drain_pod)
    delay, grace = drain_pod.pre_stop_seconds, drain_pod.spec["terminationGracePeriodSeconds"]
    slow_seconds = (grace - delay) / 2
    assert nginx.process is not None
    results: dict[str, Any] = {}

    def timed(name: str, path: str) -> None:
        results[f"{name}_start"] = time.monotonic() - t0
        try:
            results[name] = nginx.get(path)[0]
        except OSError as err:  # a dropped request: the failure this test exists to catch
            results[name] = repr(err)
        results[f"{name}_end"] = time.monotonic() - t0

    SLOW_REQUEST_ARRIVED.clear()
    t0 = time.monotonic()  # termination starts: the preStop sleep begins
    time.sleep(delay * 0.4)
    timed("in_window", "/echo")
    slow = threading.Thread(target=timed, args=("in_flight", f"/slow?seconds={slow_seconds}"))
    slow.start()
    assert SLOW_REQUEST_ARRIVED.wait(timeout=delay), "the slow request never reached the app"
    time.sleep(max(0.0, delay - (time.monotonic() - t0)))
    nginx.process.send_signal(signal.SIGQUIT)  # the preStop sleep is over
    signalled = time.monotonic() - t0
    refused = _refused_within(nginx, seconds=2, since=t0)
    slow.join(timeout=grace)
    exit_code = nginx.process.wait(timeout=max(0.1, grace - (time.monotonic() - t0)))
    exited = time.monotonic() - t0
    timings = {**results, "sigquit": signalled, "refused": refused, "exited": exited, "delay": delay, "grace": grace}
    rounded = {key: round(value, 2) for key, value in timings.items() if isinstance(value, float | int)}
    print(f"\ndrain timings (s since termination began): {json.dumps(rounded)}")

    assert results["in_window"] == 200 and results["in_window_end"] < signalled
    assert results["in_flight"] == 200, timings
    assert results["in_flight_start"] < signalled < results["in_flight_end"], timings
    assert refused - signalled < 2, timings  # the listener closed: new connections are refused
    assert exit_code == 0 and exited < grace, timings  # stopped on its own, before any SIGKILL
