"""One real node beside the kwok nodes: a kubelet (toolchain/build.sh) with
Debian's containerd and runc, running real containers from the images in
devenv/images.py. Linux and root only; used by `local_cluster up --real-node`.

Everything is private to the cluster directory and removed by `down`: the
containerd root, state and socket, the kubelet's root and certificates, the CNI
config and IP allocations, a cgroup under every v1 hierarchy, and a bridge with
an address from a test range. No host sysctl, ip_forward or iptables setting
changes: the kubelet runs in its own mount namespace where the three sysctls it
insists on writing are files of ours; makeIPTablesUtilChains is off; the CNI
bridge has no gateway and no masquerade, so pods reach nothing but each other
and this host over the bridge. Settings and pitfalls: shared/notes/real-node-facts.md.

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
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devenv.paths import tools_bin
from settings.types import split_image

REAL_NODE_LABEL = "platform/real-node"
REAL_NODE_TAINT = {"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}
CGROUP_V1 = Path("/sys/fs/cgroup")
CNI_BIN = "/usr/lib/cni"
# Created by the kubelet and containerd whatever their flags say (facts note); removed
# by `down` when they did not exist before `up`.
HOST_LEFTOVERS = ("/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/var/log/containers", "/var/log/pods")
# What a pod's hostPath may show of the host itself: read-only views of the kernel's state
# (the Datadog agent's /proc and cgroups, mounted read-only by its DaemonSet).
HOST_VIEWS = ("/proc", "/sys/fs/cgroup")
# The node's own directories for what the host keeps in /run/containerd and /var/log/pods:
# containerd's socket and the kubelet's podLogsDir (the node's pods see them as those host paths).
RUN_DIR = "run"
POD_LOGS_DIR = "pod-logs"
# The kubelet writes these at start (kubelet cm/container_manager_linux.go setupKernelTunables):
# in its own mount namespace they are files of ours holding the values it wants.
KERNEL_TUNABLES = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}


def log(message: str) -> None:
    print(f"[real-node {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class RealNode:
    root: Path
    """The cluster directory's node/ subdirectory."""
    offset: int
    """The cluster's port offset: makes the bridge, subnet, cgroup and ports unique per cluster."""

    @property
    def name(self) -> str:
        # The API server reaches the kubelet by the node's hostname, which resolves to loopback.
        return socket.gethostname()

    @property
    def bridge(self) -> str:
        return f"aksrn{self.offset % 100000}"  # <= 15 characters, as Linux requires

    @property
    def subnet_prefix(self) -> str:
        # 10.254.0.0/16: an address block no route here uses (checked at up).
        return f"10.254.{self.offset % 250}"

    @property
    def node_ip(self) -> str:
        return f"{self.subnet_prefix}.1"

    @property
    def cgroup(self) -> str:
        return f"aks-real-node-{self.offset}"

    @property
    def kubelet_port(self) -> int:
        return 10350 + self.offset

    @property
    def sock(self) -> Path:
        return self.root / RUN_DIR / "containerd.sock"

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
    # isGateway/ipMasq false: no route off the bridge, no NAT rule, ip_forward untouched
    # (containernetworking/plugins plugins/main/bridge/bridge.go: both default false).
    return {
        "cniVersion": "0.4.0",
        "name": "real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": f"{node.subnet_prefix}.0/24", "gateway": node.node_ip}]],
                    "dataDir": str(node.dir("cni-ipam")),
                },
            }
        ],
    }


def _kubelet_config(node: RealNode) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        # Loopback only; the API server is its one client (facts note: anonymous AlwaysAllow).
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
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


def pod_host_path(root: Path, path: str) -> str:
    """Where a pod on the node at `root` finds the host path `path`: the host's own only
    for HOST_VIEWS; the node's own containerd socket directory and pod logs for theirs;
    anything else in a directory of the node's, so a pod never writes to the host
    (containerd's CRI makes a missing source as a directory, containerd v1.6
    pkg/cri/opts/spec_linux.go WithMounts) and everything goes with `down`."""
    own = {"/run/containerd": root / RUN_DIR, "/var/log/pods": root / POD_LOGS_DIR}
    if any(path == view or path.startswith(f"{view}/") for view in HOST_VIEWS):
        return path
    return str(own.get(path, root / "host" / path.lstrip("/")))


# ---------------------------------------------------------------- helpers


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()[-1500:]}")
    return result


def _cgroup_dirs(node: RealNode) -> list[Path]:
    return [d / node.cgroup for d in sorted(CGROUP_V1.iterdir()) if (d / "cgroup.procs").exists()]


def _make_cgroups(node: RealNode) -> None:
    for path in _cgroup_dirs(node):
        path.mkdir(exist_ok=True)
        if path.parent.name == "cpuset":  # a cpuset cgroup runs nothing until cpus and mems are set
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((path.parent / f).read_text())


def _make_bridge(node: RealNode) -> None:
    routes = _run("ip", "-4", "route", "show").stdout
    if "10.254." in routes and node.bridge not in routes:
        raise SystemExit(f"10.254.0.0/16 is routed on this machine already; the real node needs it:\n{routes}")
    if _run("ip", "link", "show", node.bridge, check=False).returncode != 0:
        _run("ip", "link", "add", node.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{node.node_ip}/24", "dev", node.bridge)
    _run("ip", "link", "set", node.bridge, "up")


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
            f"--node-ip={node.node_ip}",
            f"--node-labels={REAL_NODE_LABEL}=true,type=real",
            "--v=1",
        ]
    )
    # Private copies of /proc's mounts first, so the sysctl binds never reach the host.
    return [
        "unshare",
        "-m",
        "--propagation",
        "unchanged",
        "sh",
        "-c",
        f"mount --make-rprivate /proc && {binds} && exec {kubelet}",
    ]


def _shared_mount(path: Path) -> None:
    """A bind mount of `path` onto itself, made shared: the pod volumes the kubelet
    mounts in its own namespace then appear in ours, where containerd looks."""
    path.mkdir(parents=True, exist_ok=True)
    if not _is_mountpoint(path):
        _run("mount", "--bind", str(path), str(path))
    _run("mount", "--make-shared", str(path))


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


def up(node: RealNode, start, kubeconfig: Path, images: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    """`start(name, args)` is the cluster's own process starter (pid file, log)."""
    if os.geteuid() != 0:
        raise SystemExit("the real node needs root (containerd, mounts, cgroups, a bridge)")
    if not (CGROUP_V1 / "memory" / "cgroup.procs").exists():
        raise SystemExit("the real node needs cgroup v1 hierarchies under /sys/fs/cgroup (as on these machines)")
    node.root.mkdir(parents=True, exist_ok=True)
    _record_host_leftovers(node)
    for d in (RUN_DIR, "cni", "cni-ipam", POD_LOGS_DIR, "volume-plugins", "opt"):
        node.dir(d).mkdir(parents=True, exist_ok=True)
    _make_cgroups(node)
    _make_bridge(node)
    _shared_mount(node.dir("kubelet"))
    pause = next(ref for ref in images if "/pause:" in ref)
    node.dir("containerd.toml").write_text(_containerd_config(node, pause))
    (node.dir("cni") / "10-real-node.conflist").write_text(json.dumps(_cni_config(node), indent=2))
    node.dir("kubelet-config.json").write_text(json.dumps(_kubelet_config(node), indent=2))
    start("containerd", ["containerd", "--config", str(node.dir("containerd.toml"))])
    _wait_for_socket(node)
    for ref, tarball in images.items():
        _run("ctr", "--address", str(node.sock), "-n", "k8s.io", "images", "import",
             "--base-name", split_image(ref)[0], str(tarball))  # fmt: skip
    log(f"imported {len(images)} images into containerd")
    start("kubelet", _kubelet_command(node, kubeconfig))


def _wait_for_socket(node: RealNode, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if node.sock.exists() and _run("ctr", "--address", str(node.sock), "version", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit("containerd did not start; see logs/containerd.log")


def _record_host_leftovers(node: RealNode) -> None:
    record = node.dir("host-leftovers.json")
    if not record.exists():
        record.write_text(json.dumps([p for p in HOST_LEFTOVERS if not Path(p).exists()]))


def _pids_in_cgroups(node: RealNode) -> set[int]:
    pids: set[int] = set()
    for base in _cgroup_dirs(node):
        if base.exists():
            for procs in base.rglob("cgroup.procs"):
                pids |= {int(p) for p in procs.read_text().split()}
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
            _kill_all({int(p) for p in (path / "cgroup.procs").read_text().split()})
            time.sleep(0.2)


def down(node: RealNode, stop) -> None:  # type: ignore[no-untyped-def]
    """`stop(name)` is the cluster's own process stopper. Order: kubelet, the
    containers (every process in our cgroups), the shims, containerd, then mounts,
    cgroups, the bridge and the directories the runtime made on the host."""
    stop("kubelet")
    for _ in range(20):
        pids = _pids_in_cgroups(node)
        if not pids:
            break
        _kill_all(pids)
        time.sleep(0.2)
    _kill_all(_shim_pids(node))
    stop("containerd")
    for point in sorted(_mountpoints_under(node.root), key=len, reverse=True):
        _run("umount", "-l", point, check=False)
    for base in _cgroup_dirs(node):
        if base.exists():
            for d in [*sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), base]:
                _rmdir_cgroup(d)
    if _run("ip", "link", "show", node.bridge, check=False).returncode == 0:
        _run("ip", "link", "del", node.bridge)
    record = node.dir("host-leftovers.json")
    if record.exists():
        for path in json.loads(record.read_text()):
            shutil.rmtree(path, ignore_errors=True)
    log("real node removed: processes, mounts, cgroups, bridge")
