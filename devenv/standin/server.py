"""The admin app stand-in: what the real node runs where the stacks run the
admin app (a Rails app we cannot build here). It answers the same probes on the
same port and exits cleanly on SIGTERM, so rollouts, probes and drains are
tested against a process that behaves like the real one.

    /healthz    readiness: 200 unless /tmp/not-ready exists (tests make a pod unready)
    /livez      liveness: 200 while the process works; hangs after GET /hang
    /slow?s=N   answers after N seconds (an in-flight request during a drain)
    /burn?ms=N  keeps a CPU busy for N ms, then answers (load for the autoscaler)
    /           200 with the pod's name, so a test sees which pod answered

SIGTERM: stop accepting, let in-flight requests finish, exit 0."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

NOT_READY_FILE = "/tmp/not-ready"
hung = threading.Event()
stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/livez":
            if hung.is_set():
                stopping.wait()  # a deadlocked process: the liveness probe times out (until SIGTERM)
            return self._reply(200, "alive")
        if url.path == "/healthz":
            ready = not os.path.exists(NOT_READY_FILE)
            return self._reply(200 if ready else 503, "ready" if ready else "not ready")
        if url.path == "/hang":
            hung.set()
            return self._reply(200, "hanging")
        if url.path == "/slow":
            time.sleep(float(parse_qs(url.query).get("s", ["2"])[0]))
        if url.path == "/burn":
            until = time.thread_time() + float(parse_qs(url.query).get("ms", ["100"])[0]) / 1000
            while time.thread_time() < until:
                pass
        return self._reply(200, socket.gethostname())

    def _reply(self, status: int, body: str) -> None:
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests count requests themselves


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "3000"))), Handler)
    server.daemon_threads = False  # server_close() waits for in-flight requests

    # shutdown() blocks until serve_forever returns, so it runs off the signal handler's thread.
    def on_sigterm(*_: object) -> None:
        stopping.set()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    print("admin-app stand-in listening", flush=True)
    server.serve_forever()
    server.server_close()
    print("admin-app stand-in: SIGTERM, drained, exiting", flush=True)


if __name__ == "__main__":
    main()
