"""DatadogAgent: exactly one Datadog agent per node, as a DaemonSet, beside
the Datadog Cluster Agent (its own component, created here as a child).

Matched to the DataDog/helm-charts `charts/datadog` chart 3.240.0 (agent
7.81.1) in its default topology: node agents plus a Cluster Agent, which runs
kube-state-metrics core (the chart supports that check nowhere else). The node
agent's RBAC is the chart's narrow Cluster-Agent-branch ClusterRole
(`templates/rbac.yaml`); the OpenShift- and EKS-only rules are left out.

Kubelet TLS on AKS: current AKS node images enable kubelet serving
certificate rotation, so each kubelet's serving certificate is signed by the
cluster CA and carries the node IP. The agent therefore reaches the kubelet at
`status.hostIP` and verifies it with the CA of its own service account token:
`DD_KUBELET_TLS_VERIFY=true`, no host CA mount. (The older node-image case,
a self-signed kubelet certificate at /etc/kubernetes/certs/kubeletserver.crt,
is not supported on purpose: every supported AKS version has rotation.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.datadog.cluster_agent import CMD_PORT as CLUSTER_AGENT_CMD_PORT
from components.datadog.cluster_agent import NAME as CLUSTER_AGENT
from components.datadog.cluster_agent import SELECTOR as CLUSTER_AGENT_SELECTOR
from components.datadog.cluster_agent import TOKEN_KEY, TOKEN_SECRET, DatadogClusterAgent, DatadogClusterAgentArgs
from components.datadog.network_policies import build_network_policies
from components.datadog.rbac import bind_cluster_role
from components.kubernetes.hardening import checkov_annotations, kube_score_annotations
from components.kubernetes.runtime import PodRuntime
from components.kubernetes.storage import with_ephemeral_storage
from components.moves import moved_from
from settings.datadog.agents import DatadogSettings

NAMESPACE = "datadog"
NAME = "datadog-agent"
AGENT_SELECTOR = {"app.kubernetes.io/name": NAME}
"""Selects the agent pods: the DaemonSet's selector and service namespaces' egress peer."""
HEALTH_PORT = 5555
DOGSTATSD_PORT = 8125
TRACE_PORT = 8126
# The node-local Service apps send DogStatsD and traces to: the chart's
# `agent-services.yaml` local Service (internalTrafficPolicy: Local), so app
# pods need neither hostPath nor hostPort (their namespaces are PSA restricted).
LOCAL_SERVICE = NAME
LOCAL_SERVICE_HOST = f"{LOCAL_SERVICE}.{NAMESPACE}.svc.cluster.local"
CONFIG_DIR = "/etc/datadog-agent"
# containerd's default socket (containerd/containerd defaults/defaults_unix.go
# DefaultAddress), mounted the chart's way for `datadog.criSocketPath`:
# its directory under /host, DD_CRI_SOCKET_PATH=/host/<socket>
# (charts/datadog templates/_containers-common-env.yaml, _container-cri-volumemounts.yaml @3.240.0).
CRI_SOCKET = "/run/containerd/containerd.sock"

# (volume name, host path, mount path, read only) — the chart's Linux mounts.
HOST_PATHS = [
    ("procdir", "/proc", "/host/proc", True),
    ("cgroups", "/sys/fs/cgroup", "/host/sys/fs/cgroup", True),
    ("runtimesocketdir", "/run/containerd", "/host/run/containerd", True),
]
LOG_HOST_PATHS = [
    # Where the agent remembers how far it has read each log: must survive restarts.
    ("pointerdir", "/var/lib/datadog-agent/logs", "/opt/datadog-agent/run", False),
    ("logpodpath", "/var/log/pods", "/var/log/pods", True),
    ("logscontainerspath", "/var/log/containers", "/var/log/containers", True),
]
# Writable paths on a read-only root filesystem, the chart's emptyDirs, each with a size limit
# (the chart sets none: `git grep sizeLimit` at DataDog/helm-charts datadog-3.240.0 finds nothing).
# Beyond its limit the kubelet evicts the pod, so each has several times what it should hold;
# an eviction shows up as `agent-missing`.
WRITABLE = {
    # The image's /etc/datadog-agent, copied in by init-volume: conf.d with every bundled check's
    # example config, plus the auth token and IPC certificate the agent writes at start. Not
    # measured here (no image is reachable offline): 128Mi is headroom on a few MB.
    "config": (CONFIG_DIR, "128Mi"),
    # agent.log rotates at 10 MB with one old file (log_file_max_size 10Mb, log_file_max_rolls 1:
    # DataDog/datadog-agent pkg/config/setup common_settings.go lines 1170-1171 @v0.81.1); the
    # trace agent's log the same: 40 MB at most.
    "logdatadog": ("/var/log/datadog", "64Mi"),
    # Scratch space; the largest user is `agent flare`'s archive.
    "tmpdir": ("/tmp", "128Mi"),
    # The DogStatsD and APM Unix sockets, on by default on Linux (dogstatsd_socket and
    # apm_config.receiver_socket under /var/run/datadog: config_nix.go lines 57-60,
    # common_settings.go line 1655, apm.go line 136 @v0.81.1). The chart always mounts this
    # directory writable (charts/datadog templates/_daemonset-volumes-linux.yaml `dsdsocket`,
    # _container-agent.yaml and _container-trace-agent.yaml @3.240.0). Sockets take no space.
    "dsdsocket": ("/var/run/datadog", "8Mi"),
}

# Why the agent may break the rules every service workload follows.
CHECKOV_SKIPS = {
    "CKV_K8S_11": "No CPU limit: a throttled agent drops metrics; the memory limit bounds it",
    "CKV_K8S_43": "The agent image is pinned by release tag in config",
    "CKV_K8S_23": "Reads root-owned host files (/proc, pod logs) so it must run as root",
    "CKV_K8S_40": "Runs as root (see CKV_K8S_23)",
    "CKV_K8S_37": "Root reads other containers' /proc and cgroup files through the runtime's default capabilities",
    "CKV_K8S_38": "The agent calls the API server and kubelet with its service account token",
    "CKV_K8S_35": "DD_API_KEY and the Cluster Agent token come from Secrets built from Pulumi secret config",
}
# The same choices as kube-score names them (check ids: zegl/kube-score README_CHECKS.md @v1.20.0).
KUBE_SCORE_SKIPS = {
    "container-security-context-user-group-id": "Runs as root, UID and GID 0, to read root-owned host files "
    "(/proc, pod logs): see CKV_K8S_23",
}


@dataclass(frozen=True)
class DatadogAgentArgs:
    settings: DatadogSettings
    cluster_name: pulumi.Input[str]
    environment: str
    api_key: pulumi.Output[str]
    cluster_agent_token: pulumi.Output[str]
    pods: PodRuntime = field(default_factory=PodRuntime)
    """The cluster's images and placement (a local cluster's real node); the default changes nothing."""


class DatadogAgent(pulumi.ComponentResource):
    """Namespace, API-key Secret, RBAC, PriorityClass, the Cluster Agent, the
    node-local Service and the agent DaemonSet."""

    daemonset_name: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: DatadogAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "platform:datadog:DatadogAgent", name, None, moved_from("platform:observability:DatadogAgent", opts)
        )
        self._args = args
        namespace = self._build_namespace()
        child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        secret = self._build_api_key_secret(child)
        cluster_agent = DatadogClusterAgent(
            f"{name}-cluster-agent",
            DatadogClusterAgentArgs(
                settings=args.settings,
                cluster_name=args.cluster_name,
                environment=args.environment,
                token=args.cluster_agent_token,
                api_key_secret=secret,
                labels=self._labels(),
                pods=args.pods,
            ),
            opts=child,
        )
        account = self._build_rbac(child)
        priority = self._build_priority_class()
        self._build_local_service(child)
        self._build_network_policies(child)
        # After the Cluster Agent's Service: the agent finds it through the
        # service-link variables Kubernetes injects only for Services that
        # already exist (DataDog/datadog-agent pkg/util/clusteragent/clusteragent.go).
        daemonset = self._build_daemonset(child, [secret, account, priority, cluster_agent.service])
        self.namespace = namespace.metadata.name
        self.daemonset_name = daemonset.metadata.name
        self.register_outputs({"namespace": self.namespace, "daemonSetName": self.daemonset_name})

    def _labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": NAME,
            "app.kubernetes.io/component": "agent",
            "app.kubernetes.io/part-of": "datadog",
            "app.kubernetes.io/managed-by": "pulumi",
        }

    def _metadata(self, name: str, **extra: object) -> dict:
        return {"name": name, "namespace": NAMESPACE, "labels": self._labels(), **extra}

    def _build_namespace(self) -> k8s.core.v1.Namespace:
        # `privileged`, not `restricted` or even `baseline`: the agent mounts
        # host paths (/proc, cgroups, pod logs, the containerd socket) to see
        # every container on its node, and Pod Security forbids hostPath volumes
        # at every level below privileged. Only this namespace is privileged.
        return k8s.core.v1.Namespace(
            "datadog-ns",
            metadata={
                "name": NAMESPACE,
                "labels": {
                    **self._labels(),
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/warn": "baseline",
                    "pod-security.kubernetes.io/audit": "baseline",
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_api_key_secret(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            "datadog-api-key",
            metadata=self._metadata("datadog-api-key"),
            type="Opaque",
            string_data={"api-key": pulumi.Output.secret(self._args.api_key)},
            opts=child,
        )

    def _build_rbac(self, child: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccount:
        account = k8s.core.v1.ServiceAccount("datadog-sa", metadata=self._metadata(NAME), opts=child)
        bind_cluster_role(
            NAME, agent_rules(), labels=self._labels(), account=account, account_name=NAME, namespace=NAMESPACE,
            parent=self,
        )  # fmt: skip
        return account

    def _build_priority_class(self) -> k8s.scheduling.v1.PriorityClass:
        # Above every workload, below system-cluster-critical: on a full node
        # the scheduler evicts a workload pod rather than leave it unmonitored.
        return k8s.scheduling.v1.PriorityClass(
            "datadog-priority",
            metadata={"name": NAME, "labels": self._labels()},
            value=1_000_000_000,
            preemption_policy="PreemptLowerPriority",
            global_default=False,
            description="Datadog agent: one per node, scheduled even on full nodes.",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_local_service(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        # internalTrafficPolicy: Local keeps each pod's metrics and traces on
        # its own node's agent, as hostPort would, without host access.
        ports = [{"name": "dogstatsdport", "port": DOGSTATSD_PORT, "target_port": "dogstatsdport", "protocol": "UDP"}]
        if self._args.settings.apm_enabled:
            ports.append({"name": "traceport", "port": TRACE_PORT, "target_port": "traceport", "protocol": "TCP"})
        return k8s.core.v1.Service(
            "datadog-local",
            metadata=self._metadata(LOCAL_SERVICE),
            spec={
                "type": "ClusterIP",
                "selector": dict(AGENT_SELECTOR),
                "ports": ports,
                "internal_traffic_policy": "Local",
            },
            opts=child,
        )

    def _build_network_policies(self, child: pulumi.ResourceOptions) -> None:
        build_network_policies(
            NAMESPACE,
            self._labels(),
            agent_pods=AGENT_SELECTOR,
            cluster_agent_pods=CLUSTER_AGENT_SELECTOR,
            ports={"dogstatsd": DOGSTATSD_PORT, "trace": TRACE_PORT, "cmd": CLUSTER_AGENT_CMD_PORT},
            opts=child,
        )

    def _common_env(self) -> list[dict]:
        """What every agent process of the pod reads (the chart's containers-common-env)."""
        s = self._args.settings
        return [
            {"name": "DD_API_KEY", "value_from": {"secret_key_ref": {"name": "datadog-api-key", "key": "api-key"}}},
            {"name": "DD_SITE", "value": s.site},
            {"name": "DD_CLUSTER_NAME", "value": self._args.cluster_name},
            # `env` reaches Datadog as the agent's own setting; no DD_TAGS:
            # host tags land on every metric of the node, so a reserved tag
            # there (service, version, team) would mislabel the apps' metrics.
            {"name": "DD_ENV", "value": self._args.environment},
            {"name": "KUBERNETES", "value": "yes"},
            {"name": "DD_KUBERNETES_KUBELET_HOST", "value_from": {"field_ref": {"field_path": "status.hostIP"}}},
            {"name": "DD_KUBELET_TLS_VERIFY", "value": "true"},
            {"name": "DD_CRI_SOCKET_PATH", "value": f"/host{CRI_SOCKET}"},
            # The chart's containers-cluster-agent-env.
            {"name": "DD_CLUSTER_AGENT_ENABLED", "value": "true"},
            {"name": "DD_CLUSTER_AGENT_KUBERNETES_SERVICE_NAME", "value": CLUSTER_AGENT},
            {
                "name": "DD_CLUSTER_AGENT_AUTH_TOKEN",
                "value_from": {"secret_key_ref": {"name": TOKEN_SECRET, "key": TOKEN_KEY}},
            },
        ]

    def _agent_env(self) -> list[dict]:
        logs = str(self._args.settings.logs_enabled).lower()
        return [
            *self._common_env(),
            {"name": "DD_HEALTH_PORT", "value": str(HEALTH_PORT)},
            {"name": "DD_LOGS_ENABLED", "value": logs},
            {"name": "DD_LOGS_CONFIG_CONTAINER_COLLECT_ALL", "value": logs},
            {"name": "DD_LOGS_CONFIG_K8S_CONTAINER_USE_FILE", "value": "true"},
            # A stack trace stays one log event (chart datadog.logs.autoMultiLineDetection: true).
            {"name": "DD_LOGS_CONFIG_AUTO_MULTI_LINE_DETECTION", "value": "true"},
            {"name": "DD_DOGSTATSD_PORT", "value": str(DOGSTATSD_PORT)},
            {"name": "DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "value": "true"},
            # Cluster checks come from the Cluster Agent; kube-state-metrics
            # runs there, never here (the chart's agent env with a Cluster Agent).
            {"name": "DD_EXTRA_CONFIG_PROVIDERS", "value": "clusterchecks endpointschecks"},
            {"name": "DD_IGNORE_AUTOCONF", "value": "kubernetes_state"},
            {"name": "DD_CONTAINER_EXCLUDE", "value": "kube_namespace:^kube-system$"},
            # A service check per check run, `datadog.agent.check_status` (CRITICAL when the check
            # fails): what the `kubelet-unreadable` monitor reads. Off by default since 7.47
            # (`integration_check_status_enabled`, DataDog/datadog-agent pkg/config/setup
            # common_settings.go line 1195 @v0.81.1, the Go tag of 7.81.1).
            {"name": "DD_INTEGRATION_CHECK_STATUS_ENABLED", "value": "true"},
        ]

    def _volumes(self) -> tuple[list[dict], list[dict]]:
        logs = self._args.settings.logs_enabled
        volumes: list[dict] = [
            {"name": name, "empty_dir": {"size_limit": size}} for name, (_, size) in WRITABLE.items()
        ]
        mounts: list[dict] = [{"name": name, "mount_path": path} for name, (path, _) in WRITABLE.items()]
        if not logs:
            # Without log collection the run directory need not outlive the pod; it then holds
            # only small state files (with logs on it is the hostPath `pointerdir`).
            volumes.append({"name": "datadogrun", "empty_dir": {"size_limit": "64Mi"}})
            mounts.append({"name": "datadogrun", "mount_path": "/opt/datadog-agent/run"})
        for name, host, path, read_only in HOST_PATHS + (LOG_HOST_PATHS if logs else []):
            volumes.append({"name": name, "host_path": {"path": host}})
            mounts.append({"name": name, "mount_path": path, "read_only": read_only})
        return volumes, mounts

    def _init_containers(self) -> list[dict]:
        """The chart's read-only-root setup (`_containers-init-linux.yaml` @3.240.0):
        `init-volume` copies the image's /etc/datadog-agent into the `config`
        emptyDir, then `init-config` runs the image's cont-init.d scripts on it."""
        mount = lambda name, path, ro=False: {"name": name, "mount_path": path, "read_only": ro}  # noqa: E731
        init = {
            "image": self._args.settings.agent_image,
            "image_pull_policy": "Always",
            "command": ["bash", "-c"],
            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "security_context": agent_security_context(),
        }
        return [
            {
                **init,
                "name": "init-volume",
                "args": [f"cp -r {CONFIG_DIR} /opt"],
                "volume_mounts": [mount("config", "/opt/datadog-agent")],
            },
            {
                **init,
                "name": "init-config",
                "args": [
                    "for script in $(find /etc/cont-init.d/ -type f -name '*.sh' | sort) ; do bash $script ; done"
                ],
                "env": self._common_env(),
                "volume_mounts": [
                    mount("config", CONFIG_DIR),
                    mount("logdatadog", "/var/log/datadog"),
                    mount("tmpdir", "/tmp"),
                    mount("procdir", "/host/proc", True),
                    mount("runtimesocketdir", "/host/run/containerd", True),
                ],
            },
        ]

    def _agent_container(self, volume_mounts: list[dict]) -> dict:
        probe = {"period_seconds": 15, "timeout_seconds": 5, "success_threshold": 1, "failure_threshold": 6}
        return {
            "name": "agent",
            "image": self._args.settings.agent_image,
            "image_pull_policy": "Always",
            # The core agent alone, as the chart runs it: no s6 supervisor,
            # so nothing needs a writable root filesystem.
            "command": ["agent", "run"],
            "env": self._agent_env(),
            "ports": [{"name": "dogstatsdport", "container_port": DOGSTATSD_PORT, "protocol": "UDP"}],
            "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "security_context": agent_security_context(),
            **{
                f"{kind}_probe": {
                    "http_get": {"path": f"/{path}", "port": HEALTH_PORT},
                    "initial_delay_seconds": 15,
                    **probe,
                }
                for kind, path in (("liveness", "live"), ("readiness", "ready"), ("startup", "startup"))
            },
            "volume_mounts": volume_mounts,
        }

    def _trace_agent_container(self) -> dict:
        """The chart's `trace-agent` container (`_container-trace-agent.yaml`), no hostPort."""
        return {
            "name": "trace-agent",
            "image": self._args.settings.agent_image,
            "image_pull_policy": "Always",
            "command": ["trace-agent", f"-config={CONFIG_DIR}/datadog.yaml"],
            "env": [
                *self._common_env(),
                {"name": "DD_APM_ENABLED", "value": "true"},
                {"name": "DD_APM_NON_LOCAL_TRAFFIC", "value": "true"},
                {"name": "DD_APM_RECEIVER_PORT", "value": str(TRACE_PORT)},
            ],
            "ports": [{"name": "traceport", "container_port": TRACE_PORT, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "security_context": agent_security_context(),
            # A liveness probe only, as the chart has (_container-trace-agent.yaml @059fa034): a
            # readiness probe on the same port is the same check (kube-score pod-probes-identical),
            # and the agent container's readiness already gates the pod.
            "liveness_probe": {"tcp_socket": {"port": TRACE_PORT}, "initial_delay_seconds": 15, "period_seconds": 15},
            # The chart's trace-agent mounts (_container-trace-agent.yaml @3.240.0): its log, and
            # /var/run/datadog read-write for the APM socket it shares with DogStatsD's.
            "volume_mounts": [
                {"name": "config", "mount_path": CONFIG_DIR},
                {"name": "logdatadog", "mount_path": "/var/log/datadog"},
                {"name": "tmpdir", "mount_path": "/tmp"},
                {"name": "dsdsocket", "mount_path": WRITABLE["dsdsocket"][0]},
                {"name": "runtimesocketdir", "mount_path": "/host/run/containerd", "read_only": True},
            ],
        }

    def _build_daemonset(
        self, child: pulumi.ResourceOptions, depends_on: list[pulumi.Resource]
    ) -> k8s.apps.v1.DaemonSet:
        volumes, mounts = self._volumes()
        containers = [self._agent_container(mounts)]
        if self._args.settings.apm_enabled:
            containers.append(self._trace_agent_container())
        return k8s.apps.v1.DaemonSet(
            "datadog-agent",
            metadata=self._metadata(
                NAME, annotations={**checkov_annotations(CHECKOV_SKIPS), **kube_score_annotations(KUBE_SCORE_SKIPS)}
            ),
            spec={
                "selector": {"match_labels": dict(AGENT_SELECTOR)},
                "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": "10%"}},
                "template": {
                    "metadata": {"labels": self._labels()},
                    # No placement from the cluster: the DaemonSet already runs on every node.
                    "spec": self._args.pods.without_placement().adapt(
                        with_ephemeral_storage(
                            {
                                "service_account_name": NAME,
                                "automount_service_account_token": True,
                                "priority_class_name": NAME,
                                "node_selector": {"kubernetes.io/os": "linux"},
                                # Every taint, including the system pool's
                                # CriticalAddonsOnly: Datadog bills per node and every
                                # node needs exactly one agent.
                                "tolerations": [{"operator": "Exists"}],
                                "termination_grace_period_seconds": 30,
                                "security_context": {"run_as_user": 0, "seccomp_profile": {"type": "RuntimeDefault"}},
                                "init_containers": self._init_containers(),
                                "containers": containers,
                                "volumes": volumes,
                            }
                        )
                    ),
                },
            },
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends_on)),
        )


def agent_security_context() -> dict:
    """Root (it reads root-owned host files), but read-only root filesystem as the
    chart's `agents.containers.*.securityContext` default, no privilege
    escalation, and no NET_RAW (no check of this agent opens raw sockets)."""
    return {
        "run_as_user": 0,
        "privileged": False,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["NET_RAW"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def agent_rules() -> list[dict]:
    """The chart's node-agent ClusterRole when a Cluster Agent is deployed
    (templates/rbac.yaml @3.240.0): kubelet and metrics reads, nothing cluster-wide."""
    return [
        {"non_resource_urls": ["/metrics", "/metrics/slis"], "verbs": ["get"]},
        {
            "api_groups": [""],
            "resources": ["nodes/metrics", "nodes/spec", "nodes/proxy", "nodes/stats"],
            "verbs": ["get"],
        },
        {"api_groups": [""], "resources": ["endpoints"], "verbs": ["get"]},
        {"api_groups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
    ]
