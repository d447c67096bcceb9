"""The platform program: validate the stack's config, build the cluster, one
Service per entry of the `services` map, Datadog where enabled, and export.
Everything else lives in components/."""

from __future__ import annotations

import pulumi

from components.datadog.agent import LOCAL_SERVICE_HOST
from components.kubernetes.runtime import PodRuntime
from components.service.service import Service, ServiceArgs
from components.service.workload import ClusterFacts
from settings import load_settings
from settings.loader import check_signed_in_subscription

# Validate everything first: a bad config registers no resource at all.
config = load_settings()
settings = config.settings
stack = config.stack
environment = settings.environment
cluster_name = settings.cluster_name(stack)

if settings.target == "aks":
    from pulumi_azure_native import authorization

    from components.azure.aks_cluster import AksCluster, AksClusterArgs

    # Still before any resource: the stack's names hash its subscription, and the stack belongs there.
    check_signed_in_subscription(stack, settings, authorization.get_client_config().subscription_id)
    cluster = AksCluster(
        "aks",
        AksClusterArgs(
            stack=stack,
            environment=environment,
            cluster_name=cluster_name,
            settings=settings.aks,
            key_vault_certificates=settings.uses_key_vault_certificates,
        ),
    )
    pulumi.export("resourceGroupName", cluster.resource_group_name)
    pulumi.export("oidcIssuerUrl", cluster.oidc_issuer_url)
    pods = PodRuntime()
    protected: tuple[str, ...] = ()
else:
    from components.local.cluster import LocalCluster, LocalClusterArgs

    cluster = LocalCluster("local", LocalClusterArgs(settings=settings.local))
    pods = cluster.pods
    protected = cluster.protected_addresses

# Every Kubernetes object goes through this one explicit provider.
on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])
facts = ClusterFacts(
    kubernetes_minor=settings.kubernetes_minor,
    spread_across_zones=settings.has_zones,
    ingress=cluster.ingress,
    # Where app pods send DogStatsD and traces: the node agents' local Service.
    datadog_agent_host=LOCAL_SERVICE_HOST if settings.datadog.enabled else None,
    pods=pods,
    protected_addresses=protected,
)

services = {
    name: Service(
        name,
        ServiceArgs(
            name=name,
            spec=spec,
            environment=environment,
            cluster=facts,
            secrets=config.secrets.service_secrets.get(name, {}),
        ),
        opts=on_cluster,
    )
    for name, spec in settings.services.items()
}

if settings.datadog.enabled:
    from components.datadog.agent import DatadogAgent, DatadogAgentArgs

    assert config.secrets.datadog_api_key is not None
    assert config.secrets.datadog_cluster_agent_token is not None
    DatadogAgent(
        "datadog",
        DatadogAgentArgs(
            settings=settings.datadog,
            cluster_name=cluster_name,
            environment=environment,
            api_key=config.secrets.datadog_api_key,
            cluster_agent_token=config.secrets.datadog_cluster_agent_token,
            pods=pods,
        ),
        opts=on_cluster,
    )
    if settings.datadog.monitors_enabled:
        # Imported here only: pulumi_datadog alone costs ~11 s and 240 MB.
        from components.datadog.monitors import DatadogMonitors, DatadogMonitorsArgs
        from components.service.monitors import monitor_specs

        assert config.secrets.datadog_app_key is not None
        DatadogMonitors(
            "monitors",
            DatadogMonitorsArgs(
                settings=settings.datadog,
                monitors=monitor_specs(settings.datadog, dict(settings.services), cluster_name, environment),
                api_key=config.secrets.datadog_api_key,
                app_key=config.secrets.datadog_app_key,
            ),
        )

pulumi.export("clusterName", cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("serviceNamespaces", {name: service.namespace for name, service in services.items()})
