"""Where the dev machine keeps what it builds and runs."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def tools_bin() -> Path:
    """The pinned toolchain's bin directory. toolchain/build.sh defines where
    its cache is (TOOLS_CACHE, XDG_CACHE_HOME); this asks it, without building."""
    out = subprocess.run([str(ROOT / "toolchain" / "build.sh"), "where"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])
