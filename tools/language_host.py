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
import runpy
import signal
import sys
from concurrent import futures
from pathlib import Path

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import language_pb2_grpc

PROJECT_DIR = Path(os.environ.get("PULUMI_PROJECT_DIR", Path.cwd())).resolve()


def run_program() -> None:
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")


def _stop(*_: object) -> None:
    # The engine ends its plugins with a signal when it is done: not an error.
    os._exit(0)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(run_program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
