"""A stand-in for Pulumi's Python language host (`pulumi-language-python`).

The Go module of the real language host is not served by the module proxy
this project builds its toolchain from, so the CLI we build has no Python
language plugin. This serves the engine the same LanguageRuntime gRPC API,
using the Python SDK's own in-process server (the one the Automation API uses
for inline programs) to run this project's `__main__.py`.

The engine starts it as `pulumi-language-python [flags] ENGINE_ADDRESS` in
the project directory and reads the port from its first line of output.
With an official Pulumi install the real language host is used instead and
this file plays no part."""

from __future__ import annotations

import os
import queue
import runpy
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

PROJECT_DIR = Path(os.environ.get("PULUMI_PROJECT_DIR", Path.cwd())).resolve()


def run_program() -> None:
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")


class PlatformLanguageHost(LanguageServer):
    """The SDK's server, plus RunPlugin: the engine starts Python policy packs
    (`pulumi preview --policy-pack policy`) through the language host."""

    def RunPlugin(self, request, context):  # noqa: N802 - the gRPC method name
        directory = Path(request.info.program_directory or request.program or request.pwd)
        python = directory / _virtualenv(directory) / "bin" / "python"
        command = [str(python if python.exists() else sys.executable), "-u", "__main__.py", *request.args]
        env = {**os.environ, **dict(item.split("=", 1) for item in request.env if "=" in item)}
        process = subprocess.Popen(command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stderr_chunks: queue.Queue[bytes | None] = queue.Queue()

        def pump_stderr() -> None:
            for chunk in iter(lambda: process.stderr.read1(4096), b""):  # type: ignore[union-attr]
                stderr_chunks.put(chunk)
            stderr_chunks.put(None)

        threading.Thread(target=pump_stderr, daemon=True).start()
        for chunk in iter(lambda: process.stdout.read1(4096), b""):  # type: ignore[union-attr]
            yield language_pb2.RunPluginResponse(stdout=chunk)
            while not stderr_chunks.empty():
                if (err := stderr_chunks.get()) is not None:
                    yield language_pb2.RunPluginResponse(stderr=err)
        yield language_pb2.RunPluginResponse(exitcode=process.wait())


def _virtualenv(directory: Path) -> str:
    """The `virtualenv` option of a PulumiPolicy.yaml or Pulumi.yaml, else `.venv`."""
    for name in ("PulumiPolicy.yaml", "Pulumi.yaml"):
        path = directory / name
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip().startswith("virtualenv:"):
                    return line.split(":", 1)[1].strip()
    return ".venv"


def _stop(*_: object) -> None:
    # The engine ends its plugins with a signal when it is done: not an error.
    os._exit(0)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(PlatformLanguageHost(run_program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
