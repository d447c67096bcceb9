"""A program that breaks the guardrails on purpose, to prove the policy pack
stops it in a real `pulumi preview`. Not part of the platform."""

import pulumi
import pulumi_kubernetes as k8s

provider = k8s.Provider("k8s", kubeconfig=pulumi.Config().require("kubeconfig"))
opts = pulumi.ResourceOptions(provider=provider)
k8s.apps.v1.Deployment(
    "careless",
    metadata={"name": "careless", "namespace": "default"},
    spec={
        "selector": {"match_labels": {"app": "careless"}},
        "template": {
            "metadata": {"labels": {"app": "careless"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]},
        },
    },
    opts=opts,
)
k8s.core.v1.Service(
    "exposed",
    metadata={"name": "exposed", "namespace": "default"},
    spec={"type": "LoadBalancer", "selector": {"app": "careless"}, "ports": [{"port": 80}]},
    opts=opts,
)
k8s.core.v1.Secret(
    "leaky",
    metadata={"name": "leaky", "namespace": "default"},
    string_data={"PASSWORD": "hunter2"},
    opts=opts,
)
