"""The typed config: overlays merge onto the base, and every kind of bad
input stops the program with one actionable line before any resource exists."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness import (
    evaluate,
    evaluate_recording,
    patched_stack_file,
    placeholder_secrets,
    project_config,
    stack_file_config,
)
from settings.loader import ConfigError, deep_merge, effective_config, read_project_base


def test_stack_files_hold_only_differences_from_the_base() -> None:
    base = read_project_base()
    for stack in ("prod", "staging", "dev"):
        overlay = {k.split(":", 1)[1]: v for k, v in stack_file_config(stack).items()}
        for key, value in overlay.items():
            # Writing a value equal to the base is noise in a stack file.
            assert deep_merge(base.get(key, {}), value) != base.get(key), f"{stack}: {key} repeats the base"


def test_overlay_deep_merges_and_keeps_base_values() -> None:
    merged = effective_config(read_project_base(), {"aks": {"userPool": {"minCount": 3}}})
    assert merged["aks"]["userPool"] == {"minCount": 3}
    assert merged["aks"]["location"] == "japaneast"  # untouched base value survives
    assert merged["services"] == read_project_base()["services"]


def test_named_lists_merge_item_by_item() -> None:
    base = {"jobs": [{"name": "a", "schedule": "0 * * * *"}, {"name": "b", "schedule": "0 1 * * *"}]}
    merged = deep_merge(
        base, {"jobs": [{"name": "b", "schedule": "0 2 * * *"}, {"name": "c", "schedule": "5 * * * *"}]}
    )
    assert merged["jobs"] == [
        {"name": "a", "schedule": "0 * * * *"},
        {"name": "b", "schedule": "0 2 * * *"},
        {"name": "c", "schedule": "5 * * * *"},
    ]


@pytest.mark.parametrize(
    ("overlay", "path", "expected"),
    [
        ({"aks": {"systemPool": {"minCount": 1}}}, ("aks", "system_pool", "vm_size"), "Standard_D2ds_v5"),
        ({"aks": {"maintenance": {"nodeOsUpgrade": {"startTime": "01:00"}}}},
         ("aks", "maintenance", "node_os_upgrade", "day_of_week"), "Saturday"),
        ({"services": {"admin": {"web": {"nginx": {"resources": {"cpu": "75m"}}}}}},
         ("services", "admin", "web", "nginx", "resources", "memory_limit"), "128Mi"),
    ],
)  # fmt: skip
def test_overriding_one_field_keeps_the_objects_other_defaults(overlay: dict, path: tuple, expected: str) -> None:
    from settings import validate_settings

    settings = validate_settings("x", {**overlay, "environment": "staging"})
    value: Any = settings
    for part in path:
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    assert value == expected


def test_staging_overrides_only_the_app_image() -> None:
    ev = evaluate("staging")
    images = {
        c["name"]: c["image"]
        for c in ev.one("kubernetes:apps/v1:Deployment", "admin-web").inputs["spec"]["template"]["spec"]["containers"]
    }
    assert images["app"] == "ghcr.io/example-org/admin-app:1.9.0-rc.1"
    assert (
        evaluate("prod")
        .one("kubernetes:apps/v1:Deployment", "admin-web")
        .inputs["spec"]["template"]["spec"]["containers"][1]["image"]
        == project_config()["platform:services"]["admin"]["web"]["app"]["image"]
    )


def _service_patch(**web_app: Any) -> dict[str, Any]:
    return {"platform:services": {"admin": {"web": {"app": web_app}}}}


# (id, stack, stack-file patch, plain extra keys, secrets override, expected fragments of the one line)
BAD_CONFIGS: list[tuple[str, str, dict, dict, dict | None, list[str]]] = [
    ("typo-top-level-key", "staging", {"platform:clustr": {"x": 1}}, {}, None,
     ["stack 'staging'", "platform:clustr", "unknown key", "expected one of: aks, datadog, environment, local, services, target"]),
    ("typo-nested-key", "prod", {"platform:aks": {"userPool": {"minCout": 2}}}, {}, None,
     ["stack 'prod'", "platform:aks.userPool.minCout", "unknown key", "minCount"]),
    ("wrong-type", "staging", {"platform:aks": {"userPool": {"maxCount": "lots"}}}, {}, None,
     ["platform:aks.userPool.maxCount", "valid integer", "'lots'"]),
    ("out-of-range", "staging", {"platform:aks": {"maintenance": {"autoUpgrade": {"durationHours": 2}}}}, {}, None,
     ["platform:aks.maintenance.autoUpgrade.durationHours", "greater than or equal to 4"]),
    ("invalid-service-name", "dev", {"platform:services": {"Admin_UI": {"team": "x", "web": {"app": {"image": "a/b:1"}}}}}, {}, None,
     ["stack 'dev'", "platform:services.Admin_UI (as a name)", "DNS-1123"]),
    ("invalid-cron", "staging", {"platform:services": {"admin": {"jobs": [{"name": "daily-report", "schedule": "61 * * * *"}]}}}, {}, None,
     ["platform:services.admin.jobs[1].schedule", "61 is outside 0-59 in the minute field"]),
    ("cron-wrong-field-count", "staging", {"platform:services": {"admin": {"jobs": [{"name": "daily-report", "schedule": "@daily"}]}}}, {}, None,
     ["platform:services.admin.jobs[1].schedule", "5-field cron schedule"]),
    ("min-replicas-above-max", "prod", {"platform:services": {"admin": {"web": {"autoscaling": {"minReplicas": 12}}}}}, {}, None,
     ["stack 'prod'", "platform:services.admin.web.autoscaling", "minReplicas (12) must not exceed maxReplicas (10)"]),
    ("bad-quantity", "staging", {"platform:services": {"admin": {"web": {"app": {"resources": {"cpu": "2 cores"}}}}}}, {}, None,
     ["platform:services.admin.web.app.resources.cpu", "'2 cores' is not a Kubernetes quantity"]),
    ("image-without-tag", "staging", _service_patch(image="ghcr.io/example-org/admin-app"), {}, None,
     ["platform:services.admin.web.app.image", "has no tag"]),
    ("image-latest", "staging", _service_patch(image="ghcr.io/example-org/admin-app:latest"), {}, None,
     ["platform:services.admin.web.app.image", "'latest'"]),
    ("unknown-service-field", "staging", {"platform:services": {"admin": {"replicas": 3}}}, {}, None,
     ["platform:services.admin.replicas", "unknown key", "expected one of: jobs, quota, secretEnv, team, web, worker"]),
    ("duplicate-job-name", "staging", {"platform:services": {"admin": {"jobs": [
        {"name": "hourly-aggregation", "schedule": "5 * * * *", "command": ["x"]},
        {"name": "daily-report", "schedule": "5 * * * *", "command": ["x"]},
        {"name": "extra", "schedule": "5 * * * *", "command": ["x"]},
        {"name": "extra", "schedule": "6 * * * *", "command": ["y"]}]}}}, {}, None,
     ["platform:services.admin.jobs", "duplicate job name 'extra'"]),
    ("invalid-cidr", "staging", {"platform:aks": {"apiServerAuthorizedIpRanges": ["10.0.0.300/24"]}}, {}, None,
     ["platform:aks.apiServerAuthorizedIpRanges[0]", "CIDR"]),
    ("patch-version-with-patch-channel", "staging", {"platform:aks": {"kubernetesVersion": "1.34.4"}}, {}, None,
     ["platform:aks.kubernetesVersion", "MAJOR.MINOR"]),
    ("prod-free-tier", "prod", {"platform:aks": {"skuTier": "Free"}}, {}, None,
     ["stack 'prod'", "platform:aks.skuTier", "uptime SLA"]),
    ("prod-unprotected", "prod", {"platform:aks": {"protect": False}}, {}, None,
     ["platform:aks.protect", "must be true in prod"]),
    ("unknown-datadog-site", "staging", {"platform:datadog": {"site": "datadoghq.jp"}}, {}, None,
     ["platform:datadog.site", "'datadoghq.jp' is not a Datadog site"]),
    ("empty-notify-in-prod", "prod", {"platform:datadog": {"notify": []}}, {}, None,
     ["stack 'prod'", "platform:datadog.notify", "must notify someone"]),
    ("missing-datadog-api-key", "staging", {}, {}, {"datadogAppKey": "k", "serviceSecrets": placeholder_secrets("staging")["serviceSecrets"]},
     ["stack 'staging'", "platform:datadogApiKey", "pulumi config set --secret datadogApiKey"]),
    ("secret-set-in-plain-text", "staging", {}, {"datadogApiKey": "oops"}, {"datadogAppKey": "k", "serviceSecrets": placeholder_secrets("staging")["serviceSecrets"]},
     ["platform:datadogApiKey", "stored in plain text"]),
    ("missing-cluster-agent-token", "staging", {}, {}, {"datadogApiKey": "k", "datadogAppKey": "k", "serviceSecrets": placeholder_secrets("staging")["serviceSecrets"]},
     ["stack 'staging'", "platform:datadogClusterAgentToken", "is not set", "pulumi config set --secret"]),
    ("short-cluster-agent-token", "staging", {}, {}, {**placeholder_secrets("staging"), "datadogClusterAgentToken": "short-token-9"},
     ["platform:datadogClusterAgentToken", "is 13 characters", "at least 32"]),
    ("cluster-agent-token-in-plain-text", "staging", {}, {"datadogClusterAgentToken": "x" * 40}, {"datadogApiKey": "k", "datadogAppKey": "k", "serviceSecrets": placeholder_secrets("staging")["serviceSecrets"]},
     ["platform:datadogClusterAgentToken", "stored in plain text"]),
    ("cluster-agent-without-replicas", "prod", {"platform:datadog": {"clusterAgent": {"replicas": 0}}}, {}, None,
     ["stack 'prod'", "platform:datadog.clusterAgent.replicas", "greater than or equal to 1"]),
    ("missing-app-secret", "dev", {}, {}, {"serviceSecrets": {"admin": {"DATABASE_URL": "x"}}},
     ["stack 'dev'", "platform:services.admin.secretEnv", "SECRET_KEY_BASE"]),
    ("service-runs-nothing", "staging", {"platform:services": {"empty": {"team": "x"}}}, {}, None,
     ["platform:services.empty", "runs nothing", "`web`, `worker` or `jobs`"]),
    ("jobs-only-service-job-without-image", "staging", {"platform:services": {"etl": {"team": "data", "jobs": [
        {"name": "load", "schedule": "0 3 * * *", "command": ["etl"]}]}}}, {}, None,
     ["platform:services.etl.jobs[0].image", "is required", "no web app or worker"]),
    ("worker-probe-both-ways", "staging", {"platform:services": {"admin": {"worker": {
        "image": "ghcr.io/example-org/admin-app:1.8.2", "probe": {"command": ["true"], "path": "/h", "port": 8081}}}}}, {}, None,
     ["platform:services.admin.worker.probe", "either `command` or both `path` and `port`"]),
    ("worker-without-probe", "staging", {"platform:services": {"admin": {"worker": {
        "image": "ghcr.io/example-org/admin-app:1.8.2"}}}}, {}, None,
     ["platform:services.admin.worker.probe", "is required"]),
    ("bad-secret-env-name", "staging", {"platform:services": {"admin": {"secretEnv": ["DATABASE-URL"]}}}, {}, None,
     ["platform:services.admin.secretEnv[0]", "not a valid environment variable name"]),
    ("stack-without-environment", "staging", {"platform:environment": None}, {}, None,
     ["platform:environment", "Input should be 'prod', 'staging' or 'dev'"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "patch", "plain", "secrets", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CONFIGS],
)
def test_bad_config_fails_before_any_resource(
    stack: str, patch: dict, plain: dict, secrets: dict | None, expected: list[str]
) -> None:
    monitor, raised = evaluate_recording(
        stack, stack_file=patched_stack_file(stack, copy.deepcopy(patch)), secrets=secrets, plain=plain
    )
    assert isinstance(raised, ConfigError), raised
    message = str(raised)
    problem_lines = [line for line in message.splitlines() if line.startswith(f"stack '{stack}'")]
    matching = [line for line in problem_lines if all(fragment in line for fragment in expected)]
    assert matching, f"no single line has all of {expected}:\n{message}"
    # Validation runs before the first resource: nothing reached the engine.
    assert monitor.registrations == []


def test_every_problem_is_reported_at_once() -> None:
    patch = {"platform:aks": {"userPool": {"minCout": 2}, "skuTier": "Gold"}}
    with pytest.raises(ConfigError) as raised:
        evaluate("staging", stack_file=patched_stack_file("staging", patch))
    lines = [line for line in str(raised.value).splitlines() if line.startswith("stack")]
    assert len(lines) == 2
    assert any("skuTier" in line for line in lines) and any("minCout" in line for line in lines)


def test_secret_values_never_appear_in_config_errors() -> None:
    secrets = placeholder_secrets("staging")
    with pytest.raises(ConfigError) as raised:
        evaluate(
            "staging", stack_file=patched_stack_file("staging", {"platform:aks": {"skuTier": "Gold"}}), secrets=secrets
        )
    assert secrets["datadogApiKey"] not in str(raised.value)


def test_a_short_cluster_agent_token_is_reported_without_its_value() -> None:
    secrets = {**placeholder_secrets("staging"), "datadogClusterAgentToken": "short-token-9"}
    with pytest.raises(ConfigError) as raised:
        evaluate("staging", secrets=secrets)
    assert "datadogClusterAgentToken" in str(raised.value) and "short-token-9" not in str(raised.value)
