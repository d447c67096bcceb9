"""What the platform's Datadog monitors watch, as plain data: each service's (a
crash loop in any container, then what each of its kinds brings) and, for a whole
stack, those plus the cluster-wide ones. Kept apart from the DatadogMonitors
component so the monitor set is built and tested without importing pulumi_datadog
(about 11 s and 240 MB)."""

from __future__ import annotations

from components.datadog.monitor_spec import MonitorScope, MonitorSpec
from components.datadog.platform_monitors import platform_monitors
from components.service.kinds.registry import KINDS
from settings.datadog.agents import DatadogSettings
from settings.service.spec import ServiceSpec

CRASH_LOOP_SHARE = 0.5
"""Alert when a container spent at least this share of the window in CrashLoopBackOff. The kubelet
restarts a crashing container after 10 s, 20 s, 40 s ... up to 5 min (kubernetes/website
content/en/docs/concepts/workloads/pods/pod-lifecycle.md, "Container restarts"), so a container
that keeps crashing spends most of its time waiting while one crash waits 10 s: at 5 minutes,
about 3 % of the window."""


def _crash_loop(scope: MonitorScope, name: str, team: str) -> MonitorSpec:
    """Any container of the service: whatever its kind, a crash loop hides behind restarts.
    Grouped by container name, which every series carries (tests/ksm_catalog.py).

    The series is sent only while a container waits, with value 1, for the reason it waits now
    (DataDog/datadog-agent .../ksm/kubernetes_state_transformers.go containerWaitingReasonTransformer;
    kube-state-metrics internal/store/pod.go "Skip creating series for running containers"), so it
    never reports a healthy container: default_zero() counts its absence as 0, which both makes the
    average a share of time and lets the group resolve once the container runs again
    (https://docs.datadoghq.com/dashboards/functions/interpolation/)."""
    t = scope.settings.thresholds
    return MonitorSpec(
        key=f"{name}-crashloop",
        name=f"[{scope.environment}] {name}: a container is in CrashLoopBackOff",
        query=(
            f"avg(last_{t.crash_loop_minutes}m):default_zero(max:kubernetes_state.container.status_report.count.waiting"
            f"{{{scope.filter(f'kube_namespace:{name}', 'reason:crashloopbackoff')}}} "
            f"by {{kube_container_name}}) >= {CRASH_LOOP_SHARE}"
        ),
        message=scope.message(
            f"A container of {name} has spent most of the last {t.crash_loop_minutes} minutes in CrashLoopBackOff. "
            "Kubernetes restarts it, which hides the failure.",
            "Read the container's last logs and recent deploys; roll back if a deploy started it.",
            "crashloopbackoff",
        ),
        tags=scope.tags(name, team),
        critical=CRASH_LOOP_SHARE,
        priority=2,
    )


def _service_monitors(scope: MonitorScope, name: str, service: ServiceSpec) -> list[MonitorSpec]:
    specs = [_crash_loop(scope, name, service.team)]
    for kind in KINDS:
        spec = getattr(service, kind.key)
        if spec:
            specs += kind.monitors(scope, name, service.team, spec)
    return specs


def monitor_specs(
    settings: DatadogSettings, services: dict[str, ServiceSpec], cluster_name: str, environment: str
) -> list[MonitorSpec]:
    """Every monitor of a stack: per-service ones (by kind), then cluster-wide ones."""
    scope = MonitorScope(cluster=cluster_name, environment=environment, settings=settings)
    specs: list[MonitorSpec] = []
    for name, service in sorted(services.items()):
        specs += _service_monitors(scope, name, service)
    return specs + platform_monitors(scope)
