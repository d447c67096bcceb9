"""The main job: take this machine to a deployed dev stack, from any state.

    python -m devenv.dev up          (make dev) tools, local cluster, refresh + `pulumi up --stack dev`, summary
    python -m devenv.dev preview     `pulumi preview --stack dev` against the running cluster
    python -m devenv.dev destroy     `pulumi destroy --stack dev`
    python -m devenv.dev summary     namespaces, workloads and ready pods; fails if a declared one is missing
    python -m devenv.dev pulumi ARGS run any pulumi command in the dev environment
    python -m devenv.dev env         (make env) shell exports for kubectl: `eval "$(make -s env)"`

State goes to a local file backend in .local/state (set through
PULUMI_BACKEND_URL, so your own `pulumi login` is left alone), encrypted with
a passphrase generated once per checkout in .local/passphrase (mode 0600).

Pulumi runs in .local/dev-project: links to the code, plus its own copy of
Pulumi.dev.yaml (or DEV_STACK_FILE), rebuilt on every run. Only the local
passphrase salt and the encrypted dev secrets (generated for every `secretEnv`
of every service, or set with `pulumi config set --secret`) are kept from one
copy to the next: nothing this job does changes a file you commit, and no
mistake in a copy outlives the run that made it.

Every update and every preview refreshes first and, in dev only, an update takes
field ownership back from other managers, so `make dev` repairs drift instead of
reporting "unchanged", and `make preview` shows that drift."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from devenv import tools
from devenv.kube import failure_reason
from devenv.locking import LockTimeout, exclusive
from devenv.paths import LOCAL, LOCAL_CONTEXT, ROOT, dev_stack_file, local_kubeconfig, tools_bin
from devenv.runner import (
    LOCK_WAIT_SECONDS,
    Pulumi,
    RunFailed,
    clear_pending_operations,
    end_leftovers,
    log,
    wait_for_live_locks,
)
from devenv.tools import Tools

# The cold steps measured on 2 cores add up to about 25 min (1,023 s for pulumi, its plugin and the control
# plane, then the data plane and kube-score); toolchain/build.sh announces each step with its own estimate.
COLD_BUILD_MINUTES = 25
STACK = "dev"
WORKDIR = LOCAL / "dev-project"
# A record of each long pulumi command while it runs (devenv/runner.py RunRecord).
RUNS = LOCAL / "runs"
# The passphrase of dev stacks made before it became random per checkout:
# kept for them, so their encrypted secrets still open.
LEGACY_PASSPHRASE = "local-dev-cluster-only"


def passphrase_file(local: Path = LOCAL) -> Path:
    """A random passphrase, made once and readable by its owner only."""
    path = local / "passphrase"
    if not path.exists():
        local.mkdir(parents=True, exist_ok=True)
        legacy = (local / "state" / ".pulumi").exists()
        value = LEGACY_PASSPHRASE if legacy else secrets.token_urlsafe(32)
        # Written aside, then linked into place: a concurrent first run either wins
        # or finds the whole file, never a half-written or empty one.
        fd, partial = tempfile.mkstemp(dir=local, prefix=".passphrase.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(value)
            os.link(partial, path)
        except FileExistsError:
            return path  # another run made it first: use theirs
        finally:
            os.unlink(partial)
        if legacy:
            log(f"kept the old shared passphrase for the existing dev state in {path}; "
                "`make destroy && rm -rf .local` starts over with a random one")  # fmt: skip
    return path


def pulumi_env(local: Path = LOCAL, chosen: Tools | None = None) -> dict[str, str]:
    """The environment every pulumi command of the dev stack runs in: state,
    passphrase and plugin home all under `local`, whatever the person's own setup.
    The `chosen` tools (default: the pinned toolchain) come first on PATH, the plugin included."""
    env = dict(os.environ)
    first = chosen.path_entries() if chosen else [str(tools_bin())]
    env["PATH"] = os.pathsep.join([*first, env.get("PATH", "")])
    env["PULUMI_BACKEND_URL"] = f"file://{local / 'state'}"
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase_file(local))
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    env["PULUMI_HOME"] = str(local / "pulumi-home")
    # The program runs on a private copy of the stack file; its messages name the one you edit.
    from settings.loader import STACK_FILE_VARIABLE

    env[STACK_FILE_VARIABLE] = str(dev_stack_file())
    # Dev only: another field manager's edit (kubectl edit, a test) must not block
    # the repair. Read by pulumi-kubernetes (provider/v4 v4.25.0 pkg/await/await.go).
    env["PULUMI_K8S_ENABLE_PATCH_FORCE"] = "true"
    # Dev only: write the state once, when a command ends, instead of the whole
    # snapshot after every step, which made `make dev` quadratic in the number of
    # resources (pulumi pkg v3.274.1 backend/snapshot.go `unsafeServiceLoop`; sdk
    # go/common/env/env.go SKIP_CHECKPOINTS). A clean end, a failure and a Ctrl-C
    # still save it; only a killed pulumi loses the edits of its run, and the next
    # `make dev` adopts the objects that run created (all but a service's Secret, whose
    # name is random): server-side apply upserts on create
    # (pulumi-kubernetes provider/v4 v4.25.0 pkg/await/await.go, Creation).
    env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    return env


BUILD_SCRIPT = ROOT / "toolchain" / "build.sh"


def _installed_tools() -> Tools | str:
    """Compatible installed pulumi + kubernetes plugin (devenv/tools.py), or why not; DEV_TOOLS decides."""
    found = tools.installed() if tools.mode() != "pinned" else "DEV_TOOLS=pinned"
    if isinstance(found, str) and tools.mode() == "installed":
        raise RunFailed(2, f"DEV_TOOLS=installed, but {found}; unset DEV_TOOLS to build the pinned toolchain")
    return found


def select_tools() -> Tools:
    """The tools a command other than `up` runs: installed if compatible, else the pinned (built) ones."""
    found = _installed_tools()
    return tools.pinned() if isinstance(found, str) else found


def planned_build_steps(arguments: list[str]) -> list[str]:
    """What `toolchain/build.sh ARGUMENTS` would build, from its own up-to-date checks
    (`build.sh plan`, which builds nothing); empty when everything is current."""
    planned = subprocess.run([str(BUILD_SCRIPT), "plan", *arguments], capture_output=True, text=True)
    if planned.returncode != 0:
        return ["the toolchain (build.sh plan failed)"]
    return [line.strip() for line in planned.stdout.splitlines() if line.strip()]


def ensure_tools(local_cluster: bool) -> Tools:
    """Build only what this machine lacks: pulumi and its plugin unless compatible ones are
    installed; the local cluster's binaries only when the stack deploys to the project's cluster."""
    found = _installed_tools()
    parts = (["pulumi"] if isinstance(found, str) else []) + (["cluster"] if local_cluster else [])
    if isinstance(found, str):
        log(f"no installed pulumi to use: {found}")
    if parts:
        arguments = [] if len(parts) == 2 else parts
        steps = planned_build_steps(arguments)
        if steps:
            log(f"building the pinned toolchain: {', '.join(steps)} "
                f"(a cold build of everything takes about {COLD_BUILD_MINUTES} minutes on 2 cores)")  # fmt: skip
        else:
            log(f"reusing the pinned toolchain: {' and '.join(parts)}")
        code = subprocess.run([str(BUILD_SCRIPT), *arguments], stdout=subprocess.DEVNULL)
        if code.returncode != 0:
            raise RunFailed(code.returncode, "the toolchain build failed (see above); `make tools` retries it")
    chosen = tools.pinned() if isinstance(found, str) else found
    log(chosen.describe())
    return chosen


# What the project directory needs; Pulumi.dev.yaml is copied, not linked.
PROJECT_ENTRIES = ("Pulumi.yaml", "__main__.py", "components", "settings", "devenv", ".venv")
LOCAL_ONLY_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


@contextlib.contextmanager
def project_lock(workdir: Path) -> Iterator[None]:
    """One run at a time prepares the project and initialises the stack."""
    with exclusive(workdir.parent / f"{workdir.name}.lock", "preparing the dev project", log):
        yield


def prepare_project(workdir: Path, extra_config: dict | None = None, stack_file: Path | None = None) -> Path:
    """A project directory that runs this repository's code with a private stack file.

    The stack file is the repository's Pulumi.dev.yaml (or `stack_file`), plus
    `extra_config`, plus what was local before: the salt and the encrypted secrets,
    leaf by leaf. A plain value under a secret key is refused in the file you edit and
    never carried from an old copy, so no run inherits a mistake of an earlier one.
    Written atomically, so a concurrent `pulumi config get` never reads half a file."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT_ENTRIES:
        link = workdir / entry
        if not link.is_symlink() and (ROOT / entry).exists():
            with contextlib.suppress(FileExistsError):  # another run made it first
                link.symlink_to(ROOT / entry)
    target = workdir / "Pulumi.dev.yaml"
    from settings.loader import deep_merge, read_yaml

    source = stack_file or dev_stack_file()
    fresh = read_yaml(source)
    refuse_plain_secrets(source, fresh.get("config") or {})
    local = _readable_copy(target)
    fresh["config"] = deep_merge(fresh.get("config") or {}, extra_config or {})
    for key in LOCAL_ONLY_KEYS:
        if key in local:
            fresh[key] = local[key]
    fresh["config"] = deep_merge(fresh["config"], _encrypted_secrets(local.get("config") or {}, target))
    with tempfile.NamedTemporaryFile("w", dir=workdir, prefix=f".{target.name}.", delete=False) as partial:
        partial.write(yaml.safe_dump(fresh, sort_keys=False))
    os.replace(partial.name, target)
    return workdir


def refuse_plain_secrets(stack_file: Path, config: dict) -> None:
    """A plain value under a secret key of the file you edit stops the run before it is
    copied anywhere: one line per value, naming the file, the key and the fix."""
    from settings.loader import NAMESPACE, ConfigError, display_path, plain_secret_paths

    if plain := plain_secret_paths(config):
        from settings.loader import settings_from_files

        settings_from_files(STACK, stack_file)  # raises, with the hints of the dev stack
        raise ConfigError(f"plain secret values in {display_path(stack_file)}: {NAMESPACE}:{', '.join(plain)}")


def _readable_copy(target: Path) -> dict:
    """The previous project copy, or nothing when it is missing or unreadable: it is rebuilt."""
    from settings import ConfigError
    from settings.loader import read_yaml

    if not target.exists():
        return {}
    try:
        return read_yaml(target)
    except ConfigError as err:
        log(f"the previous project copy {target} is unreadable ({err}); rebuilding it")
        return {}


def _encrypted_secrets(config: dict, copy: Path) -> dict:
    """The encrypted values under secret keys of an old project copy, leaf by leaf; a plain
    one (left by an older runner) is dropped, named without its value."""
    from settings.loader import NAMESPACE, SECRET_KEYS, encrypted_only, plain_secret_paths

    for path in plain_secret_paths(config):
        log(f"dropped {NAMESPACE}:{path} from the previous project copy ({copy}): it was not encrypted")
    kept = {f"{NAMESPACE}:{key}": encrypted_only(config.get(f"{NAMESPACE}:{key}")) for key in SECRET_KEYS}
    return {key: value for key, value in kept.items() if value is not None}


def ensure_stack(env: dict[str, str], workdir: Path) -> None:
    Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    pulumi = Pulumi(workdir, env)
    if pulumi.capture("stack", "select", STACK).returncode != 0:
        created = pulumi.capture("stack", "init", STACK)
        if created.returncode != 0:
            raise RunFailed(created.returncode, f"could not create the dev stack: {created.stderr.strip()}")
    ensure_dev_secrets(env, workdir)


def dev_generated_secrets(stack_file: Path) -> list[str]:
    """The config paths of the secrets `make dev` generates, from the dev stack's validated
    config: those of the keys settings/loader.py dev_generated_keys names (which the
    program's hints name too) that this stack needs."""
    from settings import settings_from_files
    from settings.loader import dev_generated_keys

    settings = settings_from_files(STACK, stack_file)
    generated = dev_generated_keys(settings)
    services = settings.services.items()
    paths = [f"serviceSecrets.{name}.{variable}" for name, service in services for variable in service.secret_env]
    if settings.datadog.enabled:
        paths += [key for key in ("datadogClusterAgentToken", "datadogApiKey") if key in generated]
    return paths


def ensure_dev_secrets(env: dict[str, str], workdir: Path) -> None:
    stack_file = workdir / "Pulumi.dev.yaml"
    from settings.loader import NAMESPACE, read_yaml

    raw = read_yaml(stack_file).get("config") or {}
    config = {key.removeprefix(f"{NAMESPACE}:"): value for key, value in raw.items()}
    for path in dev_generated_secrets(stack_file):
        present: object = config
        for part in path.split("."):
            present = present.get(part) if isinstance(present, dict) else None
        if present is None:
            set_secret(env, workdir, path, secrets.token_hex(32))
            log(f"generated dev secret {path}")


def set_secret(env: dict[str, str], workdir: Path, path: str, value: str) -> None:
    # The value goes through stdin, never the command line.
    subprocess.run(
        [tools.which_pulumi(env), "config", "set", "--secret", "--path", path, "--stack", STACK],
        input=value.encode(), cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


# ---------------------------------------------------------------- the cluster


def local_settings(stack_file: Path):  # type: ignore[no-untyped-def]
    """The dev stack's validated `platform:local` settings."""
    from settings import settings_from_files

    return settings_from_files(STACK, stack_file).local


def cluster_target(stack_file: Path) -> tuple[Path, str]:
    """The kubeconfig and context the dev stack deploys to: the same ones the program uses."""
    local = local_settings(stack_file)
    return (Path(local.kubeconfig).expanduser() if local.kubeconfig else local_kubeconfig()), local.context


# What the real node runs and its images are built with: `make system-deps` installs them.
REAL_NODE_PROGRAMS = ("containerd", "runc", "umoci", "mmdebstrap", "nft", "iptables", "ipset", "conntrack")


def require_real_node_host() -> None:
    """Fail before anything is built or started when this machine cannot run the real node."""
    where = f"platform:local.realNode is set in {dev_stack_file()}"
    if sys.platform != "linux" or os.geteuid() != 0:
        raise RunFailed(2, f"{where}: the real node needs root and Linux (containerd, mounts, cgroups, a "
                        "bridge). Run `make dev` as root on Linux, or set realNode: false to deploy to the "
                        "kwok nodes")  # fmt: skip
    from devenv.real_node import CNI_BIN

    missing = [program for program in REAL_NODE_PROGRAMS if shutil.which(program) is None]
    if shutil.which("bridge", path=CNI_BIN) is None:
        missing.append(f"the CNI plugins ({CNI_BIN})")
    if missing:
        raise RunFailed(2, f"{where}, but {', '.join(missing)} not installed: run `make system-deps`, "
                        "then `make dev` again")  # fmt: skip


def start_local_cluster(real_node: bool) -> None:
    """`local_cluster up`; with the real node, also its images, built if their inputs
    changed and imported into its containerd on every run, so `pulumi up` finds them."""
    command = [sys.executable, "-m", "devenv.local_cluster", "up"]
    if real_node:  # prepare_machine checked the host first (require_real_node_host)
        log("starting the local cluster with its real node; building or reusing its images (devenv/images.py)")
        command.append("--real-node")
    else:
        log("starting the local cluster")
    code = subprocess.run(command, cwd=ROOT).returncode
    if code != 0:
        raise RunFailed(code, "the local cluster did not start (see above); `make cluster-status` shows why")


ETCD_PROBLEM = "cannot read a stored object"
# How long each request of the pre-check may take: a healthy local API server answers in milliseconds.
REACHABLE_TIMEOUT_SECONDS = 3.0


def unreachable(kubeconfig: Path, context: str, timeout: float | None = None) -> str | None:
    """None when the cluster's API server answers within `timeout` and can read a real
    object, else why not. `/version` alone is answered by an API server whose etcd is
    dead; a read of the `default` namespace goes to storage."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    timeout = REACHABLE_TIMEOUT_SECONDS if timeout is None else timeout
    # No retries: urllib3 retries a timed-out GET three times, which made one timeout four.
    configuration = client.Configuration(retries=0)
    try:
        api = config.new_client_from_config(str(kubeconfig), context=context, client_configuration=configuration)
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as err:  # any failure to reach it is the answer
        return f"does not answer: {failure_reason(err)}"
    try:
        client.CoreV1Api(api).read_namespace("default", _request_timeout=timeout)
    except ApiException as err:
        if err.status is not None and err.status < 500:
            return None  # refused or not found: an answer, so its storage works
        return f"answers, but {ETCD_PROBLEM} (namespace 'default'): its storage, etcd, fails: {failure_reason(err)}"
    except Exception as err:
        return f"answers, but {ETCD_PROBLEM} (namespace 'default'): its storage, etcd, fails: {failure_reason(err)}"
    return None


def require_reachable(kubeconfig: Path, context: str) -> None:
    problem = unreachable(kubeconfig, context)
    if problem is None:
        return
    if context == LOCAL_CONTEXT:
        fix = "`make cluster-up` starts or resumes what is stopped (or just `make dev`)"
        if ETCD_PROBLEM in problem:
            fix = f"`make cluster-up` starts or resumes etcd; its log is in {local_kubeconfig().parent / 'logs'}"
    else:
        fix = f"start the cluster behind context '{context}', or set platform:local.context in {dev_stack_file()}"
    raise RunFailed(3, f"the dev cluster '{context}' ({kubeconfig}) {problem}. {fix}")


# ---------------------------------------------------------- namespaces going

# How long `make dev` waits for a namespace that is being deleted (`kubectl delete ns
# --wait=false`): the namespace controller deletes its content first, then the namespace.
NAMESPACE_WAIT_SECONDS = 120.0


def stack_namespaces(stack_file: Path) -> set[str]:
    """The namespaces the dev stack deploys into: one per enabled service, and Datadog's."""
    from settings import settings_from_files

    settings = settings_from_files(STACK, stack_file)
    return set(settings.services) | ({"datadog"} if settings.datadog.enabled else set())


def terminating_namespaces(core, names: set[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Of `names`, those being deleted, each with what it still waits for."""
    going = {}
    for namespace in core.list_namespace().items:
        if namespace.metadata.name in names and namespace.metadata.deletion_timestamp is not None:
            waiting = [c.message for c in (namespace.status.conditions or []) if c.status == "True" and c.message]
            going[namespace.metadata.name] = "; ".join(waiting) or "its content is being deleted"
    return going


def wait_for_namespaces(
    kubeconfig: Path, context: str, names: set[str], timeout: float = NAMESPACE_WAIT_SECONDS, poll: float = 1.0
) -> None:
    """Deploying into a namespace that is being deleted reports a green summary for objects
    about to go with it: wait, bounded, until it is gone (the update then makes it again),
    or say what holds it."""
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig), context=context))
    started = time.monotonic()
    announced = False
    while going := terminating_namespaces(core, names):
        if not announced:
            log(f"namespace {', '.join(sorted(going))} is being deleted: waiting for it to go before deploying "
                f"into it again (at most {timeout:.0f} s)")  # fmt: skip
            announced = True
        if time.monotonic() - started >= timeout:
            held = "; ".join(f"{name}: {what}" for name, what in sorted(going.items()))
            raise RunFailed(5, f"namespace {', '.join(sorted(going))} is still being deleted after {timeout:.0f} s "
                            f"({held}). `kubectl get namespace {min(going)} -o yaml` shows what holds it; "
                            "run `make dev` again once it is gone")  # fmt: skip
        time.sleep(poll)
    if announced:
        log(f"the namespace is gone after {time.monotonic() - started:.0f} s; deploying")


# -------------------------------------------------------------------- summary


def summary(stack_file: Path | None = None) -> list[str]:
    """Print what runs; return the declared workloads that are missing or not available."""
    from kubernetes import client, config

    from settings import settings_from_files

    stack_file = stack_file or WORKDIR / "Pulumi.dev.yaml"
    kubeconfig, context = cluster_target(stack_file)
    api = config.new_client_from_config(str(kubeconfig), context=context)
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    print("\n== summary ==")
    print(f"nodes: {len(core.list_node().items)}")
    problems = []
    for name, service in settings_from_files(STACK, stack_file).services.items():
        deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(name).items}
        for kind in ("web", "worker"):
            if getattr(service, kind) is None:
                continue
            found = deployments.get(kind)
            available = (found.status.available_replicas or 0) if found else 0
            print(f"  deployment {name}/{kind}: {available}/{(found.status.replicas or 0) if found else 0} available")
            if not available:
                problems.append(f"deployment {name}/{kind} is {'not available' if found else 'missing'}")
        cron_jobs = {c.metadata.name for c in batch.list_namespaced_cron_job(name).items}
        for job in service.jobs:
            print(f"  cronjob    {name}/{job.name}: {'present' if job.name in cron_jobs else 'MISSING'}")
            if job.name not in cron_jobs:
                problems.append(f"cronjob {name}/{job.name} is missing")
    for problem in problems:
        log(f"not converged: {problem}")
    return problems


# ----------------------------------------------------------------------- main


def _prepared(env: dict[str, str]) -> tuple[Pulumi, tuple[Path, str]]:
    """The project, the stack and its secrets, ready; config validated before pulumi runs.
    Also returns the cluster the stack deploys to (kubeconfig, context)."""
    with project_lock(WORKDIR):
        prepare_project(WORKDIR)
        ensure_stack(env, WORKDIR)
    kubeconfig, context = cluster_target(WORKDIR / "Pulumi.dev.yaml")
    pulumi = Pulumi(WORKDIR, env, reachable=lambda: unreachable(kubeconfig, context), records=RUNS)
    return pulumi, (kubeconfig, context)


@contextlib.contextmanager
def _changing(env: dict[str, str]) -> Iterator[Pulumi]:
    """The dev stack, ready for one run to refresh and change it. Concurrent runs
    (three `make dev` at once) take turns instead of failing on pulumi's stack lock."""
    pulumi, target = _prepared(env)
    require_reachable(*target)
    try:
        with exclusive(LOCAL / "dev-stack.lock", "changing the dev stack", log, timeout=LOCK_WAIT_SECONDS):
            # First: a killed run's pulumi may still hold the stack's lock, which we would wait for.
            end_leftovers(RUNS)
            wait_for_live_locks(Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")))
            clear_pending_operations(pulumi, STACK)
            yield pulumi
    except LockTimeout as err:
        raise RunFailed(4, f"{err}: let it finish, or stop it, then run `make dev` again") from None


def prepare_machine() -> Tools:
    """Tools, and the project's local cluster only when the stack deploys to it: with
    your own cluster (kind, minikube, Docker Desktop) only pulumi and its plugin are needed."""
    settings = local_settings(dev_stack_file())
    local = settings.context == LOCAL_CONTEXT
    if local and settings.real_node:
        require_real_node_host()  # before a toolchain build of many minutes, not after
    chosen = ensure_tools(local_cluster=local)
    if local:
        start_local_cluster(real_node=settings.real_node)
    return chosen


def up() -> None:
    env = pulumi_env(chosen=prepare_machine())
    with _changing(env) as pulumi:
        wait_for_namespaces(*cluster_target(WORKDIR / "Pulumi.dev.yaml"), stack_namespaces(WORKDIR / "Pulumi.dev.yaml"))
        log("pulumi up --refresh --stack dev")
        code = pulumi.run("up", "--stack", STACK, "--refresh", "--yes", "--skip-preview")
    if code != 0:
        raise RunFailed(code, "pulumi up failed (see above)")
    if summary():
        raise RunFailed(1, "the dev stack did not converge: a declared workload is missing or not available")


def shell_env() -> str:
    """`export` lines that point kubectl at the dev stack's cluster, with the pinned
    kubectl (toolchain/build.sh builds it with the local cluster) first on PATH."""
    import shlex

    kubeconfig, context = cluster_target(dev_stack_file())
    lines = [f"export KUBECONFIG={shlex.quote(str(kubeconfig))}"]
    if context == LOCAL_CONTEXT:
        lines.append(f'export PATH={shlex.quote(str(tools_bin()))}:"$PATH"')
    else:
        name = shlex.quote(context)
        lines.append(f"# the dev stack deploys to context {name}: kubectl --context {name}")
    return "\n".join(lines)


def require_stack_file() -> None:
    """DEV_STACK_FILE, when set, must name a file: one line instead of a traceback."""
    path = dev_stack_file()
    if not path.is_file():
        named = f"DEV_STACK_FILE names {path}" if os.environ.get("DEV_STACK_FILE") else str(path)
        raise RunFailed(2, f"{named}, which is not a file: create it (start from a copy of "
                           f"{ROOT / 'Pulumi.dev.yaml'}) or unset DEV_STACK_FILE")  # fmt: skip


def run(command: str, args: list[str]) -> int:
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    require_stack_file()
    if command == "env":
        print(shell_env())
        return 0
    if command == "up":
        up()
        return 0
    if command == "summary":
        return 1 if summary() else 0
    if command not in ("preview", "destroy", "pulumi"):
        print(__doc__)
        return 2
    local_settings(dev_stack_file())  # the file you edit, validated before anything runs
    env = pulumi_env(chosen=select_tools())
    if command == "pulumi":
        return _prepared(env)[0].run(*args)
    with _changing(env) as pulumi:
        if command == "preview":
            # Refreshed first, as `make dev` is: the preview shows what the update will
            # repair (a Deployment deleted by hand), not "unchanged". A preview writes no
            # state, so the refresh it makes is not saved either.
            return pulumi.run("preview", "--stack", STACK, "--refresh", *args)
        return pulumi.run("destroy", "--stack", STACK, "--yes", "--skip-preview")


def main(argv: list[str]) -> int:
    from settings import ConfigError

    try:
        return run(argv[1] if len(argv) > 1 else "up", argv[2:])
    except ConfigError as err:
        # Expected: a person fixes the file. One message, no traceback.
        print(f"{err}\n(fix {dev_stack_file()} or Pulumi.yaml, then run `make dev` again)", file=sys.stderr)
        return 2
    except RunFailed as err:
        if str(err):
            log(str(err))
        return err.code
    except KeyboardInterrupt:
        log("interrupted while no pulumi command was running: no update was cut short; `make dev` carries on")
        return 130


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv))
