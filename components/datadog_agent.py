"""DatadogAgent: exactly one Datadog agent per node, as a DaemonSet.

Matched to the DataDog/helm-charts `charts/datadog` chart 3.240.0 (agent
7.81.1) in its node-agent-only mode (no Cluster Agent): the same RBAC rules,
host paths, probes and update strategy, and kube-state-metrics core running on
one elected agent. Nothing wider than the chart grants; the OpenShift-only
rules are left out because this platform never runs on OpenShift.

Kubelet TLS on AKS: current AKS node images enable kubelet serving
certificate rotation, so each kubelet's serving certificate is signed by the
cluster CA and carries the node IP. The agent therefore reaches the kubelet at
`status.hostIP` and verifies it with the CA of its own service account token:
`DD_KUBELET_TLS_VERIFY=true`, no host CA mount. (The older node-image case,
a self-signed kubelet certificate at /etc/kubernetes/certs/kubeletserver.crt,
is not supported on purpose: every supported AKS version has rotation.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.pod_spec import checkov_annotations
from settings.model import DatadogSettings

NAMESPACE = "datadog"
NAME = "datadog-agent"
AGENT_SELECTOR = {"app.kubernetes.io/name": NAME}
"""Selects the agent pods: the DaemonSet's selector and service namespaces' egress peer."""
HEALTH_PORT = 5555
KSM_COLLECTORS = [
    "nodes", "pods", "services", "resourcequotas", "replicationcontrollers", "limitranges",
    "persistentvolumeclaims", "persistentvolumes", "namespaces", "endpoints", "endpointslices",
    "daemonsets", "deployments", "replicasets", "statefulsets", "controllerrevisions", "cronjobs", "jobs",
    "horizontalpodautoscalers", "poddisruptionbudgets", "storageclasses", "volumeattachments", "ingresses",
]  # fmt: skip

# (volume name, host path, mount path, read only) — the chart's Linux mounts.
HOST_PATHS = [
    ("procdir", "/proc", "/host/proc", True),
    ("cgroups", "/sys/fs/cgroup", "/host/sys/fs/cgroup", True),
    ("runtimesocketdir", "/var/run/containerd", "/host/var/run/containerd", True),
]
LOG_HOST_PATHS = [
    # Where the agent remembers how far it has read each log: must survive restarts.
    ("pointerdir", "/var/lib/datadog-agent/logs", "/opt/datadog-agent/run", False),
    ("logpodpath", "/var/log/pods", "/var/log/pods", True),
    ("logscontainerspath", "/var/log/containers", "/var/log/containers", True),
]

# Why the agent may break the rules every service workload follows.
CHECKOV_SKIPS = {
    "CKV_K8S_11": "No CPU limit: a throttled agent drops metrics; the memory limit bounds it",
    "CKV_K8S_43": "The agent image is pinned by release tag in config",
    "CKV_K8S_22": "The agent's s6 supervisor and check runners write under /etc/datadog-agent and /var/run",
    "CKV_K8S_23": "Reads root-owned host files (/proc, pod logs) so it must run as root",
    "CKV_K8S_40": "Runs as root (see CKV_K8S_23)",
    "CKV_K8S_37": "s6-overlay needs its default capabilities to drop privileges for its services",
    "CKV_K8S_28": "See CKV_K8S_37: default capabilities kept, no capability added",
    "CKV_K8S_38": "The agent calls the API server and kubelet with its service account token",
    "CKV_K8S_35": "DD_API_KEY comes from a Secret built from Pulumi secret config",
    "CKV_K8S_20": "s6-overlay switches users for its services",
}


@dataclass(frozen=True)
class DatadogAgentArgs:
    settings: DatadogSettings
    cluster_name: pulumi.Input[str]
    environment: str
    api_key: pulumi.Output[str]


class DatadogAgent(pulumi.ComponentResource):
    """Namespace, API-key Secret, RBAC, PriorityClass, kube-state-metrics
    config and the agent DaemonSet."""

    daemonset_name: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: DatadogAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:observability:DatadogAgent", name, None, opts)
        self._args = args
        namespace = self._build_namespace()
        child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        secret = self._build_api_key_secret(child)
        account = self._build_rbac(child)
        priority = self._build_priority_class()
        confd = self._build_confd(child)
        daemonset = self._build_daemonset(child, secret, account, priority, confd)
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
        for role_name, rules in ((NAME, agent_rules()), (f"{NAME}-ksm-core", ksm_core_rules())):
            role = k8s.rbac.v1.ClusterRole(
                f"{role_name}-role",
                metadata={"name": role_name, "labels": self._labels()},
                rules=rules,
                opts=pulumi.ResourceOptions(parent=self),
            )
            k8s.rbac.v1.ClusterRoleBinding(
                f"{role_name}-binding",
                metadata={"name": role_name, "labels": self._labels()},
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role.metadata.name},
                subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
            )
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

    def _build_confd(self, child: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
        # Without a Cluster Agent, kube-state-metrics core runs inside the node
        # agents; leader election keeps it to one of them.
        import yaml

        ksm = {"init_config": {}, "instances": [{"collectors": KSM_COLLECTORS}]}
        return k8s.core.v1.ConfigMap(
            "datadog-confd",
            metadata=self._metadata(f"{NAME}-confd"),
            data={"kubernetes_state_core.yaml.default": yaml.safe_dump(ksm, sort_keys=False)},
            opts=child,
        )

    def _env(self) -> list[dict]:
        s = self._args.settings
        return [
            {"name": "DD_API_KEY", "value_from": {"secret_key_ref": {"name": "datadog-api-key", "key": "api-key"}}},
            {"name": "DD_SITE", "value": s.site},
            {"name": "DD_CLUSTER_NAME", "value": self._args.cluster_name},
            {"name": "DD_ENV", "value": self._args.environment},
            {"name": "DD_TAGS", "value": f"env:{self._args.environment} team:{s.team} service:platform"},
            {"name": "DD_KUBERNETES_KUBELET_HOST", "value_from": {"field_ref": {"field_path": "status.hostIP"}}},
            {"name": "DD_KUBELET_TLS_VERIFY", "value": "true"},
            {"name": "KUBERNETES", "value": "yes"},
            {"name": "DD_HEALTH_PORT", "value": str(HEALTH_PORT)},
            {"name": "DD_LEADER_ELECTION", "value": "true"},
            {"name": "DD_LEADER_ELECTION_DEFAULT_RESOURCE", "value": "configmap"},
            {"name": "DD_COLLECT_KUBERNETES_EVENTS", "value": "true"},
            {"name": "DD_LOGS_ENABLED", "value": str(s.logs_enabled).lower()},
            {"name": "DD_LOGS_CONFIG_CONTAINER_COLLECT_ALL", "value": str(s.logs_enabled).lower()},
            {"name": "DD_LOGS_CONFIG_K8S_CONTAINER_USE_FILE", "value": "true"},
            {"name": "DD_APM_ENABLED", "value": str(s.apm_enabled).lower()},
            {"name": "DD_APM_NON_LOCAL_TRAFFIC", "value": str(s.apm_enabled).lower()},
            {"name": "DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "value": "true"},
            {"name": "DD_CONTAINER_EXCLUDE", "value": "kube_namespace:^kube-system$"},
        ]

    def _volumes(self) -> tuple[list[dict], list[dict]]:
        host_paths = HOST_PATHS + (LOG_HOST_PATHS if self._args.settings.logs_enabled else [])
        volumes: list[dict] = [
            {"name": "config", "empty_dir": {}},
            {"name": "logdatadog", "empty_dir": {}},
            {"name": "tmpdir", "empty_dir": {}},
            {"name": "s6-run", "empty_dir": {}},
            {"name": "confd", "config_map": {"name": f"{NAME}-confd"}},
        ]
        mounts: list[dict] = [
            {"name": "logdatadog", "mount_path": "/var/log/datadog"},
            {"name": "tmpdir", "mount_path": "/tmp"},
            {"name": "s6-run", "mount_path": "/var/run/s6"},
            {"name": "confd", "mount_path": "/conf.d", "read_only": True},
        ]
        for name, host, path, read_only in host_paths:
            volumes.append({"name": name, "host_path": {"path": host}})
            mounts.append({"name": name, "mount_path": path, "read_only": read_only})
        return volumes, mounts

    def _ports(self) -> list[dict]:
        ports = [{"name": "dogstatsdport", "container_port": 8125, "protocol": "UDP"}]
        if self._args.settings.apm_enabled:
            # Apps on the node send traces to status.hostIP:8126.
            ports.append({"name": "traceport", "container_port": 8126, "host_port": 8126, "protocol": "TCP"})
        return ports

    def _agent_container(self, volume_mounts: list[dict]) -> dict:
        probe = {"period_seconds": 15, "timeout_seconds": 5, "success_threshold": 1, "failure_threshold": 6}
        return {
            "name": "agent",
            "image": self._args.settings.agent_image,
            "image_pull_policy": "Always",
            "env": self._env(),
            "ports": self._ports(),
            "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "security_context": {
                "run_as_user": 0,
                "privileged": False,
                "seccomp_profile": {"type": "RuntimeDefault"},
            },
            "liveness_probe": {
                "http_get": {"path": "/live", "port": HEALTH_PORT},
                "initial_delay_seconds": 15,
                **probe,
            },
            "readiness_probe": {
                "http_get": {"path": "/ready", "port": HEALTH_PORT},
                "initial_delay_seconds": 15,
                **probe,
            },
            "startup_probe": {
                "http_get": {"path": "/startup", "port": HEALTH_PORT},
                "initial_delay_seconds": 15,
                **probe,
            },
            "volume_mounts": volume_mounts,
        }

    def _build_daemonset(
        self,
        child: pulumi.ResourceOptions,
        secret: k8s.core.v1.Secret,
        account: k8s.core.v1.ServiceAccount,
        priority: k8s.scheduling.v1.PriorityClass,
        confd: k8s.core.v1.ConfigMap,
    ) -> k8s.apps.v1.DaemonSet:
        labels = self._labels()
        selector = dict(AGENT_SELECTOR)
        volumes, mounts = self._volumes()
        return k8s.apps.v1.DaemonSet(
            "datadog-agent",
            metadata=self._metadata(NAME, annotations=checkov_annotations(CHECKOV_SKIPS)),
            spec={
                "selector": {"match_labels": selector},
                "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": "10%"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "service_account_name": NAME,
                        "automount_service_account_token": True,
                        "priority_class_name": priority.metadata.name,
                        # Every taint, including the system pool's
                        # CriticalAddonsOnly: Datadog bills per node and every
                        # node needs exactly one agent.
                        "tolerations": [{"operator": "Exists"}],
                        "termination_grace_period_seconds": 30,
                        "security_context": {"run_as_user": 0, "seccomp_profile": {"type": "RuntimeDefault"}},
                        "containers": [self._agent_container(mounts)],
                        "volumes": volumes,
                    },
                },
            },
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[secret, account, confd])),
        )


def agent_rules() -> list[dict]:
    """The chart's node-agent ClusterRole when no Cluster Agent is deployed."""
    read = ["get", "list", "watch"]
    return [
        {
            "api_groups": [""],
            "resources": ["services", "events", "endpoints", "pods", "nodes", "namespaces", "componentstatuses"],
            "verbs": read,
        },
        {"api_groups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        # Event collection state and leader election: named objects only.
        {
            "api_groups": [""],
            "resources": ["configmaps"],
            "resource_names": ["datadogtoken", "datadog-leader-election"],
            "verbs": ["get", "update"],
        },
        {"api_groups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "api_groups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resource_names": ["datadog-leader-election"],
            "verbs": ["get", "update"],
        },
        {"api_groups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"non_resource_urls": ["/version", "/healthz", "/metrics", "/metrics/slis"], "verbs": ["get"]},
        {
            "api_groups": [""],
            "resources": ["nodes/metrics", "nodes/spec", "nodes/proxy", "nodes/stats"],
            "verbs": ["get"],
        },
    ]


def ksm_core_rules() -> list[dict]:
    """The chart's kube-state-metrics core ClusterRole (list and watch only)."""
    watch = ["list", "watch"]
    return [
        {
            "api_groups": [""],
            "resources": [
                "pods",
                "services",
                "resourcequotas",
                "replicationcontrollers",
                "limitranges",
                "persistentvolumeclaims",
                "persistentvolumes",
                "namespaces",
                "endpoints",
                "events",
                "nodes",
            ],
            "verbs": watch,
        },
        {"api_groups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": watch},
        {
            "api_groups": ["apps"],
            "resources": ["statefulsets", "daemonsets", "deployments", "replicasets", "controllerrevisions"],
            "verbs": watch,
        },
        {"api_groups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": watch},
        {"api_groups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": watch},
        {"api_groups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": watch},
        {"api_groups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": watch},
        {"api_groups": ["storage.k8s.io"], "resources": ["storageclasses", "volumeattachments"], "verbs": watch},
    ]
