"""A bounded request loop, run INSIDE a pod of the ingress controller's namespace (so the
web app's NetworkPolicy admits it, as it admits the controller), against a Service's
ClusterIP: every request goes through kube-proxy's endpoint handling and the
NetworkPolicy engine, on real packets.

    python3 load_client.py URL STOP_FILE SENDERS INTERVAL MAX_SECONDS MAX_REQUESTS

Stops by itself after MAX_SECONDS or MAX_REQUESTS, or when STOP_FILE appears; then
prints one JSON line: {"served": {body: count}, "failures": [...], "seconds": s,
"stopped_by": "stop-file" | "deadline" | "max-requests"}: a caller whose loop stopped on its
own bound before the caller's event ended measured less than it meant to.
Standard library only: it runs in the admin-app stand-in image (devenv/images.py)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter


def main(argv: list[str]) -> int:
    url, stop_file, senders, interval, max_seconds, max_requests = argv[1:7]
    deadline = time.monotonic() + float(max_seconds)
    lock = threading.Lock()
    served: Counter[str] = Counter()
    failures: list[str] = []

    def more() -> bool:
        with lock:
            sent = sum(served.values()) + len(failures)
        return time.monotonic() < deadline and sent < int(max_requests) and not os.path.exists(stop_file)

    def send() -> None:
        while more():
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode().strip()
                with lock:
                    served[body] += 1
            except (urllib.error.URLError, OSError) as err:
                with lock:
                    failures.append(f"{time.strftime('%H:%M:%S')} {err}")
            time.sleep(float(interval))

    started = time.monotonic()
    threads = [threading.Thread(target=send) for _ in range(int(senders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if os.path.exists(stop_file):
        stopped_by = "stop-file"
    elif time.monotonic() >= deadline:
        stopped_by = "deadline"
    else:
        stopped_by = "max-requests"
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps({"served": served, "failures": failures, "seconds": seconds, "stopped_by": stopped_by}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
