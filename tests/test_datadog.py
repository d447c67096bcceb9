"""Datadog: one agent per node on every node, and monitors that make
self-healing visible. dev never pays for the Datadog SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import ROOT, Evaluation, evaluate, is_secret, patched_stack_file, placeholder_secrets

DAEMONSET = "kubernetes:apps/v1:DaemonSet"


@pytest.fixture(scope="module", params=["prod", "staging"])
def ev(request: pytest.FixtureRequest) -> Evaluation:
    return evaluate(request.param)


def agent_pod(ev: Evaluation) -> dict:
    return ev.one(DAEMONSET).inputs["spec"]["template"]["spec"]


def agent_env(ev: Evaluation) -> dict[str, dict]:
    return {e["name"]: e for e in agent_pod(ev)["containers"][0]["env"]}


def test_daemonset_runs_a_pinned_agent_with_cluster_identity(ev: Evaluation) -> None:
    container = agent_pod(ev)["containers"][0]
    assert container["image"] == "gcr.io/datadoghq/agent:7.81.1"
    env = agent_env(ev)
    assert env["DD_SITE"]["value"] == "ap1.datadoghq.com"
    assert env["DD_CLUSTER_NAME"]["value"] == f"aks-platform-{ev.stack}"
    assert env["DD_ENV"]["value"] == ev.stack
    assert f"env:{ev.stack}" in env["DD_TAGS"]["value"] and "team:platform" in env["DD_TAGS"]["value"]
    assert env["DD_KUBERNETES_KUBELET_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["DD_KUBELET_TLS_VERIFY"]["value"] == "true"
    assert env["DD_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "datadog-api-key", "key": "api-key"}}
    assert "value" not in env["DD_API_KEY"]


def test_api_key_secret_comes_from_secret_config(ev: Evaluation) -> None:
    secret = ev.one("kubernetes:core/v1:Secret", "datadog-api-key")
    assert secret.inputs["metadata"]["namespace"] == "datadog"
    assert secret.inputs["stringData"]["api-key"] == placeholder_secrets(ev.stack)["datadogApiKey"]
    raw = secret.raw["stringData"]
    assert is_secret(raw) or is_secret(raw["api-key"])


def test_logs_and_apm_are_switchable() -> None:
    stack_file = patched_stack_file("staging", {"platform:datadog": {"logsEnabled": False, "apmEnabled": True}})
    toggled = evaluate("staging", stack_file=stack_file)
    env = agent_env(toggled)
    assert env["DD_LOGS_ENABLED"]["value"] == "false" and env["DD_APM_ENABLED"]["value"] == "true"
    volumes = {v["name"] for v in agent_pod(toggled)["volumes"]}
    assert "logpodpath" not in volumes
    ports = {p["name"]: p for p in agent_pod(toggled)["containers"][0]["ports"]}
    assert ports["traceport"]["hostPort"] == 8126


def test_agent_tolerates_every_taint_and_outranks_workloads(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    assert pod["tolerations"] == [{"operator": "Exists"}]
    priority = ev.one("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    assert pod["priorityClassName"] == priority.inputs["metadata"]["name"]
    assert priority.inputs["preemptionPolicy"] == "PreemptLowerPriority"
    assert priority.inputs["value"] >= 1_000_000


def test_update_strategy_is_bounded(ev: Evaluation) -> None:
    strategy = ev.one(DAEMONSET).inputs["spec"]["updateStrategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}


def test_host_paths_match_the_chart_and_are_read_only_where_it_is(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host == {
        "procdir": "/proc",
        "cgroups": "/sys/fs/cgroup",
        "runtimesocketdir": "/var/run/containerd",
        "pointerdir": "/var/lib/datadog-agent/logs",
        "logpodpath": "/var/log/pods",
        "logscontainerspath": "/var/log/containers",
    }
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    for name in host:
        assert mounts[name].get("readOnly", False) is (name != "pointerdir"), name


def test_probes_and_resources(ev: Evaluation) -> None:
    container = agent_pod(ev)["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": 5555}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 5555}
    assert container["startupProbe"]["httpGet"] == {"path": "/startup", "port": 5555}
    assert container["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi"}
    assert container["resources"]["limits"] == {"memory": "512Mi"}


def test_hardening_exceptions_are_declared_with_reasons(ev: Evaluation) -> None:
    annotations = ev.one(DAEMONSET).inputs["metadata"]["annotations"]
    skips = dict(value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip"))
    for check in ("CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_37"):
        assert len(skips[check]) > 20, f"{check} needs a written reason"
    namespace = ev.one("kubernetes:core/v1:Namespace", "datadog-ns").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"


def test_rbac_is_the_charts_read_only_set(ev: Evaluation) -> None:
    roles = {
        r.inputs["metadata"]["name"]: r.inputs["rules"]
        for r in ev.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    }
    assert set(roles) == {"datadog-agent", "datadog-agent-ksm-core"}
    for rules in roles.values():
        for rule in rules:
            assert set(rule["verbs"]) <= {"get", "list", "watch", "update", "create"}
            assert "*" not in rule.get("resources", []) and "secrets" not in rule.get("resources", [])
            if {"update", "create"} & set(rule["verbs"]):
                # Writes only to the agent's own leader-election and event-token objects.
                assert rule["resources"] in (["configmaps"], ["leases"])
                assert rule.get("resourceNames") or rule["verbs"] == ["create"]
    bindings = ev.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    for binding in bindings:
        assert binding.inputs["subjects"] == [
            {"kind": "ServiceAccount", "name": "datadog-agent", "namespace": "datadog"}
        ]
    assert agent_pod(ev)["serviceAccountName"] == "datadog-agent"


# ------------------------------------------------------------------- monitors


def monitors(ev: Evaluation) -> dict[str, dict]:
    return {m.name: m.inputs for m in ev.of_type("datadog:index/monitor:Monitor")}


def test_monitor_set_covers_every_failure_mode(ev: Evaluation) -> None:
    assert set(monitors(ev)) == {
        "admin-crashloop", "admin-replicas", "admin-hpa-max", "admin-job-failed",
        "admin-hourly-aggregation-late", "admin-daily-report-late",
        "node-not-ready", "nodes-unschedulable", "agent-missing",
    }  # fmt: skip


def test_every_monitor_is_scoped_tagged_and_notifies(ev: Evaluation) -> None:
    expected_handles = {
        "prod": ["@pagerduty-platform", "@slack-platform-alerts"],
        "staging": ["@slack-platform-alerts"],
    }
    for name, monitor in monitors(ev).items():
        assert f"kube_cluster_name:aks-platform-{ev.stack}" in monitor["query"], name
        tags = set(monitor["tags"])
        assert f"env:{ev.stack}" in tags
        if name.startswith("admin-"):
            assert "kube_namespace:admin" in monitor["query"], name
            assert {"service:admin", "team:backoffice"} <= tags
        else:
            assert {"service:platform", "team:platform"} <= tags
        for handle in expected_handles[ev.stack]:
            assert handle in monitor["message"], name
        assert "README.md#runbook-" in monitor["message"]


def test_monitor_thresholds_come_from_config() -> None:
    stack_file = patched_stack_file("staging", {"platform:datadog": {"thresholds": {"crashLoopMinutes": 12}}})
    query = monitors(evaluate("staging", stack_file=stack_file))["admin-crashloop"]["query"]
    assert query.startswith("max(last_12m):")
    assert monitors(evaluate("staging"))["admin-crashloop"]["query"].startswith("max(last_5m):")


def test_late_job_windows_follow_the_schedule(ev: Evaluation) -> None:
    found = monitors(ev)
    assert found["admin-hourly-aggregation-late"]["query"].endswith(f"> {2 * 3600}")
    assert found["admin-daily-report-late"]["query"].endswith(f"> {25 * 3600}")


def test_datadog_provider_is_configured_from_secret_config(ev: Evaluation) -> None:
    provider = ev.one("pulumi:providers:datadog")
    assert provider.inputs["apiUrl"] == "https://api.ap1.datadoghq.com/"
    assert is_secret(provider.raw["apiKey"]) and is_secret(provider.raw["appKey"])
    for monitor in ev.of_type("datadog:index/monitor:Monitor"):
        assert monitor.provider.startswith(provider.urn)


def test_dev_never_imports_pulumi_datadog() -> None:
    """A fresh interpreter evaluates dev and reports what it imported."""
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "from harness import evaluate\n"
        "ev = evaluate('dev')\n"
        "print(json.dumps({'datadog_loaded': 'pulumi_datadog' in sys.modules,"
        " 'types': sorted({r.type for r in ev.resources})}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["datadog_loaded"] is False
    assert report["types"] and not [t for t in report["types"] if "datadog" in t.lower()]
