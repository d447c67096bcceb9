"""Services as data: each entry of `services` becomes a locked-down namespace,
a zero-downtime, autoscaled, self-healing web app, and hardened CronJobs."""

from __future__ import annotations

import pytest

from harness import Evaluation, evaluate, patched_stack_file

NGINX, APP = 0, 1


@pytest.fixture(scope="module")
def prod() -> Evaluation:
    return evaluate("prod")


def manifest(ev: Evaluation, kind: str, name: str | None = None, namespace: str = "admin") -> dict:
    found = [
        m for m in ev.manifests()
        if m["kind"] == kind and m["metadata"].get("namespace", namespace) == namespace
        and (name is None or m["metadata"].get("name") == name)
    ]  # fmt: skip
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def pod_spec(ev: Evaluation) -> dict:
    return manifest(ev, "Deployment")["spec"]["template"]["spec"]


def all_pod_specs(ev: Evaluation) -> list[dict]:
    jobs = [m["spec"]["jobTemplate"]["spec"]["template"]["spec"] for m in ev.manifests() if m["kind"] == "CronJob"]
    return [pod_spec(ev), *jobs]


# ------------------------------------------------------------------ namespace


def test_namespace_enforces_restricted_pod_security_at_a_pinned_version(prod: Evaluation) -> None:
    labels = manifest(prod, "Namespace", "admin")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.34"
    assert labels["app.kubernetes.io/name"] == "admin"
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"


def test_ingress_is_denied_except_to_the_web_port(prod: Evaluation) -> None:
    deny = manifest(prod, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    allow = manifest(prod, "NetworkPolicy", "allow-web")["spec"]
    web_labels = manifest(prod, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert allow["podSelector"]["matchLabels"].items() <= web_labels.items()
    nginx_port = pod_spec(prod)["containers"][NGINX]["ports"][0]["containerPort"]
    assert allow["ingress"] == [{"ports": [{"protocol": "TCP", "port": nginx_port}]}]


def test_quota_fits_what_the_workloads_request(prod: Evaluation) -> None:
    quota = manifest(prod, "ResourceQuota")["spec"]["hard"]
    assert quota["pods"] == "50"
    limits = manifest(prod, "LimitRange")["spec"]["limits"][0]
    assert limits["type"] == "Container" and "memory" in limits["default"]


# -------------------------------------------------------------------- web app


def test_pod_has_nginx_in_front_of_the_app(prod: Evaluation) -> None:
    containers = pod_spec(prod)["containers"]
    assert [c["name"] for c in containers] == ["nginx", "app"]
    assert containers[NGINX]["image"].startswith("nginxinc/nginx-unprivileged:")
    config = manifest(prod, "ConfigMap", "web-nginx")["data"]["nginx.conf"]
    app_port = containers[APP]["ports"][0]["containerPort"]
    assert f"server 127.0.0.1:{app_port};" in config
    assert f"listen {containers[NGINX]['ports'][0]['containerPort']};" in config
    mounts = {m["mountPath"] for m in containers[NGINX]["volumeMounts"]}
    assert {"/etc/nginx/nginx.conf", "/tmp", "/var/cache/nginx"} <= mounts
    volumes = {v["name"]: v for v in pod_spec(prod)["volumes"]}
    assert volumes["nginx-conf"]["configMap"]["name"] == "web-nginx"
    assert "emptyDir" in volumes["nginx-tmp"] and "emptyDir" in volumes["nginx-cache"]


def test_nginx_config_change_rolls_the_pods() -> None:
    before = manifest(evaluate("staging"), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    stack_file = patched_stack_file(
        "staging", {"platform:services": {"admin": {"web": {"nginx": {"clientMaxBodySize": "50m"}}}}}
    )
    after = manifest(evaluate("staging", stack_file=stack_file), "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert before["checksum/nginx-conf"] != after["checksum/nginx-conf"]


def test_rollout_never_drops_capacity_and_hpa_owns_replicas(prod: Evaluation) -> None:
    spec = manifest(prod, "Deployment")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    assert "replicas" not in spec
    hpa = manifest(prod, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_hpa_bounds_differ_per_stack() -> None:
    dev = manifest(evaluate("dev"), "HorizontalPodAutoscaler")["spec"]
    assert (dev["minReplicas"], dev["maxReplicas"]) == (1, 2)


def test_pdb_and_service_select_the_deployment_pods(prod: Evaluation) -> None:
    pod_labels = manifest(prod, "Deployment")["spec"]["template"]["metadata"]["labels"]
    deployment_selector = manifest(prod, "Deployment")["spec"]["selector"]["matchLabels"]
    assert deployment_selector.items() <= pod_labels.items()
    pdb = manifest(prod, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"] == deployment_selector
    assert pdb["maxUnavailable"] == 1
    service = manifest(prod, "Service")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["selector"] == deployment_selector
    assert service["ports"][0]["targetPort"] == "http"
    assert pod_spec(prod)["containers"][NGINX]["ports"][0]["name"] == "http"


def test_every_container_has_probes_requests_and_a_memory_limit(prod: Evaluation) -> None:
    for container in pod_spec(prod)["containers"]:
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert "httpGet" in container[probe], f"{container['name']} lacks {probe}"
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
        assert set(container["resources"]["limits"]) == {"memory"}
    app = pod_spec(prod)["containers"][APP]
    assert app["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "app"}


def test_every_pod_is_hardened(prod: Evaluation) -> None:
    for spec in all_pod_specs(prod):
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["runAsNonRoot"] is True
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["limits"]["memory"]


def test_pods_spread_across_nodes_and_zones_where_they_exist(prod: Evaluation) -> None:
    keys = [c["topologyKey"] for c in pod_spec(prod)["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    staging_keys = [c["topologyKey"] for c in pod_spec(evaluate("staging"))["topologySpreadConstraints"]]
    assert staging_keys == ["kubernetes.io/hostname"]


def test_app_env_comes_from_config_and_secrets_from_the_secret(prod: Evaluation) -> None:
    env = {e["name"]: e for e in pod_spec(prod)["containers"][APP]["env"]}
    assert env["RAILS_ENV"] == {"name": "RAILS_ENV", "value": "production"}
    secret_name = manifest(prod, "Secret")["metadata"].get("name") or "admin-secrets"
    for name in ("DATABASE_URL", "SECRET_KEY_BASE"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == name
        assert ref["name"].startswith(secret_name)
        assert "value" not in env[name]


def test_images_are_pinned_and_staging_runs_ahead() -> None:
    prod_app = pod_spec(evaluate("prod"))["containers"][APP]["image"]
    staging_app = pod_spec(evaluate("staging"))["containers"][APP]["image"]
    assert prod_app.endswith(":1.8.2") and staging_app.endswith(":1.9.0-rc.1")
    for image in (prod_app, staging_app):
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")


# --------------------------------------------------------------------- jobs


def test_cron_jobs_are_bounded_and_never_overlap(prod: Evaluation) -> None:
    hourly = manifest(prod, "CronJob", "hourly-aggregation")["spec"]
    assert hourly["schedule"] == "5 * * * *"
    assert hourly["timeZone"] == "Asia/Tokyo"
    assert hourly["concurrencyPolicy"] == "Forbid"
    assert hourly["startingDeadlineSeconds"] == 300
    assert (hourly["successfulJobsHistoryLimit"], hourly["failedJobsHistoryLimit"]) == (3, 3)
    job = hourly["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (2, 1800)
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    daily = manifest(prod, "CronJob", "daily-report")["spec"]
    assert daily["schedule"] == "30 6 * * *"
    assert daily["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 3600


def test_jobs_run_the_app_image_with_its_secrets(prod: Evaluation) -> None:
    container = manifest(prod, "CronJob", "daily-report")["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == pod_spec(prod)["containers"][APP]["image"]
    assert container["command"] == ["bin/rails", "runner", "DailyReport.deliver"]
    assert {e["name"] for e in container["env"] if not e["name"].startswith("DD_")} == {
        "DATABASE_URL",
        "SECRET_KEY_BASE",
    }


# ----------------------------------------------------------- services as data


def test_a_service_is_added_by_one_config_entry() -> None:
    new_service = {
        "billing": {
            "team": "payments",
            "web": {"app": {"image": "ghcr.io/example-org/billing:0.3.1", "port": 8000}},
            "jobs": [{"name": "invoice-run", "schedule": "0 2 1 * *", "command": ["python", "-m", "invoices"]}],
        }
    }
    stack_file = patched_stack_file("staging", {"platform:services": new_service})
    ev = evaluate("staging", stack_file=stack_file)
    assert ev.exports["serviceNamespaces"] == {"admin": "admin", "billing": "billing"}
    for kind in ("Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert manifest(ev, kind, None if kind != "Namespace" else "billing", namespace="billing")
    cron = manifest(ev, "CronJob", "invoice-run", namespace="billing")
    assert cron["spec"]["schedule"] == "0 2 1 * *"
    app = manifest(ev, "Deployment", namespace="billing")["spec"]["template"]["spec"]["containers"][APP]
    assert app["image"] == "ghcr.io/example-org/billing:0.3.1"
    assert {r.name for r in ev.of_type("platform:service:Service")} == {"admin", "billing"}
