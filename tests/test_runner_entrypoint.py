"""The runner's entrypoint (bootstrap/runner/entrypoint.sh), run for real against a stand-in of
GitHub's REST API on 127.0.0.1: it signs in as the GitHub App with a JWT GitHub would accept,
registers one ephemeral runner with the platform's labels, and hands the runner no private key."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.bootstrap.runners import runner_environment
from harness import ROOT
from settings.bootstrap.loader import bootstrap_from_file

ENTRYPOINT = ROOT / "bootstrap" / "runner" / "entrypoint.sh"
INSTALLATION_TOKEN = "ghs_installation-token-for-the-test"
REGISTRATION_TOKEN = "AREGISTRATIONTOKENFORTHETEST"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeGithub:
    public_key: Path
    app_id: str
    installation_id: str
    reject: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check_jwt(self, token: str) -> None:
        """What GitHub checks: RS256 signed by the App's key, iss the App, iat in the past, exp ≤ 10 min."""
        header, payload, signature = token.split(".")
        if json.loads(_unb64(header)) != {"alg": "RS256", "typ": "JWT"}:
            self.problems.append(f"header {_unb64(header)!r}")
        claims = json.loads(_unb64(payload))
        now = time.time()
        if (
            claims["iss"] != self.app_id
            or not claims["iat"] <= now <= claims["exp"]
            or claims["exp"] - claims["iat"] > 600
        ):
            self.problems.append(f"claims {claims}")
        signed = self.public_key.parent / "signed"
        signed.write_bytes(f"{header}.{payload}".encode())
        (self.public_key.parent / "signature").write_bytes(_unb64(signature))
        verified = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(self.public_key), "-signature",
             str(self.public_key.parent / "signature"), str(signed)],
            capture_output=True, text=True,
        )  # fmt: skip
        if verified.returncode != 0:
            self.problems.append(f"signature does not verify: {verified.stdout}{verified.stderr}")

    def answer(self, path: str, authorization: str) -> tuple[int, dict]:
        self.requests.append((path, authorization))
        bearer = authorization.removeprefix("Bearer ")
        if self.reject:
            return 401, {"message": "Bad credentials"}
        if path == f"/app/installations/{self.installation_id}/access_tokens":
            self.check_jwt(bearer)
            return 201, {"token": INSTALLATION_TOKEN}
        if path.endswith("/actions/runners/registration-token") and bearer == INSTALLATION_TOKEN:
            return 201, {"token": REGISTRATION_TOKEN}
        return 404, {"message": "Not Found"}


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[FakeGithub, str]]:
    key, public = tmp_path / "app.pem", tmp_path / "app.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(public)], check=True, capture_output=True)
    fake = FakeGithub(public_key=public, app_id="123456", installation_id="7890123")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, body = fake.answer(self.path, self.headers.get("Authorization", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _runner_home(tmp_path: Path) -> Path:
    """Stand-ins for the runner's config.sh and run.sh that record what they were given."""
    home = tmp_path / "runner"
    home.mkdir()
    (home / "config.sh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RUNNER_HOME/config.args"\n')
    (home / "run.sh").write_text('#!/bin/sh\nenv > "$RUNNER_HOME/run.env"\necho ran\n')
    for script in ("config.sh", "run.sh"):
        (home / script).chmod(0o755)
    return home


def _run(tmp_path: Path, api: str, fake: FakeGithub) -> tuple[subprocess.CompletedProcess, Path]:
    settings = bootstrap_from_file("main")
    environment = runner_environment(settings.github, settings.runners.labels)
    environment.update(
        GITHUB_API_URL=api,
        GITHUB_APP_ID=fake.app_id,
        GITHUB_APP_INSTALLATION_ID=fake.installation_id,
        REGISTRATION_TOKEN_API_URL=api + "/repos/example-org/aks-platform/actions/runners/registration-token",
    )
    home = _runner_home(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RUNNER_HOME": str(home),
        "GITHUB_APP_PRIVATE_KEY": (tmp_path / "app.pem").read_text(),
        **environment,
    }
    result = subprocess.run(["bash", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60)
    return result, home


def test_the_runner_signs_in_as_the_app_and_registers_once_with_the_platforms_labels(
    github: tuple[FakeGithub, str], tmp_path: Path
) -> None:
    fake, api = github
    result, home = _run(tmp_path, api, fake)
    assert result.returncode == 0, result.stderr
    assert fake.problems == []
    assert [path for path, _ in fake.requests] == [
        "/app/installations/7890123/access_tokens",
        "/repos/example-org/aks-platform/actions/runners/registration-token",
    ]
    args = (home / "config.args").read_text().splitlines()
    assert args == [
        "--url", "https://github.com/example-org/aks-platform", "--token", REGISTRATION_TOKEN,
        "--labels", "aks-platform", "--unattended", "--ephemeral",
    ]  # fmt: skip
    # The runner (and every job it runs) gets no App key and no token from the sign-in.
    run_env = (home / "run.env").read_text()
    assert "GITHUB_APP_PRIVATE_KEY" not in run_env and "PRIVATE KEY" not in run_env
    assert INSTALLATION_TOKEN not in run_env and REGISTRATION_TOKEN not in run_env
    assert result.stdout.strip() == "ran"


def test_a_refused_sign_in_starts_no_runner(github: tuple[FakeGithub, str], tmp_path: Path) -> None:
    fake, api = github
    fake.reject = True
    result, home = _run(tmp_path, api, fake)
    assert result.returncode != 0
    assert "401" in result.stderr
    assert not (home / "config.args").exists() and not (home / "run.env").exists()


def test_the_job_gives_the_entrypoint_every_variable_it_requires() -> None:
    """The job's env (runners.runner_environment plus the App key) and the script's `${VAR:?}` agree."""
    required = set(re.findall(r"\$\{(\w+):\?\}", ENTRYPOINT.read_text()))
    settings = bootstrap_from_file("main")
    given = set(runner_environment(settings.github, settings.runners.labels)) | {"GITHUB_APP_PRIVATE_KEY"}
    assert required == given
