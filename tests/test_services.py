"""Services as data: each entry of `services` becomes a locked-down namespace,
a zero-downtime, autoscaled, self-healing web app, and hardened CronJobs."""

from __future__ import annotations

import ipaddress
import math
import re

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
    (rule,) = allow["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": nginx_port}]
    # Only the application routing add-on's NGINX pods, not every pod of the cluster.
    assert rule["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "app-routing-system"}},
        "podSelector": {"matchLabels": {"app": "nginx"}},
    }]  # fmt: skip


def test_quota_holds_the_peak_the_services_page_states(prod: Evaluation) -> None:
    """The quota object carries the configured ceiling, and the peak that docs/services.md's
    table states for prod is what the model computes (the fit itself is refused
    before deploy: see the quota cases in tests/test_config.py)."""
    from harness import ROOT
    from settings import settings_from_files

    quota = manifest(prod, "ResourceQuota")["spec"]["hard"]
    assert (quota["pods"], quota["requests.cpu"], quota["requests.memory"]) == ("50", "6", "8Gi")
    limits = manifest(prod, "LimitRange")["spec"]["limits"][0]
    assert limits["type"] == "Container" and "memory" in limits["default"]
    peak = settings_from_files("prod").services["admin"].peak_footprint()
    page = (ROOT / "docs" / "services.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| prod | "))
    stated = [cell.split(" / ")[0] for cell in row.strip("| ").split(" | ")[1:]]
    mib = 2**20
    assert stated == [str(peak.pods), f"{int(peak.cpu * 1000)}m", f"{int(peak.memory / mib)}Mi",
                      f"{int(peak.memory_limit / mib)}Mi"]  # fmt: skip


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
    # A crash-looping pod is evictable whatever the budget: it cannot block a drain (and an AKS upgrade).
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    service = manifest(prod, "Service")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["selector"] == deployment_selector
    assert service["ports"][0]["targetPort"] == "http"
    assert pod_spec(prod)["containers"][NGINX]["ports"][0]["name"] == "http"


def test_every_container_has_probes_requests_and_a_memory_limit(prod: Evaluation) -> None:
    for container in pod_spec(prod)["containers"]:
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert "httpGet" in container[probe], f"{container['name']} lacks {probe}"
        assert set(container["resources"]["requests"]) == {"cpu", "memory", "ephemeral-storage"}
        assert set(container["resources"]["limits"]) == {"memory", "ephemeral-storage"}
    app = pod_spec(prod)["containers"][APP]
    assert app["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "app"}


def test_app_liveness_is_shallow_and_the_startup_probe_covers_slow_boots(prod: Evaluation) -> None:
    app = pod_spec(prod)["containers"][APP]
    # Readiness may follow the database; liveness never does, so an outage restarts nothing.
    assert app["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "app"}
    assert app["livenessProbe"]["httpGet"] != app["readinessProbe"]["httpGet"]
    startup = app["startupProbe"]
    assert startup["httpGet"] == app["livenessProbe"]["httpGet"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # the default boot budget
    # Strict liveness once started: a hung process is restarted within half a minute.
    liveness = app["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] <= 30


def test_no_web_container_reuses_its_readiness_probe_for_liveness(prod: Evaluation) -> None:
    # kube-score's "Pod Probes" check (zegl/kube-score score/probes/probes.go) grades a
    # container with identical readiness and liveness probes critical.
    for container in pod_spec(prod)["containers"]:
        assert container["readinessProbe"]["httpGet"] != container["livenessProbe"]["httpGet"], container["name"]


@pytest.fixture(scope="module")
def tuned() -> Evaluation:
    """Staging with the web app's probes and graceful stop set in config (one evaluation for both tests)."""
    web = {
        "app": {"probes": {"readinessPath": "/ready", "livenessPath": "/alive", "startupSeconds": 300}},
        "preStopDelaySeconds": 15,
        "terminationGracePeriodSeconds": 45,
    }
    return evaluate("staging", stack_file=patched_stack_file("staging", {"platform:services": {"admin": {"web": web}}}))


def test_probe_paths_and_boot_budget_come_from_config(tuned: Evaluation) -> None:
    app = pod_spec(tuned)["containers"][APP]
    assert app["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert app["livenessProbe"]["httpGet"]["path"] == app["startupProbe"]["httpGet"]["path"] == "/alive"
    assert app["startupProbe"]["periodSeconds"] * app["startupProbe"]["failureThreshold"] >= 300
    # nginx's readiness follows the app's liveness endpoint through the upstream.
    assert "proxy_pass http://app/alive;" in manifest(tuned, "ConfigMap", "web-nginx")["data"]["nginx.conf"]


# ------------------------------------------------------------- graceful stop


def test_both_containers_keep_serving_through_the_prestop_delay_within_the_grace_period(prod: Evaluation) -> None:
    spec = pod_spec(prod)
    delays = {c["name"]: c["lifecycle"]["preStop"] for c in spec["containers"]}
    # The kubelet's own sleep action: no shell needed in either image.
    assert delays == {"nginx": {"sleep": {"seconds": 10}}, "app": {"sleep": {"seconds": 10}}}
    assert spec["terminationGracePeriodSeconds"] == 30 > 10


def test_the_delay_and_the_grace_period_come_from_config(tuned: Evaluation) -> None:
    spec = pod_spec(tuned)
    assert {c["lifecycle"]["preStop"]["sleep"]["seconds"] for c in spec["containers"]} == {15}
    assert spec["terminationGracePeriodSeconds"] == 45


# --------------------------------------------------------------------- nginx


def nginx_conf(ev: Evaluation) -> str:
    return manifest(ev, "ConfigMap", "web-nginx")["data"]["nginx.conf"]


def test_nginx_workers_follow_the_containers_cpu_request_not_the_nodes() -> None:
    patch = {
        "platform:services": {
            "admin": {"web": {"nginx": {"resources": {"cpu": "1500m"}}}, "quota": {"requestsCpu": "8"}}
        }
    }
    for ev in (evaluate("dev"), evaluate("dev", stack_file=patched_stack_file("dev", patch))):
        cpu = pod_spec(ev)["containers"][NGINX]["resources"]["requests"]["cpu"]
        cores = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
        workers = re.search(r"^worker_processes (\S+);", nginx_conf(ev), re.M)
        assert workers and workers.group(1) == str(max(1, math.ceil(cores))), (cpu, workers)


def test_nginx_trusts_forwarded_headers_only_from_the_clusters_pod_range(prod: Evaluation) -> None:
    conf = nginx_conf(prod)
    trusted = [ipaddress.ip_network(c) for c in re.findall(r"set_real_ip_from (\S+);", conf)]
    cluster = prod.one("azure-native:containerservice:ManagedCluster").inputs["networkProfile"]
    # The ingress controller's pods take their IPs from the cluster's pod overlay.
    assert any(ipaddress.ip_network(cluster["podCidr"]).subnet_of(net) for net in trusted)  # type: ignore[arg-type]
    assert "real_ip_header X-Forwarded-For;" in conf
    # The app gets one address nginx resolved, never a list a client wrote; the ingress's protocol is kept.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "proxy_set_header X-Forwarded-Proto $forwarded_proto;" in conf
    assert "map $http_x_forwarded_proto $forwarded_proto" in conf


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
