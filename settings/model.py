"""The typed configuration model: every input of the platform, documented and
validated. Defaults live here and only here; `Pulumi.yaml` holds the project's
base values and each `Pulumi.<stack>.yaml` holds only what differs."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from settings.types import (
    Cidr,
    ClockTime,
    CronSchedule,
    IpAddress,
    K8sName,
    MinorVersion,
    ObjectId,
    PinnedImage,
    Port,
    Quantity,
    TimeZone,
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


class Model(BaseModel):
    """Base for every config object: unknown keys are errors, keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
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


class LocalCluster(Model):
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


class Resources(Model):
    """Requests and a memory limit. No CPU limit: throttling hurts latency more
    than it protects neighbours when requests are set honestly."""

    cpu: Quantity = Field("100m", description="CPU request.")
    memory: Quantity = Field("128Mi", description="Memory request.")
    memory_limit: Quantity = Field("256Mi", description="Memory limit; the container is OOM-killed above it.")


class NginxResources(Resources):
    cpu: Quantity = Field("50m", description="CPU request.")
    memory: Quantity = Field("64Mi", description="Memory request.")
    memory_limit: Quantity = Field("128Mi", description="Memory limit; the container is OOM-killed above it.")


class AppResources(Resources):
    cpu: Quantity = Field("250m", description="CPU request.")
    memory: Quantity = Field("256Mi", description="Memory request.")
    memory_limit: Quantity = Field("512Mi", description="Memory limit; the container is OOM-killed above it.")


class Probe(Model):
    path: str = Field("/healthz", pattern=r"^/", description="HTTP path that answers 200 when healthy.")


class NginxContainer(Model):
    """The web server in front of the app server, in the same Pod."""

    image: PinnedImage = Field("nginxinc/nginx-unprivileged:1.29.3-alpine", description="Unprivileged nginx image.")
    port: Port = Field(8080, description="Port nginx listens on (unprivileged).")
    resources: NginxResources = Field(default_factory=NginxResources)
    client_max_body_size: str = Field("10m", pattern=r"^[0-9]+[kKmM]?$", description="Largest request body.")


class AppContainer(Model):
    """The application server, reached by nginx over localhost."""

    image: PinnedImage = Field(description="App image, pinned by tag or digest.")
    port: Port = Field(3000, description="Port the app server listens on.")
    command: list[str] = Field(default_factory=list, description="Overrides the image entrypoint when set.")
    args: list[str] = Field(default_factory=list, description="Arguments to the command.")
    env: dict[str, str] = Field(default_factory=dict, description="Plain environment variables.")
    secret_env: list[str] = Field(
        default_factory=list,
        description="Names of secret values (serviceSecrets.<service>.<NAME>) exposed as environment variables.",
    )
    probe: Probe = Field(default_factory=Probe)
    resources: AppResources = Field(default_factory=AppResources)

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str] | list[str]) -> dict[str, str] | list[str]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value


class Autoscaling(Model):
    min_replicas: int = Field(2, ge=1, le=100, description="Replicas at rest; 2+ keeps the app up through a node loss.")
    max_replicas: int = Field(4, ge=1, le=100, description="Upper bound the HPA may scale to.")
    cpu_target_percent: int = Field(70, ge=10, le=95, description="Average CPU utilisation the HPA aims for.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


class WebApp(Model):
    """The service's admin web application: nginx + app server in one Pod."""

    nginx: NginxContainer = Field(default_factory=NginxContainer)
    app: AppContainer
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    max_surge: str = Field(
        "25%", pattern=r"^([1-9][0-9]?%|100%|[1-9][0-9]*)$", description="Extra pods during a rollout."
    )


class BatchJob(Model):
    """One CronJob of a service."""

    name: K8sName = Field(description="Job name, unique within the service.")
    schedule: CronSchedule = Field(description="5-field cron schedule, in timeZone.")
    time_zone: TimeZone = Field("Asia/Tokyo", description="IANA time zone the schedule is read in.")
    command: list[str] = Field(min_length=1, description="Command to run.")
    image: PinnedImage | None = Field(None, description="Defaults to the service's app image.")
    env: dict[str, str] = Field(default_factory=dict)
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = Field(
        "Forbid", description="Forbid: a slow run is never overlapped by the next one."
    )
    starting_deadline_seconds: int = Field(300, ge=10, description="Skip a run that could not start within this.")
    successful_jobs_history_limit: int = Field(3, ge=0, le=100)
    failed_jobs_history_limit: int = Field(3, ge=0, le=100)
    backoff_limit: int = Field(2, ge=0, le=20, description="Retries before the Job counts as failed.")
    active_deadline_seconds: int = Field(3600, ge=10, description="Kill a run that takes longer than this.")
    restart_policy: Literal["Never", "OnFailure"] = Field("Never")
    success_window_hours: int | None = Field(
        None, ge=1, le=24 * 31, description="Alert when no run succeeded for this long; derived from the schedule."
    )
    resources: AppResources = Field(default_factory=AppResources)

    @property
    def expected_success_window_hours(self) -> int:
        """An hourly job is late after 2 h, anything else after a day and an hour."""
        if self.success_window_hours is not None:
            return self.success_window_hours
        hour_field = self.schedule.split()[1]
        return 2 if hour_field == "*" or hour_field.startswith("*/") else 25


class Quota(Model):
    """Namespace ceiling, so one service cannot starve the others."""

    requests_cpu: Quantity = Field("4")
    requests_memory: Quantity = Field("8Gi")
    limits_memory: Quantity = Field("16Gi")
    pods: int = Field(50, ge=1, le=1000)


class Service(Model):
    """One service: a namespace, its admin web app and its batch jobs."""

    team: K8sName = Field(description="Owning team; used in labels and monitor tags.")
    web: WebApp
    jobs: list[BatchJob] = Field(default_factory=list)
    quota: Quota = Field(default_factory=Quota)

    @field_validator("jobs")
    @classmethod
    def _unique_job_names(cls, jobs: list[BatchJob]) -> list[BatchJob]:
        seen: set[str] = set()
        for job in jobs:
            if job.name in seen:
                raise ValueError(f"duplicate job name {job.name!r}: each job of a service needs its own name")
            seen.add(job.name)
        return jobs


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


class Datadog(Model):
    """The Datadog agent DaemonSet and the monitors that watch the platform."""

    enabled: bool = Field(True, description="Deploy the agent and the monitors.")
    site: str = Field("datadoghq.com", description=f"Datadog site, one of {', '.join(DATADOG_SITES)}.")
    agent_image: PinnedImage = Field("gcr.io/datadoghq/agent:7.81.1", description="Pinned agent image.")
    logs_enabled: bool = Field(True, description="Collect container logs.")
    apm_enabled: bool = Field(False, description="Accept traces on the node's port 8126.")
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


class PlatformSettings(Model):
    """Everything a stack can configure, under the `platform:` namespace."""

    target: Literal["aks", "local"] = Field("aks", description="'aks' builds a cluster; 'local' uses an existing one.")
    aks: AksSettings | None = Field(None, description="Required when target is 'aks'.")
    local: LocalCluster = Field(default_factory=LocalCluster)
    services: dict[K8sName, Service] = Field(default_factory=dict, description="Services by name.")
    datadog: Datadog = Field(default_factory=Datadog)

    @model_validator(mode="after")
    def _target_has_settings(self) -> PlatformSettings:
        if self.target == "aks" and self.aks is None:
            raise ValueError("target 'aks' needs the 'aks' settings")
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
