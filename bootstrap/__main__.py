"""The bootstrap program: validate the stack's config, build what the platform stacks need before
their first deploy, and export what a person pastes into the repository and the stacks.
Everything else lives in components/bootstrap/ and settings/bootstrap/."""

from __future__ import annotations

import sys
from pathlib import Path

# The project's code lives one directory up (the language host puts only bootstrap/ on the path);
# hence the imports below it (pyproject.toml lets this file have them there).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
from pulumi_azure_native import authorization

from components.bootstrap.access import PipelineAccess, PipelineAccessArgs
from components.bootstrap.identities import GithubIdentities, GithubIdentitiesArgs
from components.bootstrap.outputs import github_setup, platform_settings
from components.bootstrap.resource_groups import PlatformResourceGroups, PlatformResourceGroupsArgs
from components.bootstrap.runner_network import RunnerNetwork, RunnerNetworkArgs
from components.bootstrap.runners import GithubRunners, GithubRunnersArgs, runner_image_tag
from components.bootstrap.secrets_provider import SecretsProvider, SecretsProviderArgs
from components.bootstrap.state_backend import StateBackend, StateBackendArgs
from settings.bootstrap.loader import check_signed_in, load_bootstrap

# Validate everything first: a bad config registers no resource at all.
loaded = load_bootstrap()
s, stack = loaded.settings, loaded.stack
client = authorization.get_client_config()
check_signed_in(stack, s, client.subscription_id)
tags = {"managed-by": "pulumi", "project": "platform", "stack": f"bootstrap/{stack}"}

groups = PlatformResourceGroups(
    "groups",
    PlatformResourceGroupsArgs(
        subscription_id=s.subscription_id,
        location=s.location,
        bootstrap_group=s.resource_group_name,
        platform_groups={e: s.group_name(e) for e in s.environments},
        existing=frozenset(e for e, env in s.environments.items() if env.existing_group),
        tags=tags,
    ),
)
home = groups.bootstrap.name
state = StateBackend("state", StateBackendArgs(s.state_backend, s.account_name(stack), home, s.location, tags))
secrets = SecretsProvider(
    "secrets",
    SecretsProviderArgs(
        s.secrets_vault, s.vault_name(stack), tuple(s.environments), home, s.location, client.tenant_id, tags
    ),
)
identities = GithubIdentities("github", GithubIdentitiesArgs(s.github, dict(s.environments), home, s.location, tags))
PipelineAccess(
    "access",
    PipelineAccessArgs(
        subscription_id=s.subscription_id,
        groups={e: g.id for e, g in groups.platform.items()},
        keys=secrets.key_ids,
        state_container=state.container_id,
        deploy={e: i.principal_id for e, i in identities.deploy.items()},
        preview=identities.preview.principal_id,
        admin=client.object_id,
        admin_type=s.admin_principal_type,
    ),
)
net = RunnerNetwork("runner-network", RunnerNetworkArgs(s.runners, home, s.location, tags))
runners = GithubRunners(
    "runners",
    GithubRunnersArgs(
        settings=s.runners,
        github=s.github,
        registry_name=s.registry_name(stack),
        image_tag=runner_image_tag(),
        resource_group_name=home,
        location=s.location,
        subscription_id=s.subscription_id,
        vault_name=s.vault_name(stack),
        subnet_id=net.subnet_id,
        app_private_key=loaded.github_app_private_key,
        tags=tags,
    ),
    opts=pulumi.ResourceOptions(depends_on=[secrets]),
)

deploy_ids = {e: i.client_id for e, i in identities.deploy.items()}
pulumi.export("subscriptionId", s.subscription_id)
pulumi.export("tenantId", client.tenant_id)
pulumi.export("backendUrl", state.backend_url)
pulumi.export("storageAccount", state.account_name)
pulumi.export("secretsProviders", secrets.urls)
pulumi.export("deployClientIds", deploy_ids)
pulumi.export("previewClientId", identities.preview.client_id)
pulumi.export("runnerEgressIp", net.egress_ip)
pulumi.export("runnerLabels", s.runners.labels)
pulumi.export("runnerImage", runners.image)
pulumi.export("runnerRegistry", s.registry_name(stack))
pulumi.export("resourceGroups", {e: s.group_name(e) for e in s.environments})
pulumi.export("githubSetup", github_setup(s, client.tenant_id, state, deploy_ids, identities.preview.client_id))
pulumi.export("platformSettings", platform_settings(s, net.egress_ip))
