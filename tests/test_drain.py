"""The drain's own rules, against a stand-in of the API that answers as Kubernetes does
(an eviction a budget refuses is HTTP 429; a DaemonSet's pod is left alone). The real
thing, on real nodes under traffic, is tests/e2e/test_upgrade_rehearsal.py."""

from __future__ import annotations

import json
from types import SimpleNamespace as Ns
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from devenv import drain


def _pod(name: str, owner: str = "ReplicaSet", labels: dict | None = None) -> Any:
    return Ns(
        metadata=Ns(name=name, namespace="admin", owner_references=[Ns(kind=owner)], annotations={},
                    labels=labels or {"app.kubernetes.io/component": "web"}),
        status=Ns(phase="Running"),
    )  # fmt: skip


class FakeCore:
    """Pods on one node; an eviction refused `refuse` times (429) before it is accepted."""

    def __init__(self, pods: list[Any], refuse: int) -> None:
        self.pods, self.refuse, self.unschedulable = list(pods), refuse, None
        self.evictions: list[str] = []
        self.bodies: list[dict] = []

    def patch_node(self, node: str, body: dict) -> None:
        self.unschedulable = body["spec"]["unschedulable"]

    def list_pod_for_all_namespaces(self, field_selector: str) -> Any:
        return Ns(items=list(self.pods))

    def create_namespaced_pod_eviction(self, name: str, namespace: str, body: dict) -> None:
        self.evictions.append(name)
        self.bodies.append(body)
        if self.refuse > 0:
            self.refuse -= 1
            message = "Cannot evict pod as it would violate the pod's disruption budget."
            raise _api_exception(429, message)
        self.pods = [p for p in self.pods if p.metadata.name != name]


def _api_exception(status: int, message: str) -> ApiException:
    err = ApiException(status=status, reason="Too Many Requests")
    err.body = json.dumps({"message": message})
    return err


class FakePolicy:
    def list_namespaced_pod_disruption_budget(self, namespace: str) -> Any:
        pdb = Ns(metadata=Ns(namespace=namespace, name="web"),
                 spec=Ns(selector=Ns(match_labels={"app.kubernetes.io/component": "web"})))  # fmt: skip
        return Ns(items=[pdb])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from kubernetes import client

    made: dict[str, Any] = {}

    def install(pods: list[Any], refuse: int) -> FakeCore:
        made["core"] = FakeCore(pods, refuse)
        monkeypatch.setattr(client, "CoreV1Api", lambda api=None: made["core"])
        monkeypatch.setattr(client, "PolicyV1Api", lambda api=None: FakePolicy())
        monkeypatch.setattr(drain, "RETRY_SECONDS", 0.01)
        return made["core"]

    return install


def test_a_refused_eviction_is_asked_again_until_the_budget_allows_it(fake) -> None:  # type: ignore[no-untyped-def]
    core = fake([_pod("web-a"), _pod("web-b"), _pod("agent-x", owner="DaemonSet")], refuse=2)
    report = drain.drain(None, "real-1", timeout=5, log=lambda line: None)
    assert core.unschedulable is True, "the node stays cordoned: it is on its way out"
    assert [name for _, name, _ in report.refusals] == ["admin/web-a", "admin/web-b"]  # both asked again
    assert all("disruption budget" in why for _, _, why in report.refusals)
    assert "agent-x" not in core.evictions and [p.metadata.name for p in core.pods] == ["agent-x"]
    assert [e.what for e in report.events][-1] == "drained real-1"


def test_a_drain_the_budget_holds_past_its_timeout_names_pod_and_budget_and_uncordons(fake) -> None:  # type: ignore[no-untyped-def]
    core = fake([_pod("web-a")], refuse=10**6)
    with pytest.raises(drain.DrainBlockedError) as blocked:
        drain.drain(None, "real-1", timeout=0.2, log=lambda line: None)
    assert str(blocked.value) == (
        "drain of real-1 did not finish in 0.2s: admin/web-a held by admin/web. real-1 is schedulable again"
    )
    assert core.unschedulable is False


def test_a_grace_period_is_sent_with_each_eviction_only_when_asked(fake) -> None:  # type: ignore[no-untyped-def]
    # policy/v1 Eviction carries DeleteOptions (1.34 OpenAPI, io.k8s.api.policy.v1.Eviction.deleteOptions);
    # without one the pod's own terminationGracePeriodSeconds, and its preStop window, apply.
    core = fake([_pod("web-a")], refuse=0)
    drain.drain(None, "real-1", timeout=5, log=lambda line: None)
    assert "deleteOptions" not in core.bodies[0]
    core = fake([_pod("web-a")], refuse=0)
    drain.drain(None, "real-1", timeout=5, log=lambda line: None, grace_period_seconds=1)
    assert core.bodies[0]["deleteOptions"] == {"gracePeriodSeconds": 1}
