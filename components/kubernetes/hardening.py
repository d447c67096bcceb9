"""The pod hardening every workload of the platform gets, written once: a fixed
non-root UID, Pod Security 'restricted' plus a read-only root filesystem, and the
annotation that records each checkov finding we accept on purpose, with its reason.
Not a component: plain functions that return Kubernetes dicts."""

from __future__ import annotations

from typing import Any

# A high, fixed UID/GID: never root, never a UID that exists on the node.
RUN_AS_USER = 10001


def pod_security_context() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": RUN_AS_USER,
        "fs_group": RUN_AS_USER,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Pod Security 'restricted' plus a read-only root filesystem."""
    return {
        "run_as_non_root": True,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def checkov_annotations(skips: dict[str, str]) -> dict[str, str]:
    """`checkov.io/skipN: CHECK=reason`, the annotation checkov honours on a workload."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(skips.items()), 1)}


def kube_score_annotations(skips: dict[str, str]) -> dict[str, str]:
    """`kube-score/ignore: <check id>,...`, which kube-score honours on the object
    (zegl/kube-score scorecard/scorecard.go and scorecard/enabled.go @v1.20.0). The annotation holds
    no text, so each check's reason lives in the caller's dict, which tests/test_kube_score.py reads."""
    return {"kube-score/ignore": ",".join(sorted(skips))} if skips else {}
