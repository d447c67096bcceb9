"""GithubRunners: self-hosted GitHub Actions runners as an event-driven Container Apps job, as in
Microsoft's tutorial "Deploy self-hosted CI/CD runners and agents with Azure Container Apps jobs"
(MicrosoftDocs/azure-docs articles/container-apps/tutorial-ci-cd-runners-jobs.md @ 0219833c),
with a GitHub App instead of a personal token: KEDA's `github-runner` scaler starts one ephemeral
runner per queued job that asks for the runners' labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_azure_native import app, containerregistry, keyvault, managedidentity

from components.bootstrap import roles
from settings.bootstrap.config import GithubSettings, RunnerSettings

RUNNER_DIR = Path(__file__).resolve().parent.parent.parent / "bootstrap" / "runner"
IMAGE_REPOSITORY = "github-runner"
APP_KEY_SECRET = "github-app-key"


def runner_image_tag(directory: Path = RUNNER_DIR) -> str:
    """The runner image's tag: a hash of its build context, so a change of the Dockerfile or the
    entrypoint is a new image (`make bootstrap` builds it when the registry lacks it)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def scaler_metadata(github: GithubSettings, labels: list[str]) -> dict[str, str]:
    """The KEDA github-runner scaler's metadata. Keys as KEDA's source spells them (kedacore/keda
    pkg/scalers/github_runner_scaler.go @ 05b3da7d struct tags: `githubApiURL`, not the tutorial's
    `githubAPIURL`); with applicationID, installationID and the `appKey` auth parameter it signs in
    as the GitHub App (keda-docs content/docs/2.17/scalers/github-runner.md @ 15344ea6)."""
    return {
        "githubApiURL": github.api_url,
        "owner": github.owner,
        "runnerScope": github.runner_scope,
        "repos": github.repository,
        "labels": ",".join(labels),
        "targetWorkflowQueueLength": "1",
        "applicationID": str(github.app_id),
        "installationID": str(github.installation_id),
    }


def runner_environment(github: GithubSettings, labels: list[str]) -> dict[str, str]:
    """What bootstrap/runner/entrypoint.sh reads, besides the App's private key."""
    if github.runner_scope == "org":
        scope_url, token_api = f"{github.server_url}/{github.owner}", f"{github.api_url}/orgs/{github.owner}"
    else:
        scope_url, token_api = f"{github.server_url}/{github.slug}", f"{github.api_url}/repos/{github.slug}"
    return {
        "GITHUB_API_URL": github.api_url,
        "GITHUB_APP_ID": str(github.app_id),
        "GITHUB_APP_INSTALLATION_ID": str(github.installation_id),
        "RUNNER_SCOPE_URL": scope_url,
        "REGISTRATION_TOKEN_API_URL": f"{token_api}/actions/runners/registration-token",
        "RUNNER_LABELS": ",".join(labels),
    }


@dataclass(frozen=True)
class GithubRunnersArgs:
    settings: RunnerSettings
    github: GithubSettings
    registry_name: str
    image_tag: str
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: str
    vault_name: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    app_private_key: pulumi.Input[str]
    """A secret Output: it goes to the vault, never into the job's definition."""
    tags: dict[str, str]


class GithubRunners(pulumi.ComponentResource):
    """The runner image's registry, the job's identity (AcrPull on the registry, Key Vault Secrets User
    on the App key only, and available to the platform alone, not to the workflows the runners run),
    the App key in the secrets vault, the Container Apps environment in the runners' subnet, and the job."""

    image: pulumi.Output[str]
    registry_login_server: pulumi.Output[str]
    job_name: pulumi.Output[str]

    def __init__(self, name: str, args: GithubRunnersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:GithubRunners", name, None, opts)
        self._args = args
        registry = self._build_registry()
        identity = self._build_identity()
        secret = self._build_app_key_secret()
        grants = self._build_grants(identity, registry, secret)
        environment = self._build_environment()
        self.registry_login_server = registry.login_server
        self.image = pulumi.Output.concat(registry.login_server, f"/{IMAGE_REPOSITORY}:{args.image_tag}")
        job = self._build_job(identity, secret, environment, grants)
        self.job_name = job.name
        self.register_outputs(
            {"image": self.image, "registryLoginServer": self.registry_login_server, "jobName": self.job_name}
        )

    def _child(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    def _build_registry(self) -> containerregistry.Registry:
        a = self._args
        return containerregistry.Registry(
            "acr-runners",
            registry_name=a.registry_name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            sku={"name": "Basic"},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            tags=a.tags,
            opts=self._child(),
        )

    def _build_identity(self) -> managedidentity.UserAssignedIdentity:
        a = self._args
        return managedidentity.UserAssignedIdentity(
            "id-github-runner",
            resource_name_="id-github-runner",
            resource_group_name=a.resource_group_name,
            location=a.location,
            tags=a.tags,
            opts=self._child(),
        )

    def _build_app_key_secret(self) -> keyvault.Secret:
        a = self._args
        return keyvault.Secret(
            APP_KEY_SECRET,
            secret_name=APP_KEY_SECRET,
            vault_name=a.vault_name,
            resource_group_name=a.resource_group_name,
            properties={"value": a.app_private_key, "content_type": "application/x-pem-file"},
            opts=self._child(additional_secret_outputs=["properties"]),
        )

    def _build_grants(
        self,
        identity: managedidentity.UserAssignedIdentity,
        registry: containerregistry.Registry,
        secret: keyvault.Secret,
    ) -> list[pulumi.Resource]:
        a = self._args
        return [
            roles.assign(
                f"runner-{label}",
                role_id=role_id,
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                scope=scope,
                subscription_id=a.subscription_id,
                opts=self._child(),
            )
            for label, role_id, scope in (
                ("acr-pull", roles.ACR_PULL, registry.id),
                ("app-key-secrets-user", roles.KEY_VAULT_SECRETS_USER, secret.id),
            )
        ]

    def _build_environment(self) -> app.ManagedEnvironment:
        a = self._args
        # A workload profiles environment (the Consumption profile): the only kind that egresses through
        # a NAT gateway; internal, as it serves nothing.
        return app.ManagedEnvironment(
            "cae-runners",
            environment_name="cae-runners",
            resource_group_name=a.resource_group_name,
            location=a.location,
            workload_profiles=[{"name": "Consumption", "workload_profile_type": "Consumption"}],
            vnet_configuration={"infrastructure_subnet_id": a.subnet_id, "internal": True},
            tags=a.tags,
            opts=self._child(),
        )

    def _build_job(
        self,
        identity: managedidentity.UserAssignedIdentity,
        secret: keyvault.Secret,
        environment: app.ManagedEnvironment,
        grants: list[pulumi.Resource],
    ) -> app.Job:
        a, s = self._args, self._args.settings
        env = [{"name": k, "value": v} for k, v in runner_environment(a.github, s.labels).items()]
        env.append({"name": "GITHUB_APP_PRIVATE_KEY", "secret_ref": APP_KEY_SECRET})
        rule = {
            "name": "github-runner",
            "type": "github-runner",
            "metadata": scaler_metadata(a.github, s.labels),
            "auth": [{"secret_ref": APP_KEY_SECRET, "trigger_parameter": "appKey"}],
        }
        return app.Job(
            "github-runner",
            job_name="github-runner",
            resource_group_name=a.resource_group_name,
            location=a.location,
            environment_id=environment.id,
            workload_profile_name="Consumption",
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            configuration={
                "trigger_type": "Event",
                "replica_timeout": s.replica_timeout_seconds,
                "replica_retry_limit": 0,
                "event_trigger_config": {
                    "parallelism": 1,
                    "replica_completion_count": 1,
                    "scale": {
                        "min_executions": 0,
                        "max_executions": s.max_executions,
                        "polling_interval": s.polling_interval_seconds,
                        "rules": [rule],
                    },
                },
                # A Key Vault reference: the platform reads the secret with the identity (secretUri, the
                # latest version; pulumi_azure_native 3.29.0 app/_inputs.py SecretArgs key_vault_url, identity).
                "secrets": [
                    {"name": APP_KEY_SECRET, "key_vault_url": secret.properties.secret_uri, "identity": identity.id}
                ],
                "registries": [
                    {"server": pulumi.Output.concat(a.registry_name.lower(), ".azurecr.io"), "identity": identity.id}
                ],
                # "None": the identity serves the platform (image pull, the Key Vault reference) and is not
                # handed to the containers, so a workflow on the runner cannot take its token
                # (app/_inputs.py IdentitySettingsArgs.lifecycle;
                # https://learn.microsoft.com/azure/container-apps/managed-identity).
                "identity_settings": [{"identity": identity.id, "lifecycle": "None"}],
            },
            template={
                "containers": [
                    {
                        "name": "runner",
                        "image": self.image,
                        "resources": {"cpu": s.cpu, "memory": s.memory},
                        "env": env,
                    }
                ]
            },
            tags=a.tags,
            # The identity must hold its roles before the platform pulls the image or reads the key.
            opts=self._child(depends_on=grants),
        )
