"""The dev stack's local Kubernetes cluster: a real control plane on loopback
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler) whose nodes
are kwok fakes that run pods instantly and report them Running and Ready.

    python -m devenv.local_cluster up [--nodes N]    start (idempotent), write the kubeconfig
    python -m devenv.local_cluster down              stop everything, delete its state
    python -m devenv.local_cluster status            what runs, and the nodes
    python -m devenv.local_cluster add-node          one more kwok node
    python -m devenv.local_cluster up --real-node    also one real node and its data plane (root, Linux;
                                                      or LOCAL_CLUSTER_REAL_NODE=1): devenv/real_node.py
    python -m devenv.local_cluster add-real-node     one more real node (the surge node of an upgrade)
    python -m devenv.local_cluster remove-real-node NAME   stop a real node and delete its Node

State, certificates, the kubeconfig and logs live in one directory:
$LOCAL_CLUSTER_DIR, default ~/.cache/aks-platform-local (logs in logs/).
Binaries come from the pinned toolchain (toolchain/build.sh)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devenv import procs
from devenv.kube import is_ready, wait_until
from devenv.locking import exclusive
from devenv.node_network import NodeNetwork, service_cidr
from devenv.paths import LOCAL_CONTEXT, local_cluster_dir, port_offset, real_node_dir, tools_bin

CONTEXT = LOCAL_CONTEXT
# All on 127.0.0.1. LOCAL_CLUSTER_PORT_OFFSET moves every port, so a second
# cluster (the end-to-end tests') can run beside yours.
_OFFSET = port_offset()
# API server, etcd client/peer/metrics, controller-manager, scheduler, kwok.
BASE_PORTS = (16443, 23790, 23800, 23810, 20257, 20259, 10247)
(API_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_METRICS_PORT, CONTROLLER_MANAGER_PORT, SCHEDULER_PORT, KWOK_PORT) = (
    port + _OFFSET for port in BASE_PORTS
)
SERVICE_CIDR = service_cidr(_OFFSET)
POD_CIDR = "10.244.0.1/16"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# The real nodes' network (devenv/node_network.py) and the relay that lets it reach the API server.
NETWORK = NodeNetwork(_OFFSET, API_PORT)
API_RELAY = "api-relay"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# The first node stands in for the AKS system pool and carries its taint, so
# the tests see that the Datadog agent lands on tainted nodes too.
SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}


def log(message: str) -> None:
    print(f"[local-cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def real_node(self) -> Path:
        return real_node_dir(self.root)

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / f"{name}.kubeconfig"


def default_dir() -> Path:
    return local_cluster_dir()


# ------------------------------------------------------------- certificates


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _server_names() -> str:
    """Every name the API server is reached by: loopback, the `kubernetes` Service's
    ClusterIP (pods), and the node link's relay (the real nodes' processes)."""
    import ipaddress

    kubernetes_ip = ipaddress.ip_network(SERVICE_CIDR)[1]
    names = ["IP:127.0.0.1", "DNS:localhost", f"IP:{kubernetes_ip}", f"IP:{NETWORK.host_ip}",
             "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
             "DNS:kubernetes.default.svc.cluster.local"]  # fmt: skip
    return "subjectAltName=" + ",".join(names) + "\n"


def _signed(c: Path, name: str, subject: str, ca: str, extensions: str) -> None:
    """`name`.key and `name`.crt, signed by the CA `ca` (its .crt and .key in `c`)."""
    (c / f"{name}.ext").write_text(extensions)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", str(c / f"{name}.key"), "-out", str(c / f"{name}.csr"))  # fmt: skip
    _openssl("x509", "-req", "-in", str(c / f"{name}.csr"), "-CA", str(c / f"{ca}.crt"), "-CAkey", str(c / f"{ca}.key"),
             "-CAcreateserial", "-days", "3650", "-extfile", str(c / f"{name}.ext"),
             "-out", str(c / f"{name}.crt"))  # fmt: skip


def make_certificates(paths: Paths) -> None:
    """Throwaway CAs and certificates, each made once: the cluster CA, the API server's
    serving certificate (remade when the names it must carry change), the service-account
    key pair, the API server's client certificate for the kubelets, and the front-proxy
    CA and client the aggregation layer (metrics-server) trusts."""
    c = paths.certs
    c.mkdir(parents=True, exist_ok=True)
    for ca, subject in (("ca", "/CN=aks-platform-local-ca"), ("front-proxy-ca", "/CN=aks-platform-front-proxy-ca")):
        if not (c / f"{ca}.crt").exists():
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", subject,
                     "-keyout", str(c / f"{ca}.key"), "-out", str(c / f"{ca}.crt"))  # fmt: skip
    ext = c / "apiserver.ext"
    if not (c / "apiserver.crt").exists() or not ext.exists() or ext.read_text() != _server_names():
        _signed(c, "apiserver", "/CN=kube-apiserver", "ca", _server_names())
    client = "extendedKeyUsage=clientAuth\n"
    if not (c / "apiserver-kubelet-client.crt").exists():
        # system:masters: the API server may do anything on a kubelet (exec, logs, metrics).
        _signed(c, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "ca", client)
    if not (c / "front-proxy-client.crt").exists():
        _signed(c, "front-proxy-client", "/CN=front-proxy-client", "front-proxy-ca", client)
    if not (c / "sa.key").exists():
        _openssl("genrsa", "-out", str(c / "sa.key"), "2048")
        _openssl("rsa", "-in", str(c / "sa.key"), "-pubout", "-out", str(c / "sa.pub"))


def make_tokens(paths: Paths) -> dict[str, str]:
    """Static bearer tokens for the admin and the control-plane components (loopback only)."""
    token_file = paths.certs / "tokens.json"
    if token_file.exists():
        return json.loads(token_file.read_text())
    tokens = {name: secrets.token_hex(16) for name in ("admin", "kube-controller-manager", "kube-scheduler", "kwok")}
    token_file.write_text(json.dumps(tokens))
    token_file.chmod(0o600)
    # token,user,uid,"group": everyone here is a cluster admin; it is a loopback dev cluster.
    lines = [f'{token},{name},{name},"system:masters"' for name, token in tokens.items()]
    (paths.certs / "tokens.csv").write_text("\n".join(lines) + "\n")
    (paths.certs / "tokens.csv").chmod(0o600)
    return tokens


def write_kubeconfig(path: Path, token: str, ca: Path, context: str = CONTEXT, host: str = "127.0.0.1") -> None:
    """`host`: where the API server is reached; the real nodes' network reaches it at its relay."""
    import yaml

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": f"https://{host}:{API_PORT}", "certificate-authority": str(ca)}}
        ],
        "users": [{"name": f"{context}-admin", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says of the process the cluster started: its pid, its start time,
    the boot it started in, and its command line (for people). The pid alone is not
    enough: ~/.cache outlives a reboot, and the kernel hands the pid to another process;
    a pid with its start time in one boot names one process (devenv/procs.py)."""

    pid: int
    start: str | None
    command: list[str]
    boot: str | None = None

    @classmethod
    def of(cls, pid: int, command: list[str]) -> PidRecord:
        return cls(pid, procs.start_time(pid), command, procs.boot_id())

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        """The record in `path`; a bare pid (written before records had more) has no start
        time and no command. None when there is no file or it says nothing readable."""
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        try:
            if text.isdigit():
                return cls(int(text), None, [])
            data = json.loads(text)
            command = [str(part) for part in data.get("command", [])]
            return cls(int(data["pid"]), data.get("start"), command, data.get("boot"))
        except (ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"pid": self.pid, "start": self.start, "boot": self.boot, "command": self.command}))

    def names_this_process(self, name: str) -> bool:
        """The pid still belongs to the process the cluster started: the same start time in
        the same boot. The program is not compared: a component may exec another (the real
        node's kubelet runs through `unshare` and `sh`). Without a start time (a bare pid),
        the program must be `name` itself, or the one the record names."""
        if self.boot is not None and procs.boot_id() not in (None, self.boot):
            return False
        if self.start is not None:
            return procs.start_time(self.pid) == self.start
        running = procs.command_line(self.pid)
        programs = {name} | ({Path(self.command[0]).name} if self.command else set())
        return bool(running) and Path(running[0]).name in programs


def _pid_file(paths: Paths, name: str) -> Path:
    return paths.pids / f"{name}.pid"


def _pid(paths: Paths, name: str) -> int | None:
    """The component's pid while the process the cluster started lives; a zombie, or a pid
    now used by another process, counts as gone."""
    record = PidRecord.read(_pid_file(paths, name))
    if record is None or not procs.alive(record.pid) or not record.names_this_process(name):
        return None
    return record.pid


def _stale_pid(paths: Paths, name: str) -> str | None:
    """Why the pid file of `name` is stale (its pid is now another live process), else None."""
    record = PidRecord.read(_pid_file(paths, name))
    if record is None or not procs.alive(record.pid) or record.names_this_process(name):
        return None
    now = " ".join(procs.command_line(record.pid) or ["a process that is not readable"])[:80]
    return f"pid {record.pid} is now another process ({now})"


def _start(paths: Paths, name: str, args: list[str], command: list[str] | None = None) -> bool:
    """Start `name` (a toolchain binary with `args`, or `command` as given) in its own session.
    True when it was not running (started, or resumed from a stop)."""
    if stale := _stale_pid(paths, name):
        log(f"{name}: its pid file is stale ({stale}): not ours, left alone; starting {name}")
        _pid_file(paths, name).unlink(missing_ok=True)
    if command is None:
        binary = tools_bin() / name
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run toolchain/build.sh (make tools) first")
        command = [str(binary), *args]
    pid = _pid(paths, name)
    record = PidRecord.read(_pid_file(paths, name)) if pid else None
    if record is not None and record.command != command:
        # Started by an older version of this file, with other flags: what runs must be what
        # this code asks for (a new flag, a new address), so it starts again with them.
        log(f"{name} runs with other flags than this version sets: restarting it")
        _stop(paths, name)
        pid = None
    if pid and procs.state(pid) == "T":
        # Stopped (SIGSTOP, a suspended laptop shell): resume it rather than report it running.
        os.kill(pid, signal.SIGCONT)
        log(f"{name} was stopped: resumed it (pid {pid})")
        return True
    if pid:
        log(f"{name} already running")
        return False
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pids.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / f"{name}.log", "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    PidRecord.of(process.pid, command).write(_pid_file(paths, name))
    log(f"started {name} (pid {process.pid}, log {paths.logs / (name + '.log')})")
    return True


def _stop(paths: Paths, name: str) -> None:
    pid = _pid(paths, name)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if _pid(paths, name) is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        log(f"stopped {name}")
    _pid_file(paths, name).unlink(missing_ok=True)


def _wait_ready(url: str, token: str, ca: Path, what: str, timeout: float = 90) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.time() + timeout
    last_error = ""
    while time.time() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                if response.status == 200:
                    return
        except Exception as err:
            last_error = str(err)
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s ({last_error}); see the logs")


# ------------------------------------------------------------------- control


def _etcd_args(paths: Paths) -> list[str]:
    return [
        "--name=local",
        f"--data-dir={paths.etcd_data}",
        f"--listen-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--advertise-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
        f"--initial-cluster=local=http://127.0.0.1:{ETCD_PEER_PORT}",
        f"--listen-metrics-urls=http://127.0.0.1:{ETCD_METRICS_PORT}",
        "--quota-backend-bytes=2147483648",
        "--unsafe-no-fsync",  # a disposable dev cluster: speed over durability
    ]


def _apiserver_args(paths: Paths) -> list[str]:
    c = paths.certs
    return [
        f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        "--bind-address=127.0.0.1",
        f"--secure-port={API_PORT}",
        f"--tls-cert-file={c / 'apiserver.crt'}",
        f"--tls-private-key-file={c / 'apiserver.key'}",
        f"--client-ca-file={c / 'ca.crt'}",
        f"--token-auth-file={c / 'tokens.csv'}",
        f"--service-account-key-file={c / 'sa.pub'}",
        f"--service-account-signing-key-file={c / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        # The `kubernetes` Service's endpoint: the relay on the real nodes' link, which pods
        # reach (the server itself stays on loopback; devenv/forwarder.py relays).
        f"--advertise-address={NETWORK.host_ip}",
        # Kubelets by node IP first (a real node's name does not resolve), with a client
        # certificate, since they admit no anonymous caller (devenv/real_node.py).
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--kubelet-client-certificate={c / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={c / 'apiserver-kubelet-client.key'}",
        # The aggregation layer, for metrics-server (Kubernetes docs, "Configure the
        # Aggregation Layer"), dialling its EndpointSlice address, not the ClusterIP.
        f"--requestheader-client-ca-file={c / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={c / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={c / 'front-proxy-client.key'}",
        "--enable-aggregator-routing=true",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
    ]


def _component_args(paths: Paths, name: str, port: int) -> list[str]:
    """How a control-plane component reaches the API server and serves its own port, on loopback."""
    kubeconfig = paths.component_kubeconfig(name)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
    ]


def _controller_manager_args(paths: Paths) -> list[str]:
    return [
        *_component_args(paths, "kube-controller-manager", CONTROLLER_MANAGER_PORT),
        f"--service-account-private-key-file={paths.certs / 'sa.key'}",
        f"--root-ca-file={paths.certs / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--use-service-account-credentials=false",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
        # Every 5 s (default 15 s): minReplicas is set at once, and with metrics-server a test sees it act.
        "--horizontal-pod-autoscaler-sync-period=5s",
    ]


def _scheduler_args(paths: Paths) -> list[str]:
    return _component_args(paths, "kube-scheduler", SCHEDULER_PORT)


def _kwok_args(paths: Paths) -> list[str]:
    return [
        f"--kubeconfig={paths.component_kubeconfig('kwok')}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{KWOK_PORT}",
    ]


def _node(name: str, zone: str, tainted: bool) -> dict:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "topology.kubernetes.io/zone": zone,
                "kubernetes.azure.com/mode": "system" if tainted else "user",
            },
        },
        "spec": {"taints": [SYSTEM_TAINT] if tainted else []},
        "status": {
            # Every container requests ephemeral storage (components/kubernetes/storage.py): a node
            # without it in allocatable schedules nothing ("Insufficient ephemeral-storage").
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        },
    }
    return node


def _api(paths: Paths):  # type: ignore[no-untyped-def]
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(paths.kubeconfig), context=CONTEXT))


def existing_nodes(paths: Paths) -> list[str]:
    return sorted(n.metadata.name for n in _api(paths).list_node().items)


def add_node(paths: Paths) -> str:
    names = existing_nodes(paths)
    index = len(names)
    name = f"kwok-node-{index}"
    _api(paths).create_node(_node(name, zone=f"local-{index % 3 + 1}", tainted=index == 0))
    log(f"added node {name}{' (tainted CriticalAddonsOnly, like the AKS system pool)' if index == 0 else ''}")
    return name


def up(paths: Paths, nodes: int, real_node: bool = False) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    existed = paths.etcd_data.exists()  # a cluster with pods, not a first start
    make_certificates(paths)
    tokens = make_tokens(paths)
    ca = paths.certs / "ca.crt"
    write_kubeconfig(paths.kubeconfig, tokens["admin"], ca)
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        write_kubeconfig(paths.component_kubeconfig(name), tokens[name], ca)
    restarted = _start(paths, "etcd", _etcd_args(paths))
    restarted |= _start(paths, "kube-apiserver", _apiserver_args(paths))
    _wait_ready(f"https://127.0.0.1:{API_PORT}/readyz", tokens["admin"], ca, "kube-apiserver")
    _refuse_another_service_range(paths)
    restarted |= _start(paths, "kube-controller-manager", _controller_manager_args(paths))
    restarted |= _start(paths, "kube-scheduler", _scheduler_args(paths))
    restarted |= _start(paths, "kwok", _kwok_args(paths))
    _wait_for_default_service_account(paths)
    while len(existing_nodes(paths)) < nodes:
        add_node(paths)
    if real_node:
        _real_node_up(paths)
    _wait_nodes_ready(paths)
    _restore_pod_readiness(paths, settle=SETTLE_SECONDS if existed and restarted else 0.0)
    log(f"ready: kubeconfig {paths.kubeconfig}, context {CONTEXT}, {len(existing_nodes(paths))} nodes")


def _refuse_another_service_range(paths: Paths) -> None:
    """A cluster made when the Service range was another keeps it: the API server never
    updates the stored default ServiceCIDR (kubernetes v1.34.4 pkg/controlplane/controller/
    defaultservicecidr/default_servicecidr_controller.go), and Services would get addresses
    the real nodes' routes do not cover."""
    from kubernetes import client

    try:
        stored = client.NetworkingV1Api(_api(paths).api_client).read_service_cidr("kubernetes").spec.cidrs
    except Exception:
        return  # not made yet: the controller makes it from the flag
    if stored and list(stored) != [SERVICE_CIDR]:
        raise SystemExit(
            f"this local cluster was made with the Service range {', '.join(stored)}; this version uses "
            f"{SERVICE_CIDR}: run `make cluster-down`, then `make dev` (the cluster's state starts afresh)"
        )


def _real_nodes(paths: Paths):  # type: ignore[no-untyped-def]
    from devenv import real_node

    return real_node.existing(paths.real_node, NETWORK)


def _node_kubeconfig(paths: Paths) -> Path:
    """How processes in the real nodes' network reach the API server: through its relay."""
    return paths.root / "node.kubeconfig"


def _start_process(paths: Paths):  # type: ignore[no-untyped-def]
    def start(name: str, command: list[str]) -> None:
        _start(paths, name, [], command=command)

    return start


def _real_node_up(paths: Paths) -> None:
    """The real nodes' network and API relay, the first real node (or the ones already
    there, resumed), then the data plane (devenv/dataplane.py)."""
    from devenv import dataplane, images, real_node

    real_node.check_host()
    built = images.build_all()
    NETWORK.up()
    _start(paths, API_RELAY, [], command=[sys.executable, "-m", "devenv.forwarder",
                                          f"{NETWORK.host_ip}:{API_PORT}", f"127.0.0.1:{API_PORT}",
                                          NETWORK.host_veth])  # fmt: skip
    write_kubeconfig(_node_kubeconfig(paths), make_tokens(paths)["admin"], paths.certs / "ca.crt", host=NETWORK.host_ip)
    nodes = _real_nodes(paths) or [real_node.RealNode(paths.real_node, NETWORK, 0)]
    for node in nodes:
        _real_node_start(paths, node, built)
    coredns = next(ref for ref in built if "/coredns:" in ref)
    dataplane.up(NETWORK, _start_process(paths), lambda name: _stop(paths, name), _api(paths).api_client,
                 _node_kubeconfig(paths), paths.root / "data-plane", coredns, _OFFSET)  # fmt: skip
    dns = "CoreDNS to be ready on a real node; see `kubectl -n kube-system get pods`"
    wait_until(_dns_ready(paths), dns, timeout=90)


def _real_node_start(paths: Paths, node, built: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    from devenv import real_node

    real_node.up(node, _start_process(paths), _node_kubeconfig(paths), paths.certs / "ca.crt", built)
    registered = lambda: node.name in existing_nodes(paths)  # noqa: E731
    wait_until(registered, f"{node.name} to register; see logs/{node.processes[1]}.log", timeout=120)


def _dns_ready(paths: Paths):  # type: ignore[no-untyped-def]
    def ready() -> bool:
        pods = _api(paths).list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
        return any(is_ready(p) for p in pods)

    return ready


def add_real_node(paths: Paths) -> str:
    """One more real node beside those running (the surge node of an upgrade)."""
    from devenv import images, real_node
    from devenv.node_network import MAX_REAL_NODES

    nodes = _real_nodes(paths)
    if not nodes:
        raise SystemExit("no real node runs: start the cluster with `up --real-node` first")
    if len(nodes) >= MAX_REAL_NODES:
        raise SystemExit(f"{len(nodes)} real nodes run, the most a cluster's network holds: remove one first")
    # The lowest free index: a replaced node's pod range and ports are free again.
    index = min(set(range(len(nodes) + 1)) - {n.index for n in nodes})
    node = real_node.RealNode(paths.real_node, NETWORK, index)
    _real_node_start(paths, node, images.build_all())
    _wait_nodes_ready(paths)
    return node.name


def remove_real_node(paths: Paths, name: str) -> None:
    """Stop a real node and delete its Node object (the last step of a node's replacement)."""
    from devenv import real_node

    node = next((n for n in _real_nodes(paths) if n.name == name), None)
    if node is None:
        raise SystemExit(f"no real node {name!r} (there are: {', '.join(n.name for n in _real_nodes(paths))})")
    real_node.down(node, lambda process: _stop(paths, process))
    shutil.rmtree(node.root, ignore_errors=True)
    with contextlib.suppress(Exception):
        _api(paths).delete_node(name)
    log(f"removed real node {name}")


def _real_nodes_down(paths: Paths) -> None:
    """Every step is tried, whatever an earlier one did; the first failure is raised at the end."""
    from devenv import dataplane, real_node

    steps = [
        *((f"stop {name}", lambda name=name: _stop(paths, name)) for name in dataplane.PROCESSES),
        *((f"{node.name} down", lambda node=node: real_node.down(node, lambda p: _stop(paths, p)))
          for node in _real_nodes(paths)),
        ("stop the API relay", lambda: _stop(paths, API_RELAY)),
        ("the network down", NETWORK.down),
        ("the host's directories", lambda: real_node.remove_host_leftovers(paths.real_node)),
    ]  # fmt: skip
    failures = []
    for what, step in steps:
        try:
            step()
        except (Exception, SystemExit) as err:
            failures.append(f"{what}: {err}")
    if failures:
        raise SystemExit("; ".join(failures))


def _wait_for_default_service_account(paths: Paths, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            _api(paths).read_namespaced_service_account("default", "default")
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(
        "the controller-manager did not create the default service account; see logs/kube-controller-manager.log"
    )


def _wait_nodes_ready(paths: Paths, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        nodes = _api(paths).list_node().items
        ready = [n for n in nodes if is_ready(n)]
        if nodes and len(ready) == len(nodes):
            return
        time.sleep(0.5)
    raise SystemExit("kwok did not mark the nodes Ready; see logs/kwok.log")


# After an outage the node controller may still mark nodes and pods NotReady for a
# moment: it judges from its own last sight of each node, checked every
# --node-monitor-period (5 s by default: k8s.io/cloud-provider v0.34.4
# config/v1alpha1/defaults.go), once that is older than --node-monitor-grace-period
# (50 s: kubernetes v1.34.4 pkg/controller/nodelifecycle/config/v1alpha1/defaults.go).
# Watching three periods catches what it marks when everything resumes at once.
SETTLE_SECONDS = 15.0


def _restore_pod_readiness(paths: Paths, settle: float = 0.0) -> None:
    """After an outage the node controller marks pods NotReady, and kwok, which
    readies a pod once, leaves them so. Pods a controller owns are deleted, so
    their controllers make new ones on the Ready nodes. With `settle`, keep doing
    so that long, while the nodes are Ready, for pods marked after the first pass.
    A real node's kubelet re-reports its pods' readiness itself: its pods are left alone."""
    deadline = time.monotonic() + settle
    replaced = 0
    while True:
        core = _api(paths)
        nodes = core.list_node().items
        if all(is_ready(n) for n in nodes):
            kwok_nodes = {n.metadata.name for n in nodes if (n.metadata.annotations or {}).get(FAKE_NODE_ANNOTATION)}
            replaced += _replace_not_ready_pods(core, kwok_nodes)
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if replaced:
        log(f"replaced {replaced} pod(s) left NotReady by an outage")


def _replace_not_ready_pods(core, kwok_nodes: set[str]) -> int:  # type: ignore[no-untyped-def]
    stale = [
        pod
        for pod in core.list_pod_for_all_namespaces().items
        if pod.metadata.owner_references
        and pod.metadata.deletion_timestamp is None
        and pod.spec.node_name in kwok_nodes
        and pod.status.phase == "Running"
        and not is_ready(pod)
    ]
    for pod in stale:
        core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
    return len(stale)


def free_port_offset(start: int = 300, step: int = 37, attempts: int = 60) -> int:
    """A LOCAL_CLUSTER_PORT_OFFSET at which every port of a cluster is free on 127.0.0.1."""
    import socket

    for offset in range(start, start + step * attempts, step):
        try:
            with contextlib.ExitStack() as stack:
                for base in BASE_PORTS:
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", base + offset))
            return offset
        except OSError:
            continue
    raise SystemExit("no free set of ports for a local cluster on 127.0.0.1")


def down(paths: Paths) -> None:
    """Everything stops, whatever fails on the way; the directory (with the pid files a
    second `down` needs) goes only when the real nodes came down cleanly."""
    failed: BaseException | None = None
    if paths.real_node.exists() or NETWORK.exists():
        try:
            _real_nodes_down(paths)
        except (Exception, SystemExit) as err:
            failed = err
    for name in reversed(COMPONENTS):
        _stop(paths, name)
    if failed is not None:
        raise SystemExit(f"the real nodes did not come down cleanly ({failed}); {paths.root} is kept: "
                         "run `make cluster-down` again")  # fmt: skip
    if paths.root.exists():
        shutil.rmtree(paths.root)
        log(f"removed {paths.root}")


def real_node_processes(paths: Paths) -> tuple[str, ...]:
    """What runs for the real nodes: the relay, each node's containerd and kubelet, the data plane."""
    from devenv import dataplane

    nodes = _real_nodes(paths)
    if not nodes:
        return ()
    return (API_RELAY, *(name for node in nodes for name in node.processes), *dataplane.PROCESSES)


def status(paths: Paths) -> int:
    """What runs, then the nodes; never a traceback: an API server that does not answer is one line."""
    names = COMPONENTS + real_node_processes(paths)
    running = {name: _pid(paths, name) for name in names}
    for name, pid in running.items():
        stale = None if pid else _stale_pid(paths, name)
        note = f" (stale pid file: {stale})" if stale else ""
        print(f"{name:26} {f'running, pid {pid}' if pid else 'stopped'}{note}")
    if not all(running.values()):
        print("not running: `make cluster-up` starts what is stopped")
        return 1
    try:
        nodes = existing_nodes(paths)
    except Exception as err:  # any failure to list them is the answer
        from devenv.kube import failure_reason

        print(f"nodes: the API server does not answer ({failure_reason(err)}): `make cluster-up` starts or resumes it")
        return 1
    for node in nodes:
        print(f"node {node}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.local_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "add-node", "add-real-node", "remove-real-node"])
    parser.add_argument("name", nargs="?", help="remove-real-node: the real node to remove, e.g. real-0")
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("LOCAL_CLUSTER_NODES", 3)))
    parser.add_argument(
        "--real-node",
        action="store_true",
        default=os.environ.get("LOCAL_CLUSTER_REAL_NODE") == "1",
        help="also run a real kubelet node with its data plane (root, Linux): devenv/real_node.py",
    )
    args = parser.parse_args(argv[1:])
    paths = Paths(default_dir())
    if args.command == "status":
        try:
            return status(paths)
        except KeyboardInterrupt:  # it only reads: nothing to say but the usual exit status
            return 130
    try:
        # Concurrent `make dev` runs each start the cluster: one at a time, or they
        # would each write certificates and tokens, and start etcd twice.
        with exclusive(paths.root.parent / f"{paths.root.name}.lock", "changing the local cluster", log):
            if args.command == "up":
                up(paths, args.nodes, real_node=args.real_node)
            elif args.command == "down":
                down(paths)
            elif args.command == "add-real-node":
                print(add_real_node(paths))
            elif args.command == "remove-real-node":
                remove_real_node(paths, args.name or "")
            else:
                add_node(paths)
    except KeyboardInterrupt:
        # Ctrl-C reaches the whole foreground group, this process too when `make dev` starts it.
        log(f"interrupted: the cluster may be half {'stopped' if args.command == 'down' else 'started'}; "
            f"`make cluster-{'down' if args.command == 'down' else 'up'}` carries on from there")  # fmt: skip
        return 130
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main(sys.argv))
