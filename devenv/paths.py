"""Where the dev machine keeps what it builds and runs: the one place each
location is derived, for the program, the runner and the tests alike."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Everything `make dev` keeps: state, passphrase, the project copy. $DEV_LOCAL_DIR
# moves it (the end-to-end suite runs the real runner in a private one).
LOCAL = Path(os.environ.get("DEV_LOCAL_DIR") or ROOT / ".local")
LOCAL_CONTEXT = "aks-platform-local"


@functools.cache
def tools_bin() -> Path:
    """The pinned toolchain's bin directory. toolchain/build.sh defines where
    its cache is (TOOLS_CACHE, XDG_CACHE_HOME); this asks it, without building."""
    out = subprocess.run([str(ROOT / "toolchain" / "build.sh"), "where"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def port_offset() -> int:
    """LOCAL_CLUSTER_PORT_OFFSET: moves the local cluster's ports, network and ranges, so a
    second cluster (the end-to-end tests') runs beside yours."""
    return int(os.environ.get("LOCAL_CLUSTER_PORT_OFFSET", "0"))


def dev_stack_file() -> Path:
    """The dev stack's config: Pulumi.dev.yaml, or your own overlay file in $DEV_STACK_FILE."""
    return Path(os.environ.get("DEV_STACK_FILE") or ROOT / "Pulumi.dev.yaml")


def local_cluster_dir() -> Path:
    """The local cluster's directory: $LOCAL_CLUSTER_DIR, default ~/.cache/aks-platform-local."""
    return Path(os.environ.get("LOCAL_CLUSTER_DIR") or Path.home() / ".cache" / "aks-platform-local")


def real_node_dir(cluster_dir: Path | None = None) -> Path:
    """The real node's own directory in the local cluster's (devenv/real_node.py)."""
    return (cluster_dir or local_cluster_dir()) / "node"


def local_kubeconfig() -> Path:
    """The kubeconfig `make cluster-up` writes, and the dev stack uses unless `platform:local.kubeconfig` is set."""
    return local_cluster_dir() / "kubeconfig"


def images_cache_dir() -> Path:
    """The real node's images (devenv/images.py), kept between runs: $IMAGES_CACHE,
    default ~/.cache/aks-platform-images."""
    return Path(os.environ.get("IMAGES_CACHE") or Path.home() / ".cache" / "aks-platform-images")
