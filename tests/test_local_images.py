"""`platform:local.images` and `platform:local.realNode`: what the dev stack runs
instead of the images the services name, and where. Offline engine only."""

from __future__ import annotations

from typing import Any

import pytest

from devenv.real_node import REAL_NODE_LABEL, REAL_NODE_TAINT
from harness import Evaluation, evaluate, evaluate_fresh, patched_stack_file
from settings.local.cluster import ImageOverride

# Every kind, each with an image of its own: the admin web app (nginx + app) and
# its jobs (the app's image), a worker, and a job that names its own image.
OTHER_SERVICES = {
    "mailer": {
        "team": "growth",
        "worker": {"image": "ghcr.io/example-org/mailer:0.9.0", "probe": {"command": ["true"]}},
    },
    "etl": {
        "team": "data",
        "jobs": [{"name": "nightly-load", "schedule": "0 3 * * *", "command": ["etl"],
                  "image": "ghcr.io/example-org/etl@sha256:" + "a" * 64}],
    },
}  # fmt: skip
IMAGES = [
    {"name": "ghcr.io/example-org/admin-app", "newName": "docker.io/local/admin-app", "newTag": "dev"},
    {"name": "nginxinc/nginx-unprivileged", "newName": "docker.io/local/nginx", "newTag": "dev"},
    {"name": "ghcr.io/example-org/mailer", "newTag": "0.9.1-rc1"},  # the tag alone
    {"name": "ghcr.io/example-org/etl", "newName": "registry.local:5000/etl"},  # the name alone: the digest stays
]


def _dev(local: dict[str, Any]) -> Evaluation:
    patch = {"platform:services": OTHER_SERVICES, "platform:local": local}
    return evaluate_fresh("dev", stack_file=patched_stack_file("dev", patch))


@pytest.fixture(scope="module")
def plain() -> Evaluation:
    return _dev({})


@pytest.fixture(scope="module")
def mapped() -> Evaluation:
    return _dev({"images": IMAGES})


@pytest.fixture(scope="module")
def on_real_node() -> Evaluation:
    return _dev({"images": IMAGES, "realNode": True})


def _pods(ev: Evaluation) -> dict[tuple[str, str], dict]:
    """The pod spec of every Deployment and CronJob, by (service, name)."""
    pods = {}
    for m in ev.manifests():
        key = (m["metadata"].get("labels", {}).get("app.kubernetes.io/name"), m["metadata"].get("name"))
        if m["kind"] == "Deployment":
            pods[key] = m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            pods[key] = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pods


def _mapped(image: str) -> str:
    entries = [ImageOverride.model_validate(entry) for entry in IMAGES]
    return next(m for entry in entries if (m := entry.apply(image)) is not None)


def test_images_are_mapped_in_every_container_of_every_service_pod(plain: Evaluation, mapped: Evaluation) -> None:
    before, after = _pods(plain), _pods(mapped)
    assert set(before) == set(after)
    # web (admin), both admin jobs, the worker, the etl job: every kind is covered.
    assert {("admin", "web"), ("admin", "hourly-aggregation"), ("mailer", "worker"), ("etl", "nightly-load")} <= set(
        after
    )
    containers = 0
    for key, pod in after.items():
        for was, now in zip(before[key]["containers"], pod["containers"], strict=True):
            assert now["image"] == _mapped(was["image"]) != was["image"], key
            # Only the image changes: the pull policy stays the stacks' own without the real node.
            assert {**now, "image": was["image"]} == was
            containers += 1
        assert "tolerations" not in pod and "nodeSelector" not in pod, key
    assert containers == 6
    assert after[("etl", "nightly-load")]["containers"][0]["image"] == "registry.local:5000/etl@sha256:" + "a" * 64
    assert after[("mailer", "worker")]["containers"][0]["image"] == "ghcr.io/example-org/mailer:0.9.1-rc1"


def test_the_real_node_placement_and_pull_policy_come_only_with_real_node(
    mapped: Evaluation, on_real_node: Evaluation
) -> None:
    toleration = {**REAL_NODE_TAINT, "operator": "Equal"}
    without, with_node = _pods(mapped), _pods(on_real_node)
    for key, pod in with_node.items():
        assert toleration in pod["tolerations"], key
        assert pod["nodeSelector"] == {REAL_NODE_LABEL: "true"}, key
        assert {c["imagePullPolicy"] for c in pod["containers"]} == {"Never"}, key
        assert [c["image"] for c in pod["containers"]] == [c["image"] for c in without[key]["containers"]]
        assert {c["imagePullPolicy"] for c in without[key]["containers"]} == {"Always"}, key


@pytest.mark.parametrize("stack", ["prod", "staging", "dev"])
def test_a_stack_without_the_settings_registers_what_it_did_before_them(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before these settings existed, a kind's pod spec went to the engine as built.
    Evaluating the stack again with that step put back must register exactly the same
    resources: the AKS stacks, and dev without the settings, are unchanged."""
    from components.kubernetes.runtime import PodRuntime

    now = evaluate(stack)
    monkeypatch.setattr(PodRuntime, "adapt", lambda self, pod: pod)
    before = evaluate_fresh(stack)
    assert _registered(now) == _registered(before)
    assert any(r.type == "kubernetes:apps/v1:Deployment" for r in now.resources)


def _registered(ev: Evaluation) -> dict[str, tuple]:
    """Every registration by URN (the engine's order varies between runs), with what reaches the engine."""
    return {
        r.urn: (r.raw, r.provider, r.parent, r.protect, r.ignore_changes, sorted(r.dependencies)) for r in ev.resources
    }


def test_the_commented_real_node_block_in_pulumi_dev_yaml_is_a_working_config() -> None:
    """The block a person uncomments (docs/dev-loop.md, "Real pods") validates and puts every
    service pod on the node."""
    import yaml

    from harness import ROOT

    lines = (ROOT / "Pulumi.dev.yaml").read_text().splitlines()
    start = lines.index("  # platform:local:")
    block = [line.replace("# ", "", 1) for line in lines[start:] if line.startswith("  #")]
    local = yaml.safe_load("\n".join(block))["platform:local"]
    pods = _pods(evaluate_fresh("dev", stack_file=patched_stack_file("dev", {"platform:local": local})))
    assert pods and all(pod["nodeSelector"] == {REAL_NODE_LABEL: "true"} for pod in pods.values())
    assert all(c["image"].startswith("docker.io/local/") for pod in pods.values() for c in pod["containers"])


# ------------------------------------------------------------- Datadog on the real node

DATADOG_ON = {"enabled": True, "monitorsEnabled": False}


def _datadog_pods(ev: Evaluation) -> dict[str, dict]:
    """The agent DaemonSet's and the Cluster Agent Deployment's pod specs, by kind."""
    return {
        m["kind"]: m["spec"]["template"]["spec"]
        for m in ev.manifests()
        if m["kind"] in ("DaemonSet", "Deployment") and m["metadata"].get("namespace") == "datadog"
    }


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.fixture(scope="module")
def datadog_on_real_node() -> Evaluation:
    patch = {"platform:local": {"images": IMAGES[:2], "realNode": True}, "platform:datadog": DATADOG_ON}
    return evaluate_fresh("dev", stack_file=patched_stack_file("dev", patch))


def test_on_the_real_node_datadog_runs_its_pinned_images_which_the_node_holds_as_stand_ins(
    datadog_on_real_node: Evaluation,
) -> None:
    """No registry is reachable from the real node: each Datadog container runs the image the
    stack pins, unchanged, with pull policy Never, and the node's containerd holds a stand-in
    under exactly that name (devenv/images.py). Without Never, `Always` would fail the pull."""
    from devenv.images import datadog_standins

    pods = _datadog_pods(datadog_on_real_node)
    assert set(pods) == {"DaemonSet", "Deployment"}
    used = {c["image"] for pod in pods.values() for c in _containers(pod)}
    assert used == {image.ref for image in datadog_standins()}
    for kind, pod in pods.items():
        assert {c["imagePullPolicy"] for c in _containers(pod)} == {"Never"}, kind


def test_on_the_real_node_the_cluster_agent_moves_there_and_the_agent_daemonset_stays_on_every_node(
    datadog_on_real_node: Evaluation,
) -> None:
    pods = _datadog_pods(datadog_on_real_node)
    cluster_agent, agent = pods["Deployment"], pods["DaemonSet"]
    assert {**REAL_NODE_TAINT, "operator": "Equal"} in cluster_agent["tolerations"]
    assert cluster_agent["nodeSelector"] == {"kubernetes.io/os": "linux", REAL_NODE_LABEL: "true"}
    # A nodeSelector on the real node's label would leave every other node without its agent.
    assert agent["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert agent["tolerations"] == [{"operator": "Exists"}]


def _host_paths(pod: dict) -> dict[str, str]:
    return {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}


@pytest.fixture(scope="module")
def datadog_off_the_real_node() -> Evaluation:
    patch = {"platform:local": {"images": IMAGES[:2]}, "platform:datadog": DATADOG_ON}
    return evaluate_fresh("dev", stack_file=patched_stack_file("dev", patch))


def test_datadog_keeps_its_pull_policy_and_placement_off_the_real_node(datadog_off_the_real_node: Evaluation) -> None:
    pods = _datadog_pods(datadog_off_the_real_node)
    assert {c["imagePullPolicy"] for pod in pods.values() for c in _containers(pod)} == {"Always"}
    assert "tolerations" not in pods["Deployment"]


def test_on_the_real_node_the_agent_sees_only_kernel_views_of_the_host_and_the_nodes_own_files(
    datadog_on_real_node: Evaluation, datadog_off_the_real_node: Evaluation
) -> None:
    """The agent's hostPaths are the host's own only for read-only kernel views (/proc,
    cgroups); its containerd socket and pod logs are the first real node's, and the rest
    (its writable log-position directory) a directory of the node's, removed by `down`."""
    from pathlib import Path

    from devenv.node_network import NodeNetwork
    from devenv.paths import real_node_dir
    from devenv.real_node import HOST_VIEWS, RealNode, _kubelet_config

    node = str(real_node_dir())
    agent = _datadog_pods(datadog_on_real_node)["DaemonSet"]
    on_node = _host_paths(agent)
    off_node = _host_paths(_datadog_pods(datadog_off_the_real_node)["DaemonSet"])
    assert set(on_node) == set(off_node) and len(on_node) >= 5
    for name, path in on_node.items():
        if off_node[name] in HOST_VIEWS:
            assert path == off_node[name], name
            mounts = agent["containers"][0]["volumeMounts"]
            assert all(m.get("readOnly") for m in mounts if m["name"] == name), name
        elif name == "runtimesocketdir":
            continue  # the node's own containerd: below
        else:
            assert path.startswith(f"{node}/") and path != off_node[name], (name, path)
    real_node = RealNode(real_node_dir(), NodeNetwork(0), index=0)  # the first real node
    assert on_node["runtimesocketdir"] == str(real_node.sock.parent)  # its own containerd
    assert on_node["logpodpath"] == _kubelet_config(real_node, Path("ca.crt"))["podLogsDir"]  # its kubelet's pod logs


@pytest.mark.parametrize("real_node", [True, False])
def test_make_dev_generates_the_datadog_api_key_only_for_the_stand_ins(real_node: bool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On the real node the agents are stand-ins that send nothing, so a throwaway key does;
    anywhere else the agent is Datadog's own and needs the engineer's key."""
    import yaml

    from devenv.dev import dev_generated_secrets

    local = {"images": IMAGES[:2], "realNode": True} if real_node else {}
    path = tmp_path / "Pulumi.dev.yaml"
    config = patched_stack_file("dev", {"platform:local": local, "platform:datadog": DATADOG_ON})
    path.write_text(yaml.safe_dump({"config": config}))
    generated = set(dev_generated_secrets(path))
    assert "datadogClusterAgentToken" in generated
    assert ("datadogApiKey" in generated) is real_node
