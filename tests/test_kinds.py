"""Service kinds as an extension point: a service may run any mix of `web`,
`worker` and `jobs`; each kind builds only its own objects and monitors; the
service owns its Secret; one identity object spells every label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import STACKS, Evaluation, evaluate, patched_stack_file, placeholder_secrets

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/example-org/etl:2.0.1"
EXTRA_SERVICES = {
    # Jobs only: no web app, no worker, its own image and its own secret.
    "etl": {
        "team": "data",
        "secretEnv": ["WAREHOUSE_URL"],
        "jobs": [{"name": "nightly-load", "schedule": "0 3 * * *", "command": ["etl", "load"], "image": IMAGE}],
    },
    # A queue consumer: a worker with an exec probe, and a job that runs its image.
    "mailer": {
        "team": "growth",
        "secretEnv": ["SMTP_PASSWORD"],
        "worker": {
            "image": "ghcr.io/example-org/mailer:0.9.0",
            "command": ["mailer", "consume"],
            "probe": {"command": ["mailer", "health"]},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 3},
        },
        "jobs": [{"name": "bounce-report", "schedule": "0 * * * *", "command": ["mailer", "bounces"]}],
    },
}


def with_extra_services(stack: str) -> Evaluation:
    return evaluate(stack, stack_file=patched_stack_file(stack, {"platform:services": EXTRA_SERVICES}))


@pytest.fixture(scope="module", params=STACKS)
def ev(request: pytest.FixtureRequest) -> Evaluation:
    return with_extra_services(request.param)


def kinds_in(ev: Evaluation, namespace: str) -> set[str]:
    return {m["kind"] for m in ev.manifests() if m["metadata"].get("namespace") == namespace}


def one(ev: Evaluation, kind: str, namespace: str) -> dict:
    found = [m for m in ev.manifests() if m["kind"] == kind and m["metadata"].get("namespace") == namespace]
    assert len(found) == 1, f"{kind} in {namespace}: {len(found)}"
    return found[0]


# What every service namespace gets, whatever it runs: deny in both directions,
# then DNS and the Datadog agent out.
NAMESPACE_POLICIES = {"default-deny-ingress", "default-deny-egress", "allow-platform-egress"}


def policy_names(ev: Evaluation, namespace: str) -> set[str]:
    return {
        m["metadata"]["name"]
        for m in ev.manifests()
        if m["kind"] == "NetworkPolicy" and m["metadata"].get("namespace") == namespace
    }


def test_a_jobs_only_service_gets_a_namespace_a_secret_and_its_cronjobs_only(ev: Evaluation) -> None:
    assert kinds_in(ev, "etl") == {"NetworkPolicy", "ResourceQuota", "LimitRange", "Secret", "CronJob"}
    cron = one(ev, "CronJob", "etl")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert [e["name"] for e in container["env"] if not e["name"].startswith("DD_")] == ["WAREHOUSE_URL"]
    # Only the namespace's fences: nothing serves, so nothing is let in.
    assert policy_names(ev, "etl") == NAMESPACE_POLICIES


def test_a_worker_is_a_deployment_with_its_own_probes_and_autoscaling_and_nothing_reaches_it(ev: Evaluation) -> None:
    assert "Service" not in kinds_in(ev, "mailer")
    deployment = one(ev, "Deployment", "mailer")
    assert deployment["metadata"]["name"] == "worker"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "ports" not in container
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"] == {"command": ["mailer", "health"]}
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    hpa = one(ev, "HorizontalPodAutoscaler", "mailer")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "worker" and (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    selector = deployment["spec"]["selector"]["matchLabels"]
    pdb = one(ev, "PodDisruptionBudget", "mailer")["spec"]
    assert pdb["selector"]["matchLabels"] == selector
    # A crash-looping worker must not block node drains either (shared builder).
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert policy_names(ev, "mailer") == NAMESPACE_POLICIES


def test_a_job_without_an_image_runs_the_workers_image(ev: Evaluation) -> None:
    cron = one(ev, "CronJob", "mailer")
    image = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/example-org/mailer:0.9.0"


def test_jobs_depend_on_the_services_secret_not_on_its_web_app() -> None:
    ev = evaluate("prod")
    web_app = ev.one("platform:service:WebApp", "admin")
    secret = ev.one("kubernetes:core/v1:Secret", "admin-secrets")
    assert secret.parent == ev.one("platform:service:Service", "admin").urn
    web_children = {r.urn for r in ev.resources if r.parent == web_app.urn} | {web_app.urn}
    for cron in ev.of_type("kubernetes:batch/v1:CronJob"):
        assert secret.urn in cron.dependencies
        assert not web_children & set(cron.dependencies), f"{cron.name} depends on the web app"


def test_moved_resources_keep_their_identity_through_aliases() -> None:
    """The Secret moved from WebApp to Service, allow-web from the namespace to
    WebApp: each names its previous parent, so an update moves it in place
    instead of deleting and recreating it."""
    ev = evaluate("staging")
    secret = ev.one("kubernetes:core/v1:Secret", "admin-secrets")
    assert any(
        a["spec"].get("parentUrn", "").endswith("platform:service:Service$platform:service:WebApp::admin")
        for a in secret.aliases
    ), secret.aliases
    allow_web = ev.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "admin-allow-web")
    namespace_component = ev.one("platform:service:ServiceNamespace", "admin")
    assert {"spec": {"parentUrn": namespace_component.urn}} in allow_web.aliases


def test_each_kind_brings_its_own_monitors() -> None:
    from components.service.monitors import monitor_specs
    from settings import settings_from_files

    settings = settings_from_files("prod")
    services = {**settings.services, **_validated_extra_services()}
    keys = {spec.key for spec in monitor_specs(settings.datadog, services, "aks-platform-prod", "prod")}
    assert {"admin-replicas", "admin-hpa-max", "admin-job-failed", "admin-crashloop"} <= keys
    assert {"mailer-worker-replicas", "mailer-worker-hpa-max", "mailer-bounce-report-late"} <= keys
    assert {"etl-job-failed", "etl-nightly-load-late"} <= keys
    assert not {key for key in keys if key.startswith("etl-") and ("replicas" in key or "hpa" in key)}
    assert "mailer-replicas" not in keys and "mailer-hpa-max" not in keys  # no web app there


def _validated_extra_services() -> dict:
    from settings.service.spec import ServiceSpec

    return {name: ServiceSpec.model_validate(raw) for name, raw in EXTRA_SERVICES.items()}


def test_offline_and_dev_secrets_cover_every_secret_env_of_every_service(tmp_path: Path) -> None:
    import yaml

    from devenv.dev import dev_generated_secrets

    stack_file = patched_stack_file("dev", {"platform:services": EXTRA_SERVICES})
    secrets = placeholder_secrets("dev", stack_file)["serviceSecrets"]
    assert {name: sorted(values) for name, values in secrets.items()} == {
        "admin": ["DATABASE_URL", "SECRET_KEY_BASE"],
        "etl": ["WAREHOUSE_URL"],
        "mailer": ["SMTP_PASSWORD"],
    }
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": stack_file}))
    expected = {f"serviceSecrets.{name}.{variable}" for name, values in secrets.items() for variable in values}
    assert set(dev_generated_secrets(path)) == expected


def test_workload_labels_are_spelled_in_one_place() -> None:
    """The identity object is the only writer of app.kubernetes.io/* and Datadog's tags.datadoghq.com/* labels
    for services (the Datadog agents' own objects label themselves)."""
    spelled = re.compile(r'"(tags\.datadoghq\.com/|app\.kubernetes\.io/(name|component|version|part-of))')
    writers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "components").rglob("*.py")
        if spelled.search(path.read_text())
    }
    assert writers == {
        "components/service/workload.py",
        "components/datadog/agent.py",
        "components/datadog/cluster_agent.py",
    }


def test_config_models_and_components_share_no_names() -> None:
    """Every class of the config model and of the components has its own name
    (`WebSpec` for the config, `WebApp` for the component), so no module
    needs `import X as Y` to tell them apart."""
    import ast
    from collections import Counter

    names = Counter(
        node.name
        for path in [*(ROOT / "components").rglob("*.py"), *(ROOT / "settings").rglob("*.py")]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    )
    assert [name for name, count in names.items() if count > 1] == []
    assert {"WebSpec", "WebApp", "WorkerSpec", "Worker", "BatchJobSpec", "BatchJob", "ServiceSpec", "Service"} <= set(
        names
    )
