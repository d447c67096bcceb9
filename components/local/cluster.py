"""LocalCluster: the dev stack's cluster, which already exists on the
engineer's machine. It creates no cloud resources, only the provider."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.runtime import IngressFacts, PodRuntime
from components.moves import moved_from
from devenv.node_network import NodeNetwork
from devenv.paths import local_kubeconfig, port_offset, real_node_dir
from devenv.real_node import REAL_NODE_LABEL, REAL_NODE_TAINT, pod_host_path
from settings.local.cluster import LocalSettings


@dataclass(frozen=True)
class LocalClusterArgs:
    settings: LocalSettings


class LocalCluster(pulumi.ComponentResource):
    """The Kubernetes provider for a local cluster chosen by kubeconfig and context.

    The project's own control plane (`make cluster-up`) is the default; kind,
    minikube or Docker Desktop work by changing `local.context` (and
    `local.kubeconfig` if they write elsewhere)."""

    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    ingress: IngressFacts
    pods: PodRuntime
    protected_addresses: tuple[str, ...]
    """Addresses no service pod may reach, excepted from every declared egress range that
    covers them: on the real node, the address that plays the metadata endpoint."""

    def __init__(self, name: str, args: LocalClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:local:LocalCluster", name, None, moved_from("platform:cluster:LocalCluster", opts))
        settings = args.settings
        # Only the path goes into state: the file's credentials stay on disk.
        path = os.path.expanduser(settings.kubeconfig) if settings.kubeconfig else str(local_kubeconfig())
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=path,
            context=settings.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cluster_name = pulumi.Output.from_input(settings.context)
        self.kubeconfig = pulumi.Output.secret(path)
        # kind or minikube with an ingress controller: the class and namespace come from config.
        # Nothing publishes a load balancer status locally, and no Key Vault serves certificates.
        self.ingress = IngressFacts(
            class_name=settings.ingress_class_name,
            controller_namespace=settings.ingress_controller_namespace,
            skip_await=True,
            serves_tls=False,
        )
        self.pods = pod_runtime(settings)
        self.protected_addresses = (f"{NodeNetwork(port_offset()).metadata_endpoint}/32",) if settings.real_node else ()
        self.register_outputs({"clusterName": self.cluster_name, "kubeconfig": self.kubeconfig})


def pod_runtime(settings: LocalSettings) -> PodRuntime:
    """The services' images as `images` maps them and, with `realNode`, the real node's placement."""
    if not settings.real_node:
        return PodRuntime(image=settings.image)
    return PodRuntime(
        image=settings.image,
        # The node is tainted so that only pods asking for it land there (devenv/real_node.py).
        tolerations=({**REAL_NODE_TAINT, "operator": "Equal"},),
        node_selector=((REAL_NODE_LABEL, "true"),),
        # Never, not IfNotPresent: the node's containerd holds only the images `make dev`
        # imported, and with Never a missing one fails at once, naming it ("Container image
        # ... is not present with pull policy of Never", ErrImageNeverPull: kubernetes v1.34.4
        # pkg/kubelet/images/image_manager.go). IfNotPresent would try a registry instead,
        # where docker.io/local/* is a Docker Hub namespace this project does not own.
        image_pull_policy="Never",
        # The node's own socket, logs and directories, never the host's (devenv/real_node.py).
        host_path=functools.partial(pod_host_path, real_node_dir(), NodeNetwork(port_offset())),
    )
