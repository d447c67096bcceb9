"""End to end: the CVE day's node upgrade, rehearsed on real nodes under traffic
(devenv/rehearsal.py, what `make upgrade-rehearsal` runs, with --show-loss).

One private cluster, three rounds:
1. the upgrade AKS makes of a node (surge, cordon, drain through the eviction API,
   remove) with the stack's PodDisruptionBudget: no request is lost;
2. the same upgrade as an experiment, with the PDB deleted and evictions asking a 1 s
   grace period (the preStop window cut): both pods stop at once and requests are lost,
   so the first round could have seen a loss. (The PDB alone is not enough: the 10 s
   preStop window often covers the replacements' start; devenv/rehearsal.py says why.)
3. a drain a budget of maxUnavailable 0 holds: it stops at its timeout, names the pods
   and the budget, and the node takes pods again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    assert os.geteuid() == 0, "the rehearsal runs real nodes: root and Linux"
    report = tmp_path_factory.mktemp("rehearsal") / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "devenv.rehearsal", "--show-loss", "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    print(result.stdout[-6000:])
    assert report.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    return json.loads(report.read_text())


def test_the_upgrade_with_the_stacks_budget_loses_no_request(rounds: list[dict]) -> None:
    first = rounds[0]
    whats = [what for _, what in first["events"]]
    assert any(what.startswith("surge node") for what in whats)
    steps = (
        "surge node",
        "cordoned real-1",
        "evicted admin/",
        "drained real-1",
        "the web app available",
        "removed real-1",
    )
    order = [next(i for i, w in enumerate(whats) if w.startswith(step)) for step in steps]
    assert order == sorted(order), whats
    assert first["sent"] > 1000, first["sent"]
    assert first["failed"] == 0, first["failures"]
    # Two pods on the drained node and a budget of one: the second eviction waited for the first's replacement.
    assert first["refusals"], "no eviction was refused: the budget was not what held the drain"
    assert all("disruption budget" in why for _, _, why in first["refusals"]), first["refusals"]
    # The old pods answered, then their replacements on the surge node: four pods in all.
    assert len(first["served_by"]) == 4, first["served_by"]


def test_without_the_budget_and_the_prestop_window_the_same_upgrade_loses_requests(rounds: list[dict]) -> None:
    second = rounds[1]
    assert any("deleted the web PodDisruptionBudget" in what for _, what in second["events"]), second["events"]
    assert second["refusals"] == []
    assert second["failed"] > 0, f"no request failed in {second['sent']}: the rehearsal could not see a loss"


def test_a_drain_a_budget_blocks_names_the_pods_and_the_budget_and_uncordons(rounds: list[dict]) -> None:
    blocked = rounds[2]["blocked"]
    assert "did not finish" in blocked and "held by admin/web" in blocked, blocked
    assert blocked.endswith("is schedulable again"), blocked
