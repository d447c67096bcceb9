"""Real nodes beside the kwok nodes: each a kubelet (toolchain/build.sh) with its own
Debian containerd and runc, running real containers from the images in
devenv/images.py. Linux and root only; used by `local_cluster up --real-node` and
`add-real-node`.

Every real node of a cluster lives in the cluster's network namespace and on its
bridge (devenv/node_network.py), with the same node IP and a pod range of its own.
Everything else is private to the node's directory and removed by `down`: the
containerd root, state and socket, the kubelet's root and certificates, the CNI
config and IP allocations, and a cgroup under every v1 hierarchy. No host sysctl,
ip_forward or iptables setting changes: the kubelet runs in its own mount namespace
where the three sysctls it insists on writing are files of ours; makeIPTablesUtilChains
is off; the CNI bridge has no gateway and no masquerade. The kubelet's API is closed
to anonymous callers: the API server and metrics-server authenticate, and the kubelet
asks the API server (webhook) whether they may. Settings and pitfalls:
shared/notes/real-node-facts.md and data-plane-facts.md.

The node is tainted REAL_NODE_TAINT, so only pods that tolerate it land on it:
the services' pods and the Cluster Agent when the dev stack asks (`local.realNode`),
and the Datadog agent's DaemonSet, which tolerates every taint. Datadog's images run
here as stand-ins under their own names (devenv/images.py), and the pods' hostPaths
point into the node's directory (pod_host_path)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devenv.node_network import NodeNetwork, run_checked
from devenv.paths import tools_bin
from settings.types import split_image

CLUSTER_DOMAIN = "cluster.local"

REAL_NODE_LABEL = "platform/real-node"
REAL_NODE_TAINT = {"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}
CGROUP_V1 = Path("/sys/fs/cgroup")
CNI_BIN = "/usr/lib/cni"
# Created by the kubelet and containerd whatever their flags say (facts note); removed
# by the last cluster's `down` when they did not exist before the first cluster's `up`.
HOST_LEFTOVERS = ("/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/var/log/containers", "/var/log/pods")
# Which local clusters have real nodes up, and which of HOST_LEFTOVERS they made: one
# record for the machine (in /run: gone at reboot, with every cluster's processes).
RUN_ROOT = Path("/run/aks-platform")
KUBELET_ROOT_MAX = 80
HOST_RECORD = RUN_ROOT / "real-node-host.json"
# What a pod's hostPath may show of the host itself: read-only views of the kernel's state
# (the Datadog agent's /proc and cgroups, mounted read-only by its DaemonSet).
HOST_VIEWS = ("/proc", "/sys/fs/cgroup")
# The node's own directory for what the host keeps in /var/log/pods: the kubelet's
# podLogsDir (the node's pods see it as that host path).
POD_LOGS_DIR = "pod-logs"
# The kubelet writes these at start (kubelet cm/container_manager_linux.go setupKernelTunables):
# in its own mount namespace they are files of ours holding the values it wants.
KERNEL_TUNABLES = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}


def log(message: str) -> None:
    print(f"[real-node {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class RealNode:
    shared: Path
    """The cluster directory's node/ subdirectory, which all its real nodes share."""
    network: NodeNetwork
    index: int = 0
    """0 for the first real node; more come with `local_cluster add-real-node`."""

    @property
    def name(self) -> str:
        return f"real-{self.index}"

    @property
    def root(self) -> Path:
        return self.shared / self.name

    @property
    def offset(self) -> int:
        return self.network.offset

    @property
    def cgroup(self) -> str:
        return f"aks-real-node-{self.offset}-{self.index}"

    @property
    def kubelet_port(self) -> int:
        return 10350 + self.offset + self.index

    @property
    def run_dir(self) -> Path:
        """containerd's socket directory: short, wherever the cluster directory is, since a
        socket path has at most 107 bytes (unix(7)); gone at reboot, like the sockets."""
        return RUN_ROOT / f"{self.network.netns}-{self.index}"

    @property
    def sock(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def processes(self) -> tuple[str, str]:
        """The names its containerd and kubelet run under (their pid and log files)."""
        return f"containerd-{self.name}", f"kubelet-{self.name}"

    def dir(self, name: str) -> Path:
        return self.root / name


# ------------------------------------------------------------------ configs


def _containerd_config(node: RealNode, pause_image: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{node.dir("containerd")}"
state = "{node.dir("containerd-state")}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{node.sock}"
[ttrpc]
  address = "{node.sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{node.dir("opt")}"
[{cri}]
  sandbox_image = "{pause_image}"
  # These VMs drop CAP_SYS_RESOURCE: without this runc fails on oom_score_adj (facts note).
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
[{cri}.containerd]
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{node.dir("cni")}"
"""


def _cni_config(node: RealNode) -> dict:
    # isGateway/ipMasq false: no default route in pods and no NAT rule
    # (containernetworking/plugins plugins/main/bridge/bridge.go: both default false).
    # Pods route only what they must through the node IP: Services (kube-proxy
    # translates them there) and the host's link (replies to the host's requests).
    # hairpinMode: a Service whose endpoint is the sending pod itself (data-plane facts note).
    network = node.network
    first, last = network.pod_range(node.index)
    return {
        "cniVersion": "0.4.0",
        "name": "real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.block, "rangeStart": first, "rangeEnd": last,
                                 "gateway": network.node_ip}]],
                    "routes": [{"dst": network.service_cidr, "gw": network.node_ip},
                               {"dst": network.link, "gw": network.node_ip}],
                    "dataDir": str(node.dir("cni-ipam")),
                },
            }
        ],
    }  # fmt: skip


def _kubelet_config(node: RealNode, client_ca: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # On the node IP, which the API server and metrics-server dial (InternalIP first).
        "address": node.network.node_ip,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        # Closed to anonymous callers, whoever reaches the bridge: a caller shows a client
        # certificate of the cluster's CA or a token the API server vouches for, and the API
        # server decides what it may do (kubernetes v1.34.4 pkg/kubelet/apis/config
        # KubeletAuthentication, KubeletAuthorization; the Webhook modes).
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [node.network.dns_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "containerRuntimeEndpoint": f"unix://{node.sock}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{node.cgroup}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(node.dir(POD_LOGS_DIR)),
        "resolvConf": "",
        "registerWithTaints": [REAL_NODE_TAINT],
        "serializeImagePulls": False,
        # Tiny test pods on a shared disk: never evict for disk or memory pressure.
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "volumePluginDir": str(node.dir("volume-plugins")),
    }


def pod_host_path(shared: Path, network: NodeNetwork, path: str) -> str:
    """Where a pod on a real node finds the host path `path` (`shared`: the cluster's
    node/ directory): the host's own only for HOST_VIEWS; the first real node's
    containerd socket directory and pod logs for theirs (a DaemonSet has one spec for
    every node: the Datadog stand-in reads neither); anything else in a directory of
    the cluster's, so a pod never writes to the host (containerd's CRI makes a missing
    source as a directory, containerd v1.6 pkg/cri/opts/spec_linux.go WithMounts) and
    everything goes with `down`."""
    first = RealNode(shared, network, 0)
    own = {"/run/containerd": first.run_dir, "/var/log/pods": first.dir(POD_LOGS_DIR)}
    if any(path == view or path.startswith(f"{view}/") for view in HOST_VIEWS):
        return path
    return str(own.get(path, shared / "host" / path.lstrip("/")))


# ---------------------------------------------------------------- helpers


def _cgroup_dirs(node: RealNode) -> list[Path]:
    return [d / node.cgroup for d in sorted(CGROUP_V1.iterdir()) if (d / "cgroup.procs").exists()]


def _make_cgroups(node: RealNode) -> None:
    for path in _cgroup_dirs(node):
        path.mkdir(exist_ok=True)
        if path.parent.name == "cpuset":  # a cpuset cgroup runs nothing until cpus and mems are set
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((path.parent / f).read_text())


def _tunables_dir(node: RealNode) -> Path:
    d = node.dir("sysctl")
    d.mkdir(parents=True, exist_ok=True)
    for name, value in KERNEL_TUNABLES.items():
        (d / name.replace("/", "_")).write_text(value + "\n")
    return d


def _kubelet_command(node: RealNode, kubeconfig: Path) -> list[str]:
    tunables = _tunables_dir(node)
    binds = " && ".join(
        f"mount --bind {tunables / name.replace('/', '_')} /proc/sys/{name}" for name in KERNEL_TUNABLES
    )
    kubelet = " ".join(
        [
            str(tools_bin() / "kubelet"),
            f"--config={node.dir('kubelet-config.json')}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={node.dir('kubelet')}",
            f"--cert-dir={node.dir('kubelet-pki')}",
            f"--node-ip={node.network.node_ip}",
            f"--hostname-override={node.name}",
            f"--node-labels={REAL_NODE_LABEL}=true,type=real",
            "--v=1",
        ]
    )
    # Private copies of /proc's mounts first, so the sysctl binds never reach the host.
    return node.network.command(
        "unshare",
        "-m",
        "--propagation",
        "unchanged",
        "sh",
        "-c",
        f"mount --make-rprivate /proc && {binds} && exec {kubelet}",
    )


def _shared_mount(path: Path) -> None:
    """A bind mount of `path` onto itself, made shared: the pod volumes the kubelet
    mounts in its own namespace then appear in ours, where containerd looks."""
    path.mkdir(parents=True, exist_ok=True)
    if not _is_mountpoint(path):
        run_checked("mount", "--bind", str(path), str(path))
    run_checked("mount", "--make-shared", str(path))


def _mountpoints_under(root: Path) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(root) or point.startswith(f"{root}/"):
            points.append(point)
    return points


def _is_mountpoint(path: Path) -> bool:
    return str(path) in _mountpoints_under(path)


# ----------------------------------------------------------------- up/down


def check_host() -> None:
    if os.geteuid() != 0:
        raise SystemExit("the real node needs root (containerd, mounts, cgroups, a network namespace)")
    if not (CGROUP_V1 / "memory" / "cgroup.procs").exists():
        raise SystemExit("the real node needs cgroup v1 hierarchies under /sys/fs/cgroup (as on these machines)")


def up(node: RealNode, start, kubeconfig: Path, client_ca: Path, images: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    """One node, in the cluster's network (which must be up). `start(name, command)` is the
    cluster's own process starter (pid file, log); `kubeconfig` reaches the API server from
    inside the network; `client_ca` signs the clients the kubelet lets in."""
    check_host()
    # The kubelet makes sockets under its root dir ("pod-resources/<9 digits>", and the
    # plugins' registry): sun_path holds 107 bytes (unix(7)).
    if len(str(node.dir("kubelet"))) > KUBELET_ROOT_MAX:
        raise SystemExit(f"{node.dir('kubelet')} is too long a path for the kubelet's sockets (at most "
                         f"{KUBELET_ROOT_MAX} characters): set LOCAL_CLUSTER_DIR to a shorter directory")  # fmt: skip
    node.root.mkdir(parents=True, exist_ok=True)
    node.run_dir.mkdir(parents=True, exist_ok=True)
    _record_host_leftovers(node.shared)
    for d in ("cni", "cni-ipam", POD_LOGS_DIR, "volume-plugins", "opt"):
        node.dir(d).mkdir(parents=True, exist_ok=True)
    _make_cgroups(node)
    _shared_mount(node.dir("kubelet"))
    pause = next(ref for ref in images if "/pause:" in ref)
    node.dir("containerd.toml").write_text(_containerd_config(node, pause))
    (node.dir("cni") / "10-real-node.conflist").write_text(json.dumps(_cni_config(node), indent=2))
    node.dir("kubelet-config.json").write_text(json.dumps(_kubelet_config(node, client_ca), indent=2))
    containerd, kubelet = node.processes
    start(containerd, node.network.command("containerd", "--config", str(node.dir("containerd.toml"))))
    _wait_for_socket(node)
    for ref, tarball in images.items():
        run_checked("ctr", "--address", str(node.sock), "-n", "k8s.io", "images", "import",
             "--base-name", split_image(ref)[0], str(tarball))  # fmt: skip
    log(f"{node.name}: imported {len(images)} images into its containerd")
    start(kubelet, _kubelet_command(node, kubeconfig))


def _wait_for_socket(node: RealNode, timeout: float = 30) -> None:
    version = ("ctr", "--address", str(node.sock), "version")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if node.sock.exists() and run_checked(*version, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit("containerd did not start; see logs/containerd.log")


@contextlib.contextmanager
def _host_record() -> Iterator[dict]:
    """The machine's record, read and written under an exclusive lock (clusters come and
    go concurrently: the end-to-end suite's beside a developer's own)."""
    import fcntl

    HOST_RECORD.parent.mkdir(parents=True, exist_ok=True)
    with open(HOST_RECORD.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(HOST_RECORD.read_text()) if HOST_RECORD.exists() else {"clusters": [], "made": []}
        yield record
        HOST_RECORD.write_text(json.dumps(record))


def _record_host_leftovers(shared: Path) -> None:
    """This cluster uses the host directories; those that do not exist yet are made by
    real nodes (the first one's kubelet or containerd), for the last cluster to remove."""
    with _host_record() as record:
        record["made"] = sorted({*record["made"], *(p for p in HOST_LEFTOVERS if not Path(p).exists())})
        record["clusters"] = sorted({*record["clusters"], str(shared)})


def _cgroup_tree(base: Path) -> list[Path]:
    """`base` and every cgroup below it, deepest first. The runtime removes pod cgroups while
    this walks: os.walk skips a directory that vanished (pathlib's rglob raises ENOENT)."""
    found = [Path(directory) for directory, _, _ in os.walk(base)]
    return sorted(found, key=lambda path: -len(path.parts))


def _pids_in_cgroups(node: RealNode) -> set[int]:
    pids: set[int] = set()
    for base in _cgroup_dirs(node):
        for cgroup in _cgroup_tree(base):
            # A vanished one reads as ENOENT or ENODEV.
            with contextlib.suppress(OSError):
                pids |= {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
    return pids


def _shim_pids(node: RealNode) -> list[int]:
    """containerd's shims for this node: the only processes whose command line names its socket."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"containerd-shim" in cmdline[0] and str(node.sock).encode() in cmdline:
                pids.append(int(proc.name))
    return pids


def _kill_all(pids) -> None:  # type: ignore[no-untyped-def]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _rmdir_cgroup(path: Path, timeout: float = 5) -> None:
    """A cgroup can be removed only once its last process has exited: retry briefly."""
    deadline = time.time() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.time() > deadline:
                raise
            with contextlib.suppress(OSError):  # going away meanwhile (ENOENT, ENODEV)
                _kill_all({int(p) for p in (path / "cgroup.procs").read_text().split()})
            time.sleep(0.2)


def down(node: RealNode, stop) -> None:  # type: ignore[no-untyped-def]
    """`stop(name)` is the cluster's own process stopper. Order: kubelet, the
    containers (every process in the node's cgroups), the shims, containerd, then
    mounts and cgroups. The network goes with the cluster (remove_host_leftovers)."""
    containerd, kubelet = node.processes
    stop(kubelet)
    for _ in range(20):
        pids = _pids_in_cgroups(node)
        if not pids:
            break
        _kill_all(pids)
        time.sleep(0.2)
    _kill_all(_shim_pids(node))
    stop(containerd)
    shutil.rmtree(node.run_dir, ignore_errors=True)
    for point in sorted(_mountpoints_under(node.root), key=len, reverse=True):
        run_checked("umount", "-l", point, check=False)
    for base in _cgroup_dirs(node):
        for cgroup in _cgroup_tree(base):
            _rmdir_cgroup(cgroup)
    log(f"{node.name} removed: processes, mounts, cgroups")


def remove_host_leftovers(shared: Path) -> None:
    """This cluster no longer uses the host directories; the last cluster to go removes
    those real nodes made, so one cluster's `down` never removes another's."""
    for point in sorted(_mountpoints_under(shared), key=len, reverse=True):
        run_checked("umount", "-l", point, check=False)
    with _host_record() as record:
        record["clusters"] = [c for c in record["clusters"] if c != str(shared)]
        if record["clusters"]:
            return
        for path in record["made"]:
            shutil.rmtree(path, ignore_errors=True)
        record["made"] = []


def existing(shared: Path, network: NodeNetwork) -> list[RealNode]:
    """The real nodes whose directories exist, in order."""
    if not shared.exists():
        return []
    indexes = sorted(int(d.name.split("-")[1]) for d in shared.glob("real-[0-9]*") if d.is_dir())
    return [RealNode(shared, network, index) for index in indexes]
