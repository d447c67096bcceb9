"""devenv/kube.py: the small helpers the local cluster, the rehearsal, the traffic client and
the end-to-end tests share around the API server."""

from __future__ import annotations

import time
from types import SimpleNamespace as Ns

import pytest

from devenv.kube import is_ready, recreatable, wait_until


def _with(*conditions: tuple[str, str]) -> Ns:
    return Ns(status=Ns(conditions=[Ns(type=t, status=s) for t, s in conditions] or None))


def test_ready_means_a_true_ready_condition() -> None:
    assert is_ready(_with(("PodScheduled", "True"), ("Ready", "True")))
    assert not is_ready(_with(("Ready", "False")))
    assert not is_ready(_with(("Ready", "Unknown")))  # a node whose kubelet stopped reporting
    assert not is_ready(_with())  # no conditions yet


def test_wait_until_returns_once_the_condition_holds_and_names_what_it_waited_for() -> None:
    answers = iter([False, False, True])
    wait_until(lambda: next(answers), "the third answer", timeout=5, interval=0.01)
    started = time.monotonic()
    with pytest.raises(SystemExit, match=r"^timed out waiting for CoreDNS to be ready$"):
        wait_until(lambda: False, "CoreDNS to be ready", timeout=0.1, interval=0.01)
    assert time.monotonic() - started < 2


def test_a_recreated_object_keeps_what_it_was_made_with_and_drops_what_the_server_set() -> None:
    saved = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "admin", "labels": {"app": "web"}, "annotations": {"a": "b"},
                     "uid": "0f1e", "resourceVersion": "812", "creationTimestamp": "2026-12-06T05:00:00Z"},
        "spec": {"maxUnavailable": 1},
        "status": {"currentHealthy": 2},
    }  # fmt: skip
    assert recreatable(saved) == {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "admin", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"maxUnavailable": 1},
    }
    assert saved["metadata"]["uid"] == "0f1e" and "status" in saved, "the saved copy is left as it was"
