"""The typed configuration model: every input of the platform, documented and
validated. Defaults live here and only here; `Pulumi.yaml` holds the project's
base values and each `Pulumi.<stack>.yaml` holds only what differs."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.kinds.jobs.spec import BatchJobSpec, jobs_peak_footprint, unique_job_names
from components.kinds.web.ingress_spec import IngressTls
from components.kinds.web.spec import WebSpec
from components.kinds.worker.spec import WorkerSpec
from settings.base import Model, RuleViolationError
from settings.egress import EgressRule
from settings.types import (
    Cidr,
    ClockTime,
    EnvVarName,
    ImageName,
    ImageTag,
    IpAddress,
    K8sName,
    MinorVersion,
    ObjectId,
    PinnedImage,
    Quantity,
    minor_of,
    quantity_value,
)
from settings.workload import Footprint, format_cpu, format_memory

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


class UserNodePool(NodePool):
    """A pool for the services' workloads, managed as its own AgentPool
    resource so adding, resizing or replacing one is an ordinary change."""

    # Linux pool names: a lower-case letter, then up to 11 lower-case letters
    # or digits (the AKS agent pool name rule; not re-checked upstream here).
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,11}$", description="Pool name, e.g. 'user' (at most 12 characters).")


def unique_pool_names(pools: list[UserNodePool]) -> list[UserNodePool]:
    names = [pool.name for pool in pools]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"duplicate pool name {name!r}")
    if "system" in names:
        raise ValueError("'system' is the inline system pool's name: choose another")
    return pools


class ContainerRegistrySettings(Model):
    """The Azure Container Registry the kubelets pull private images from:
    created by the program, or an existing one by resource ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[a-zA-Z0-9]{5,50}$",
        description="Attach this existing registry instead of creating one.",
    )
    name: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9]{5,50}$",
        description="Name of the created registry; defaults to 'acrplatform<stack>'.",
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field("Standard", description="SKU of the created registry.")

    def registry_name(self, stack: str) -> str:
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or "acrplatform" + re.sub(r"[^a-z0-9]", "", stack.lower())

    def login_server(self, stack: str) -> str:
        """'<name>.azurecr.io': the registry host images must name (public cloud, no domain-label scope)."""
        return f"{self.registry_name(stack).lower()}.azurecr.io"


class KeyVaultSettings(Model):
    """The Key Vault the application routing add-on reads TLS certificates
    from: one per stack created by the program, or an existing one by ID."""

    resource_id: str | None = Field(
        None,
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[a-zA-Z0-9-]{3,24}$",
        description="Use this existing vault instead of creating one.",
    )
    name: str | None = Field(
        None,
        pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$",
        description="Name of a created vault; default 'kv-platform-<stack>'.",
    )

    def vault_name(self, stack: str) -> str:
        if self.resource_id is not None:
            return self.resource_id.rsplit("/", 1)[1]
        return self.name or f"kv-platform-{stack}"[:24]


class AksNetwork(Model):
    """Azure CNI overlay networking: nodes get VNet IPs, pods an overlay range."""

    vnet_cidr: Cidr = Field("10.10.0.0/16", description="Address space of the cluster VNet.")
    node_subnet_cidr: Cidr = Field("10.10.0.0/22", description="Subnet for the nodes; must sit inside vnetCidr.")
    pod_cidr: Cidr = Field("192.168.0.0/16", description="Overlay range for pod IPs; must not overlap the VNet.")
    service_cidr: Cidr = Field("172.16.0.0/16", description="Range for ClusterIP Services.")
    dns_service_ip: IpAddress = Field("172.16.0.10", description="kube-dns address; must sit inside serviceCidr.")
    # Cilium by default: Azure NPM ('azure') is retired on Linux from
    # 2028-09-30 (AKSDOCS includes/azure-network-policy-manager-linux-retirement.md,
    # MicrosoftDocs/azure-aks-docs @ fb060abe), and changing either field later
    # replaces the cluster (pulumi-azure-native provider/pkg/gen/replacement.go).
    network_dataplane: Literal["azure", "cilium"] = Field(
        "cilium", description="Dataplane of Azure CNI: 'cilium' (eBPF) or 'azure'."
    )
    network_policy: Literal["azure", "calico", "cilium"] = Field(
        "cilium", description="Engine that enforces NetworkPolicy objects; 'cilium' needs networkDataplane 'cilium'."
    )

    @model_validator(mode="after")
    def _policy_fits_dataplane(self) -> AksNetwork:
        # AKS's rule: NetworkPolicy 'cilium' "requires networkDataplane to be
        # 'cilium'" (azure-rest-api-specs containerservice aks/stable/2025-09-01
        # managedClusters.json, ContainerServiceNetworkProfile; the same text in
        # pulumi_azure_native 3.29.0 containerservice/_enums.py NetworkPolicy).
        # The reverse (NPM or Calico on the Cilium dataplane) is refused as our
        # rule: Cilium enforces policy itself, and moving a cluster to Cilium
        # uninstalls NPM or Calico (AKSDOCS articles/aks/update-azure-cni.md,
        # MicrosoftDocs/azure-aks-docs @ fb060abe). No AKS error text for that
        # pair was found upstream.
        if (self.network_policy == "cilium") != (self.network_dataplane == "cilium"):
            raise ValueError(
                f"networkPolicy '{self.network_policy}' does not work with networkDataplane "
                f"'{self.network_dataplane}': use both 'cilium' (the default), "
                "or dataplane 'azure' with 'azure' or 'calico'"
            )
        return self

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
    user_pools: list[UserNodePool] = Field(
        default_factory=lambda: [UserNodePool(name="user")],
        description="Pools for the services' workloads, by name (a stack's list merges into the base by name).",
    )
    registry: ContainerRegistrySettings | None = Field(
        None, description="Container registry the nodes pull from with AcrPull; none means public images only."
    )
    key_vault: KeyVaultSettings | None = Field(
        None, description="Key Vault of the services' TLS certificates (`web.ingress.tls.certificateName`)."
    )
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

    _unique_pool_names = field_validator("user_pools")(unique_pool_names)

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


def split_image(image: str) -> tuple[str, str]:
    """'ghcr.io/org/app:1.2' -> ('ghcr.io/org/app', ':1.2'); 'app@sha256:...' -> ('app', '@sha256:...').
    The name ends at the first '@', or else at a ':' after the last '/' (a registry port is not a tag)."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    head, _, last = image.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        return f"{head}/{last}" if head else last, ":" + tag
    return image, ""


class ImageOverride(Model):
    """One entry of `local.images`, as in kustomize's `images:` list (kubernetes-sigs/kustomize
    api/types/image.go, `Image`: name, newName, newTag). A container image whose name, without
    tag or digest, equals `name` exactly (api/internal/image/image.go `IsImageMatched`) runs as
    `newName` and/or `newTag` instead."""

    name: ImageName = Field(
        description="The image name the services use, without tag, e.g. 'ghcr.io/example-org/admin-app'."
    )
    new_name: ImageName | None = Field(None, description="The name to run instead, e.g. 'docker.io/local/admin-app'.")
    new_tag: ImageTag | None = Field(
        None, description="The tag to run instead, e.g. 'dev'; replaces a digest too. Unset keeps the tag or digest."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ImageOverride:
        if self.new_name is None and self.new_tag is None:
            raise ValueError(f"image {self.name!r} needs newName, newTag or both")
        return self

    def apply(self, image: str) -> str | None:
        """The image to run instead of `image`, or None when this entry does not name it."""
        name, suffix = split_image(image)
        if name != self.name:
            return None
        return (self.new_name or name) + (f":{self.new_tag}" if self.new_tag else suffix)


def unique_image_names(images: list[ImageOverride]) -> list[ImageOverride]:
    names = [image.name for image in images]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"duplicate image name {name!r}: one entry per image")
    return images


class LocalSettings(Model):
    """The `dev` stack's cluster on the engineer's own machine."""

    kubeconfig: str | None = Field(
        None,
        description=(
            "Kubeconfig file. Unset means the one `make cluster-up` writes, in $LOCAL_CLUSTER_DIR "
            "(default ~/.cache/aks-platform-local): the same setting the cluster and the dev runner use."
        ),
    )
    context: str = Field(
        "aks-platform-local", min_length=1, description="Context to use, e.g. 'kind-kind' or 'docker-desktop'."
    )
    kubernetes_version: MinorVersion = Field("1.34", description="MAJOR.MINOR of the local API server.")
    ingress_class_name: K8sName = Field(
        "nginx", description="IngressClass of your local ingress controller (kind and minikube: 'nginx')."
    )
    ingress_controller_namespace: K8sName = Field(
        "ingress-nginx", description="Namespace of that controller; only it may reach the web port."
    )
    images: list[ImageOverride] = Field(
        default_factory=list,
        description=(
            "Run other images than the services name, like kustomize's `images:` (name, newName, newTag); "
            "e.g. the stand-ins devenv/images.py builds for the real node. Every container of every service "
            "pod (web, worker, jobs) is mapped; each entry must match an image of this stack."
        ),
    )
    real_node: bool = Field(
        False,
        description=(
            "Run the services' pods on the local cluster's real kubelet node (root and Linux; `make dev` "
            "starts it, builds and imports its images). Adds the node's toleration and nodeSelector and "
            "imagePullPolicy Never; every service image needs an `images` entry, as the node pulls nothing."
        ),
    )

    _unique_image_names = field_validator("images")(unique_image_names)

    def image(self, image: str) -> str:
        """`image` as `images` maps it; unchanged when no entry names it."""
        return next((mapped for entry in self.images if (mapped := entry.apply(image)) is not None), image)


# ---------------------------------------------------------------------- services


class Quota(Model):
    """Namespace ceiling, so one service cannot starve the others. It must hold
    the service's peak (checked before deploy, see ServiceSpec)."""

    requests_cpu: Quantity = Field("4", description="Sum of CPU requests of the namespace's pods.")
    requests_memory: Quantity = Field("8Gi", description="Sum of memory requests.")
    limits_memory: Quantity = Field("16Gi", description="Sum of memory limits.")
    pods: int = Field(50, ge=1, le=1000, description="Pods that are not finished, terminating ones included.")


class ServiceSpec(Model):
    """One service: a namespace and the workloads it runs, one field per kind
    (`web`, `worker`, `jobs`; see components/kinds/). Any mix of kinds works,
    but a service must run at least one."""

    team: K8sName = Field(description="Owning team; used in labels and monitor tags.")
    enabled: bool = Field(
        True, description="false leaves the service out of this stack (it is still validated, then dropped)."
    )
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
    egress: list[EgressRule] = Field(
        default_factory=list,
        description="Where the service's pods may connect besides DNS and the Datadog agent; all else is denied.",
    )

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

    @model_validator(mode="after")
    def _quota_holds_the_peak(self) -> ServiceSpec:
        """A quota that cannot hold the peak stalls a rollout (maxUnavailable 0 waits
        for surge pods the quota rejects) exactly when traffic is highest."""
        peak, quota = self.peak_footprint(), self.quota
        checks = (  # key, the peak, the quota's value, the peak as a person reads it
            ("pods", peak.pods, str(quota.pods), str(peak.pods)),
            ("requestsCpu", peak.cpu, quota.requests_cpu, format_cpu(peak.cpu)),
            ("requestsMemory", peak.memory, quota.requests_memory, format_memory(peak.memory)),
            ("limitsMemory", peak.memory_limit, quota.limits_memory, format_memory(peak.memory_limit)),
        )
        problems = [
            (
                f"quota.{key}",
                f"{limit} is below the peak of {need} ({peak.how}): raise it, or lower maxReplicas or requests",
            )
            for key, value, limit, need in checks
            if value > quantity_value(limit)
        ]
        if problems:
            raise RuleViolationError(problems)
        return self

    def peak_footprint(self) -> Footprint:
        """The worst moment: every long-running kind at maxReplicas plus its rollout
        surge, while every CronJob runs (see BatchJobSpec.runs_at_once)."""
        peak = jobs_peak_footprint(self.jobs)
        for kind in (self.web, self.worker):
            if kind is not None:
                peak = kind.peak_footprint() + peak
        return peak

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


def pinned_datadog_images() -> dict[str, str]:
    """The Datadog images the settings pin by default, by config key: the names the real
    node's stand-ins carry (devenv/images.py), so they follow the pins."""
    return {
        "datadog.agentImage": DatadogSettings.model_fields["agent_image"].default,
        "datadog.clusterAgent.image": ClusterAgentSettings.model_fields["image"].default,
    }


def _real_node_datadog_problems(datadog: DatadogSettings) -> list[tuple[str, str]]:
    """The real node holds Datadog stand-ins under the pinned default names only
    (devenv/images.py), and they send nothing to Datadog, so monitors would watch silence."""
    used = {"datadog.agentImage": datadog.agent_image, "datadog.clusterAgent.image": datadog.cluster_agent.image}
    problems = [
        (key, f"is {used[key]!r}, but the real node has a stand-in only for the default {pinned!r}: "
              "remove the override from the dev stack file")
        for key, pinned in pinned_datadog_images().items()
        if used[key] != pinned
    ]  # fmt: skip
    if datadog.monitors_enabled:
        problems.append(("datadog.monitorsEnabled", "must be false with local.realNode: the real node's Datadog "
                         "agents are stand-ins that report nothing, so every monitor would alert"))  # fmt: skip
    return problems


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
    services: dict[K8sName, ServiceSpec] = Field(
        default_factory=dict, description="Services by name. Those with `enabled: false` are dropped after validation."
    )
    datadog: DatadogSettings = Field(default_factory=DatadogSettings)

    @field_validator("services")
    @classmethod
    def _drop_disabled(cls, services: dict[str, ServiceSpec]) -> dict[str, ServiceSpec]:
        # Dropped here, in one place, so the program, the monitors, the secrets
        # checks and the dev runner all see only what this stack deploys.
        return {name: spec for name, spec in services.items() if spec.enabled}

    @model_validator(mode="after")
    def _target_has_settings(self) -> PlatformSettings:
        if self.target == "aks" and self.aks is None:
            raise ValueError("target 'aks' needs the 'aks' settings")
        return self

    @model_validator(mode="after")
    def _local_images_fit(self) -> PlatformSettings:
        """`local.images` and `local.realNode` change what runs on a local cluster only; an
        entry that names no image, or a real node asked to run an image it cannot have, is
        a mistake to show now rather than a pod that never starts."""
        local, images = self.local, service_images(self.services)
        if self.target != "local":
            keys = [key for key, used in (("local.images", local.images), ("local.realNode", local.real_node)) if used]
            problems = [
                (key, f"applies to target 'local' only; this stack's target is '{self.target}'") for key in keys
            ]
        else:
            problems = _local_image_problems(local, images)
            if local.real_node and self.datadog.enabled:
                problems += _real_node_datadog_problems(self.datadog)
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _ingress_controller_is_trusted(self) -> PlatformSettings:
        # The app routing add-on's controller pods get their IPs from the pod
        # overlay; nginx must trust that range, or every client IP is the controller's.
        if self.target != "aks" or self.aks is None:
            return self
        pods = ipaddress.ip_network(self.aks.network.pod_cidr)
        problems = [
            (
                f"services.{name}.web.nginx.trustedProxyCidrs",
                f"{cidrs} does not cover aks.network.podCidr {pods}, where the ingress controller's pods run",
            )
            for name, service in self.services.items()
            if service.web is not None
            for cidrs in [service.web.nginx.trusted_proxy_cidrs]
            if not any(pods.subnet_of(ipaddress.ip_network(cidr)) for cidr in cidrs)  # type: ignore[arg-type]
        ]
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _environment_rules(self) -> PlatformSettings:
        """Rules that hold for one environment, not for every stack (see README, "Where a rule goes")."""
        problems = [problem for rule in ENVIRONMENT_RULES.get(self.environment, ()) for problem in rule(self)]
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _images_come_from_the_attached_registry(self, info: ValidationInfo) -> PlatformSettings:
        # Only the attached registry grants the kubelets AcrPull; any other
        # ACR would fail to pull at deploy time, so it fails here instead.
        if self.target != "aks" or self.aks is None:
            return self
        registry = self.aks.registry
        attached = registry.login_server((info.context or {}).get("stack", "")) if registry else None
        problems = []
        for path, image in service_images(self.services):
            host = image.split("/", 1)[0] if "/" in image else ""
            if not host.endswith(".azurecr.io") or host == attached:
                continue
            reason = f"is not the attached registry {attached}" if attached else "needs `aks.registry` to be attached"
            problems.append((path, f"{host} {reason}: the nodes could not pull it"))
        if problems:
            raise RuleViolationError(problems)
        return self

    @model_validator(mode="after")
    def _certificates_have_a_vault(self) -> PlatformSettings:
        # A local cluster has no Key Vault integration: its Ingress serves no TLS
        # (README, "A hostname and a certificate for a web app").
        if self.target == "local":
            return self
        problems = []
        for path, tls in service_tls(self.services):
            if tls.certificate_name is not None and (self.aks is None or self.aks.key_vault is None):
                problems.append((f"{path}.certificateName", "needs `aks.keyVault`, the vault that holds it"))
        if problems:
            raise RuleViolationError(problems)
        return self

    @property
    def uses_key_vault_certificates(self) -> bool:
        """Whether any Ingress takes its certificate from Key Vault, so the add-on needs the CSI provider."""
        return bool(service_tls(self.services))

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


def service_images(services: dict[str, ServiceSpec]) -> list[tuple[str, str]]:
    """(config key, image) of every container image the services run."""
    found = []
    for name, spec in services.items():
        if spec.web is not None:
            found += [(f"services.{name}.web.app.image", spec.web.app.image),
                      (f"services.{name}.web.nginx.image", spec.web.nginx.image)]  # fmt: skip
        if spec.worker is not None:
            found.append((f"services.{name}.worker.image", spec.worker.image))
        found += [(f"services.{name}.jobs[{i}].image", job.image) for i, job in enumerate(spec.jobs) if job.image]
    return found


def _local_image_problems(local: LocalSettings, images: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = sorted({split_image(image)[0] for _, image in images})
    problems = [
        (f"local.images[{i}].name", f"{entry.name!r} matches no image of this stack's services ({', '.join(names)})")
        for i, entry in enumerate(local.images)
        if entry.name not in names
    ]
    if local.real_node:
        default_context = LocalSettings.model_fields["context"].default
        if local.context != default_context:
            problems.append(("local.realNode", f"the real node is part of the project's own cluster (context "
                             f"'{default_context}'), not of '{local.context}'"))  # fmt: skip
        for key, image in images:
            if local.image(image) == image:
                problems.append(("local.images", f"realNode pulls nothing, and {image} ({key}) has no entry: "
                                 "map it to an image built for the node (devenv/images.py)"))  # fmt: skip
    return problems


def service_tls(services: dict[str, ServiceSpec]) -> list[tuple[str, IngressTls]]:
    """(config key, tls) of every web Ingress that serves TLS."""
    return [
        (f"services.{name}.web.ingress.tls", spec.web.ingress.tls)
        for name, spec in services.items()
        if spec.web is not None and spec.web.ingress is not None and spec.web.ingress.tls is not None
    ]


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


def _prod_ingress_is_fenced_and_encrypted(settings: PlatformSettings) -> list[tuple[str, str]]:
    problems = []
    for name, spec in settings.services.items():
        ingress = spec.web.ingress if spec.web is not None else None
        if ingress is None:
            continue
        key = f"services.{name}.web.ingress"
        if not ingress.allowed_source_ranges:
            problems.append((f"{key}.allowedSourceRanges", "is empty: prod admits only listed client ranges"))
        if ingress.tls is None:
            problems.append((f"{key}.tls", "is required in prod: serve the app over HTTPS"))
    return problems


ENVIRONMENT_RULES = {
    "prod": (_prod_cluster_is_highly_available, _prod_monitors_notify_someone, _prod_ingress_is_fenced_and_encrypted),
}
