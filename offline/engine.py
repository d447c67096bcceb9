"""Evaluate the real program (`__main__.py`) for a stack offline, under
Pulumi mocks: no cloud, no cluster, no Pulumi CLI.

Used by the unit tests and by `make render` / `make diff` / `make bench`. Each evaluation
gets a fresh event loop, fresh mocks and a fresh recording monitor. Config is
built the way the engine builds it: the project's values from Pulumi.yaml,
replaced key by key by the stack file's values. Azure invokes are answered
with realistic fakes (a kubelogin devicecode kubeconfig, a client config)."""

from __future__ import annotations

import asyncio
import base64
import json
import runpy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import run_in_stack, run_pulumi_func

ROOT = Path(__file__).resolve().parent.parent
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACKS = ("prod", "staging", "dev")

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION_ID = "00000000-1111-2222-3333-444444444444"
SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"  # AKS AAD server app, the same for every cluster
KUBELET_OBJECT_ID = "4b0e1e70-0000-0000-0000-0000000000a1"
APP_ROUTING_OBJECT_ID = "a99f0e70-0000-0000-0000-0000000000a2"


def devicecode_kubeconfig(cluster: str) -> str:
    """What listManagedClusterUserCredentials returns for an Entra ID cluster."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {
                        "certificate-authority-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode(),
                        "server": f"https://{cluster}-dns-abc123.hcp.japaneast.azmk8s.io:443",
                    },
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"clusterUser_{cluster}"}}],
            "current-context": cluster,
            "users": [
                {
                    "name": f"clusterUser_{cluster}",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "kubelogin",
                            "args": [
                                "get-token",
                                "--environment",
                                "AzurePublicCloud",
                                "--server-id",
                                SERVER_ID,
                                "--client-id",
                                "80faf920-1908-4b52-b5ef-a8e7bedfc67a",
                                "--tenant-id",
                                TENANT_ID,
                                "--login",
                                "devicecode",
                            ],
                            "env": None,
                            "installHint": "kubelogin is not installed",
                            "interactiveMode": "IfAvailable",
                            "provideClusterInfo": False,
                        }
                    },
                }
            ],
        },
        sort_keys=False,
    )


def principal_id_of(identity: str) -> str:
    """The principal (object) ID the mocks give the user-assigned identity registered as `identity`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-principal/{identity}"))


def client_id_of(identity: str) -> str:
    """The client ID the mocks give the user-assigned identity registered as `identity`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-client/{identity}"))


# ----------------------------------------------------------------- records


@dataclass
class Registration:
    type: str
    name: str
    inputs: dict[str, Any]
    """Deserialized inputs, secrets unwrapped."""
    raw: dict[str, Any]
    """Inputs as sent over the wire: secrets still wrapped in their marker."""
    provider: str
    parent: str
    protect: bool
    ignore_changes: list[str]
    urn: str
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for (depends_on and inputs from other resources)."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """Earlier identities of this resource (alias specs), so a move is not a replace."""
    delete_before_replace: bool = False
    hooks: dict[str, list[str]] = field(default_factory=dict)
    """Resource hooks by lifecycle point (before_update, ...), by name."""
    import_id: str = ""
    """The ID of an existing resource this registration imports (the `import_` option)."""


@dataclass
class Read:
    """A resource the program reads (`Resource.get`) rather than manages."""

    type: str
    name: str
    id: str
    parent: str
    urn: str


@dataclass
class Evaluation:
    stack: str
    resources: list[Registration]
    exports: dict[str, Any]
    raw_exports: dict[str, Any]
    calls: list[str] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def kubernetes(self) -> list[Registration]:
        return [
            r for r in self.resources if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes"
        ]

    def manifests(self) -> list[dict[str, Any]]:
        return [to_manifest(r) for r in self.kubernetes()]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def unwrap_secrets(value: Any) -> Any:
    """Plain values: every secret marker replaced by the value it wraps."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


# ------------------------------------------------------------------ mocks


class PlatformMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        # Azure responses differ in shape from their inputs (identity maps,
        # for one), so only the outputs the program reads are modelled.
        state = {} if args.typ.startswith("azure-native:") else dict(args.inputs)
        if args.typ == "azure-native:containerservice:ManagedCluster":
            state["name"] = args.inputs.get("resourceName", args.name)
            # The response maps identity id -> details where the input is a list.
            state["identity"] = {
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    i: {"principalId": "p", "clientId": "c"} for i in args.inputs["identity"]["userAssignedIdentities"]
                },
            }
            # Identities AKS creates: the kubelet's and the app routing add-on's.
            state["identityProfile"] = {"kubeletidentity": {"objectId": KUBELET_OBJECT_ID, "clientId": "c"}}
            state["ingressProfile"] = {
                "webAppRouting": {"enabled": True, "identity": {"objectId": APP_ROUTING_OBJECT_ID, "clientId": "c"}}
            }
            state["oidcIssuerProfile"] = {
                "enabled": True,
                "issuerURL": f"https://japaneast.oic.prod-aks.azure.com/{TENANT_ID}/{args.name}/",
            }
        identities = (args.inputs.get("identity") or {}).get("userAssignedIdentities")
        if args.typ.startswith("azure-native:") and isinstance(identities, list) and "identity" not in state:
            state["identity"] = {
                "type": args.inputs["identity"].get("type", "UserAssigned"),
                "userAssignedIdentities": {i: {"principalId": "p", "clientId": "c"} for i in identities},
            }
        if args.typ == "azure-native:keyvault:Vault":
            state["properties"] = {"vaultUri": f"https://{args.inputs['vaultName']}.vault.azure.net/"}
            state["name"] = args.inputs["vaultName"]
        if args.typ == "azure-native:keyvault:Key":
            key_uri = f"https://{args.inputs['vaultName']}.vault.azure.net/keys/{args.inputs['keyName']}"
            state.update(keyUri=key_uri, keyUriWithVersion=f"{key_uri}/0123456789abcdef")
        if args.typ == "azure-native:keyvault:Secret":
            secret_uri = f"https://{args.inputs['vaultName']}.vault.azure.net/secrets/{args.inputs['secretName']}"
            state["properties"] = {"secretUri": secret_uri, "secretUriWithVersion": f"{secret_uri}/0123456789abcdef"}
        if args.typ == "azure-native:storage:StorageAccount":
            state["name"] = args.inputs["accountName"]
        if args.typ == "azure-native:containerregistry:Registry":
            state["loginServer"] = f"{args.inputs['registryName'].lower()}.azurecr.io"
        if args.typ == "azure-native:network:PublicIPAddress":
            state["ipAddress"] = RUNNER_EGRESS_IP
        if args.typ == "azure-native:resources:ResourceGroup":
            # A read (ResourceGroup.get) has only its ID: the name is its last segment.
            read_name = (args.resource_id or "").rsplit("/", 1)[-1]
            state["name"] = args.inputs.get("resourceGroupName") or read_name or args.name
            state["location"] = args.inputs.get("location", "japaneast")
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = principal_id_of(args.name)
            state["clientId"] = client_id_of(args.name)
            state["name"] = args.inputs.get("resourceName", args.name)
        if args.typ in ("azure-native:network:VirtualNetwork", "azure-native:network:Subnet"):
            state["name"] = args.inputs.get("virtualNetworkName") or args.inputs.get("subnetName")
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            state["metadata"] = {"name": args.name, **dict(state["metadata"])}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.calls.append(args.token)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "c0ffee00-0000-0000-0000-000000000000",
                "objectId": "0b1ec700-0000-0000-0000-000000000000",
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }, []
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            kubeconfig = devicecode_kubeconfig(str(args.args.get("resourceName")))
            return {
                "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]
            }, []
        raise NotImplementedError(f"unmocked invoke {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: PlatformMocks) -> None:
        super().__init__(mocks)
        self.mocks = mocks
        self.registrations: list[Registration] = []
        self.reads: list[Read] = []
        self.stack_outputs: dict[str, Any] = {}
        self.raw_stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    inputs=unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.object)),
                    raw=json_format.MessageToDict(request.object),
                    provider=request.provider,
                    parent=request.parent,
                    protect=bool(request.protect),
                    ignore_changes=list(request.ignoreChanges),
                    urn=response.urn,
                    dependencies=list(request.dependencies),
                    aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    hooks={k: list(v) for k, v in json_format.MessageToDict(request.hooks).items()},
                    import_id=request.importId,
                )
            )
        return response

    def ReadResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().ReadResource(request)
        self.reads.append(Read(request.type, request.name, request.id, request.parent, response.urn))
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.raw_stack_outputs = json_format.MessageToDict(request.outputs)
            self.stack_outputs = unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


# ------------------------------------------------------------------ config


def _read_yaml(path: Path) -> dict[str, Any]:
    # The loader's reader: a key written twice is refused here too, not silently merged.
    from settings.loader import read_yaml

    return read_yaml(path)


def stack_file_config(stack: str) -> dict[str, Any]:
    """The `platform:*` values written in Pulumi.<stack>.yaml."""
    return dict(_read_yaml(ROOT / f"Pulumi.{stack}.yaml").get("config") or {})


def project_config() -> dict[str, Any]:
    """The project's config values from Pulumi.yaml, keyed as the engine keys them."""
    from settings.loader import NAMESPACE, read_project_base

    return {f"{NAMESPACE}:{key}": value for key, value in read_project_base().items()}


def _wire(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def engine_config(
    stack: str,
    stack_file: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    plain: dict[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Config as the engine hands it over: project values, replaced per key by stack values.

    `secrets` are set as `--secret` values; `plain` ones as plain values."""
    values = {**project_config(), **(stack_file if stack_file is not None else stack_file_config(stack))}
    config = {key: _wire(value) for key, value in values.items()}
    secret_keys = []
    for key, value in (secrets or {}).items():
        config[f"platform:{key}"] = _wire(value)
        secret_keys.append(f"platform:{key}")
    for key, value in (plain or {}).items():
        config[f"platform:{key}"] = _wire(value)
    return config, secret_keys


def placeholder_secrets(stack: str, stack_file: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stand-in value for every secret the stack's config asks for: the
    Datadog keys where Datadog is on, and each `secretEnv` name of each
    service. Derived from the validated config, so a new service needs no edit
    here. Values are recognisable, so tests can prove none ever leaks."""
    from settings.loader import ConfigError, validate_settings

    runtime = {
        key.split(":", 1)[1]: yaml.safe_load(value) for key, value in engine_config(stack, stack_file)[0].items()
    }
    try:
        settings = validate_settings(stack, runtime)
    except ConfigError:
        return {}  # the program itself reports the problem, registering nothing
    secrets: dict[str, Any] = {
        "serviceSecrets": {
            name: {variable: f"placeholder-secret-{name}-{variable}-{stack}" for variable in service.secret_env}
            for name, service in settings.services.items()
            if service.secret_env
        }
    }
    if settings.datadog.enabled:
        secrets["datadogApiKey"] = f"placeholder-secret-datadog-api-key-{stack}"
        secrets["datadogClusterAgentToken"] = f"placeholder-secret-datadog-cluster-agent-token-{stack}"
        if settings.datadog.monitors_enabled:
            secrets["datadogAppKey"] = f"placeholder-secret-datadog-app-key-{stack}"
    return secrets


def secret_values(secrets: dict[str, Any]) -> list[str]:
    """Every leaf value of a secrets map such as placeholder_secrets() returns."""
    if isinstance(secrets, dict):
        return [value for item in secrets.values() for value in secret_values(item)]
    return [str(secrets)]


# ----------------------------------------------------------------- running


def _run(
    project: str,
    program_path: Path,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor,
) -> Evaluation:
    """Run one program under `monitor`'s mocks, in a fresh event loop and a fresh root stack."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = monitor.mocks
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # set_mocks leaves a finished root Stack behind; run the program in a new
    # one, as the real entry point does, so its exports are recorded.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config, secret_keys)

    def program() -> None:
        runpy.run_path(str(program_path), run_name="__main__")

    try:
        loop.run_until_complete(run_pulumi_func(lambda: run_in_stack(program)))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return Evaluation(
        stack=stack,
        resources=monitor.registrations,
        exports=monitor.stack_outputs,
        raw_exports=monitor.raw_stack_outputs,
        calls=mocks.calls,
        reads=monitor.reads,
    )


def evaluate(
    stack: str,
    stack_file: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    plain: dict[str, Any] | None = None,
    monitor: RecordingMonitor | None = None,
) -> Evaluation:
    """Run `__main__.py` for `stack` under fresh mocks; raise what the program raises.

    Pass a fresh `monitor` to inspect what was registered before a failure."""
    if secrets is None:
        secrets = placeholder_secrets(stack, stack_file)
    config, secret_keys = engine_config(stack, stack_file, secrets, plain)
    monitor = monitor or RecordingMonitor(PlatformMocks())
    return _run("platform", ROOT / "__main__.py", stack, config, secret_keys, monitor)


# -------------------------------------------------------------- the bootstrap

BOOTSTRAP_DIR = ROOT / "bootstrap"
BOOTSTRAP_STACK = "main"
RUNNER_EGRESS_IP = "198.51.100.20"
"""The mocks' address for the runners' public IP: the one the platform's Pulumi.yaml admits."""
PLACEHOLDER_APP_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nplaceholder-secret-github-app-key\n-----END RSA PRIVATE KEY-----\n"
)


def bootstrap_stack_file_config(stack: str = BOOTSTRAP_STACK) -> dict[str, Any]:
    """The `bootstrap:*` values written in bootstrap/Pulumi.<stack>.yaml."""
    return dict(_read_yaml(BOOTSTRAP_DIR / f"Pulumi.{stack}.yaml").get("config") or {})


def evaluate_bootstrap(
    stack: str = BOOTSTRAP_STACK,
    stack_file: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    monitor: RecordingMonitor | None = None,
) -> Evaluation:
    """Run bootstrap/__main__.py for `stack` under fresh mocks, its GitHub App key a secret placeholder."""
    values = stack_file if stack_file is not None else bootstrap_stack_file_config(stack)
    config = {key: _wire(value) for key, value in values.items()}
    secrets = {"githubAppPrivateKey": PLACEHOLDER_APP_KEY} if secrets is None else secrets
    secret_keys = []
    for key, value in secrets.items():
        config[f"bootstrap:{key}"] = _wire(value)
        secret_keys.append(f"bootstrap:{key}")
    monitor = monitor or RecordingMonitor(PlatformMocks())
    return _run("bootstrap", BOOTSTRAP_DIR / "__main__.py", stack, config, secret_keys, monitor)


# --------------------------------------------------------------- manifests


_API_VERSION_OVERRIDES = {"core/v1": "v1"}


def integral(value: Any) -> Any:
    """The wire format carries every number as a double; manifests want ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def to_manifest(registration: Registration) -> dict[str, Any]:
    """A registered Kubernetes resource as the manifest the provider would send."""
    _, module, kind = registration.type.split(":")
    group_version = _API_VERSION_OVERRIDES.get(module, module)
    manifest = {"apiVersion": group_version, "kind": kind}
    manifest.update({k: integral(v) for k, v in registration.inputs.items() if k not in ("apiVersion", "kind")})
    return manifest
