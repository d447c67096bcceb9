"""GithubIdentities: user-assigned managed identities the workflows sign in as through GitHub's
OIDC tokens (no client secret anywhere), one per job kind: a deploy identity per platform stack,
trusted only from that stack's protected GitHub environment, and one preview identity for pull
requests and the scheduled drift check."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

from settings.bootstrap.config import EnvironmentSettings, GithubSettings

# docs.github.com/en/actions/reference/security/oidc: the issuer, and the subject claims
# "repo:<org>/<repo>:environment:<environmentName>" (a job that references an environment),
# "repo:<org>/<repo>:pull_request" (a pull_request workflow, no environment) and
# "repo:<org>/<repo>:ref:refs/heads/<branch>" (otherwise, e.g. schedule on the default branch).
ISSUER = "https://token.actions.githubusercontent.com"
# azure/login's default `audience` input; a federated credential takes exactly one audience
# (MicrosoftDocs/entra-docs docs/workload-id/workload-identity-federation-considerations.md @ 03ffb81c).
AUDIENCE = "api://AzureADTokenExchange"


def deploy_subjects(github: GithubSettings, environment: EnvironmentSettings) -> dict[str, str]:
    """Credential name -> subject: the deploy identity trusts its GitHub environment only."""
    return {environment.credential_name: f"repo:{github.slug}:environment:{environment.github_environment}"}


def preview_subjects(github: GithubSettings) -> dict[str, str]:
    """Credential name -> subject: pull requests, and the default branch (the scheduled drift check)."""
    return {
        "github-pull-request": f"repo:{github.slug}:pull_request",
        "github-default-branch": f"repo:{github.slug}:ref:refs/heads/{github.default_branch}",
    }


@dataclass(frozen=True)
class GithubIdentitiesArgs:
    github: GithubSettings
    environments: dict[str, EnvironmentSettings]
    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str]


class GithubIdentities(pulumi.ComponentResource):
    """The identities and their federated credentials. Azure refuses concurrent credential writes on
    one identity (409; entra-docs workload-identity-federation-considerations.md), so each identity's
    credentials are created one after the other; different identities' run in parallel."""

    deploy: dict[str, managedidentity.UserAssignedIdentity]
    preview: managedidentity.UserAssignedIdentity

    def __init__(self, name: str, args: GithubIdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:GithubIdentities", name, None, opts)
        self._args = args
        self.deploy = {
            stack: self._build_identity(f"id-platform-deploy-{stack}", deploy_subjects(args.github, environment))
            for stack, environment in args.environments.items()
        }
        self.preview = self._build_identity("id-platform-preview", preview_subjects(args.github))
        self.register_outputs(
            {
                "deployClientIds": {stack: i.client_id for stack, i in self.deploy.items()},
                "previewClientId": self.preview.client_id,
            }
        )

    def _build_identity(self, identity_name: str, subjects: dict[str, str]) -> managedidentity.UserAssignedIdentity:
        a = self._args
        identity = managedidentity.UserAssignedIdentity(
            identity_name,
            resource_name_=identity_name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            tags=a.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        previous: list[pulumi.Resource] = []
        for credential, subject in subjects.items():
            created = managedidentity.FederatedIdentityCredential(
                f"{identity_name}-{credential}",
                resource_group_name=a.resource_group_name,
                resource_name_=identity.name,
                federated_identity_credential_resource_name=credential,
                issuer=ISSUER,
                subject=subject,
                audiences=[AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [created]
        return identity
