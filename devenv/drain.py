"""Cordon and drain a node the way `kubectl drain` and AKS's node upgrade do: through the
eviction API, so PodDisruptionBudgets decide which pod may go when.

- DaemonSet pods stay (their controller would put them straight back), as with
  `kubectl drain --ignore-daemonsets`; so do mirror pods. Pods with emptyDir data are
  evicted like any other (`--delete-emptydir-data`).
- Every remaining pod is asked for eviction; one a budget refuses (HTTP 429, "Cannot
  evict pod as it would violate the pod's disruption budget") is asked again every
  5 seconds, as k8s.io/kubectl pkg/drain/drain.go does (v0.34.4, evictPods: a 429 waits
  5 s and retries until the global timeout).
- `grace_period_seconds`, when given, goes into each eviction's DeleteOptions and
  overrides the pod's own terminationGracePeriodSeconds, as `kubectl drain --grace-period`
  does (pkg/drain/drain.go v0.34.4, makeDeleteOptions). AKS never sets it; the rehearsal's
  loss experiment does, to cut the preStop window.
- Past the timeout the drain stops, the node is uncordoned (AKS's
  undrainableNodeBehavior "Schedule": the node takes pods again), and the error names
  the pods still there and the budgets that held them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RETRY_SECONDS = 5.0


@dataclass
class Event:
    seconds: float
    """Since the drain's clock started (the rehearsal's, when it passes one)."""
    what: str


@dataclass
class DrainReport:
    node: str
    events: list[Event] = field(default_factory=list)
    refusals: list[tuple[float, str, str]] = field(default_factory=list)
    """(seconds, namespace/pod, the API's reason) for every eviction a budget refused."""
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class DrainBlockedError(Exception):
    """A drain that did not finish in time; the node is schedulable again."""


def cordon(core: Any, node: str, unschedulable: bool = True) -> None:
    core.patch_node(node, {"spec": {"unschedulable": unschedulable}})


def _evictable(pod: Any) -> bool:
    owners = pod.metadata.owner_references or []
    mirror = "kubernetes.io/config.mirror" in (pod.metadata.annotations or {})
    finished = pod.status.phase in ("Succeeded", "Failed")
    return not mirror and not finished and not any(o.kind == "DaemonSet" for o in owners)


def pods_to_evict(core: Any, node: str) -> list[Any]:
    pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    return [p for p in pods if _evictable(p)]


def _evict(core: Any, pod: Any, grace_period_seconds: int | None = None) -> tuple[bool, str]:
    """(evicted, why not): True when the API accepted the eviction or the pod is gone."""
    from kubernetes.client.exceptions import ApiException

    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace}}  # fmt: skip
    if grace_period_seconds is not None:
        body["deleteOptions"] = {"gracePeriodSeconds": grace_period_seconds}
    try:
        core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
        return True, ""
    except ApiException as err:
        if err.status == 404:
            return True, ""
        if err.status == 429:
            return False, _reason(err)
        raise


def _reason(err: Any) -> str:
    import json

    try:
        return str(json.loads(err.body).get("message", err.reason))
    except (TypeError, ValueError):
        return str(err.reason)


def _budgets_for(policy: Any, pod: Any) -> list[str]:
    """The PodDisruptionBudgets in the pod's namespace whose selector matches its labels."""
    labels = pod.metadata.labels or {}
    names = []
    for pdb in policy.list_namespaced_pod_disruption_budget(pod.metadata.namespace).items:
        wanted = (pdb.spec.selector.match_labels or {}) if pdb.spec.selector else {}
        if wanted and all(labels.get(k) == v for k, v in wanted.items()):
            names.append(f"{pdb.metadata.namespace}/{pdb.metadata.name}")
    return names


def drain(
    api_client: Any,
    node: str,
    timeout: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = print,
    grace_period_seconds: int | None = None,
) -> DrainReport:
    """Cordon `node`, evict its pods (retrying what budgets refuse), wait until they are
    gone. On timeout: uncordon, raise DrainBlockedError naming the pods and the budgets."""
    from kubernetes import client

    core, policy = client.CoreV1Api(api_client), client.PolicyV1Api(api_client)
    report = DrainReport(node=node, started=clock())

    def note(what: str) -> None:
        report.events.append(Event(round(clock(), 1), what))
        log(f"[{clock():6.1f}s] {what}")

    cordon(core, node)
    note(f"cordoned {node}")
    deadline = time.monotonic() + timeout
    waiting = {f"{p.metadata.namespace}/{p.metadata.name}": p for p in pods_to_evict(core, node)}
    while waiting and time.monotonic() < deadline:
        for key, pod in list(waiting.items()):
            evicted, why = _evict(core, pod, grace_period_seconds)
            if evicted:
                note(f"evicted {key}")
                del waiting[key]
            else:
                report.refusals.append((round(clock(), 1), key, why))
                note(f"eviction of {key} refused: {why}")
        if waiting:
            time.sleep(RETRY_SECONDS)
    while not waiting and pods_to_evict(core, node) and time.monotonic() < deadline:
        time.sleep(0.5)  # evicted pods finish their graceful termination
    left = pods_to_evict(core, node)
    if left:
        cordon(core, node, unschedulable=False)
        note(f"drain of {node} timed out after {timeout:g}s; uncordoned it")

        def why(pod: Any) -> str:
            key = f"{pod.metadata.namespace}/{pod.metadata.name}"
            if key not in waiting:  # evicted, still in its graceful termination
                return f"{key} still terminating"
            return f"{key} held by {', '.join(_budgets_for(policy, pod)) or 'no budget'}"

        raise DrainBlockedError(
            f"drain of {node} did not finish in {timeout:g}s: {'; '.join(map(why, left))}. {node} is schedulable again"
        )
    report.finished = clock()
    note(f"drained {node}")
    return report
