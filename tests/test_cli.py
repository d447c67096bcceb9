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
# Run by path, as their usage says (`make bootstrap` runs `python bootstrap/admin.py up`).
SCRIPTS = {"bootstrap.admin": "bootstrap/admin.py"}
SHELL_COMMANDS = ["toolchain/build.sh", ".ci/run"]
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
        if parts[0] in ("offline", "settings", "devenv", "toolchain", "policy", "bootstrap") and re.search(
            r"""__name__ == ["']__main__["']""", path.read_text()
        ):
            found.add(".".join(parts))
    assert found == set(ENTRY_POINTS) | set(SCRIPTS) | NOT_COMMANDS


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


def test_scripts_run_by_path_answer_help_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path in SCRIPTS.values():
        result = subprocess.run([sys.executable, str(ROOT / path), "--help"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, f"{path}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert f"python {path}" in result.stdout, f"{path} printed no usage:\n{result.stdout}"
    for path in SHELL_COMMANDS:
        # --help must print usage and stop: .ci/run without it would start the whole CI.
        result = subprocess.run([str(ROOT / path), "--help"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # fmt: skip
        assert result.returncode == 0, f"{path}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert path in result.stdout, f"{path} printed no usage:\n{result.stdout}"
    assert list(tmp_path.iterdir()) == []
