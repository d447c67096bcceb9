"""Datadog: one agent per node on every node, the Cluster Agent that runs
kube-state-metrics, the apps' way to reach them, and monitors that make
self-healing visible. dev never pays for the Datadog SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from harness import ROOT, Evaluation, Registration, evaluate, is_secret, patched_stack_file, placeholder_secrets

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SERVICE = "kubernetes:core/v1:Service"


@pytest.fixture(scope="module", params=["prod", "staging"])
def ev(request: pytest.FixtureRequest) -> Evaluation:
    return evaluate(request.param)


def agent_pod(ev: Evaluation) -> dict:
    return ev.one(DAEMONSET).inputs["spec"]["template"]["spec"]


def agent_env(ev: Evaluation) -> dict[str, dict]:
    return {e["name"]: e for e in agent_pod(ev)["containers"][0]["env"]}


def test_daemonset_runs_a_pinned_agent_with_cluster_identity(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    assert pod["containers"][0]["image"] == "gcr.io/datadoghq/agent:7.81.1"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    env = agent_env(ev)
    assert env["DD_SITE"]["value"] == "ap1.datadoghq.com"
    assert env["DD_CLUSTER_NAME"]["value"] == f"aks-platform-{ev.stack}"
    assert env["DD_ENV"]["value"] == ev.stack
    assert env["DD_KUBERNETES_KUBELET_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["DD_KUBELET_TLS_VERIFY"]["value"] == "true"
    assert env["DD_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "datadog-api-key", "key": "api-key"}}
    assert "value" not in env["DD_API_KEY"]
    # Rails stack traces stay one event (the chart's default).
    assert env["DD_LOGS_CONFIG_AUTO_MULTI_LINE_DETECTION"]["value"] == "true"
    # The service check the kubelet-unreadable monitor reads (off by default since 7.47).
    assert env["DD_INTEGRATION_CHECK_STATUS_ENABLED"]["value"] == "true"


def test_host_tags_carry_no_reserved_tag(ev: Evaluation) -> None:
    """Host tags land on every metric of the node: `service:` there would mislabel every app."""
    for container in agent_pod(ev)["containers"] + agent_pod(ev)["initContainers"]:
        tags = {e["name"]: e.get("value", "") for e in container.get("env", [])}.get("DD_TAGS", "")
        keys = {tag.split(":", 1)[0] for tag in tags.split()}
        assert not keys & {"env", "service", "version", "team"}, container["name"]


def test_containerd_socket_is_explicit_and_mounted(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    socket = agent_env(ev)["DD_CRI_SOCKET_PATH"]["value"]
    assert socket == "/host/run/containerd/containerd.sock"
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert socket.startswith(mounts["runtimesocketdir"] + "/")
    assert socket.removeprefix("/host").startswith(host["runtimesocketdir"] + "/")


@pytest.fixture(scope="module")
def toggled() -> Evaluation:
    """Staging with log collection off and APM on."""
    stack_file = patched_stack_file("staging", {"platform:datadog": {"logsEnabled": False, "apmEnabled": True}})
    return evaluate("staging", stack_file=stack_file)


def test_logs_and_apm_are_switchable(toggled: Evaluation) -> None:
    env = agent_env(toggled)
    assert env["DD_LOGS_ENABLED"]["value"] == "false"
    pod = agent_pod(toggled)
    assert "logpodpath" not in {v["name"] for v in pod["volumes"]}
    trace = {c["name"]: c for c in pod["containers"]}["trace-agent"]
    assert {e["name"]: e.get("value") for e in trace["env"]}["DD_APM_ENABLED"] == "true"
    assert trace["ports"] == [{"name": "traceport", "containerPort": 8126, "protocol": "TCP"}]
    service = local_service(toggled)
    assert {(p["port"], p["protocol"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        (8125, "UDP", "dogstatsdport"),
        (8126, "TCP", "traceport"),
    }


def local_service(ev: Evaluation) -> dict:
    return ev.one(SERVICE, "datadog-local").inputs


def test_dogstatsd_and_apm_reach_the_local_agent_without_host_access(ev: Evaluation) -> None:
    """Apps in PSA-restricted namespaces get neither hostPath nor hostPort: a Service
    with internalTrafficPolicy Local keeps their traffic on their own node's agent."""
    service = local_service(ev)
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    pod_labels = ev.one(DAEMONSET).inputs["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    named = {p["name"]: p for c in agent_pod(ev)["containers"] for p in c.get("ports", [])}
    for port in service["spec"]["ports"]:
        assert named[port["targetPort"]]["protocol"] == port["protocol"]
    # APM is off in both stacks: no trace agent, and no port promising one.
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(8125, "UDP")}
    assert [c["name"] for c in agent_pod(ev)["containers"]] == ["agent"]
    assert not [p for p in named.values() if "hostPort" in p]
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    for container in app_containers(ev):
        env = {e["name"]: e for e in container["env"]}
        assert env["DD_AGENT_HOST"]["value"] == host, container["name"]


def app_containers(ev: Evaluation) -> list[dict]:
    pods = [
        r.inputs["spec"]["template"]
        for r in ev.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"]["namespace"] == "admin"
    ]
    pods += [r.inputs["spec"]["jobTemplate"]["spec"]["template"] for r in ev.of_type("kubernetes:batch/v1:CronJob")]
    return [
        {**c, "labels": pod["metadata"]["labels"]}
        for pod in pods
        for c in pod["spec"]["containers"]
        if c["name"] != "nginx"
    ]


def test_app_pods_get_unified_service_tags_from_their_own_labels(ev: Evaluation) -> None:
    containers = app_containers(ev)
    assert {c["name"] for c in containers} == {"app", "job"}
    for container in containers:
        env = {e["name"]: e for e in container["env"]}
        for tag in ("env", "service", "version"):
            path = env[f"DD_{tag.upper()}"]["valueFrom"]["fieldRef"]["fieldPath"]
            label = f"tags.datadoghq.com/{tag}"
            assert path == f"metadata.labels['{label}']"
            assert container["labels"][label], f"{container['name']}: pod has no {label} label"
        assert env["DD_ENTITY_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}


def test_a_variable_the_service_sets_itself_wins_over_the_datadog_default() -> None:
    patch = {"platform:services": {"admin": {"web": {"app": {"env": {"DD_SERVICE": "admin-backoffice"}}}}}}
    ev = evaluate("staging", stack_file=patched_stack_file("staging", patch))
    (app,) = [c for c in app_containers(ev) if c["name"] == "app"]
    named = [e for e in app["env"] if e["name"] == "DD_SERVICE"]
    assert named == [{"name": "DD_SERVICE", "value": "admin-backoffice"}]  # one entry: apply rejects duplicates


def test_app_pods_get_no_datadog_env_when_datadog_is_off() -> None:
    dev = evaluate("dev")
    for deployment in dev.of_type("kubernetes:apps/v1:Deployment"):
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
            assert not [e for e in container.get("env", []) if e["name"].startswith("DD_")]


def test_agent_tolerates_every_taint_and_outranks_workloads(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    assert pod["tolerations"] == [{"operator": "Exists"}]
    priority = ev.one("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    assert pod["priorityClassName"] == priority.inputs["metadata"]["name"]
    assert priority.inputs["preemptionPolicy"] == "PreemptLowerPriority"
    assert priority.inputs["value"] >= 1_000_000


def test_update_strategy_is_bounded(ev: Evaluation) -> None:
    strategy = ev.one(DAEMONSET).inputs["spec"]["updateStrategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}


def test_host_paths_match_the_chart_and_are_read_only_where_it_is(ev: Evaluation) -> None:
    pod = agent_pod(ev)
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host == {
        "procdir": "/proc",
        "cgroups": "/sys/fs/cgroup",
        "runtimesocketdir": "/run/containerd",
        "pointerdir": "/var/lib/datadog-agent/logs",
        "logpodpath": "/var/log/pods",
        "logscontainerspath": "/var/log/containers",
    }
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    for name in host:
        assert mounts[name].get("readOnly", False) is (name != "pointerdir"), name


def test_root_filesystem_is_read_only_the_charts_way(ev: Evaluation) -> None:
    """Every container read-only; the chart's init containers seed the writable
    `config` emptyDir with the image's /etc/datadog-agent, and the agent runs
    `agent run` without the s6 supervisor."""
    pod = agent_pod(ev)
    for container in pod["initContainers"] + pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, container["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "config" in volumes and "emptyDir" in volumes["config"]
    init = {c["name"]: c for c in pod["initContainers"]}
    assert init["init-volume"]["args"] == ["cp -r /etc/datadog-agent /opt"]
    assert {"name": "config", "mountPath": "/opt/datadog-agent", "readOnly": False} in init["init-volume"][
        "volumeMounts"
    ]
    assert "/etc/cont-init.d/" in init["init-config"]["args"][0]
    agent = pod["containers"][0]
    assert agent["command"] == ["agent", "run"]
    writable = {m["mountPath"] for m in agent["volumeMounts"] if not m.get("readOnly")}
    assert {"/etc/datadog-agent", "/var/log/datadog", "/tmp", "/opt/datadog-agent/run"} <= writable


def test_probes_and_resources(ev: Evaluation) -> None:
    container = agent_pod(ev)["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": 5555}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 5555}
    assert container["startupProbe"]["httpGet"] == {"path": "/startup", "port": 5555}
    assert container["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi", "ephemeral-storage": "64Mi"}
    assert container["resources"]["limits"]["memory"] == "512Mi"


def test_every_agent_container_that_opens_a_socket_can_write_var_run_datadog(toggled: Evaluation) -> None:
    """The agent and the trace agent create their DogStatsD and APM sockets in /var/run/datadog by
    default (pkg/config/setup config_nix.go lines 57-60 @v0.81.1) on a read-only root: the chart
    always mounts it writable (_daemonset-volumes-linux.yaml `dsdsocket` @3.240.0)."""
    pod = agent_pod(toggled)
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/var/run/datadog"]
        assert not mount.get("readOnly") and "emptyDir" in volumes[mount["name"]], container["name"]
    assert {c["name"] for c in pod["containers"]} == {"agent", "trace-agent"}


def pods(ev: Evaluation) -> list[tuple[str, dict]]:
    """Every pod spec the stack runs, by workload name."""
    found = []
    for m in ev.manifests():
        spec = m.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template")
        if template:
            found.append((f"{m['kind']}/{m['metadata']['name']}", template["spec"]))
    return found


def test_every_empty_dir_is_bounded_and_every_container_bounds_its_ephemeral_storage(ev: Evaluation) -> None:
    """An emptyDir without sizeLimit can fill the node's disk; a container without an
    ephemeral-storage limit is kube-score's container-ephemeral-storage-request-and-limit
    (score/container/container.go @v1.20.0). The limit covers the emptyDirs it mounts plus
    its log (components/kubernetes/storage.py)."""
    from components.kubernetes.storage import LOG_ALLOWANCE_MI
    from settings.types import quantity_value

    mib = lambda q: quantity_value(q) / 2**20  # noqa: E731
    checked = 0
    for workload, pod in pods(ev):
        sizes = {v["name"]: v["emptyDir"].get("sizeLimit") for v in pod.get("volumes", []) if "emptyDir" in v}
        assert all(sizes.values()), (workload, sizes)
        for container in pod.get("initContainers", []) + pod["containers"]:
            resources = container["resources"]
            limit, request = resources["limits"]["ephemeral-storage"], resources["requests"]["ephemeral-storage"]
            mounted = {m["name"] for m in container.get("volumeMounts", []) if m["name"] in sizes}
            assert mib(limit) >= LOG_ALLOWANCE_MI + sum(mib(sizes[n]) for n in mounted) > mib(request), workload
            checked += 1
    assert checked >= 9  # the agent's three, the Cluster Agent's two, the web app's two, both jobs'


def network_policies(ev: Evaluation, namespace: str) -> dict[str, dict]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in ev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == namespace
    }


def selected(policy: dict, labels: dict[str, str]) -> bool:
    return policy["podSelector"].get("matchLabels", {}).items() <= labels.items()


def test_the_datadog_namespace_lets_in_only_metrics_traces_and_the_cluster_agents_api(ev: Evaluation) -> None:
    policies = network_policies(ev, "datadog")
    agent_labels = ev.one(DAEMONSET).inputs["spec"]["template"]["metadata"]["labels"]
    dca_labels = cluster_agent(ev).inputs["spec"]["template"]["metadata"]["labels"]
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    ingress = {name: p for name, p in policies.items() if "ingress" in p}
    # The agents: DogStatsD and traces, from the namespaces that carry the client label.
    (agent_policy,) = [p for p in ingress.values() if selected(p, agent_labels)]
    (agent_rule,) = agent_policy["ingress"]
    assert {(p["protocol"], p["port"]) for p in agent_rule["ports"]} == {("UDP", 8125), ("TCP", 8126)}
    (clients,) = agent_rule["from"]
    label = clients["namespaceSelector"]["matchLabels"]
    for namespace in ev.of_type("kubernetes:core/v1:Namespace"):
        if namespace.inputs["metadata"]["name"] not in ("datadog",):
            assert label.items() <= namespace.inputs["metadata"]["labels"].items(), namespace.name
    # The Cluster Agent: its API port, from the node agents of its own namespace only.
    (dca_policy,) = [p for p in ingress.values() if selected(p, dca_labels)]
    (dca_rule,) = dca_policy["ingress"]
    assert dca_rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "datadog-agent"}}}]
    service = ev.one(SERVICE, "datadog-cluster-agent-svc").inputs["spec"]["ports"][0]
    assert dca_rule["ports"] == [{"protocol": "TCP", "port": service["targetPort"]}]


def test_only_the_cluster_agents_egress_is_fenced_and_never_to_the_host_endpoints(ev: Evaluation) -> None:
    """The node agents read their own node's kubelet at the node IP, which no NetworkPolicy can
    allow under Cilium on AKS (components/datadog/network_policies.py): their egress stays open."""
    sys.path.insert(0, str(ROOT / "policy"))
    import guardrails

    policies = network_policies(ev, "datadog")
    agent_labels = ev.one(DAEMONSET).inputs["spec"]["template"]["metadata"]["labels"]
    dca_labels = cluster_agent(ev).inputs["spec"]["template"]["metadata"]["labels"]
    egress = [p for p in policies.values() if "Egress" in p["policyTypes"]]
    assert not [p for p in egress if selected(p, agent_labels)]
    (dca,) = [p for p in egress if selected(p, dca_labels)]
    dns, outside = dca["egress"]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert outside == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "168.63.129.16/32"]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    for policy in ev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        assert guardrails.egress_keeps_metadata_closed(policy.type, policy.inputs, {}) == []


def test_hardening_exceptions_are_declared_with_reasons(ev: Evaluation) -> None:
    annotations = ev.one(DAEMONSET).inputs["metadata"]["annotations"]
    skips = dict(value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip"))
    for check in ("CKV_K8S_23", "CKV_K8S_37"):
        assert len(skips[check]) > 20, f"{check} needs a written reason"
    assert "CKV_K8S_22" not in skips, "the root filesystem is read-only now"
    namespace = ev.one("kubernetes:core/v1:Namespace", "datadog-ns").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"


def cluster_roles(ev: Evaluation) -> dict[str, list[dict]]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["rules"]
        for r in ev.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    }


def test_node_agent_rbac_is_the_charts_cluster_agent_branch(ev: Evaluation) -> None:
    """With a Cluster Agent the node agent only reads its kubelet and a few named
    objects: no list or watch, no write (charts/datadog templates/rbac.yaml)."""
    rules = cluster_roles(ev)["datadog-agent"]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"get"}
    assert not [r for r in rules if "secrets" in r.get("resources", []) or "*" in r.get("resources", [])]
    assert agent_pod(ev)["serviceAccountName"] == "datadog-agent"


def test_cluster_agent_rbac_is_no_wider_than_the_charts(ev: Evaluation) -> None:
    roles = cluster_roles(ev)
    assert set(roles) == {"datadog-agent", "datadog-cluster-agent", "datadog-cluster-agent-ksm-core"}
    for name in ("datadog-cluster-agent", "datadog-cluster-agent-ksm-core"):
        for rule in roles[name]:
            assert set(rule["verbs"]) <= {"get", "list", "watch", "update", "create"}, rule
            assert "*" not in rule.get("resources", []) and "secrets" not in rule.get("resources", []), rule
            if "update" in rule["verbs"]:
                # Updates only to its own leader-election and event-token objects.
                assert set(rule["resourceNames"]) <= {"datadog-leader-election", "datadogtoken"}, rule
    assert {v for rule in roles["datadog-cluster-agent-ksm-core"] for v in rule["verbs"]} == {"list", "watch"}
    for binding in ev.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"):
        account = binding.inputs["roleRef"]["name"].removesuffix("-ksm-core")
        assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "datadog"}]
    assert cluster_agent_pod(ev)["serviceAccountName"] == "datadog-cluster-agent"


# -------------------------------------------------------------- cluster agent


def cluster_agent(ev: Evaluation) -> Registration:
    return ev.one("kubernetes:apps/v1:Deployment", "datadog-cluster-agent")


def cluster_agent_pod(ev: Evaluation) -> dict:
    return cluster_agent(ev).inputs["spec"]["template"]["spec"]


def cluster_agent_env(ev: Evaluation) -> dict[str, dict]:
    return {e["name"]: e for e in cluster_agent_pod(ev)["containers"][0]["env"]}


def test_node_agents_point_at_the_cluster_agent_with_the_shared_token(ev: Evaluation) -> None:
    env = agent_env(ev)
    assert env["DD_CLUSTER_AGENT_ENABLED"]["value"] == "true"
    service = ev.one(SERVICE, "datadog-cluster-agent-svc")
    assert env["DD_CLUSTER_AGENT_KUBERNETES_SERVICE_NAME"]["value"] == service.inputs["metadata"]["name"]
    assert service.inputs["spec"]["ports"][0]["port"] == 5005
    pod_labels = cluster_agent(ev).inputs["spec"]["template"]["metadata"]["labels"]
    assert service.inputs["spec"]["selector"].items() <= pod_labels.items()
    token = ev.one("kubernetes:core/v1:Secret", "datadog-cluster-agent-token")
    ref = {"secretKeyRef": {"name": token.inputs["metadata"]["name"], "key": "token"}}
    assert env["DD_CLUSTER_AGENT_AUTH_TOKEN"]["valueFrom"] == ref
    assert cluster_agent_env(ev)["DD_CLUSTER_AGENT_AUTH_TOKEN"]["valueFrom"] == ref
    # The agents find the Service through service links: it must exist first.
    assert service.urn in ev.one(DAEMONSET).dependencies


def test_cluster_agent_token_is_secret_config_kept_secret(ev: Evaluation) -> None:
    token = ev.one("kubernetes:core/v1:Secret", "datadog-cluster-agent-token")
    expected = placeholder_secrets(ev.stack)["datadogClusterAgentToken"]
    assert token.inputs["stringData"]["token"] == expected
    raw = token.raw["stringData"]
    assert is_secret(raw) or is_secret(raw["token"])
    # Stable across runs: the value is config, not generated per run, so a
    # preview shows no diff (the e2e suite's `preview --expect-no-changes` proves it).


def test_kube_state_metrics_runs_only_in_the_cluster_agent(ev: Evaluation) -> None:
    assert "confd" not in {v["name"] for v in agent_pod(ev)["volumes"]}
    assert agent_env(ev)["DD_IGNORE_AUTOCONF"]["value"] == "kubernetes_state"
    assert "DD_LEADER_ELECTION" not in agent_env(ev)
    # KSM core refuses to run without leader election (ksm/kubernetes_state.go Run()).
    assert cluster_agent_env(ev)["DD_LEADER_ELECTION"]["value"] == "true"
    configs = ev.of_type("kubernetes:core/v1:ConfigMap")
    assert [c.inputs["metadata"]["name"] for c in configs if c.inputs["metadata"]["namespace"] == "datadog"] == [
        "datadog-cluster-agent-confd"
    ]


# Where the Cluster Agent loads check configs from, pinned from upstream (see
# /work/research/datadog-facts.md §2): Dockerfiles/cluster-agent/entrypoint.sh copies
# `*.yaml` and `*.yaml.default` from /conf.d into /etc/datadog-agent/ keeping the
# path; confd_path defaults to /etc/datadog-agent/conf.d (pkg/config/setup/config_nix.go);
# the chart mounts the same key at the same place (cluster-agent-deployment.yaml @3.240.0).
UPSTREAM_CONFD_MOUNT = "/conf.d"
UPSTREAM_KSM_FILE = "kubernetes_state_core.d/kubernetes_state_core.yaml.default"
UPSTREAM_CONFIG_DIR = "/etc/datadog-agent"


def test_cluster_agent_ksm_confd_file_is_where_the_cluster_agent_loads_it(ev: Evaluation) -> None:
    pod = cluster_agent_pod(ev)
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    confd = volumes[mounts[UPSTREAM_CONFD_MOUNT]["name"]]["configMap"]
    item = next(i for i in confd["items"] if i["path"] == UPSTREAM_KSM_FILE)
    config_map = ev.one("kubernetes:core/v1:ConfigMap", "datadog-cluster-agent-confd").inputs
    assert confd["name"] == config_map["metadata"]["name"]
    check = yaml.safe_load(config_map["data"][item["key"]])
    assert {"nodes", "pods", "deployments", "daemonsets", "cronjobs", "jobs", "horizontalpodautoscalers"} <= set(
        check["instances"][0]["collectors"]
    )
    # The entrypoint copies into /etc/datadog-agent, so it must be a writable
    # emptyDir seeded with the image's own files (the chart's init-volume).
    config = mounts[UPSTREAM_CONFIG_DIR]
    assert not config.get("readOnly") and "emptyDir" in volumes[config["name"]]
    init = pod["initContainers"][0]
    assert init["command"] + init["args"] == ["cp", "-r", UPSTREAM_CONFIG_DIR, "/opt"]
    assert init["volumeMounts"] == [{"name": config["name"], "mountPath": "/opt/datadog-agent"}]
    # The default image entrypoint does the copy: no command override.
    assert "command" not in container and "args" not in container


def test_cluster_agent_replicas_per_stack_and_a_pdb_when_there_are_two(ev: Evaluation) -> None:
    replicas = {"prod": 2, "staging": 1}[ev.stack]
    spec = cluster_agent(ev).inputs["spec"]
    assert spec["replicas"] == replicas
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    budgets = [b for b in ev.of_type("kubernetes:policy/v1:PodDisruptionBudget") if b.name.startswith("datadog")]
    if replicas > 1:
        (budget,) = budgets
        assert budget.inputs["spec"]["minAvailable"] == 1
        assert (
            budget.inputs["spec"]["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        )
    else:
        assert budgets == []


def test_cluster_agent_is_hardened(ev: Evaluation) -> None:
    pod = cluster_agent_pod(ev)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["initContainers"] + pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
        for mount in container["volumeMounts"]:
            # Writable only where an emptyDir is mounted.
            assert mount.get("readOnly") or "emptyDir" in volumes[mount["name"]], mount
    probe = pod["containers"][0]["readinessProbe"]["httpGet"]
    assert probe == {"path": "/ready", "port": int(cluster_agent_env(ev)["DD_HEALTH_PORT"]["value"])}


# ------------------------------------------------------------------- monitors


def monitors(ev: Evaluation) -> dict[str, dict]:
    return {m.name: m.inputs for m in ev.of_type("datadog:index/monitor:Monitor")}


def test_monitor_set_covers_every_failure_mode(ev: Evaluation) -> None:
    assert set(monitors(ev)) == {
        "admin-crashloop", "admin-replicas", "admin-hpa-max", "admin-job-failed",
        "admin-hourly-aggregation-late", "admin-daily-report-late",
        "node-not-ready", "nodes-unschedulable", "agent-missing", "kubelet-unreadable", "ksm-heartbeat",
        "agent-heartbeat",
    }  # fmt: skip


def test_monitors_reach_datadog_as_specified(ev: Evaluation) -> None:
    """Type, thresholds and no-data settings pass through, and Datadog validates each query at preview."""
    from components.service.monitors import monitor_specs
    from settings import settings_from_files

    settings = settings_from_files(ev.stack)
    specs = {
        s.key: s for s in monitor_specs(settings.datadog, dict(settings.services), f"aks-platform-{ev.stack}", ev.stack)
    }
    found = monitors(ev)
    assert set(found) == set(specs)
    for key, monitor in found.items():
        spec = specs[key]
        assert (monitor["type"], monitor["query"]) == (spec.type, spec.query), key
        assert monitor["validate"] is True, key
        assert monitor["notifyNoData"] is spec.notify_no_data, key
        assert monitor.get("noDataTimeframe") == spec.no_data_timeframe, key
        assert float(monitor["monitorThresholds"]["critical"]) == spec.critical, key
        assert monitor.get("timeoutH") == spec.timeout_h, key
        assert monitor["requireFullWindow"] is False and monitor["renotifyInterval"] == 60, key
    assert found["admin-job-failed"]["type"] == "service check"
    assert found["admin-job-failed"]["monitorThresholds"] == {"critical": "1", "ok": "1"}
    # Ready `unknown` arrives as WARNING: the node monitor warns on it (tests/test_monitor_sim.py).
    assert found["node-not-ready"]["monitorThresholds"] == {"critical": "20", "ok": "1", "warning": "20"}
    for key in ("ksm-heartbeat", "agent-heartbeat"):
        assert found[key]["notifyNoData"] is True and found[key]["noDataTimeframe"] >= 2, key
    for key in ("admin-daily-report-late", "admin-hourly-aggregation-late"):
        assert found[key]["notifyNoData"] is False, key


def test_hpa_at_max_only_when_the_autoscaler_can_scale() -> None:
    fixed = {"platform:services": {"admin": {"web": {"autoscaling": {"minReplicas": 2, "maxReplicas": 2}}}}}
    found = monitors(evaluate("staging", stack_file=patched_stack_file("staging", fixed)))
    assert "admin-hpa-max" not in found and "admin-replicas" in found


def test_every_monitor_is_scoped_tagged_and_notifies(ev: Evaluation) -> None:
    expected_handles = {
        "prod": ["@pagerduty-platform", "@slack-platform-alerts"],
        "staging": ["@slack-platform-alerts"],
    }
    for name, monitor in monitors(ev).items():
        assert f"kube_cluster_name:aks-platform-{ev.stack}" in monitor["query"], name
        tags = set(monitor["tags"])
        assert f"env:{ev.stack}" in tags
        if name.startswith("admin-"):
            assert "kube_namespace:admin" in monitor["query"], name
            assert {"service:admin", "team:backoffice"} <= tags
        else:
            assert {"service:platform", "team:platform"} <= tags
        for handle in expected_handles[ev.stack]:
            assert handle in monitor["message"], name
        assert "docs/operations.md#runbook-" in monitor["message"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_monitor_links_to_a_runbook_heading_that_exists(stack: str) -> None:
    """GitHub's anchor of a heading: lower case, spaces to '-', punctuation dropped."""
    import re

    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "operations.md").read_text(), flags=re.M)
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}
    for name, monitor in monitors(evaluate(stack)).items():
        link = re.search(r"Runbook: \S+#(\S+)", monitor["message"])
        assert link and link.group(1) in anchors, (name, link and link.group(1))


def test_monitor_thresholds_come_from_config() -> None:
    stack_file = patched_stack_file("staging", {"platform:datadog": {"thresholds": {"crashLoopMinutes": 12}}})
    query = monitors(evaluate("staging", stack_file=stack_file))["admin-crashloop"]["query"]
    assert query.startswith("avg(last_12m):")
    assert monitors(evaluate("staging"))["admin-crashloop"]["query"].startswith("avg(last_5m):")


def test_a_removed_threshold_is_refused_by_name() -> None:
    """`jobFailureMinutes` was read by no monitor (the failed-job monitor is a service check that
    alerts on the last run's status); a stack file that still sets it is told so, in one line."""
    from settings import ConfigError

    stack_file = patched_stack_file("staging", {"platform:datadog": {"thresholds": {"jobFailureMinutes": 15}}})
    with pytest.raises(ConfigError) as error:
        evaluate("staging", stack_file=stack_file)
    (line,) = [line for line in str(error.value).splitlines() if "jobFailureMinutes" in line]
    assert "platform:datadog.thresholds.jobFailureMinutes: unknown key" in line


def test_late_job_windows_follow_the_schedule(ev: Evaluation) -> None:
    found = monitors(ev)
    assert found["admin-hourly-aggregation-late"]["query"].endswith(f"> {2 * 3600}")
    assert found["admin-daily-report-late"]["query"].endswith(f"> {25 * 3600}")


def test_datadog_provider_is_configured_from_secret_config(ev: Evaluation) -> None:
    provider = ev.one("pulumi:providers:datadog")
    assert provider.inputs["apiUrl"] == "https://api.ap1.datadoghq.com/"
    assert provider.inputs["validate"] == "true"  # the keys, at start-up
    assert is_secret(provider.raw["apiKey"]) and is_secret(provider.raw["appKey"])
    for monitor in ev.of_type("datadog:index/monitor:Monitor"):
        assert monitor.provider.startswith(provider.urn)


def test_dev_never_imports_pulumi_datadog() -> None:
    """A fresh interpreter evaluates dev and reports what it imported."""
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "from harness import evaluate\n"
        "ev = evaluate('dev')\n"
        "print(json.dumps({'datadog_loaded': 'pulumi_datadog' in sys.modules,"
        " 'types': sorted({r.type for r in ev.resources})}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["datadog_loaded"] is False
    assert report["types"] and not [t for t in report["types"] if "datadog" in t.lower()]
