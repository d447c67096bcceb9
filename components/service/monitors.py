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


def _crash_loop(scope: MonitorScope, name: str, team: str) -> MonitorSpec:
    """Any container of the service: whatever its kind, a crash loop hides behind restarts.
    Grouped by container name: the metric carries no Deployment tag (see tests/ksm_catalog.py)."""
    t = scope.settings.thresholds
    return MonitorSpec(
        key=f"{name}-crashloop",
        name=f"[{scope.environment}] {name}: a container is in CrashLoopBackOff",
        query=(
            f"max(last_{t.crash_loop_minutes}m):max:kubernetes_state.container.status_report.count.waiting"
            f"{{{scope.filter(f'kube_namespace:{name}', 'reason:crashloopbackoff')}}} "
            "by {kube_container_name} >= 1"
        ),
        message=scope.message(
            f"A container of {name} keeps crashing. Kubernetes restarts it, which hides the failure.",
            "Read the container's last logs and recent deploys; roll back if a deploy started it.",
            "crashloopbackoff",
        ),
        tags=scope.tags(name, team),
        critical=1,
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
