"""How long the program takes to evaluate, per stack, and what it costs in
memory, beside the bare import cost of each SDK, all measured in one run.

    python -m offline.bench [--repeat N]          (make bench)

Every measurement runs in a fresh interpreter, so import caches never flatter
a number. Evaluation is the real __main__.py under mocks (offline/engine.py):
config validation, every component and resource registration, and the SDK
imports the stack needs. Not a test: numbers vary with the machine."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORTS = ["pulumi", "pulumi_kubernetes", "pulumi_azure_native.containerservice", "pulumi_datadog"]

_MEASURE = """
import json, resource, sys, time
sys.path[:0] = [{root!r}]
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "extra": extra}}))
"""


def _run(body: str, env: dict[str, str] | None = None) -> dict:
    code = _MEASURE.format(root=str(ROOT), body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_import(module: str, cold: bool = False) -> dict:
    if not cold:
        return _run(f"import {module}\nextra = None")
    # An empty bytecode cache: what the first preview after an install pays.
    with tempfile.TemporaryDirectory() as cache:
        return _run(f"import {module}\nextra = None", env={**os.environ, "PYTHONPYCACHEPREFIX": cache})


def measure_stack(stack: str) -> dict:
    body = (
        "from offline.engine import evaluate\n"
        f"ev = evaluate({stack!r})\n"
        "extra = {'resources': len(ev.resources), 'datadog_imported': 'pulumi_datadog' in sys.modules}"
    )
    return _run(body)


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    args = parser.parse_args(argv[1:])
    print(f"median of {args.repeat} fresh interpreters each (python {sys.version.split()[0]})\n")
    print(f"{'what':45} {'seconds':>8} {'peak MiB':>9}  notes")
    for module in IMPORTS:
        runs = [measure_import(module) for _ in range(args.repeat)]
        print(f"{'import ' + module:45} {_median(runs, 'seconds'):8.2f} {_median(runs, 'peak_mib'):9.0f}")
    cold = measure_import("pulumi_datadog", cold=True)
    print(f"{'import pulumi_datadog (cold bytecode cache)':45} {cold['seconds']:8.2f} {cold['peak_mib']:9.0f}  one run")
    for stack in ("dev", "staging", "prod"):
        runs = [measure_stack(stack) for _ in range(args.repeat)]
        extra = runs[0]["extra"]
        datadog = "imported" if extra["datadog_imported"] else "NOT imported"
        notes = f"{extra['resources']} resources, pulumi_datadog {datadog}"
        print(
            f"{'evaluate stack ' + stack:45} {_median(runs, 'seconds'):8.2f} {_median(runs, 'peak_mib'):9.0f}  {notes}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
