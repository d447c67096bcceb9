"""The typed configuration model: every input of the platform, documented and
validated. Defaults live here and only here; `Pulumi.yaml` holds the project's
base values and each `Pulumi.<stack>.yaml` holds only what differs."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.kinds.jobs.spec import BatchJobSpec, unique_job_names
from components.kinds.web.spec import WebSpec
from components.kinds.worker.spec import WorkerSpec
from settings.base import Model, RuleViolationError
from settings.types import (
    Cidr,
    ClockTime,
    EnvVarName,
    IpAddress,
    K8sName,
    MinorVersion,
    ObjectId,
    PinnedImage,
    Quantity,
    minor_of,
)

DayOfWeek = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

DATADOG_SITES = (
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
)


# --------------------------------------------------------------------------- AKS


class MaintenanceWindow(Model):
    """A weekly window in which AKS may upgrade (planned maintenance)."""

    day_of_week: DayOfWeek = Field("Sunday", description="Day the window opens.")
    start_time: ClockTime = Field("03:00", description="Local start time, HH:MM.")
    duration_hours: int = Field(4, ge=4, le=24, description="Window length; AKS requires at least 4 hours.")
    utc_offset: str = Field(
        "+09:00", pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$", description="Offset of start_time from UTC."
    )
    interval_weeks: int = Field(1, ge=1, le=4, description="Repeat every N weeks.")


class NodeOsMaintenanceWindow(MaintenanceWindow):
    """Node OS updates: a day apart from the cluster upgrade window."""

    day_of_week: DayOfWeek = Field("Saturday", description="Day the window opens.")


# Objects whose defaults differ from their base class get a subclass rather
# than a default_factory: a stack that overrides one field of them must keep
# the other defaults, not fall back to the base class's.


class Maintenance(Model):
    """Planned-maintenance windows for both AKS upgrade schedules."""

    auto_upgrade: MaintenanceWindow = Field(
        default_factory=MaintenanceWindow, description="When the cluster auto-upgrade channel may run."
    )
    node_os_upgrade: NodeOsMaintenanceWindow = Field(
        default_factory=NodeOsMaintenanceWindow, description="When node OS images or security patches may be applied."
    )


class NodePool(Model):
    """An autoscaled AKS node pool."""

    vm_size: str = Field("Standard_D4ds_v5", description="Azure VM size of each node.")
    min_count: int = Field(2, ge=1, le=1000, description="Autoscaler lower bound.")
    max_count: int = Field(5, ge=1, le=1000, description="Autoscaler upper bound.")
    max_surge: str = Field(
        "33%", pattern=r"^([1-9][0-9]?%|100%|[1-9][0-9]*)$", description="Extra nodes during an upgrade (count or %)."
    )
    os_disk_size_gb: int = Field(128, ge=30, le=2048, description="OS disk size.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> NodePool:
        if self.min_count > self.max_count:
            raise ValueError(f"minCount ({self.min_count}) must not exceed maxCount ({self.max_count})")
        return self


class SystemNodePool(NodePool):
    """The pool for cluster add-ons: small VMs, at least two for availability."""

    vm_size: str = Field("Standard_D2ds_v5", description="Azure VM size of each node.")
    min_count: int = Field(2, ge=1, le=1000, description="Autoscaler lower bound.")
    max_count: int = Field(3, ge=1, le=1000, description="Autoscaler upper bound.")


class AksNetwork(Model):
    """Azure CNI overlay networking: nodes get VNet IPs, pods an overlay range."""

    vnet_cidr: Cidr = Field("10.10.0.0/16", description="Address space of the cluster VNet.")
    node_subnet_cidr: Cidr = Field("10.10.0.0/22", description="Subnet for the nodes; must sit inside vnetCidr.")
    pod_cidr: Cidr = Field("192.168.0.0/16", description="Overlay range for pod IPs; must not overlap the VNet.")
    service_cidr: Cidr = Field("172.16.0.0/16", description="Range for ClusterIP Services.")
    dns_service_ip: IpAddress = Field("172.16.0.10", description="kube-dns address; must sit inside serviceCidr.")
    network_policy: Literal["azure", "calico", "cilium"] = Field(
        "azure", description="Engine that enforces NetworkPolicy objects."
    )

    @model_validator(mode="after")
    def _ranges_fit(self) -> AksNetwork:
        vnet = ipaddress.ip_network(self.vnet_cidr)
        if not ipaddress.ip_network(self.node_subnet_cidr).subnet_of(vnet):  # type: ignore[arg-type]
            raise ValueError(f"nodeSubnetCidr {self.node_subnet_cidr} must sit inside vnetCidr {self.vnet_cidr}")
        for name, cidr in (("podCidr", self.pod_cidr), ("serviceCidr", self.service_cidr)):
            if ipaddress.ip_network(cidr).overlaps(vnet):
                raise ValueError(f"{name} {cidr} must not overlap vnetCidr {self.vnet_cidr}")
        if ipaddress.ip_address(self.dns_service_ip) not in ipaddress.ip_network(self.service_cidr):
            raise ValueError(f"dnsServiceIp {self.dns_service_ip} must sit inside serviceCidr {self.service_cidr}")
        return self


class AksSettings(Model):
    """The managed cluster of the `prod` and `staging` stacks."""

    location: str = Field("japaneast", pattern=r"^[a-z0-9]+$", description="Azure region, e.g. 'japaneast'.")
    resource_group_name: str | None = Field(None, description="Defaults to 'rg-platform-<stack>'.")
    cluster_name: str | None = Field(None, description="Defaults to 'aks-platform-<stack>'.")
    kubernetes_version: MinorVersion | None = Field(
        "1.34",
        description=(
            "Kubernetes MAJOR.MINOR. With upgradeChannel 'patch' AKS keeps the newest patch of this minor, "
            "so a patch release is never a diff. Leave it null with 'stable' or 'rapid'."
        ),
    )
    upgrade_channel: Literal["patch", "stable", "rapid", "none"] = Field(
        "patch", description="Cluster auto-upgrade channel."
    )
    node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch"] = Field(
        "NodeImage", description="How node OS updates are applied."
    )
    maintenance: Maintenance = Field(default_factory=Maintenance)
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(
        "Standard", description="'Standard' carries the uptime SLA; 'Free' has none."
    )
    availability_zones: list[Literal["1", "2", "3"]] = Field(
        default_factory=list, description="Zones to spread both node pools across; empty means no zones."
    )
    system_pool: SystemNodePool = Field(
        default_factory=SystemNodePool, description="Pool for cluster add-ons only (tainted CriticalAddonsOnly)."
    )
    user_pool: NodePool = Field(default_factory=NodePool, description="Pool for the services' workloads.")
    network: AksNetwork = Field(default_factory=AksNetwork)
    api_server_authorized_ip_ranges: list[Cidr] = Field(
        min_length=1, description="Only these ranges reach the API server (no default: an open API server is a choice)."
    )
    admin_group_object_ids: list[ObjectId] = Field(
        min_length=1, description="Entra ID groups that get cluster-admin through Azure RBAC."
    )
    tenant_id: ObjectId | None = Field(None, description="Entra ID tenant; defaults to the subscription's tenant.")
    kubelogin_mode: Literal["azurecli", "workloadidentity", "spn"] = Field(
        "azurecli",
        description=(
            "How the kubeconfig logs in without a prompt: 'azurecli' for people and for CI after azure/login; "
            "'workloadidentity' for federated tokens; 'spn' reads AAD_SERVICE_PRINCIPAL_* from the environment."
        ),
    )
    protect: bool = Field(False, description="Refuse to delete the cluster and resource group.")

    @model_validator(mode="after")
    def _version_matches_channel(self) -> AksSettings:
        # The rule the AKS Terraform modules enforce: a pinned patch with an
        # auto-upgrade channel makes the next deploy try to undo the upgrade.
        if self.upgrade_channel == "patch" and self.kubernetes_version is None:
            raise ValueError(
                "kubernetesVersion is required with upgradeChannel 'patch' (write MAJOR.MINOR, e.g. '1.34')"
            )
        if self.upgrade_channel in ("stable", "rapid") and self.kubernetes_version is not None:
            raise ValueError(
                f"kubernetesVersion must be null with upgradeChannel '{self.upgrade_channel}': "
                "AKS moves the minor version itself"
            )
        return self


class LocalSettings(Model):
    """The `dev` stack's cluster on the engineer's own machine."""

    kubeconfig: str = Field(
        "~/.cache/aks-platform-local/kubeconfig",
        description="Kubeconfig file; the default is the one `make cluster-up` writes.",
    )
    context: str = Field(
        "aks-platform-local", min_length=1, description="Context to use, e.g. 'kind-kind' or 'docker-desktop'."
    )
    kubernetes_version: MinorVersion = Field("1.34", description="MAJOR.MINOR of the local API server.")


# ---------------------------------------------------------------------- services


class Quota(Model):
    """Namespace ceiling, so one service cannot starve the others."""

    requests_cpu: Quantity = Field("4")
    requests_memory: Quantity = Field("8Gi")
    limits_memory: Quantity = Field("16Gi")
    pods: int = Field(50, ge=1, le=1000)


class ServiceSpec(Model):
    """One service: a namespace and the workloads it runs, one field per kind
    (`web`, `worker`, `jobs`; see components/kinds/). Any mix of kinds works,
    but a service must run at least one."""

    team: K8sName = Field(description="Owning team; used in labels and monitor tags.")
    secret_env: list[EnvVarName] = Field(
        default_factory=list,
        description=(
            "Names of secret values (serviceSecrets.<service>.<NAME>) every workload of the service "
            "gets as environment variables, from the service's one Kubernetes Secret."
        ),
    )
    web: WebSpec | None = Field(None, description="The admin web app: nginx + app server, autoscaled.")
    worker: WorkerSpec | None = Field(None, description="A long-running worker with no web port (queue consumer).")
    jobs: list[BatchJobSpec] = Field(default_factory=list, description="Scheduled batch jobs (CronJobs).")
    quota: Quota = Field(default_factory=Quota)

    _unique_job_names = field_validator("jobs")(unique_job_names)

    @model_validator(mode="after")
    def _runs_something(self) -> ServiceSpec:
        if self.web is None and self.worker is None and not self.jobs:
            raise ValueError("runs nothing: give it at least one of `web`, `worker` or `jobs`")
        if self.default_image is None:
            for index, job in enumerate(self.jobs):
                if job.image is None:
                    raise RuleViolationError(
                        [(f"jobs[{index}].image", "is required: the service has no web app or worker to take it from")]
                    )
        return self

    @property
    def default_image(self) -> str | None:
        """The image a job runs when it names none: the web app's, else the worker's."""
        if self.web is not None:
            return self.web.app.image
        return self.worker.image if self.worker is not None else None


# ----------------------------------------------------------------------- datadog


class MonitorThresholds(Model):
    """How long each condition must last before a monitor alerts, in minutes."""

    crash_loop_minutes: int = Field(5, ge=1, le=1440, description="A container waiting in CrashLoopBackOff.")
    replicas_unavailable_minutes: int = Field(10, ge=1, le=1440, description="A Deployment running short.")
    job_failure_minutes: int = Field(15, ge=1, le=1440, description="Window in which a failed Job alerts.")
    node_not_ready_minutes: int = Field(5, ge=1, le=1440)
    nodes_unschedulable_minutes: int = Field(30, ge=1, le=1440, description="Longer than a normal node upgrade.")
    agent_missing_minutes: int = Field(15, ge=1, le=1440)
    hpa_at_max_minutes: int = Field(30, ge=1, le=1440)
    heartbeat_minutes: int = Field(
        10, ge=1, le=720, description="Window of the agent and KSM heartbeats; silence for twice this pages."
    )


class ClusterAgentSettings(Model):
    """The Datadog Cluster Agent: runs kube-state-metrics core and serves the node agents."""

    image: PinnedImage = Field("gcr.io/datadoghq/cluster-agent:7.81.1", description="Pinned Cluster Agent image.")
    replicas: int = Field(
        1,
        ge=1,
        le=3,
        description="Cluster Agent pods; one leads (runs the checks), the others stand by. >1 adds a PDB.",
    )


class DatadogSettings(Model):
    """The Datadog node agents, the Cluster Agent, and the monitors that watch the platform."""

    enabled: bool = Field(True, description="Deploy the agent and the monitors.")
    site: str = Field("datadoghq.com", description=f"Datadog site, one of {', '.join(DATADOG_SITES)}.")
    agent_image: PinnedImage = Field("gcr.io/datadoghq/agent:7.81.1", description="Pinned agent image.")
    logs_enabled: bool = Field(True, description="Collect container logs.")
    apm_enabled: bool = Field(
        False, description="Run the trace agent: apps send traces to the node-local Service on port 8126."
    )
    cluster_agent: ClusterAgentSettings = Field(default_factory=ClusterAgentSettings)
    team: str = Field("platform", min_length=1, description="team: tag on platform-level monitors.")
    monitors_enabled: bool = Field(True, description="Manage monitors in Datadog (needs an app key).")
    notify: list[str] = Field(
        default_factory=list, description="Handles every monitor notifies, e.g. '@slack-alerts' or '@pagerduty-oncall'."
    )
    thresholds: MonitorThresholds = Field(default_factory=MonitorThresholds)
    runbook_url: str = Field(
        "https://github.com/example-org/aks-platform/blob/main/README.md",
        pattern=r"^https://",
        description="The README whose Runbook sections every monitor message links to.",
    )

    @field_validator("site")
    @classmethod
    def _known_site(cls, site: str) -> str:
        if site not in DATADOG_SITES:
            raise ValueError(f"{site!r} is not a Datadog site: use one of {', '.join(DATADOG_SITES)}")
        return site

    @field_validator("notify")
    @classmethod
    def _handles(cls, handles: list[str]) -> list[str]:
        for handle in handles:
            if not re.match(r"^@[\w.+\-@]+$", handle):
                raise ValueError(f"{handle!r} is not a Datadog notify handle like '@slack-channel'")
        return handles


# ------------------------------------------------------------------------- root


Environment = Literal["prod", "staging", "dev"]


class PlatformSettings(Model):
    """Everything a stack can configure, under the `platform:` namespace."""

    environment: Environment = Field(
        description=(
            "Which environment this stack is. Each stack file names it, and the environment rules below key on it, "
            "never on the stack's name. Also the `env` of Datadog's unified service tagging."
        )
    )
    target: Literal["aks", "local"] = Field("aks", description="'aks' builds a cluster; 'local' uses an existing one.")
    aks: AksSettings | None = Field(None, description="Required when target is 'aks'.")
    local: LocalSettings = Field(default_factory=LocalSettings)
    services: dict[K8sName, ServiceSpec] = Field(default_factory=dict, description="Services by name.")
    datadog: DatadogSettings = Field(default_factory=DatadogSettings)

    @model_validator(mode="after")
    def _target_has_settings(self) -> PlatformSettings:
        if self.target == "aks" and self.aks is None:
            raise ValueError("target 'aks' needs the 'aks' settings")
        return self

    @model_validator(mode="after")
    def _environment_rules(self) -> PlatformSettings:
        """Rules that hold for one environment, not for every stack (see README, "Where a rule goes")."""
        problems = [problem for rule in ENVIRONMENT_RULES.get(self.environment, ()) for problem in rule(self)]
        if problems:
            raise RuleViolationError(problems)
        return self

    def cluster_name(self, stack: str) -> str:
        """The cluster's name: the AKS resource name, or the local kubeconfig context."""
        if self.target == "local":
            return self.local.context
        assert self.aks is not None
        return self.aks.cluster_name or f"aks-platform-{stack}"

    @property
    def has_zones(self) -> bool:
        """Whether the nodes sit in availability zones, so pods should spread across them."""
        return self.target == "aks" and self.aks is not None and bool(self.aks.availability_zones)

    @property
    def kubernetes_minor(self) -> str:
        """The cluster's Kubernetes MAJOR.MINOR, for schema validation and docs."""
        if self.target == "local":
            return self.local.kubernetes_version
        assert self.aks is not None
        return minor_of(self.aks.kubernetes_version or "1.34")


# ------------------------------------------------------------ environment rules
# Each rule reads the validated settings and returns (key, reason) problems.
# The policy pack checks the prod cluster's tier again on the resource itself:
# a deliberate duplicate (defence in depth, see policy/guardrails.py).


def _prod_cluster_is_highly_available(settings: PlatformSettings) -> list[tuple[str, str]]:
    aks = settings.aks
    if settings.target != "aks" or aks is None:
        return []
    problems = []
    if aks.sku_tier == "Free":
        problems.append(("aks.skuTier", "'Free' has no uptime SLA: prod needs 'Standard' or 'Premium'"))
    if not aks.protect:
        problems.append(("aks.protect", "must be true in prod, so no deploy can delete the cluster"))
    if len(aks.availability_zones) < 2:
        problems.append(("aks.availabilityZones", "prod needs at least 2 zones to survive a zone outage"))
    return problems


def _prod_monitors_notify_someone(settings: PlatformSettings) -> list[tuple[str, str]]:
    if settings.datadog.enabled and not settings.datadog.notify:
        return [("datadog.notify", "is empty: prod monitors must notify someone (e.g. '@pagerduty-oncall')")]
    return []


ENVIRONMENT_RULES = {
    "prod": (_prod_cluster_is_highly_available, _prod_monitors_notify_someone),
}
