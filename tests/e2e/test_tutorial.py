"""End to end: docs/tutorial.md, command by command, so the tutorial cannot go stale.

Every ```sh block of the page runs, in order, in one bash session (so the
`eval "$(make -s env)"` of step 1 holds for the rest), from the repository's root,
with `set -e`: a failing command fails the test and shows the session's output.
Every ```yaml title="Pulumi.dev.yaml" block is applied the way the page asks a
person to: merged into the dev stack file. The only differences from a person's
machine are where things live: a private cluster directory and ports, a private
`.local/`, and a copy of Pulumi.dev.yaml in $DEV_STACK_FILE (the file `make dev`
reads instead), so the run leaves the checkout and any cluster of yours alone.

After each section, the test reads the cluster through the API and checks what
the page says the reader will see."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import pod_ready, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)
SECTION = re.compile(r"^## (?P<number>\d+)\. ", re.M)


@dataclass(frozen=True)
class Step:
    section: int
    kind: str
    """'sh' (commands to run) or 'edit' (a fragment of Pulumi.dev.yaml to merge)."""
    text: str


def tutorial_steps(page: str) -> list[Step]:
    """The page's runnable blocks, in order, each with the number of its section."""
    sections = [(m.start(), int(m.group("number"))) for m in SECTION.finditer(page)]
    steps = []
    for match in BLOCK.finditer(page):
        number = max((n for start, n in sections if start < match.start()), default=0)
        info = match.group("info").strip()
        if info == "sh":
            steps.append(Step(number, "sh", match.group("body")))
        elif info == 'yaml title="Pulumi.dev.yaml"':
            steps.append(Step(number, "edit", match.group("body")))
    return steps


class Session:
    """One bash process fed block after block; each block reports its exit status."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._send("set -e -o pipefail")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def run(self, block: str, timeout: float) -> str:
        """Run `block`; return its output. With `set -e` a failing command ends the shell."""
        marker = f"__block_done_{uuid.uuid4().hex}__"
        self.transcript.append(f"$ {block.strip()}")
        self._send(f"{block.rstrip()}\necho {marker}")
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(self._failure(f"timed out after {timeout:.0f}s", output)) from None
            if line is None:
                raise AssertionError(self._failure(f"a command failed (exit {self.process.wait()})", output))
            if line.strip() == marker:
                self.transcript += output
                return "".join(output)
            output.append(line)

    def _failure(self, what: str, output: list[str]) -> str:
        return f"tutorial: {what} in\n{self.transcript[-1]}\n--- output ---\n{''.join(output)[-6000:]}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class Tutorial:
    stack_file: Path
    kubeconfig: Path
    session: Session

    def apply_edit(self, fragment: str) -> None:
        """Merge a fragment into the stack file, as the page asks a person to."""
        from settings.loader import deep_merge

        current = yaml.safe_load(self.stack_file.read_text())
        current["config"] = deep_merge(current["config"], yaml.safe_load(fragment)["config"])
        self.stack_file.write_text(yaml.safe_dump(current, sort_keys=False))

    def api(self) -> Any:
        from kubernetes import client, config

        api = config.new_client_from_config(str(self.kubeconfig))
        return client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tutorial]:
    from devenv.local_cluster import free_port_offset

    base = tmp_path_factory.mktemp("tutorial")
    stack_file = base / "Pulumi.dev.yaml"
    stack_file.write_text((ROOT / "Pulumi.dev.yaml").read_text())
    env = {
        **os.environ,
        "LOCAL_CLUSTER_DIR": str(base / "cluster"),
        "LOCAL_CLUSTER_PORT_OFFSET": str(free_port_offset()),
        "DEV_LOCAL_DIR": str(base / "local"),
        "DEV_STACK_FILE": str(stack_file),
    }
    session = Session(env)
    try:
        yield Tutorial(stack_file=stack_file, kubeconfig=base / "cluster" / "kubeconfig", session=session)
    finally:
        session.close()
        # The page ends with `make cluster-down`; this is for a run that stopped half way.
        subprocess.run(["make", "-s", "cluster-down"], cwd=ROOT, env=env, capture_output=True)


def _web_pods(tutorial: Tutorial) -> list:
    core, _, _ = tutorial.api()
    return core.list_namespaced_pod("hello", label_selector="app.kubernetes.io/component=web").items


def _ready_web_pods(tutorial: Tutorial, image: str) -> list:
    pods = [p for p in _web_pods(tutorial) if p.metadata.deletion_timestamp is None]
    images = {c.image for p in pods for c in p.spec.containers if c.name == "app"}
    return pods if len(pods) == 2 and images == {image} and all(pod_ready(p) for p in pods) else []


def check_section(tutorial: Tutorial, section: int, seen: dict[str, Any]) -> None:
    """What the page says the reader sees at the end of `section`, read through the API."""
    if section == 7:
        assert not tutorial.kubeconfig.parent.exists(), "make cluster-down removed the cluster"
        return
    core, apps, batch = tutorial.api()
    if section == 1:
        nodes = core.list_node().items
        assert len(nodes) == 3
        assert sum(1 for n in nodes if any(t.key == "CriticalAddonsOnly" for t in n.spec.taints or [])) == 1
    elif section == 2:
        pods = wait_for(lambda: _ready_web_pods(tutorial, "ghcr.io/example-org/hello:1.0.0"), "two ready 1.0.0 pods")
        assert all(len(p.spec.containers) == 2 for p in pods)
        seen["deployment"] = apps.read_namespaced_deployment("web", "hello").metadata.uid
    elif section == 3:
        pods = wait_for(lambda: _ready_web_pods(tutorial, "ghcr.io/example-org/hello:1.0.1"), "two ready 1.0.1 pods")
        assert {p.metadata.labels["app.kubernetes.io/version"] for p in pods} == {"1.0.1"}
        strategy = apps.read_namespaced_deployment("web", "hello").spec.strategy.rolling_update
        assert strategy.max_unavailable == 0
        seen["pods"] = {p.metadata.uid for p in pods}
    elif section == 4:
        pods = wait_for(lambda: _ready_web_pods(tutorial, "ghcr.io/example-org/hello:1.0.1"), "two ready pods again")
        assert not {p.metadata.uid for p in pods} & seen["pods"], "the pods were replaced"
        assert apps.read_namespaced_deployment("web", "hello").metadata.uid != seen["deployment"], "re-created"
    elif section == 5:
        cron = batch.read_namespaced_cron_job("cleanup", "hello")
        assert cron.spec.schedule == "0 3 * * *" and cron.spec.time_zone == "Asia/Tokyo"
        # The run the page made, named as the CronJob names its own: <cronjob>-<Unix minute>.
        jobs = batch.list_namespaced_job("hello").items
        (job,) = [j for j in jobs if re.fullmatch(r"cleanup-\d{8}", j.metadata.name)]
        assert abs(int(job.metadata.name.split("-")[1]) - time.time() / 60) < 10
        assert job.status.succeeded == 1
        assert job.spec.template.spec.containers[0].command == ["python", "-m", "hello.cleanup"]
    elif section == 6:
        # `make dev` returned after the engine saw the namespace gone, not merely terminating.
        assert "hello" not in {n.metadata.name for n in core.list_namespace().items}
        assert "admin" in {n.metadata.name for n in core.list_namespace().items}, "only hello went"


def test_the_page_has_every_part_a_newcomer_needs() -> None:
    """The tutorial adds a service, ships a version, heals, adds a job and removes the
    service: the runnable blocks are there, in that order (the test below runs them)."""
    steps = tutorial_steps(TUTORIAL.read_text())
    commands = "\n".join(step.text for step in steps if step.kind == "sh")
    assert [s.section for s in steps if s.kind == "edit"] == [2, 3, 5, 6]
    for needed in ("make dev", 'eval "$(make -s env)"', "rollout status", "delete pods", "create job", "cluster-down"):
        assert needed in commands, needed


def test_every_command_of_the_tutorial_works_as_written(tutorial: Tutorial) -> None:
    steps = tutorial_steps(TUTORIAL.read_text())
    seen: dict[str, Any] = {}
    ran = 0
    for index, step in enumerate(steps):
        if step.kind == "edit":
            tutorial.apply_edit(step.text)
        else:
            # The first `make dev` starts the cluster (and would build the toolchain if CI had not).
            tutorial.session.run(step.text, timeout=1200 if ran == 0 else 300)
            ran += 1
        last_of_section = index + 1 == len(steps) or steps[index + 1].section != step.section
        if last_of_section:
            check_section(tutorial, step.section, seen)
    assert ran == sum(1 for s in steps if s.kind == "sh") >= 8
    print("\n".join(line.rstrip("\n") for line in tutorial.session.transcript))
