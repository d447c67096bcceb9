"""The typed config: overlays merge onto the base, and every kind of bad
input stops the program with one actionable line before any resource exists."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import (
    ROOT,
    evaluate,
    evaluate_recording,
    patched_stack_file,
    placeholder_secrets,
    project_config,
    stack_file_config,
)
from offline.engine import SUBSCRIPTION_ID
from settings.azure.names import registry_name, vault_name
from settings.loader import ConfigError, deep_merge, effective_config, read_project_base

STAGING_REGISTRY = registry_name(SUBSCRIPTION_ID, "staging")
STAGING_VAULT = vault_name(SUBSCRIPTION_ID, "staging")


def test_stack_files_hold_only_differences_from_the_base() -> None:
    base = read_project_base()
    for stack in ("prod", "staging", "dev"):
        overlay = {k.split(":", 1)[1]: v for k, v in stack_file_config(stack).items()}
        for key, value in overlay.items():
            # Writing a value equal to the base is noise in a stack file.
            assert deep_merge(base.get(key, {}), value) != base.get(key), f"{stack}: {key} repeats the base"


def test_overlay_deep_merges_and_keeps_base_values() -> None:
    merged = effective_config(read_project_base(), {"aks": {"systemPool": {"minCount": 3}}})
    assert merged["aks"]["systemPool"] == {"minCount": 3}
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


def _ingress_patch(**ingress: Any) -> dict[str, Any]:
    return {"platform:services": {"admin": {"web": {"ingress": ingress}}}}


def _egress_patch(*rules: dict) -> dict[str, Any]:
    return {"platform:services": {"admin": {"egress": list(rules)}}}


# (id, stack, stack-file patch, plain extra keys, secrets override, expected fragments of the one line)
_APP_TO_LOCAL = {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"}
_NGINX_TO_LOCAL = {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"}


def _local_patch(**local: Any) -> dict:
    return {"platform:local": local}


BAD_CONFIGS: list[tuple[str, str, dict, dict, dict | None, list[str]]] = [
    ("typo-top-level-key", "staging", {"platform:clustr": {"x": 1}}, {}, None,
     ["stack 'staging'", "platform:clustr", "unknown key", "expected one of: aks, datadog, environment, local, services, target"]),
    ("typo-nested-key", "prod", {"platform:aks": {"systemPool": {"minCout": 2}}}, {}, None,
     ["stack 'prod'", "platform:aks.systemPool.minCout", "unknown key", "minCount"]),
    ("wrong-type", "staging", {"platform:aks": {"userPools": [{"name": "user", "maxCount": "lots"}]}}, {}, None,
     ["platform:aks.userPools[name=user].maxCount", "valid integer", "'lots'"]),
    ("out-of-range", "staging", {"platform:aks": {"maintenance": {"autoUpgrade": {"durationHours": 2}}}}, {}, None,
     ["platform:aks.maintenance.autoUpgrade.durationHours", "greater than or equal to 4"]),
    ("invalid-service-name", "dev", {"platform:services": {"Admin_UI": {"team": "x", "web": {"app": {"image": "a/b:1"}}}}}, {}, None,
     ["stack 'dev'", "platform:services.Admin_UI (as a name)", "DNS-1123"]),
    ("invalid-cron", "staging", {"platform:services": {"admin": {"jobs": [{"name": "daily-report", "schedule": "61 * * * *"}]}}}, {}, None,
     ["platform:services.admin.jobs[name=daily-report].schedule", "61 is outside 0-59 in the minute field"]),
    ("cron-wrong-field-count", "staging", {"platform:services": {"admin": {"jobs": [{"name": "daily-report", "schedule": "@daily"}]}}}, {}, None,
     ["platform:services.admin.jobs[name=daily-report].schedule", "5-field cron schedule"]),
    ("min-replicas-above-max", "prod", {"platform:services": {"admin": {"web": {"autoscaling": {"minReplicas": 12}}}}}, {}, None,
     ["stack 'prod'", "platform:services.admin.web.autoscaling", "minReplicas (12) must not exceed maxReplicas (10)"]),
    ("bad-quantity", "staging", {"platform:services": {"admin": {"web": {"app": {"resources": {"cpu": "2 cores"}}}}}}, {}, None,
     ["platform:services.admin.web.app.resources.cpu", "'2 cores' is not a Kubernetes quantity"]),
    ("image-without-tag", "staging", _service_patch(image="ghcr.io/example-org/admin-app"), {}, None,
     ["platform:services.admin.web.app.image", "has no tag"]),
    ("image-latest", "staging", _service_patch(image="ghcr.io/example-org/admin-app:latest"), {}, None,
     ["platform:services.admin.web.app.image", "'latest'"]),
    # issue 23: what Kubernetes or a registry refuses mid-update must be refused here, naming the key.
    # The OCI reference grammar (settings/types.py): lower-case path, no space, ASCII tag.
    ("image-with-upper-case", "staging", _service_patch(image="ghcr.io/Example-Org/admin-app:1.8.2"), {}, None,
     ["platform:services.admin.web.app.image", "is not an image reference", "lower-case paths only"]),
    ("image-with-a-space", "staging", _service_patch(image="ghcr.io/Example-Org/Admin App:1.8.2"), {}, None,
     ["platform:services.admin.web.app.image", "'ghcr.io/Example-Org/Admin App:1.8.2' is not an image reference"]),
    ("image-tag-with-a-full-width-digit", "dev", _service_patch(image="ghcr.io/example-org/admin-app:1.8.\uff12"), {}, None,
     ["stack 'dev'", "platform:services.admin.web.app.image", "is not an image reference", "ASCII"]),
    ("image-with-a-trailing-newline", "staging", _service_patch(image="ghcr.io/example-org/admin-app:1.8.2\n"), {}, None,
     ["platform:services.admin.web.app.image", "is not an image reference"]),
    ("image-tag-not-a-label-value", "staging", _service_patch(image="ghcr.io/example-org/admin-app:1.8.2-"), {}, None,
     ["platform:services.admin.web.app.image", "a tag pods cannot carry as their version label"]),
    ("image-digest-malformed", "staging", _service_patch(image="ghcr.io/example-org/admin-app@sha256:abc"), {}, None,
     ["platform:services.admin.web.app.image", "malformed digest"]),
    # A CronJob name of 53 characters: the API server refuses it (52 at most), after the namespace exists.
    ("job-name-longer-than-a-cronjob-name", "dev", {"platform:services": {"admin": {"jobs": [
        {"name": "n" * 53, "schedule": "0 3 * * *", "command": ["x"]}]}}}, {}, None,
     ["stack 'dev'", f"platform:services.admin.jobs[name={'n' * 53}].name", "is 53 characters",
      "a CronJob name may have at most 52"]),
    ("job-name-with-a-trailing-newline", "dev", {"platform:services": {"admin": {"jobs": [
        {"name": "nightly-load\n", "schedule": "0 3 * * *", "command": ["x"]}]}}}, {}, None,
     ["stack 'dev'", "platform:services.admin.jobs[name='nightly-load\\n'].name", "is not a DNS-1123 label"]),
    ("service-name-with-a-trailing-newline", "staging", {"platform:services": {"admin\n": {"team": "x", "jobs": [
        {"name": "a", "schedule": "0 3 * * *", "command": ["x"], "image": "ghcr.io/example-org/a:1.0.0"}]}}}, {}, None,
     ["platform:services.'admin\\n' (as a name)", "is not a DNS-1123 label"]),
    ("cron-with-a-full-width-digit", "staging", {"platform:services": {"admin": {"jobs": [
        {"name": "daily-report", "schedule": "\uff10 3 * * *"}]}}}, {}, None,
     ["platform:services.admin.jobs[name=daily-report].schedule", "has characters cron does not allow"]),
    ("env-name-with-a-trailing-newline", "staging", {"platform:services": {"admin": {"secretEnv": ["DATABASE_URL\n"]}}},
     {}, None, ["platform:services.admin.secretEnv[0]", "not a valid environment variable name"]),
    ("probe-path-with-a-control-character", "staging", {"platform:services": {"admin": {"web": {"app": {"probes": {
        "readinessPath": "/healthz\r\n"}}}}}}, {}, None,
     ["platform:services.admin.web.app.probes.readinessPath", "is not an HTTP path"]),
    ("unknown-service-field", "staging", {"platform:services": {"admin": {"replicas": 3}}}, {}, None,
     ["platform:services.admin.replicas", "unknown key", "expected one of: egress, enabled, jobs, quota, secretEnv, team, web, worker"]),
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
    # In dev every hint is a command that works there (make dev, or pulumi in make dev's environment).
    ("dev-missing-datadog-api-key", "dev", {"platform:datadog": {"enabled": True}}, {},
     {"datadogClusterAgentToken": "t" * 40, "serviceSecrets": placeholder_secrets("dev")["serviceSecrets"]},
     ["stack 'dev'", "platform:datadogApiKey", "`.venv/bin/python -m devenv.dev pulumi config set --secret --path 'datadogApiKey'`"]),
    # On the real node the agents are stand-ins, and `make dev` generates their key too.
    ("dev-real-node-missing-datadog-api-key", "dev",
     {**_local_patch(images=[_APP_TO_LOCAL, _NGINX_TO_LOCAL], realNode=True),
      "platform:datadog": {"enabled": True, "monitorsEnabled": False}}, {},
     {"datadogClusterAgentToken": "t" * 40, "serviceSecrets": placeholder_secrets("dev")["serviceSecrets"]},
     ["stack 'dev'", "platform:datadogApiKey", "run `make dev`, which generates it"]),
    ("dev-missing-cluster-agent-token", "dev", {"platform:datadog": {"enabled": True}}, {},
     {"datadogApiKey": "k", "serviceSecrets": placeholder_secrets("dev")["serviceSecrets"]},
     ["stack 'dev'", "platform:datadogClusterAgentToken", "run `make dev`, which generates it"]),
    ("dev-service-secret-in-plain-text", "dev", {}, {"serviceSecrets": {"admin": {"DATABASE_URL": "x", "SECRET_KEY_BASE": "y"}}}, {},
     ["stack 'dev'", "platform:serviceSecrets", "stored in plain text: delete it from", "Pulumi.dev.yaml", "run `make dev`"]),
    ("missing-app-secret", "dev", {}, {}, {"serviceSecrets": {"admin": {"DATABASE_URL": "x"}}},
     ["stack 'dev'", "platform:services.admin.secretEnv", "SECRET_KEY_BASE", "run `make dev`, which generates"]),
    ("service-runs-nothing", "staging", {"platform:services": {"empty": {"team": "x"}}}, {}, None,
     ["platform:services.empty", "runs nothing", "`web`, `worker` or `jobs`"]),
    ("jobs-only-service-job-without-image", "staging", {"platform:services": {"etl": {"team": "data", "jobs": [
        {"name": "load", "schedule": "0 3 * * *", "command": ["etl"]}]}}}, {}, None,
     ["platform:services.etl.jobs[name=load].image", "is required", "no web app or worker"]),
    ("worker-probe-both-ways", "staging", {"platform:services": {"admin": {"worker": {
        "image": "ghcr.io/example-org/admin-app:1.8.2", "probe": {"command": ["true"], "path": "/h", "port": 8081}}}}}, {}, None,
     ["platform:services.admin.worker.probe", "either `command` or both `path` and `port`"]),
    ("worker-without-probe", "staging", {"platform:services": {"admin": {"worker": {
        "image": "ghcr.io/example-org/admin-app:1.8.2"}}}}, {}, None,
     ["platform:services.admin.worker.probe", "is required"]),
    ("bad-secret-env-name", "staging", {"platform:services": {"admin": {"secretEnv": ["DATABASE-URL"]}}}, {}, None,
     ["platform:services.admin.secretEnv[0]", "not a valid environment variable name"]),
    ("grace-not-longer-than-prestop-delay", "staging", {"platform:services": {"admin": {"web": {
        "preStopDelaySeconds": 20, "terminationGracePeriodSeconds": 20}}}}, {}, None,
     ["stack 'staging'", "platform:services.admin.web", "terminationGracePeriodSeconds (20) must be longer than preStopDelaySeconds (20)"]),
    # Today's prod before issue 11: 13 web pods x 300m + 2 jobs x 250m = 4400m against a 4-CPU quota.
    ("quota-cpu-below-the-peak", "prod", {"platform:services": {"admin": {"quota": {"requestsCpu": "4"}}}}, {}, None,
     ["stack 'prod'", "platform:services.admin.quota.requestsCpu", "4 is below the peak of 4400m",
      "web 13 pods (maxReplicas 10 + surge 3) x 300m CPU", "job daily-report 1 run(s)"]),
    ("quota-memory-below-the-peak", "staging", {"platform:services": {"admin": {"quota": {"limitsMemory": "4Gi"}}}}, {}, None,
     ["platform:services.admin.quota.limitsMemory", "4Gi is below the peak of 4224Mi", "web 5 pods (maxReplicas 4 + surge 1)"]),
    ("quota-pods-below-the-peak", "dev", {"platform:services": {"admin": {"quota": {"pods": 4}}}}, {}, None,
     ["stack 'dev'", "platform:services.admin.quota.pods", "4 is below the peak of 5"]),
    # concurrencyPolicy Allow: an hourly job that may run 3 h overlaps itself 3 times.
    ("quota-counts-overlapping-allow-runs", "dev", {"platform:services": {"admin": {"quota": {"requestsCpu": "1.5"}, "jobs": [
        {"name": "hourly-aggregation", "concurrencyPolicy": "Allow", "activeDeadlineSeconds": 10800}]}}}, {}, None,
     ["platform:services.admin.quota.requestsCpu", "1.5 is below the peak of 1900m", "job hourly-aggregation 3 run(s) (Allow)"]),
    ("trusted-proxies-miss-the-pod-cidr", "staging", {"platform:aks": {"network": {"podCidr": "10.244.0.0/16"}}}, {}, None,
     ["platform:services.admin.web.nginx.trustedProxyCidrs", "does not cover aks.network.podCidr 10.244.0.0/16"]),
    ("stack-without-environment", "staging", {"platform:environment": None}, {}, None,
     ["platform:environment", "Input should be 'prod', 'staging' or 'dev'"]),
    # ingress (issue 10)
    ("empty-allowlist-in-prod", "prod", _ingress_patch(allowedSourceRanges=[]), {}, None,
     ["stack 'prod'", "platform:services.admin.web.ingress.allowedSourceRanges", "is empty"]),
    ("no-tls-in-prod", "prod", _ingress_patch(tls=None), {}, None,
     ["stack 'prod'", "platform:services.admin.web.ingress.tls", "is required in prod"]),
    ("tls-with-both-sources", "staging", _ingress_patch(tls={
        "certificateUri": "https://kv-shared.vault.azure.net/certificates/admin"}), {}, None,
     ["platform:services.admin.web.ingress.tls", "exactly one of `certificateName` and `certificateUri`"]),
    ("tls-certificate-uri-malformed", "staging", _ingress_patch(tls={
        "certificateName": None, "certificateUri": "https://example.com/admin.pem"}), {}, None,
     ["platform:services.admin.web.ingress.tls", "is not a certificate URI"]),
    ("certificate-name-without-vault", "staging", {"platform:aks": {"keyVault": None}}, {}, None,
     ["platform:services.admin.web.ingress.tls.certificateName", "needs `aks.keyVault`"]),
    ("ingress-host-not-a-dns-name", "staging", _ingress_patch(host="Admin_UI"), {}, None,
     ["platform:services.admin.web.ingress", "is not a lower-case DNS name"]),
    ("allowlist-entry-not-a-cidr", "staging", _ingress_patch(allowedSourceRanges=["office"]), {}, None,
     ["platform:services.admin.web.ingress.allowedSourceRanges[0]", "CIDR"]),
    # registry
    ("image-from-a-foreign-registry", "staging", _service_patch(image="someoneelse.azurecr.io/admin-app:1.8.2"), {}, None,
     ["platform:services.admin.web.app.image", "someoneelse.azurecr.io is not the attached registry",
      f"{STAGING_REGISTRY}.azurecr.io"]),
    ("acr-image-without-a-registry", "prod", {"platform:aks": {"registry": None}, "platform:services": {"admin": {
        "jobs": [{"name": "daily-report", "image": "acrplatformprod.azurecr.io/report:1.0.0"}]}}}, {}, None,
     ["platform:services.admin.jobs[name=daily-report].image", "needs `aks.registry`"]),
    ("registry-id-malformed", "staging", {"platform:aks": {"registry": {"resourceId": "acrshared"}}}, {}, None,
     ["platform:aks.registry.resourceId", "should match pattern"]),
    # names (issue 19): Azure's rule for each type, before anything is registered
    ("vault-name-double-and-trailing-hyphen", "staging", {"platform:aks": {"keyVault": {"name": "kv--platform-stg-"}}},
     {}, None, ["platform:aks.keyVault.name", "'kv--platform-stg-' is not a valid Key Vault name",
                "ends with '-'", "consecutive hyphens"]),
    ("vault-name-too-long", "staging", {"platform:aks": {"keyVault": {"name": "kv-platform-staging-certs"}}}, {}, None,
     ["platform:aks.keyVault.name", "is 25 characters; a Key Vault name has 3-24"]),
    ("vault-name-starts-with-a-digit", "staging", {"platform:aks": {"keyVault": {"name": "1kv-platform"}}}, {}, None,
     ["platform:aks.keyVault.name", "starts with '1'; a Key Vault name starts with a letter"]),
    ("registry-name-with-underscore", "staging", {"platform:aks": {"registry": {"name": "acr_platform_2"}}}, {}, None,
     ["platform:aks.registry.name", "has '_'; a container registry name allows only letters and digits"]),
    ("registry-name-too-short", "staging", {"platform:aks": {"registry": {"name": "acr"}}}, {}, None,
     ["platform:aks.registry.name", "is 3 characters; a container registry name has 5-50"]),
    ("resource-group-ends-with-a-period", "staging", {"platform:aks": {"resourceGroupName": "rg-platform."}}, {}, None,
     ["platform:aks.resourceGroupName", "ends with '.'"]),
    ("cluster-name-with-a-period", "staging", {"platform:aks": {"clusterName": "aks.platform"}}, {}, None,
     ["platform:aks.clusterName", "has '.'; an AKS cluster name allows only letters, digits, '_' and '-'"]),
    ("prod-registry-names-staging", "prod", {"platform:aks": {"registry": {"name": "acrplatformstaging"}}}, {}, None,
     ["stack 'prod'", "platform:aks.registry", "'acrplatformstaging' names 'staging'", "prod uses its own"]),
    ("prod-vault-is-stagings", "prod", {"platform:aks": {"keyVault": {
        "resourceId": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-platform-staging/providers/"
                      f"Microsoft.KeyVault/vaults/{STAGING_VAULT}"}}}, {}, None,
     ["stack 'prod'", "platform:aks.keyVault", f"{STAGING_VAULT!r} is stack 'staging''s too"]),
    ("subscription-not-the-signed-in-one", "staging", {"platform:aks": {
        "subscriptionId": "99999999-1111-2222-3333-444444444444"}}, {}, None,
     ["platform:aks.subscriptionId", "is 99999999-1111-2222-3333-444444444444",
      f"Azure is signed in to subscription {SUBSCRIPTION_ID}", "az account set"]),
    # runners (issue 19): prod and staging admit the bootstrap stack's runners
    ("runner-egress-ip-missing", "staging", {"platform:aks": {"runnerEgressIp": None}}, {}, None,
     ["stack 'staging'", "platform:aks.runnerEgressIp", "is not set", "bootstrap stack's output runnerEgressIp"]),
    ("ranges-leave-out-the-runners", "prod", {"platform:aks": {"apiServerAuthorizedIpRanges": ["203.0.113.0/24"]}},
     {}, None, ["stack 'prod'", "platform:aks.apiServerAuthorizedIpRanges",
                "leaves out the runners' egress 198.51.100.20", "add '198.51.100.20/32'"]),
    # network
    ("cilium-policy-on-azure-dataplane", "staging", {"platform:aks": {"network": {"networkDataplane": "azure"}}}, {},
     None, ["platform:aks.network", "networkPolicy 'cilium' does not work with networkDataplane 'azure'"]),
    ("npm-on-cilium-dataplane", "prod", {"platform:aks": {"network": {"networkPolicy": "azure"}}}, {}, None,
     ["platform:aks.network", "networkPolicy 'azure' does not work with networkDataplane 'cilium'"]),
    ("egress-cidr-not-a-cidr", "staging", _egress_patch({"cidr": "10.20.0.300/24", "ports": [5432]}), {}, None,
     ["platform:services.admin.egress[0].cidr", "is not a CIDR range"]),
    ("egress-cidr-with-host-bits", "staging", _egress_patch({"cidr": "10.20.0.5/24", "ports": [5432]}), {}, None,
     ["platform:services.admin.egress[0].cidr", "has host bits set"]),
    ("egress-to-the-metadata-endpoint", "dev", _egress_patch({"cidr": "169.254.169.254/32", "ports": [80]}), {}, None,
     ["platform:services.admin.egress[0]", "instance metadata endpoint"]),
    ("egress-to-the-wireserver", "dev", _egress_patch({"cidr": "168.63.129.16/32", "ports": [80]}), {}, None,
     ["platform:services.admin.egress[0]", "168.63.129.16/32 is the Azure wireserver"]),
    ("egress-port-out-of-range", "staging", _egress_patch({"cidr": "10.20.0.0/24", "ports": [70000]}), {}, None,
     ["platform:services.admin.egress[0]", "port 70000 is outside 1-65535"]),
    ("egress-without-ports", "staging", _egress_patch({"cidr": "10.20.0.0/24", "ports": []}), {}, None,
     ["platform:services.admin.egress[0].ports", "at least 1 item"]),
    ("rotation-interval-not-a-duration", "staging", {"platform:aks": {"secretsRotationPollInterval": "2 minutes"}}, {},
     None, ["platform:aks.secretsRotationPollInterval", "should match pattern"]),
    # pools
    ("duplicate-user-pool", "staging", {"platform:aks": {"userPools": [{"name": "user"}, {"name": "batch"},
                                                                          {"name": "batch", "minCount": 2}]}}, {}, None,
     ["platform:aks.userPools", "duplicate pool name 'batch'"]),
    ("user-pool-named-system", "staging", {"platform:aks": {"userPools": [{"name": "system"}]}}, {}, None,
     ["platform:aks.userPools", "inline system pool"]),
    ("user-pool-name-too-long", "staging", {"platform:aks": {"userPools": [{"name": "workloadspool1"}]}}, {}, None,
     ["platform:aks.userPools[name=workloadspool1].name", "should match pattern"]),
    # local.images and local.realNode (tests/test_local_images.py)
    ("local-images-outside-local", "prod", _local_patch(images=[_APP_TO_LOCAL]), {}, None,
     ["stack 'prod'", "platform:local.images", "applies to target 'local' only", "'aks'"]),
    ("real-node-outside-local", "staging", _local_patch(realNode=True), {}, None,
     ["stack 'staging'", "platform:local.realNode", "applies to target 'local' only"]),
    ("local-image-name-with-tag", "dev", _local_patch(images=[{**_APP_TO_LOCAL, "name": "ghcr.io/example-org/admin-app:1.8.2"}]), {}, None,
     ["stack 'dev'", "platform:local.images[name=ghcr.io/example-org/admin-app:1.8.2].name", "is not an image name without tag or digest"]),
    ("local-image-latest", "dev", _local_patch(images=[{**_APP_TO_LOCAL, "newTag": "latest"}]), {}, None,
     ["platform:local.images[name=ghcr.io/example-org/admin-app].newTag", "'latest' is not a pinned tag"]),
    ("local-image-changes-nothing", "dev", _local_patch(images=[{"name": "ghcr.io/example-org/admin-app"}]), {}, None,
     ["platform:local.images[name=ghcr.io/example-org/admin-app]", "needs newName, newTag or both"]),
    ("local-image-twice", "dev", _local_patch(images=[_APP_TO_LOCAL, {**_APP_TO_LOCAL, "newTag": "dev2"}]), {}, None,
     ["platform:local.images", "duplicate image name 'ghcr.io/example-org/admin-app'"]),
    ("local-image-matches-nothing", "dev", _local_patch(images=[{**_APP_TO_LOCAL, "name": "ghcr.io/example-org/admn-app"}]), {}, None,
     ["platform:local.images[name=ghcr.io/example-org/admn-app].name", "matches no image", "ghcr.io/example-org/admin-app"]),
    ("real-node-with-an-unmapped-image", "dev", _local_patch(images=[_APP_TO_LOCAL], realNode=True), {}, None,
     ["platform:local.images", "realNode pulls nothing", "nginxinc/nginx-unprivileged", "services.admin.web.nginx.image"]),
    ("real-node-in-another-cluster", "dev", _local_patch(images=[_APP_TO_LOCAL, _NGINX_TO_LOCAL], realNode=True,
                                                          context="kind-kind"), {}, None,
     ["platform:local.realNode", "project's own cluster", "'kind-kind'"]),
    # The real node runs Datadog as stand-ins (devenv/images.py): only under the pinned
    # names, and with no monitors, since the stand-ins report nothing.
    ("real-node-with-datadog-monitors", "dev", {**_local_patch(images=[_APP_TO_LOCAL, _NGINX_TO_LOCAL], realNode=True),
                                                "platform:datadog": {"enabled": True}}, {}, None,
     ["stack 'dev'", "platform:datadog.monitorsEnabled", "must be false with local.realNode", "report nothing"]),
    ("real-node-with-another-agent-image", "dev",
     {**_local_patch(images=[_APP_TO_LOCAL, _NGINX_TO_LOCAL], realNode=True),
      "platform:datadog": {"enabled": True, "monitorsEnabled": False, "agentImage": "gcr.io/datadoghq/agent:7.80.0"}},
     {}, None,
     ["stack 'dev'", "platform:datadog.agentImage", "'gcr.io/datadoghq/agent:7.80.0'",
      "stand-in only for the default 'gcr.io/datadoghq/agent:"]),
    ("real-node-with-another-cluster-agent-image", "dev",
     {**_local_patch(images=[_APP_TO_LOCAL, _NGINX_TO_LOCAL], realNode=True),
      "platform:datadog": {"enabled": True, "monitorsEnabled": False,
                           "clusterAgent": {"image": "registry.local/cluster-agent:7.81.1"}}},
     {}, None,
     ["stack 'dev'", "platform:datadog.clusterAgent.image", "'registry.local/cluster-agent:7.81.1'",
      "stand-in only for the default 'gcr.io/datadoghq/cluster-agent:"]),
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
    patch = {"platform:aks": {"systemPool": {"minCout": 2}, "skuTier": "Gold"}}
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


def test_an_empty_services_map_in_a_stack_file_is_refused_with_the_way_out() -> None:
    stack_file = {**stack_file_config("staging"), "platform:services": {}}
    with pytest.raises(ConfigError) as raised:
        evaluate("staging", stack_file=stack_file)
    assert "stack 'staging': platform:services: is an empty map in the stack file" in str(raised.value)
    assert "`services.<name>.enabled: false`" in str(raised.value)


def test_a_service_can_be_left_out_of_one_stack() -> None:
    billing = {
        "team": "payments",
        "secretEnv": ["TOKEN"],
        "jobs": [
            {"name": "run", "schedule": "0 1 * * *", "command": ["x"], "image": "ghcr.io/example-org/billing:1.0.0"}
        ],
    }
    stack_file = patched_stack_file("staging", {"platform:services": {"admin": {"enabled": False}, "billing": billing}})
    # admin's secrets are not asked for once it is left out.
    secrets = {**placeholder_secrets("staging"), "serviceSecrets": {"billing": {"TOKEN": "t0k3n-value"}}}
    ev = evaluate("staging", stack_file=stack_file, secrets=secrets)
    assert ev.exports["serviceNamespaces"] == {"billing": "billing"}
    assert not [r for r in ev.kubernetes() if r.inputs.get("metadata", {}).get("namespace") == "admin"]


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path) -> None:
    from settings import settings_from_files

    broken = tmp_path / "Pulumi.dev.yaml"
    broken.write_text("config:\n  platform:environment: dev\n  platform:services: {admin: [\n")
    with pytest.raises(ConfigError) as raised:
        settings_from_files("dev", broken)
    # A file outside the repository (a DEV_STACK_FILE) is named in full.
    assert str(raised.value).startswith(f"invalid YAML in {broken}:4:1:")
    assert len(str(raised.value).splitlines()) == 1


def test_the_dev_runner_prints_a_config_error_once_and_no_traceback(monkeypatch, capsys) -> None:
    from devenv import dev

    def bad(command: str, args: list[str]) -> int:
        raise ConfigError("invalid configuration:\nstack 'dev': platform:services.admin.team: is required but not set")

    monkeypatch.setattr(dev, "run", bad)
    assert dev.main(["dev", "up"]) == 2
    err = capsys.readouterr().err
    assert err.count("platform:services.admin.team") == 1 and "Traceback" not in err
    assert "`make dev`" in err
    assert str(dev.dev_stack_file()) in err  # the file in use: Pulumi.dev.yaml, or $DEV_STACK_FILE


def test_every_hint_of_a_dev_config_error_is_a_command_that_works_in_dev(monkeypatch, tmp_path) -> None:
    """Errors raised inside the program (the secrets, which only the run can see) name
    the dev stack file in use and suggest `make dev` or pulumi in make dev's environment,
    never a bare `pulumi config set` (no pulumi on PATH, wrong state and passphrase)."""
    import re

    from devenv.dev import pulumi_env
    from settings.loader import DEV_SET_SECRET

    own = tmp_path / "my-dev.yaml"
    monkeypatch.setenv("DEV_STACK_FILE", str(own))
    # make dev runs the program with the stack file in use named for it (the program sees a copy).
    monkeypatch.setenv("PLATFORM_STACK_FILE", pulumi_env(tmp_path)["PLATFORM_STACK_FILE"])
    patch = {"platform:datadog": {"enabled": True, "monitorsEnabled": True}}
    plain = {"datadogApiKey": "plain-value-1", "serviceSecrets": {"admin": {"DATABASE_URL": "plain-value-2"}}}
    with pytest.raises(ConfigError) as raised:
        evaluate("dev", stack_file=patched_stack_file("dev", patch), secrets={}, plain=plain)
    message = str(raised.value)
    assert message.startswith(f"invalid configuration in {own} ")
    keys = {"datadogApiKey", "datadogAppKey", "datadogClusterAgentToken", "serviceSecrets", "services.admin.secretEnv"}
    assert {key for key in keys if f"platform:{key}:" in message} == keys, message
    commands = re.findall(r"`([^`]*)`", message)
    assert commands, message
    for command in commands:
        assert command == "make dev" or command.startswith(DEV_SET_SECRET), (command, message)
    assert "plain-value" not in message
    # The dev command is real: the runner's `pulumi` passthrough, with --path for nested keys.
    from devenv import dev

    assert "python -m devenv.dev pulumi ARGS" in dev.__doc__
    assert DEV_SET_SECRET.split(" -m ")[1].split()[:2] == ["devenv.dev", "pulumi"]


def test_a_short_cluster_agent_token_is_reported_without_its_value() -> None:
    secrets = {**placeholder_secrets("staging"), "datadogClusterAgentToken": "short-token-9"}
    with pytest.raises(ConfigError) as raised:
        evaluate("staging", secrets=secrets)
    assert "datadogClusterAgentToken" in str(raised.value) and "short-token-9" not in str(raised.value)


def test_the_time_zone_database_is_read_once_however_many_jobs(monkeypatch) -> None:
    """Validating 50 services once scanned the tz database per job (2.3 s of 4.7); now once per process."""
    import zoneinfo

    from settings import types

    calls = []
    real = zoneinfo.available_timezones
    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: calls.append(1) or real())
    types._known_time_zones.cache_clear()
    for _ in range(30):
        types._time_zone("Asia/Tokyo")
    assert len(calls) == 1


def test_environment_rules_follow_platform_environment_not_the_stacks_name() -> None:
    """A second prod stack under another name gets prod's rules; a stack named
    'prod' that says it is staging does not."""
    from settings import validate_settings

    prod_file = {k.split(":", 1)[1]: v for k, v in stack_file_config("prod").items()}
    free_tier = {**prod_file, "aks": {**prod_file["aks"], "skuTier": "Free"}}
    with pytest.raises(ConfigError) as raised:
        validate_settings("prod-eu", free_tier)
    assert "stack 'prod-eu': platform:aks.skuTier: 'Free' has no uptime SLA" in str(raised.value)
    assert validate_settings("prod", {**free_tier, "environment": "staging"}).aks.sku_tier == "Free"


def test_a_config_error_names_the_files_to_edit() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate("staging", stack_file=patched_stack_file("staging", {"platform:aks": {"skuTier": "Gold"}}))
    assert (
        str(raised.value).splitlines()[0]
        == "invalid configuration in Pulumi.staging.yaml (over the base in Pulumi.yaml):"
    )


# ---------------------------------------------------------------- issue 23


def _stack_file(tmp_path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "my-dev.yaml"
    path.write_text(text)
    return path


def test_a_key_written_twice_in_a_stack_file_is_refused_with_both_lines(tmp_path) -> None:
    """PyYAML keeps the last of two equal keys without a word: the first service's workloads
    vanished. Pulumi's own reader refuses such a file, but `make dev` rewrote it first."""
    from settings import settings_from_files

    path = _stack_file(tmp_path, (
        "config:\n"
        "  platform:environment: dev\n"
        "  platform:services:\n"
        "    admin:\n"
        "      web: {autoscaling: {minReplicas: 1, maxReplicas: 2}}\n"
        "    etl:\n"
        "      team: data\n"
        "    admin:\n"
        "      quota: {pods: 30}\n"
    ))  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        settings_from_files("dev", path)
    assert str(raised.value) == (
        f"duplicate key in {path}: platform:services.admin at lines 4 and 8; "
        "YAML would silently keep only the last: remove one"
    )


def test_a_duplicate_key_inside_a_list_item_names_the_item_as_written(tmp_path) -> None:
    from settings.loader import read_yaml

    path = _stack_file(tmp_path, "config:\n  platform:services:\n    etl:\n      jobs:\n"
                                 "        - name: load\n          schedule: '0 3 * * *'\n          schedule: '0 4 * * *'\n")  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        read_yaml(path)
    assert "platform:services.etl.jobs[0].schedule at lines 6 and 7" in str(raised.value)


def test_a_list_item_error_names_the_users_item_not_the_merged_index() -> None:
    """Item 10: the loader merges named lists item by item, the base's first, so the
    user's first job was reported as `jobs[2]`. The item is named by its name."""
    from settings import validate_settings

    overlay = {"environment": "staging", "services": {"admin": {"jobs": [{"name": "nightly-load", "schedule": "0 25 * * *",
                                                                           "command": ["x"]}]}}}  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        validate_settings("staging", overlay)
    message = str(raised.value)
    assert "platform:services.admin.jobs[name=nightly-load].schedule: '0 25 * * *' is not a valid cron" in message
    assert "jobs[2]" not in message and "jobs[0]" not in message


def test_a_plain_secret_leaf_beside_an_encrypted_one_is_refused_in_a_stack_file(tmp_path) -> None:
    """Item 1: a key counts as secret when any value under it is encrypted, so a plain
    leaf beside one passed. Every reader of a stack file checks each leaf."""
    from settings import settings_from_files

    path = _stack_file(tmp_path, yaml.safe_dump({"config": {
        "platform:environment": "dev",
        "platform:serviceSecrets": {"admin": {"DATABASE_URL": {"secure": "v1:abc"}, "SECRET_KEY_BASE": "plain-skb-1"}},
        "platform:datadogApiKey": "plain-dd-2",
    }}))  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        settings_from_files("dev", path)
    lines = [line for line in str(raised.value).splitlines() if line.startswith("stack 'dev'")]
    assert lines == [
        f"stack 'dev': platform:datadogApiKey: is stored in plain text: delete it from {path}, "
        "then `.venv/bin/python -m devenv.dev pulumi config set --secret --path 'datadogApiKey'`",
        f"stack 'dev': platform:serviceSecrets.admin.SECRET_KEY_BASE: is stored in plain text: delete it from {path}, "
        "then run `make dev`, which generates it",
    ]
    assert "plain-skb-1" not in str(raised.value) and "plain-dd-2" not in str(raised.value)


def test_the_program_refuses_a_plain_leaf_of_the_stack_file_it_runs_on(tmp_path, monkeypatch) -> None:
    """Item 1, in the program: `pulumi up --stack staging` with a plain leaf beside an
    encrypted one. The engine hands over the key as secret; the file says otherwise.
    The fix is the exact command, which encrypts the leaf in place."""
    secrets = placeholder_secrets("staging")
    stack_file = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    stack_file["config"]["platform:serviceSecrets"] = {"admin": {"DATABASE_URL": "plain-db-3",
                                                                 "SECRET_KEY_BASE": {"secure": "v1:abc"}}}  # fmt: skip
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(stack_file))
    monkeypatch.chdir(tmp_path)  # the program runs in its project directory
    monitor, raised = evaluate_recording("staging", secrets=secrets)
    assert isinstance(raised, ConfigError), raised
    assert (
        "stack 'staging': platform:serviceSecrets.admin.DATABASE_URL: is stored in plain text: encrypt it in place "
        "with `pulumi config set --secret --path 'serviceSecrets.admin.DATABASE_URL' --stack staging`"
    ) in str(raised)
    assert "plain-db-3" not in str(raised) and monitor.registrations == []


def test_a_cronjob_is_named_exactly_as_its_job_so_52_characters_is_its_limit() -> None:
    """CronJobName's limit (52) holds because the component adds no prefix: if it ever
    prefixed the service, the limit would have to count the prefix too."""
    from settings.types import CRON_JOB_NAME_MAX_LENGTH

    name = "n" * CRON_JOB_NAME_MAX_LENGTH
    stack_file = patched_stack_file("dev", {"platform:services": {"admin": {"jobs": [
        {"name": name, "schedule": "0 3 * * *", "command": ["x"]}]}}})  # fmt: skip
    ev = evaluate("dev", stack_file=stack_file)
    names = {r.inputs["metadata"]["name"] for r in ev.of_type("kubernetes:batch/v1:CronJob")}
    assert name in names and max(map(len, names)) <= CRON_JOB_NAME_MAX_LENGTH
