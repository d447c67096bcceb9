"""DatadogClusterAgent: the Datadog Cluster Agent (DCA), as the official chart
deploys it by default beside the node agents.

Matched to DataDog/helm-charts `charts/datadog` 3.240.0
(`templates/cluster-agent-deployment.yaml`, `cluster-agent-rbac.yaml`,
`kube-state-metrics-core-rbac.yaml`, `cluster-agent-confd-configmap.yaml`,
`secret-cluster-agent-token.yaml`, `cluster-agent-pdb.yaml`,
`agent-services.yaml`). The chart runs kube-state-metrics core ONLY here: its
NOTES.txt calls the check unsupported without a Cluster Agent. One replica is
the elected leader and runs the check; the others stand by.

Narrower than the chart, never wider: the admission controller, the
orchestrator explorer and AppSec injection are off, so their webhook,
namespaced-secret and cluster-wide read rules are left out; so are the
OpenShift-only rules and the KSM secrets/configmaps collectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

# The chart sets only allowPrivilegeEscalation: false and a read-only root
# filesystem; the Cluster Agent gets our full restricted context on top.
from components.datadog.rbac import bind_cluster_role
from components.kubernetes.hardening import (
    RUN_AS_USER,
    checkov_annotations,
    container_security_context,
    kube_score_annotations,
)
from components.kubernetes.runtime import PodRuntime
from components.kubernetes.storage import with_ephemeral_storage
from components.moves import moved_from
from settings.datadog.agents import DatadogSettings

NAMESPACE = "datadog"
NAME = "datadog-cluster-agent"
SELECTOR = {"app.kubernetes.io/name": NAME}
"""Selects the Cluster Agent's pods: its Deployment, Service, PDB and NetworkPolicies."""
TOKEN_SECRET = NAME
TOKEN_KEY = "token"
CMD_PORT = 5005  # cluster_agent.cmd_port default: DataDog/datadog-agent pkg/config/setup/config.go
METRICS_PORT = 5000
HEALTH_PORT = 5556  # chart clusterAgent.healthPort
LEADER_ELECTION_NAME = "datadog-leader-election"  # DA config.go leader_lease_name default
EVENT_TOKEN_NAME = "datadogtoken"  # chart DD_CLUSTER_AGENT_TOKEN_NAME (<fullname>token)

# Where the KSM core config lands and why it loads (DataDog/datadog-agent):
# `Dockerfiles/cluster-agent/entrypoint.sh` copies `*.yaml` AND `*.yaml.default`
# from /conf.d into /etc/datadog-agent/, keeping the `<check>.d/` folder;
# `pkg/config/setup/config_nix.go` defaultConfdPath = /etc/datadog-agent/conf.d;
# `comp/core/autodiscovery/providers/config_reader.go` reads `<check>.d/<x>.yaml[.default]`;
# the check registers as `kubernetes_state_core` (pkg/collector/corechecks/cluster/ksm/kubernetes_state.go).
# The chart mounts the same key at the same path (cluster-agent-deployment.yaml, confd items).
CONFD_MOUNT = "/conf.d"
CONFIG_DIR = "/etc/datadog-agent"
KSM_CONFD_FILE = "kubernetes_state_core.d/kubernetes_state_core.yaml.default"
APISERVER_CONFD_FILE = "kubernetes_apiserver.d/kubernetes_apiserver.yaml"

# The chart's default collector list (`_kubernetes_state_core_config.yaml` @3.240.0)
# minus secrets and configmaps: nothing the monitors read, and it keeps the DCA
# from listing every Secret in the cluster.
KSM_COLLECTORS = [
    "nodes", "pods", "services", "resourcequotas", "replicationcontrollers", "limitranges",
    "persistentvolumeclaims", "persistentvolumes", "namespaces", "endpoints", "endpointslices",
    "daemonsets", "deployments", "replicasets", "statefulsets", "controllerrevisions", "cronjobs", "jobs",
    "horizontalpodautoscalers", "poddisruptionbudgets", "storageclasses", "volumeattachments", "ingresses",
]  # fmt: skip

CHECKOV_SKIPS = {
    "CKV_K8S_11": "No CPU limit: a throttled Cluster Agent misses check runs; the memory limit bounds it",
    "CKV_K8S_43": "The Cluster Agent image is pinned by release tag in config",
    "CKV_K8S_35": "DD_API_KEY and the auth token come from Secrets built from Pulumi secret config",
    "CKV_K8S_38": "The Cluster Agent watches the API server with its own service account token",
}
# kube-score's check ids (zegl/kube-score README_CHECKS.md @v1.20.0).
KUBE_SCORE_SKIPS = {
    "container-security-context-user-group-id": "Runs in group 0 (GID 0), the mode the image is built for: its "
    "files are group-root readable (pod_security_context below); group 0 grants no privilege",
}


@dataclass(frozen=True)
class DatadogClusterAgentArgs:
    settings: DatadogSettings
    cluster_name: pulumi.Input[str]
    environment: str
    token: pulumi.Output[str]
    """The shared node-agent/Cluster Agent auth token (secret config)."""
    api_key_secret: k8s.core.v1.Secret
    """The namespace's API-key Secret (key `api-key`)."""
    labels: dict[str, str]
    pods: PodRuntime = field(default_factory=PodRuntime)
    """The cluster's images and placement: on a local real node, the Cluster Agent runs there."""


class DatadogClusterAgent(pulumi.ComponentResource):
    """Token Secret, ServiceAccount and RBAC, KSM core confd, Deployment,
    Service (port 5005) and, with more than one replica, a PDB."""

    service_name: pulumi.Output[str]
    token_secret_name: pulumi.Output[str]
    service: k8s.core.v1.Service

    def __init__(self, name: str, args: DatadogClusterAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "platform:datadog:DatadogClusterAgent",
            name,
            None,
            moved_from("platform:observability:DatadogClusterAgent", opts),
        )
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        token = self._build_token_secret(child)
        account = self._build_rbac(child)
        confd = self._build_confd(child)
        self._build_deployment(child, depends_on=[token, account, confd, args.api_key_secret])
        self._build_disruption_budget(child)
        self.service = self._build_service(child)
        self.service_name = self.service.metadata.name
        self.token_secret_name = token.metadata.name
        self.register_outputs({"serviceName": self.service_name, "tokenSecretName": self.token_secret_name})

    def _labels(self) -> dict[str, str]:
        return {**self._args.labels, "app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "cluster-agent"}

    def _selector(self) -> dict[str, str]:
        return dict(SELECTOR)

    def _metadata(self, name: str, **extra: object) -> dict:
        return {"name": name, "namespace": NAMESPACE, "labels": self._labels(), **extra}

    def _build_token_secret(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        # The chart generates `randAlphaNum 32` at install; here it is secret
        # config, so every preview sees the same value and shows no diff.
        return k8s.core.v1.Secret(
            f"{NAME}-token",
            metadata=self._metadata(TOKEN_SECRET),
            type="Opaque",
            string_data={TOKEN_KEY: pulumi.Output.secret(self._args.token)},
            opts=child,
        )

    def _build_rbac(self, child: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccount:
        account = k8s.core.v1.ServiceAccount(f"{NAME}-sa", metadata=self._metadata(NAME), opts=child)
        for role_name, rules in ((NAME, cluster_agent_rules()), (f"{NAME}-ksm-core", ksm_core_rules())):
            bind_cluster_role(
                role_name, rules, labels=self._labels(), account=account, account_name=NAME, namespace=NAMESPACE,
                parent=self, role_opts=child,
            )  # fmt: skip
        return account

    def _build_confd(self, child: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
        return k8s.core.v1.ConfigMap(
            f"{NAME}-confd",
            metadata=self._metadata(f"{NAME}-confd"),
            data=confd_files(),
            opts=child,
        )

    def _env(self) -> list[dict]:
        s = self._args.settings
        field = lambda path: {"field_ref": {"field_path": path}}  # noqa: E731
        secret = lambda name, key: {"secret_key_ref": {"name": name, "key": key}}  # noqa: E731
        plain = {
            "DD_SITE": s.site,
            "DD_ENV": self._args.environment,
            "DD_HEALTH_PORT": str(HEALTH_PORT),
            "KUBERNETES": "yes",
            "DD_LOG_LEVEL": "INFO",
            # KSM core refuses to run without leader election (kubernetes_state.go Run()).
            "DD_LEADER_ELECTION": "true",
            "DD_LEADER_ELECTION_DEFAULT_RESOURCE": "configmap",
            "DD_LEADER_LEASE_NAME": LEADER_ELECTION_NAME,
            "DD_CLUSTER_AGENT_TOKEN_NAME": EVENT_TOKEN_NAME,
            "DD_COLLECT_KUBERNETES_EVENTS": "true",
            "DD_CLUSTER_CHECKS_ENABLED": "true",
            "DD_EXTRA_CONFIG_PROVIDERS": "kube_endpoints kube_services",
            "DD_EXTRA_LISTENERS": "kube_endpoints kube_services",
            "DD_KUBERNETES_USE_ENDPOINT_SLICES": "true",
            "DD_CLUSTER_AGENT_KUBERNETES_SERVICE_NAME": NAME,
            "DD_KUBE_RESOURCES_NAMESPACE": NAMESPACE,
            # Off on purpose (narrower RBAC): the platform sets the apps'
            # Datadog env itself, and nothing here uses orchestrator data.
            "DD_ADMISSION_CONTROLLER_ENABLED": "false",
            "DD_ORCHESTRATOR_EXPLORER_ENABLED": "false",
            "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        }
        return [
            {"name": "DD_POD_NAME", "value_from": field("metadata.name")},
            {"name": "DD_API_KEY", "value_from": secret(self._args.api_key_secret.metadata.name, "api-key")},
            {"name": "DD_CLUSTER_AGENT_AUTH_TOKEN", "value_from": secret(TOKEN_SECRET, TOKEN_KEY)},
            {"name": "DD_CLUSTER_NAME", "value": self._args.cluster_name},
            *({"name": key, "value": value} for key, value in plain.items()),
        ]

    def _volumes(self) -> tuple[list[dict], list[dict]]:
        # Read-only root filesystem, the chart's way: every path the DCA writes
        # is an emptyDir (its Dockerfile declares /etc/datadog-agent,
        # /var/log/datadog and /tmp as the writable volumes), each bounded: the
        # config copy, the run state, a log that rotates at 10 MB with one old file
        # (pkg/config/setup common_settings.go lines 1170-1171 @v0.81.1) and scratch space.
        writable = {"config": CONFIG_DIR, "datadogrun": "/opt/datadog-agent/run", "varlog": "/var/log/datadog"}
        writable["tmpdir"] = "/tmp"
        volumes = [{"name": name, "empty_dir": {"size_limit": "64Mi"}} for name in writable]
        mounts = [{"name": name, "mount_path": path} for name, path in writable.items()]
        volumes.append(
            {
                "name": "confd",
                "config_map": {
                    "name": f"{NAME}-confd",
                    "items": [
                        {"key": KSM_CONFD_FILE.split("/")[1], "path": KSM_CONFD_FILE},
                        {"key": APISERVER_CONFD_FILE.split("/")[1], "path": APISERVER_CONFD_FILE},
                    ],
                },
            }
        )
        mounts.append({"name": "confd", "mount_path": CONFD_MOUNT, "read_only": True})
        return volumes, mounts

    def _init_volume(self) -> dict:
        # The chart's `init-volume`: seed the emptyDir with the image's own
        # /etc/datadog-agent so the entrypoint can add the confd files to it.
        return {
            "name": "init-volume",
            "image": self._args.settings.cluster_agent.image,
            "image_pull_policy": "Always",
            "command": ["cp", "-r"],
            "args": [CONFIG_DIR, "/opt"],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
            "security_context": container_security_context(),
            "volume_mounts": [{"name": "config", "mount_path": "/opt/datadog-agent"}],
        }

    def _container(self, mounts: list[dict]) -> dict:
        probe = {
            "initial_delay_seconds": 15, "period_seconds": 15, "timeout_seconds": 5,
            "success_threshold": 1, "failure_threshold": 6,
        }  # fmt: skip
        return {
            "name": "cluster-agent",
            "image": self._args.settings.cluster_agent.image,
            "image_pull_policy": "Always",
            "env": self._env(),
            "ports": [
                {"name": "agentport", "container_port": CMD_PORT, "protocol": "TCP"},
                {"name": "agentmetrics", "container_port": METRICS_PORT, "protocol": "TCP"},
            ],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "security_context": container_security_context(),
            **{
                f"{kind}_probe": {"http_get": {"path": f"/{path}", "port": HEALTH_PORT}, **probe}
                for kind, path in (("liveness", "live"), ("readiness", "ready"), ("startup", "startup"))
            },
            "volume_mounts": mounts,
        }

    def _build_deployment(self, child: pulumi.ResourceOptions, depends_on: list[pulumi.Resource]) -> None:
        volumes, mounts = self._volumes()
        k8s.apps.v1.Deployment(
            NAME,
            metadata=self._metadata(
                NAME, annotations={**checkov_annotations(CHECKOV_SKIPS), **kube_score_annotations(KUBE_SCORE_SKIPS)}
            ),
            spec={
                "replicas": self._args.settings.cluster_agent.replicas,
                "revision_history_limit": 10,
                "selector": {"match_labels": self._selector()},
                "strategy": {"type": "RollingUpdate", "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
                "template": {
                    "metadata": {"labels": self._labels()},
                    "spec": self._args.pods.adapt(
                        with_ephemeral_storage(
                            {
                                "service_account_name": NAME,
                                "automount_service_account_token": True,
                                "node_selector": {"kubernetes.io/os": "linux"},
                                "affinity": {
                                    "pod_anti_affinity": {
                                        "preferred_during_scheduling_ignored_during_execution": [
                                            {
                                                "weight": 50,
                                                "pod_affinity_term": {
                                                    "label_selector": {"match_labels": self._selector()},
                                                    "topology_key": "kubernetes.io/hostname",
                                                },
                                            },
                                        ]
                                    }
                                },
                                "security_context": pod_security_context(),
                                "init_containers": [self._init_volume()],
                                "containers": [self._container(mounts)],
                                "volumes": volumes,
                            }
                        )
                    ),
                },
            },
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends_on)),
        )

    def _build_disruption_budget(self, child: pulumi.ResourceOptions) -> None:
        # The chart's `clusterAgent.pdb` shape (minAvailable: 1), only when a
        # second replica exists: with one, it would block every node drain.
        if self._args.settings.cluster_agent.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{NAME}-pdb",
                metadata=self._metadata(NAME),
                spec={"min_available": 1, "selector": {"match_labels": self._selector()}},
                opts=child,
            )

    def _build_service(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{NAME}-svc",
            metadata=self._metadata(NAME),
            spec={
                "type": "ClusterIP",
                "selector": self._selector(),
                "ports": [{"name": "agentport", "port": CMD_PORT, "target_port": CMD_PORT, "protocol": "TCP"}],
            },
            opts=child,
        )


def pod_security_context() -> dict:
    # Non-root in the root group: the mode the DCA image is built for
    # ("OpenShift uses a random UID in the root group"; files under
    # /etc/datadog-agent are group-root readable): DataDog/datadog-agent
    # Dockerfiles/cluster-agent/Dockerfile @ee876339. Group 0 grants no privilege.
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": 0,
        "fs_group": RUN_AS_USER,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def confd_files() -> dict[str, str]:
    """The ConfigMap keys, as the chart names them (cluster-agent-confd-configmap.yaml)."""
    ksm = {
        "init_config": {},
        "instances": [{"collectors": KSM_COLLECTORS, "labels_as_tags": {}, "annotations_as_tags": {}}],
    }
    apiserver = {"init_config": {}, "instances": [{"filtering_enabled": False, "unbundle_events": False}]}
    return {
        KSM_CONFD_FILE.split("/")[1]: yaml.safe_dump(ksm, sort_keys=False),
        APISERVER_CONFD_FILE.split("/")[1]: yaml.safe_dump(apiserver, sort_keys=False),
    }


def cluster_agent_rules() -> list[dict]:
    """The chart's `datadog-cluster-agent` ClusterRole (cluster-agent-rbac.yaml
    @3.240.0) with the always-on rules only; admission-controller, AppSec and
    OpenShift rules left out (those features are off here)."""
    read = ["get", "list", "watch"]
    named = [LEADER_ELECTION_NAME, EVENT_TOKEN_NAME]
    return [
        {
            "api_groups": [""],
            "resources": ["services", "endpoints", "pods", "nodes", "namespaces", "componentstatuses", "limitranges"],
            "verbs": read,
        },
        {"api_groups": [""], "resources": ["events"], "verbs": [*read, "create"]},
        {"api_groups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"api_groups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list", "watch"]},
        # Leader election and the event-collection token: named objects only.
        {"api_groups": [""], "resources": ["configmaps"], "resource_names": named, "verbs": ["get", "update"]},
        {
            "api_groups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resource_names": [LEADER_ELECTION_NAME],
            "verbs": ["get", "update"],
        },
        {"api_groups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"api_groups": [""], "resources": ["configmaps", "events"], "verbs": ["create"]},
        {"non_resource_urls": ["/version", "/healthz", "/metrics"], "verbs": ["get"]},
    ]


def ksm_core_rules() -> list[dict]:
    """The chart's `datadog-ksm-core` ClusterRole (kube-state-metrics-core-rbac.yaml
    @3.240.0), list and watch only, for exactly the collectors configured above."""
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
