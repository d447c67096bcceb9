"""End to end: the real pulumi CLI of the pinned toolchain keeps a stack's state in an `azblob://`
backend, served by Azurite (Microsoft's storage emulator) on 127.0.0.1: log in, create a stack,
update it, read its history, and a second update of the same stack while the first runs is refused
by the backend's lock, while the first completes and nothing is lost.

gocloud.dev's Azure blob driver, which the CLI uses for azblob:// (pulumi pkg v3.274.1
backend/diy/backend.go), takes `domain` and `protocol` from the URL and, for a domain on
127.0.0.1, puts the account in the path as the emulator expects (gocloud.dev
blob/azureblob/azureblob.go, withOverrides and NewDefaultServiceURL). Everything stays on
127.0.0.1; Azurite is started with telemetry off and stopped, with its whole process group, at the end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Azurite's well-known development account (Azurite README, "Default Storage Account").
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "state"
HOLD_SECONDS = 20  # how long the first update holds its lock (its program waits), bounding the test
COMMAND_TIMEOUT = 180

pytestmark = pytest.mark.e2e

PROGRAM = '''\
"""A tiny stack: a component, its output, a secret; with `hold`, it waits while its update holds the lock."""
import pathlib
import time

import pulumi

config = pulumi.Config()


class Note(pulumi.ComponentResource):
    def __init__(self, name: str, text: str) -> None:
        super().__init__("statetest:index:Note", name, None)
        self.text = text
        self.register_outputs({"text": text})


note = Note("note", config.require("text"))
pulumi.export("text", note.text)
pulumi.export("token", config.require_secret("token"))
if config.get_float("hold"):
    pathlib.Path(config.require("started")).write_text("running\\n")
    time.sleep(config.get_float("hold"))
'''


# ------------------------------------------------------------------ Azurite


def _sign(method: str, url: str, headers: dict[str, str]) -> str:
    """Shared Key authorization for the emulator (learn.microsoft.com/rest/api/storageservices/
    authorize-with-shared-key: the string to sign, canonicalized headers and resource; with the
    emulator's path-style URLs the account appears twice in the canonicalized resource)."""
    parts = urlsplit(url)
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
    query = sorted(parse_qsl(parts.query))
    canonical_resource = f"/{ACCOUNT}{parts.path}" + "".join(f"\n{k}:{v}" for k, v in query)
    length = headers.get("content-length", "")
    content_type = headers.get("content-type", "")
    to_sign = "\n".join([method, "", "", "" if length == "0" else length, "", content_type, "", "", "", "", "", ""])
    to_sign += "\n" + canonical_headers + canonical_resource
    digest = hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}"


def blob_request(endpoint: str, method: str, path_and_query: str) -> tuple[int, bytes]:
    url = f"{endpoint}/{ACCOUNT}/{path_and_query}"
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-12-02", "content-length": "0"}
    if method == "PUT":
        headers["content-type"] = "application/octet-stream"  # urllib would send its form type otherwise
    headers["authorization"] = _sign(method, url, headers)
    request = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@dataclass
class Azurite:
    endpoint: str
    process: subprocess.Popen
    log: Path

    def blobs(self, prefix: str) -> list[str]:
        status, body = blob_request(self.endpoint, "GET", f"{CONTAINER}?restype=container&comp=list&prefix={prefix}")
        assert status == 200, body
        return re.findall(r"<Name>([^<]+)</Name>", body.decode())


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    install = subprocess.run(
        [str(ROOT / "toolchain" / "azurite.sh")], capture_output=True, text=True, timeout=300, check=True
    )
    binary = Path(install.stdout.strip().splitlines()[-1]) / "node_modules" / ".bin" / "azurite-blob"
    base = tmp_path_factory.mktemp("azurite")
    log = base / "azurite.log"
    process = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(base / "data"),
         "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--debug", str(base / "debug.log")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        match = None
        while time.time() < deadline and process.poll() is None and not match:
            # Its log line: "Azurite Blob service successfully listens on http://127.0.0.1:<port>".
            match = re.search(r"successfully listens on (http://127\.0\.0\.1:\d+)", log.read_text())
            time.sleep(0.2)
        assert match, f"Azurite did not start:\n{log.read_text()}"
        server = Azurite(endpoint=match.group(1), process=process, log=log)
        # gocloud does not create the container: a login to a missing one fails with ContainerNotFound.
        status, body = blob_request(server.endpoint, "PUT", f"{CONTAINER}?restype=container")
        assert status == 201, body
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ------------------------------------------------------------------- pulumi


@dataclass
class Project:
    workdir: Path
    env: dict[str, str]
    backend: str

    def command(self, *args: str) -> list[str]:
        from devenv.paths import tools_bin

        return [str(tools_bin() / "pulumi"), *args, "--non-interactive"]

    def pulumi(self, *args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.command(*args), cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
        show(f"pulumi {' '.join(args)}", result, quiet)
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result


def show(title: str, result: subprocess.CompletedProcess, quiet: bool = False) -> None:
    """What the command printed, for the record (`pytest -s`); `quiet` prints its size only."""
    output = (result.stdout + result.stderr).strip()
    print(f"\n$ {title}   [exit {result.returncode}]")
    if quiet:
        print(f"    ({len(output.splitlines())} lines)")
        return
    for line in output.splitlines():
        print(f"    {line}")


@pytest.fixture(scope="module")
def project(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Project:
    from devenv.paths import tools_bin

    assert (tools_bin() / "pulumi").exists(), "toolchain missing pulumi: run toolchain/build.sh (make tools)"
    base = tmp_path_factory.mktemp("state-backend")
    workdir = base / "project"
    workdir.mkdir()
    (workdir / "Pulumi.yaml").write_text(
        "name: statetest\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"
    )
    (workdir / "__main__.py").write_text(PROGRAM)
    # The project's own virtualenv (the language host runs <project>/.venv/bin/python).
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AZURE_"))},
        "PATH": f"{tools_bin()}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_HOME": str(base / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": "e2e-state-backend-passphrase",
        # Shared Key for the emulator; the real backend takes Entra ID tokens (bootstrap: shared keys off).
        "AZURE_STORAGE_ACCOUNT": ACCOUNT,
        "AZURE_STORAGE_KEY": KEY,
    }
    host = azurite.endpoint.removeprefix("http://")
    return Project(workdir=workdir, env=env, backend=f"azblob://{CONTAINER}?domain={host}&protocol=http")


def test_log_in_create_update_and_read_the_history(azurite: Azurite, project: Project) -> None:
    login = project.pulumi("login", project.backend)
    assert "Logged in to" in login.stdout + login.stderr
    whoami = project.pulumi("whoami", "--verbose")
    assert f"Backend URL: {project.backend}" in whoami.stdout
    project.pulumi("stack", "init", "dev", "--secrets-provider", "passphrase")
    project.pulumi("config", "set", "text", "first")
    project.pulumi("config", "set", "--secret", "token", "e2e-token-7f3a")
    project.pulumi("up", "--yes", "--skip-preview")
    assert project.pulumi("stack", "output", "text").stdout.strip() == "first"
    history = json.loads(project.pulumi("stack", "history", "--json", quiet=True).stdout)
    assert [entry["result"] for entry in history] == ["succeeded"]
    # The state is in the container, where a DIY backend keeps it (pulumi/docs using-a-diy-backend.md).
    assert ".pulumi/stacks/statetest/dev.json" in azurite.blobs(".pulumi/stacks/")
    assert "e2e-token-7f3a" not in json.dumps(json.loads(project.pulumi("stack", "export", quiet=True).stdout))


def test_a_second_update_during_the_first_is_refused_by_the_lock_and_nothing_is_lost(
    azurite: Azurite, project: Project, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    project.pulumi("config", "set", "text", "second")
    project.pulumi("config", "set", "hold", str(HOLD_SECONDS))
    project.pulumi("config", "set", "started", str(started))
    first = subprocess.Popen(
        project.command("up", "--yes", "--skip-preview"),
        cwd=project.workdir, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + COMMAND_TIMEOUT
        while not started.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert started.exists(), "the first update's program never ran"
        # The first update is running its program now, and so holds the stack's lock.
        locks = azurite.blobs(".pulumi/locks/")
        print(f"\nlock held by the first update: {locks}")
        assert len(locks) == 1 and locks[0].startswith(".pulumi/locks/organization/statetest/dev/")
        second = project.pulumi("up", "--yes", "--skip-preview", check=False)
        assert second.returncode != 0
        assert "the stack is currently locked by 1 lock(s)" in second.stdout + second.stderr
        assert first.poll() is None, "the first update ended before the second was refused"
        out, err = first.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    show("pulumi up --yes --skip-preview (the first, concurrent with the refused one)", subprocess.CompletedProcess(
        first.args, first.returncode, out, err))  # fmt: skip
    assert first.returncode == 0
    # Nothing lost: both updates in the history, the second update's outputs, the secret intact,
    # and no lock left behind.
    project.pulumi("stack", "history")
    history = json.loads(project.pulumi("stack", "history", "--json", quiet=True).stdout)
    assert [entry["result"] for entry in history] == ["succeeded", "succeeded"]
    # Newest first: the concurrent update's config, then the first update's.
    assert [entry["config"]["statetest:text"]["value"] for entry in history] == ["second", "first"]
    assert project.pulumi("stack", "output", "text").stdout.strip() == "second"
    assert project.pulumi("stack", "output", "token", "--show-secrets").stdout.strip() == "e2e-token-7f3a"
    deployment = json.loads(project.pulumi("stack", "export", quiet=True).stdout)
    types = [r["type"] for r in deployment["deployment"]["resources"]]
    assert "statetest:index:Note" in types
    assert azurite.blobs(".pulumi/locks/") == []
    print(f"\nblobs in the container after both updates: {azurite.blobs('.pulumi/')}")
