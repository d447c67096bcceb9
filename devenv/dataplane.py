"""The local cluster's data plane, for its real nodes: what AKS runs for every cluster.

- kube-proxy (nftables mode): Services reach ready pods through their ClusterIP;
- CoreDNS, as pods in kube-system labelled k8s-app=kube-dns behind the kube-dns
  Service, as on AKS: pods resolve Services by name, and the services' egress
  policies open DNS to exactly those pods;
- metrics-server behind the aggregation layer, scraping the real kubelets: the
  HorizontalPodAutoscalers get CPU metrics;
- kube-router with its firewall alone: NetworkPolicies are enforced on real packets
  (prod enforces them with Cilium; docs/testing.md says where the two differ).

kube-proxy, kube-router and metrics-server are processes in the cluster's network
namespace (devenv/node_network.py), each with the nodes' kubeconfig; CoreDNS runs
as pods on the real nodes. Versions: toolchain/versions.env. Flags, settings and
pitfalls: shared/notes/data-plane-facts.md."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devenv.node_network import NodeNetwork
from devenv.paths import tools_bin

KUBE_PROXY = "kube-proxy"
KUBE_ROUTER = "kube-router"
METRICS_SERVER = "metrics-server"
PROCESSES = (KUBE_PROXY, KUBE_ROUTER, METRICS_SERVER)
DNS_LABELS = {"k8s-app": "kube-dns"}
COREDNS = "coredns"
REAL_NODE_SELECTOR = {"platform/real-node": "true"}
# What the real nodes carry (devenv/real_node.py REAL_NODE_TAINT), tolerated by the add-on pods.
REAL_NODE_TOLERATION = {"key": "platform/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
# AKS's system pool taint: CoreDNS runs there on AKS, and tolerates it (a node tainted so).
SYSTEM_POOL_TOLERATION = {"key": "CriticalAddonsOnly", "operator": "Exists"}


def log(message: str) -> None:
    print(f"[data-plane {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------ kube-proxy


def kube_proxy_config(network: NodeNetwork, kubeconfig: Path, node_name: str, port_offset: int) -> dict:
    """nftables mode; every setting that would touch the host's own sysctls left alone
    (kubernetes v1.34.4 pkg/proxy/apis/config/types.go KubeProxyConfiguration;
    data-plane facts note: conntrack zeros, no localhost NodePorts)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "clusterCIDR": network.block,
        "detectLocalMode": "ClusterCIDR",
        "bindAddress": network.node_ip,
        "healthzBindAddress": f"127.0.0.1:{10256 + port_offset}",
        "metricsBindAddress": f"127.0.0.1:{10249 + port_offset}",
        "nodePortAddresses": [network.block],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False},
    }


# ----------------------------------------------------------------- kube-router


def kube_router_args(network: NodeNetwork, kubeconfig: Path, node_name: str) -> list[str]:
    """The NetworkPolicy firewall alone: no routing, no service proxy, no load balancer.
    Every real node shares the node IP, so this one instance enforces for the pods of
    all of them (it enforces for pods whose hostIP is its node's)."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--health-port=0",
        "--metrics-port=0",
        f"--service-cluster-ip-range={network.service_cidr}",
        "--enable-ipv6=false",
    ]


# -------------------------------------------------------------- metrics-server


def metrics_server_port(port_offset: int) -> int:
    return 10450 + port_offset


def metrics_server_args(network: NodeNetwork, kubeconfig: Path, cert_dir: Path, port: int) -> list[str]:
    """Scrapes only the real nodes' kubelets (kwok's have none), by node IP and their
    status port, every 15 s (sigs.k8s.io/metrics-server v0.8.1 cmd/metrics-server/app/options)."""
    return [
        f"--bind-address={network.node_ip}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--kubelet-insecure-tls",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--node-selector=platform/real-node=true",
        "--metric-resolution=15s",
    ]


def metrics_api_objects(network: NodeNetwork, port: int) -> list[dict]:
    """The aggregated metrics.k8s.io API, served by the process on the node IP: a Service
    without selector, its EndpointSlice and the APIService (an EndpointSlice may not name
    a loopback address, hence the node IP)."""
    labels = {"app.kubernetes.io/name": METRICS_SERVER, "app.kubernetes.io/managed-by": "local-cluster"}
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": METRICS_SERVER, "namespace": "kube-system", "labels": labels},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": METRICS_SERVER, "namespace": "kube-system",
                      "labels": {**labels, "kubernetes.io/service-name": METRICS_SERVER}},
         "addressType": "IPv4",
         "endpoints": [{"addresses": [network.node_ip], "conditions": {"ready": True}}],
         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
         "spec": {"service": {"name": METRICS_SERVER, "namespace": "kube-system", "port": 443},
                  "group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                  "groupPriorityMinimum": 100, "versionPriority": 100}},
    ]  # fmt: skip


# --------------------------------------------------------------------- CoreDNS


def corefile() -> str:
    """cluster.local and reverse lookups from the API; no `forward`, so a name outside
    the cluster gets an error and nothing leaves the machine."""
    return """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def coredns_objects(network: NodeNetwork, image: str) -> list[dict]:
    """CoreDNS as AKS runs it: pods labelled k8s-app=kube-dns in kube-system behind the
    kube-dns Service at the range's 10th address (the kubelets' clusterDNS). It reads the
    API through the `kubernetes` Service (its endpoint is the node link's API relay)."""
    meta = {"namespace": "kube-system", "labels": {**DNS_LABELS, "app.kubernetes.io/managed-by": "local-cluster"}}
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    container = {
        "name": COREDNS,
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"},
                  {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        # Port 53 needs NET_BIND_SERVICE, and nothing else (as the upstream CoreDNS manifests).
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": COREDNS, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "local-cluster:coredns"}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "local-cluster:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "local-cluster:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": COREDNS, "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": COREDNS, **meta},
         "data": {"Corefile": corefile()}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": COREDNS, **meta},
         "spec": {"replicas": 1, "selector": {"matchLabels": DNS_LABELS},
                  "template": {"metadata": {"labels": DNS_LABELS},
                               "spec": {"serviceAccountName": COREDNS, "dnsPolicy": "Default",
                                        "nodeSelector": REAL_NODE_SELECTOR,
                                        "tolerations": [REAL_NODE_TOLERATION, SYSTEM_POOL_TOLERATION],
                                        "containers": [container],
                                        "volumes": [{"name": "config", "configMap": {"name": COREDNS}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", **meta},
         "spec": {"selector": DNS_LABELS, "clusterIP": network.dns_ip,
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]  # fmt: skip


# ------------------------------------------------------------------- lifecycle


def apply(api_client: Any, objects: list[dict]) -> None:
    """Create or replace each object, by server-side apply (the add-ons' own field manager)."""
    from kubernetes import dynamic

    client = dynamic.DynamicClient(api_client)
    for obj in objects:
        resource = client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        client.server_side_apply(
            resource, body=obj, name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"),
            field_manager="local-cluster", force_conflicts=True,
        )  # fmt: skip


def up(
    network: NodeNetwork,
    start: Callable[[str, list[str]], object],
    stop: Callable[[str], object],
    api_client: Any,
    kubeconfig: Path,
    work: Path,
    coredns_image: str,
    port_offset: int,
) -> None:
    """Start kube-proxy, kube-router and metrics-server in the cluster's network, and put
    CoreDNS and the metrics API into the cluster. `start(name, command)` and `stop(name)`
    are the cluster's own (pid file, log)."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "kube-proxy.json"
    wanted = json.dumps(kube_proxy_config(network, kubeconfig, "real-0", port_offset), indent=2)
    # kube-proxy watches its config file and exits when it is written ("content of the proxy
    # server's configuration file was updated": kubernetes v1.34.4 cmd/kube-proxy/app/options.go),
    # so a `make dev` of a running cluster leaves an unchanged file alone, and a changed one is
    # written with kube-proxy stopped, then started again below.
    if not config.exists() or config.read_text() != wanted:
        stop(KUBE_PROXY)
        config.write_text(wanted)
    start(KUBE_PROXY, network.command(str(tools_bin() / KUBE_PROXY), f"--config={config}"))
    start(
        KUBE_ROUTER, network.command(str(tools_bin() / KUBE_ROUTER), *kube_router_args(network, kubeconfig, "real-0"))
    )
    port = metrics_server_port(port_offset)
    args = metrics_server_args(network, kubeconfig, work / "metrics-server-certs", port)
    start(METRICS_SERVER, network.command(str(tools_bin() / METRICS_SERVER), *args))
    apply(api_client, metrics_api_objects(network, port))
    apply(api_client, coredns_objects(network, coredns_image))
    log("kube-proxy, kube-router and metrics-server started; CoreDNS and the metrics API applied")
