"""Container images for the real node, built here from Debian packages: no
registry is reachable, so nothing is pulled.

    python -m devenv.images build        build what is missing, print the image tarballs

Each image is an OCI archive cached under images_cache_dir(), named by a hash
of everything that goes into it (packages, files, entrypoint, this file), so a
second run reuses it and any change rebuilds it. The real node imports them
into its own containerd (devenv/real_node.py) as docker.io/local/NAME:TAG.

- pause: the sandbox image, one static binary (toolchain/pause, built by toolchain/build.sh).
- nginx: Debian's nginx-light, standing in for nginxinc/nginx-unprivileged, with
  the same user (UID 101), port (8080, set by our nginx.conf), writable paths
  (/tmp, /var/cache/nginx) and stop signal (SIGQUIT): nginxinc/docker-nginx-unprivileged
  mainline/debian/Dockerfile (`ARG UID=101`, `EXPOSE 8080`, `STOPSIGNAL SIGQUIT`,
  the chown of /var/cache/nginx and the pid in /tmp).
- admin-app: the stand-in in devenv/standin (Python's http.server) on port 3000,
  with /app/bin/rails for the CronJobs' `bin/rails runner ...` commands.
- datadog-agent, datadog-cluster-agent: the Datadog stand-in (devenv/standin/datadog.py)
  under the SAME names and tags as the images the stacks pin (settings/datadog/agents.py
  defaults), since Datadog's own cannot be pulled or built here. The manifests stay
  as they are; the real node's containerd simply holds these under those names."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devenv.paths import ROOT, images_cache_dir, tools_bin
from settings.datadog.agents import pinned_datadog_images
from settings.types import split_image

SUITE = "bookworm"
STANDIN = ROOT / "devenv" / "standin"
REGISTRY_PREFIX = "docker.io/local"
TAG = "dev"


@dataclass(frozen=True)
class Image:
    name: str
    packages: tuple[str, ...] = ()
    """Debian packages of the base layer; none: no base layer (pause)."""
    files: dict[str, tuple[Path, int]] = field(default_factory=dict)
    """Path in the image -> (source file, mode), in a layer of their own."""
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    workdir: str = "/"
    stop_signal: str = "SIGTERM"
    cmd: tuple[str, ...] = ()
    stands_in_for: str = ""
    """The pinned image this one replaces under its own name and tag; empty: our own image."""

    @property
    def ref(self) -> str:
        """How a pod names it."""
        return self.stands_in_for or f"{REGISTRY_PREFIX}/{self.name}:{TAG}"

    @property
    def tag(self) -> str:
        return split_image(self.ref)[1].removeprefix(":")

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(repr((SUITE, self.packages, self.entrypoint, self.cmd, self.user, self.workdir)).encode())
        h.update(repr((self.stop_signal, self.ref)).encode())
        for path, (source, mode) in sorted(self.files.items()):
            h.update(f"{path}:{mode}:".encode() + source.read_bytes())
        h.update(Path(__file__).read_bytes())
        return h.hexdigest()[:16]


def images() -> list[Image]:
    if not (tools_bin() / "pause").exists():
        raise SystemExit(f"{tools_bin() / 'pause'} is missing: run toolchain/build.sh (make tools) first")
    return [
        Image("pause", files={"/pause": (tools_bin() / "pause", 0o755)}, entrypoint=("/pause",)),
        Image(
            "nginx",
            # nginx-light: Debian's smallest nginx that has the realip module our nginx.conf uses.
            packages=("nginx-light",),
            entrypoint=("nginx", "-g", "daemon off;"),
            user="101",
            stop_signal="SIGQUIT",
        ),
        Image(
            "admin-app",
            # http.server lives in libpython3.11-stdlib, not in python3-minimal.
            packages=("python3-minimal", "libpython3.11-stdlib"),
            files={
                "/app/server.py": (STANDIN / "server.py", 0o644),
                "/app/bin/rails": (STANDIN / "rails", 0o755),
            },
            entrypoint=("python3", "/app/server.py"),
            user="10001",
            workdir="/app",
        ),
        *datadog_standins(),
        # The local cluster's DNS (devenv/dataplane.py): the static CoreDNS toolchain/build.sh makes.
        Image("coredns", files={"/coredns": (tools_bin() / "coredns", 0o755)}, entrypoint=("/coredns",)),
    ]


def _by_tag(key: str, ref: str) -> str:
    """A stand-in must be named as the image it replaces, by tag: an image imported
    under a digest would have to be that digest's content."""
    if not split_image(ref)[1].startswith(":"):
        raise SystemExit(f"the default {key} {ref!r} is not pinned by tag: no stand-in can carry it")
    return ref


def datadog_standins() -> list[Image]:
    """The node agent and Cluster Agent stand-ins. Bash, find and cp come with the
    essential variant (the init containers' `bash -c`, `cp -r`, cont-init.d scripts)."""
    pinned = {key: _by_tag(key, ref) for key, ref in pinned_datadog_images().items()}
    python = ("python3-minimal", "libpython3.11-stdlib")
    program = (STANDIN / "datadog.py", 0o755)
    config = {"/etc/datadog-agent/datadog.yaml": (STANDIN / "datadog.yaml", 0o644)}
    return [
        Image(
            "datadog-agent",
            packages=python,
            files={
                **config,
                "/usr/bin/agent": program,
                "/usr/bin/trace-agent": program,
                "/etc/cont-init.d/01-check-apikey.sh": (STANDIN / "datadog-check-apikey.sh", 0o755),
                "/etc/cont-init.d/89-copy-customfiles.sh": (STANDIN / "datadog-copy-customfiles.sh", 0o755),
            },
            entrypoint=("agent",),
            cmd=("run",),
            stands_in_for=pinned["datadog.agentImage"],
        ),
        Image(
            "datadog-cluster-agent",
            packages=python,
            files={
                **config,
                "/usr/bin/datadog-cluster-agent": program,
                "/entrypoint.sh": (STANDIN / "datadog-entrypoint.sh", 0o755),
            },
            # The real image's ENTRYPOINT and CMD: the pod sets neither.
            entrypoint=("/entrypoint.sh",),
            cmd=("datadog-cluster-agent", "start"),
            # No USER, as Datadog's (its Dockerfile leaves `USER dd-agent` commented out):
            # the pod's securityContext alone makes it non-root.
            stands_in_for=pinned["datadog.clusterAgent.image"],
        ),
    ]


def _run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def _files_layer(image: Image, out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        dirs = sorted({str(p) for path in image.files for p in Path(path).parents if str(p) != "/"})
        for d in dirs:
            info = tarfile.TarInfo(d.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (source, mode) in sorted(image.files.items()):
            data = source.read_bytes()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))


def _build(image: Image, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f"image-{image.name}-") as tmp:
        work = Path(tmp)
        layout = f"{work / 'oci'}:{image.tag}"
        _run("umoci", "init", "--layout", str(work / "oci"))
        _run("umoci", "new", "--image", layout)
        if image.packages:
            rootfs = work / "rootfs.tar"
            # essential: only Essential:yes packages plus ours; no apt, no init, a small rootfs.
            excludes = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale")]
            _run("mmdebstrap", "--quiet", "--variant=essential", f"--include={','.join(image.packages)}",
                 *excludes, SUITE, str(rootfs))  # fmt: skip
            _run("umoci", "raw", "add-layer", "--image", layout, str(rootfs))
        if image.files:
            _files_layer(image, work / "files.tar")
            _run("umoci", "raw", "add-layer", "--image", layout, str(work / "files.tar"))
        config = ["--config.workingdir", image.workdir, "--config.stopsignal", image.stop_signal]
        for arg in image.entrypoint:
            config += ["--config.entrypoint", arg]
        for arg in image.cmd:
            config += ["--config.cmd", arg]
        if image.user:
            config += ["--config.user", image.user]
        _run("umoci", "config", "--image", layout, *config)
        partial = out.with_suffix(".partial")
        _run("tar", "-C", str(work / "oci"), "-cf", str(partial), ".")
        partial.rename(out)


def build_all() -> dict[str, Path]:
    """Every image as an OCI archive, built only when its inputs changed."""
    cache = images_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    built = {}
    for image in images():
        out = cache / f"{image.name}-{image.digest()}.tar"
        if not out.exists():
            start = time.time()
            _build(image, out)
            print(f"[images] built {image.ref} in {time.time() - start:.0f}s: {out}", flush=True)
        built[image.ref] = out
        for stale in cache.glob(f"{image.name}-*.tar"):  # earlier inputs' builds: never used again
            if stale != out:
                stale.unlink()
    return built


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"]:
        print(__doc__.split("\n\n")[1])
        return 0 if argv[1:] in (["-h"], ["--help"], ["help"]) else 2
    for ref, path in build_all().items():
        print(f"{ref}\t{path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv))
