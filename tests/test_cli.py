"""Every command-line entry point a person runs answers `--help` with its usage and exit 0,
and takes `--help` for nothing else (`python -m offline.render --help` once read it as a stack
name and crashed)."""

from __future__ import annotations

import re
import subprocess
import sys

from harness import ROOT

ENTRY_POINTS = [
    "offline.render", "offline.diff", "offline.bench", "offline.registrations", "settings.reference",
    "devenv.dev", "devenv.local_cluster", "devenv.images", "devenv.scale", "devenv.forwarder", "devenv.rehearsal",
]  # fmt: skip
# Programs that are not a person's commands: the engine starts the language host with its own
# arguments, and the stand-ins run inside images under the names of the programs they replace.
NOT_COMMANDS = {
    "toolchain.language_host",
    "devenv.standin.server",
    "devenv.standin.datadog",
    "devenv.standin.load_client",
}


def test_every_entry_point_is_listed() -> None:
    """A new `if __name__ == "__main__"` must join the list above (or say why not)."""
    found = set()
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in ("offline", "settings", "devenv", "toolchain", "policy") and re.search(
            r"""__name__ == ["']__main__["']""", path.read_text()
        ):
            found.add(".".join(parts))
    assert found == set(ENTRY_POINTS) | NOT_COMMANDS


def test_help_prints_the_usage_and_exits_zero_touching_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Run all at once (each imports the SDK it needs): the usage names the command, the exit code
    is 0, and nothing is written where a stack named `--help` would have gone."""
    running = {
        module: subprocess.Popen(
            [sys.executable, "-m", module, "--help"], cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        for module in ENTRY_POINTS
    }  # fmt: skip
    for module, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{module}: exit {process.returncode}\n{err[-2000:]}"
        assert f"python -m {module}" in out, f"{module} printed no usage:\n{out}"
    assert list(tmp_path.iterdir()) == []
