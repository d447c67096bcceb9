"""What the bootstrap stack hands a person: the exact `gh` commands for the repository's settings,
and the values the platform stacks take into Pulumi.yaml (make adopt-bootstrap). Not a component."""

from __future__ import annotations

import json
import shlex

import pulumi

from components.bootstrap.state_backend import StateBackend
from settings.bootstrap.config import BootstrapSettings

# The variables the workflows read (.github/workflows; tests/test_workflows.py checks each job's use).
PREVIEW_CLIENT_ID = "AZURE_PREVIEW_CLIENT_ID"
DEPLOY_CLIENT_ID = "AZURE_DEPLOY_CLIENT_ID"


def github_commands(
    settings: BootstrapSettings, tenant_id: str, backend_url: str, deploy: dict[str, str], preview: str
) -> list[str]:
    """The commands, in order: repository variables, then each environment (created first, with its
    reviewers where it asks for approval) and its own deploy identity's client ID."""
    repo = settings.github.slug
    q = shlex.quote

    def variable(name: str, value: str, env: str | None = None) -> str:
        scope = f" --env {q(env)}" if env else ""
        return f"gh variable set {name} --repo {q(repo)}{scope} --body {q(value)}"

    lines = [
        f"# Repository settings of {repo}: run with a gh signed in as one of its admins (gh auth login).",
        variable("AZURE_TENANT_ID", tenant_id),
        variable("AZURE_SUBSCRIPTION_ID", settings.subscription_id),
        variable("PULUMI_BACKEND_URL", backend_url),
        variable(PREVIEW_CLIENT_ID, preview),
    ]
    for stack, environment in settings.environments.items():
        name = environment.github_environment
        # GitHub REST "Create or update an environment" (PUT /repos/{owner}/{repo}/environments/{name}).
        body = (
            {"reviewers": [r.model_dump() for r in settings.github.production_reviewers]}
            if environment.approval
            else {}
        )
        api = f"gh api --method PUT {q(f'repos/{repo}/environments/{name}')} --silent --input -"
        lines.append(f"echo {q(json.dumps(body))} | {api}")
        lines.append(variable(DEPLOY_CLIENT_ID, deploy[stack], env=name))
    lines.append(
        "# No `gh secret set`: the workflows hold no secret. The stacks' secrets are under azurekeyvault://"
        " (make adopt-bootstrap), the runners' App key in Key Vault. Once both stacks have moved:"
        f" gh secret delete PULUMI_CONFIG_PASSPHRASE --repo {q(repo)}"
    )
    return lines


def github_setup(
    settings: BootstrapSettings,
    tenant_id: str,
    state: StateBackend,
    deploy: dict[str, pulumi.Output[str]],
    preview: pulumi.Output[str],
) -> pulumi.Output[str]:
    """github_commands, as the one output a person pipes to bash (make adopt-bootstrap does)."""
    stacks = list(deploy)
    return pulumi.Output.all(state.backend_url, preview, *deploy.values()).apply(
        lambda values: (
            "\n".join(
                github_commands(settings, tenant_id, values[0], dict(zip(stacks, values[2:], strict=True)), values[1])
            )
            + "\n"
        )
    )


def platform_settings(settings: BootstrapSettings, egress_ip: pulumi.Output[str]) -> pulumi.Output[dict[str, str]]:
    """The lines of the platform's Pulumi.yaml marked `bootstrap output` (make adopt-bootstrap writes them)."""
    return egress_ip.apply(lambda ip: {"subscriptionId": settings.subscription_id, "runnerEgressIp": ip})
