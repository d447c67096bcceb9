"""The delivery workflows keep their promises: pinned actions, the same Pulumi
version as the toolchain, previews of every cloud stack on pull requests, prod
behind an approval, one deploy per stack at a time, visible drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))}


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def pulumi_steps(workflow: dict) -> list[dict]:
    return [s for s in steps(workflow) if s.get("uses", "").startswith("pulumi/actions@")]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_action_is_pinned_to_a_full_version(name: str) -> None:
    for step in steps(WORKFLOWS[name]):
        if "uses" in step:
            assert re.search(r"@v\d+\.\d+(\.\d+)?$", step["uses"]), step["uses"]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_pulumi_version_matches_the_toolchain(name: str) -> None:
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert WORKFLOWS[name]["env"]["PULUMI_VERSION"] == versions["PULUMI_VERSION"]


def test_pull_requests_run_tests_then_preview_both_cloud_stacks_with_a_comment() -> None:
    pr = WORKFLOWS["pull-request"]
    assert pr["jobs"]["preview"]["needs"] == "test"
    assert pr["jobs"]["preview"]["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    (preview,) = pulumi_steps(pr)
    assert preview["with"]["command"] == "preview" and preview["with"]["comment-on-pr"] is True
    assert preview["with"]["policyPacks"] == "policy"
    assert pr["permissions"]["id-token"] == "write"


def test_prod_deploys_after_staging_behind_an_approval_one_at_a_time() -> None:
    jobs = WORKFLOWS["deploy"]["jobs"]
    assert jobs["prod"]["needs"] == "staging"
    assert jobs["prod"]["environment"] == "production"
    for stack in ("staging", "prod"):
        assert jobs[stack]["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}


def test_drift_check_refreshes_and_expects_no_changes() -> None:
    drift = WORKFLOWS["drift"]
    (check,) = pulumi_steps(drift)
    assert check["with"]["refresh"] is True and check["with"]["expect-no-changes"] is True
    assert any("gh issue create" in s.get("run", "") for s in steps(drift))


def test_no_workflow_holds_a_long_lived_azure_secret() -> None:
    text = "".join((ROOT / ".github" / "workflows" / f"{name}.yml").read_text() for name in WORKFLOWS)
    assert "AZURE_CREDENTIALS" not in text and "client-secret" not in text and "ARM_CLIENT_SECRET" not in text
