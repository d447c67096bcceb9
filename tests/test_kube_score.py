"""kube-score over the rendered prod manifests, as an authority on Kubernetes hygiene: no
critical finding passes unless it is a documented choice, each with its reason in the code; no
exception is kept once it is no longer needed; and the only warnings are listed below with theirs.

kube-score is built by toolchain/build.sh at the version in toolchain/versions.env (`make unit`
passes it in KUBE_SCORE_BIN). Without it the module is skipped with a warning on a person's
machine, and FAILS when the CI environment variable is set, as the nginx data-plane test does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml

from components.datadog import agent, cluster_agent
from harness import ROOT
from offline.render import render_manifests, write_manifests

# Exceptions for the whole run, with their reasons (the flag's own help text: "Disables the
# requirement of setting a container CPU limit", zegl/kube-score cmd/kube-score/main.go @v1.20.0).
RUN_FLAGS = {
    "--ignore-container-cpu-limit": "No CPU limits anywhere, on purpose: CFS throttling adds latency even on idle "
    "nodes (components/service/pod_spec.py container_resources); requests and a memory limit stay required, by "
    "kube-score and by the policy pack (policy/guardrails.py requests_and_memory_limit)",
}
# Per-object exceptions: the `kube-score/ignore` annotation, whose reasons live beside it.
IGNORED = {
    ("DaemonSet", "datadog-agent"): agent.KUBE_SCORE_SKIPS,
    ("Deployment", "datadog-cluster-agent"): cluster_agent.KUBE_SCORE_SKIPS,
}
# Warnings we keep, by (kind, name, check id), and why.
WARNINGS = {
    ("DaemonSet", "datadog-agent", "pod-networkpolicy"): "No egress policy for the node agents, on purpose: "
    "their kubelet is at the node IP, which no NetworkPolicy can allow under Cilium on AKS "
    "(components/datadog/network_policies.py)",
    ("Deployment", "web", "deployment-has-host-podantiaffinity"): "Spread across nodes by a topology spread "
    "constraint instead, which never blocks a rollout (components/service/deployment.py topology_spread)",
}
CRITICAL, WARNING = 1, 5  # kube-score's grades (scorecard/scorecard.go @v1.20.0: GradeCritical, GradeWarning)
INSTALL_HINT = "build it with `toolchain/build.sh kube-score` and set KUBE_SCORE_BIN to <bin dir>/kube-score"


def _find_kube_score() -> str | None:
    named = os.environ.get("KUBE_SCORE_BIN")
    if named and Path(named).is_file():
        return named
    where = subprocess.run([str(ROOT / "toolchain" / "build.sh"), "where"], capture_output=True, text=True)
    built = Path(where.stdout.strip()) / "kube-score"
    return str(built) if built.is_file() else shutil.which("kube-score")


KUBE_SCORE = _find_kube_score()
if not KUBE_SCORE and not os.environ.get("CI"):
    warnings.warn(f"SKIPPING the kube-score test: kube-score not found; {INSTALL_HINT}", stacklevel=1)
pytestmark = pytest.mark.skipif(not KUBE_SCORE and not os.environ.get("CI"), reason=f"no kube-score: {INSTALL_HINT}")


def kubernetes_version() -> str:
    from settings.loader import read_project_base

    return "v" + read_project_base()["aks"]["kubernetesVersion"]


def score(directory: Path, *extra: str, flags: bool = True) -> list[dict]:
    assert KUBE_SCORE, f"kube-score is required under CI: {INSTALL_HINT}"
    files = sorted(str(p) for p in directory.rglob("*.yaml"))
    run_flags = list(RUN_FLAGS) if flags else []
    command = [KUBE_SCORE, "score", "-o", "json", "--kubernetes-version", kubernetes_version(), *run_flags, *extra]
    result = subprocess.run([*command, *files], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def findings(report: list[dict], grade: int) -> set[tuple[str, str, str]]:
    return {
        (obj["type_meta"]["kind"], obj["object_meta"]["name"], check["check"]["id"])
        for obj in report
        for check in obj["checks"]
        if not check["skipped"] and check["grade"] == grade
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("prod")
    write_manifests(render_manifests("prod"), directory)
    return directory


@pytest.fixture(scope="module")
def bare(rendered: Path) -> set[tuple[str, str, str]]:
    """The critical findings with no exception at all: no annotations honoured, no run-wide flag."""
    return findings(score(rendered, "--disable-ignore-checks-annotations", flags=False), CRITICAL)


def test_no_critical_finding_but_the_documented_choices(rendered: Path) -> None:
    report = score(rendered)
    scored = {(obj["type_meta"]["kind"], obj["object_meta"]["name"]) for obj in report}
    workloads = {("DaemonSet", "datadog-agent"), ("Deployment", "datadog-cluster-agent"), ("Deployment", "web"),
                 ("CronJob", "daily-report"), ("CronJob", "hourly-aggregation")}  # fmt: skip
    assert workloads <= scored and len([o for o in report if o["type_meta"]["kind"] == "NetworkPolicy"]) == 9
    assert findings(report, CRITICAL) == set()
    assert findings(report, WARNING) == set(WARNINGS)


def test_every_annotation_has_a_reason_and_is_still_needed(rendered: Path, bare: set) -> None:
    """Each annotation names only checks with a written reason, and without the annotations
    exactly those checks are critical again."""
    annotated = {}
    for path in rendered.rglob("*.yaml"):
        manifest = yaml.safe_load(path.read_text())
        ignored = (manifest["metadata"].get("annotations") or {}).get("kube-score/ignore")
        if ignored:
            annotated[(manifest["kind"], manifest["metadata"]["name"])] = set(ignored.split(","))
    assert annotated == {key: set(skips) for key, skips in IGNORED.items()}
    for skips in IGNORED.values():
        assert all(len(reason.split()) >= 8 for reason in skips.values()), skips
    assert {f for f in bare if f[2] != "container-resources"} == {
        (kind, name, check) for (kind, name), skips in IGNORED.items() for check in skips
    }


def test_the_run_wide_flag_is_still_needed(bare: set) -> None:
    """Without --ignore-container-cpu-limit, kube-score grades every workload critical for its
    containers' missing CPU limit (check `container-resources`), and for nothing else of that check."""
    assert {(kind, name) for kind, name, check in bare if check == "container-resources"} == {
        ("Deployment", "web"), ("CronJob", "daily-report"), ("CronJob", "hourly-aggregation"),
        ("DaemonSet", "datadog-agent"), ("Deployment", "datadog-cluster-agent"),
    }  # fmt: skip


# What the prod render above does not show: the trace agent (APM is off in prod) and the other
# kinds (prod runs web apps and jobs only). Rendered with both, every finding is a documented choice.
VARIANT_CHOICES = {
    ("Deployment", "worker", "pod-probes-identical"): "A worker has one health check (settings.service.kinds."
    "worker WorkerProbe), used for readiness and liveness alike; no Service sends it traffic, so readiness only "
    "paces a rollout (components/service/pod_spec.py probes)",
}
VARIANT_WARNINGS = {
    ("Deployment", "worker", "deployment-has-host-podantiaffinity"): "As the web app's: a topology spread instead",
    ("HorizontalPodAutoscaler", "worker", "horizontalpodautoscaler-replicas"): "The example worker's minReplicas is "
    "1, a team's choice the config allows (harness.EVERY_KIND)",
}


def test_the_trace_agent_and_every_kind_add_no_critical_finding_but_the_documented_ones(
    tmp_path: Path,
) -> None:
    from harness import EVERY_KIND, patched_stack_file

    config = patched_stack_file("prod", {"platform:datadog": {"apmEnabled": True}, "platform:services": EVERY_KIND})
    write_manifests(render_manifests("prod", config), tmp_path)
    report = score(tmp_path)
    scored = {(obj["type_meta"]["kind"], obj["object_meta"]["name"]) for obj in report}
    assert {("Deployment", "worker"), ("CronJob", "load")} <= scored
    daemonset = yaml.safe_load((tmp_path / "datadog" / "daemonset-datadog-agent.yaml").read_text())
    assert "trace-agent" in {c["name"] for c in daemonset["spec"]["template"]["spec"]["containers"]}
    assert findings(report, CRITICAL) == set(VARIANT_CHOICES)
    assert findings(report, WARNING) == set(WARNINGS) | set(VARIANT_WARNINGS)
