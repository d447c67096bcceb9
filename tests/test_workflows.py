"""The delivery workflows keep their promises: pinned actions, the same Pulumi
version as the toolchain, previews of every cloud stack on pull requests, prod
behind an approval, one deploy per stack at a time, visible drift."""

from __future__ import annotations

import copy
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


# ------------------------------------------- runners and identities (issue 19)
#
# A job that touches Azure or a cluster runs on the bootstrap's self-hosted runners, whose one
# egress address the API servers admit. A job under a GitHub environment signs in as that
# environment's deploy identity (the environment variable AZURE_DEPLOY_CLIENT_ID), and deploys
# the stack whose environment it is; any other job signs in as the preview identity and only
# previews. Lint and unit tests may stay on GitHub's runners, with no identity.

AZURE_ACTIONS = ("pulumi/actions@", "azure/login@", "azure/use-kubelogin@")
DEPLOY_ID = "${{ vars.AZURE_DEPLOY_CLIENT_ID }}"
PREVIEW_ID = "${{ vars.AZURE_PREVIEW_CLIENT_ID }}"


def _bootstrap():  # type: ignore[no-untyped-def]
    from settings.bootstrap.loader import bootstrap_from_file

    return bootstrap_from_file("main")


def _labels(job: dict) -> list[str]:
    runs_on = job.get("runs-on")
    return [runs_on] if isinstance(runs_on, str) else list(runs_on or [])


def _identities(job: dict) -> list[str]:
    """Every client ID the job signs in with: azure/login's and the Azure provider's ARM_CLIENT_ID."""
    found = [s["with"]["client-id"] for s in job["steps"] if s.get("uses", "").startswith("azure/login@")]
    found += [s["env"]["ARM_CLIENT_ID"] for s in job["steps"] if "ARM_CLIENT_ID" in (s.get("env") or {})]
    found += [job["env"]["ARM_CLIENT_ID"]] if "ARM_CLIENT_ID" in (job.get("env") or {}) else []
    return found


def violations(workflows: dict[str, dict]) -> list[str]:
    """Each job that breaks the rules above, one line each."""
    bootstrap = _bootstrap()
    runner_labels = {"self-hosted", *bootstrap.runners.labels}
    stack_of = {e.github_environment: stack for stack, e in bootstrap.environments.items()}
    found = []
    for workflow, spec in workflows.items():
        for name, job in spec["jobs"].items():
            where = f"{workflow}.{name}"
            touches = any(s.get("uses", "").startswith(AZURE_ACTIONS) for s in job["steps"])
            identities, labels = _identities(job), set(_labels(job))
            if not touches:
                if identities:
                    found.append(f"{where}: signs in to Azure without touching it")
                continue
            if not runner_labels <= labels:
                found.append(f"{where}: runs on {sorted(labels)}, not the self-hosted runners {sorted(runner_labels)}")
            environment = job.get("environment")
            environment = environment.get("name") if isinstance(environment, dict) else environment
            commands = [s["with"]["command"] for s in pulumi_steps({"jobs": {name: job}})]
            stacks = [s["with"].get("stack-name") for s in pulumi_steps({"jobs": {name: job}})]
            if environment is not None:
                if set(identities) != {DEPLOY_ID}:
                    found.append(
                        f"{where}: under environment {environment!r} signs in as {identities}, not {DEPLOY_ID}"
                    )
                if environment not in stack_of:
                    found.append(f"{where}: environment {environment!r} has no deploy identity in the bootstrap")
                elif any(stack != stack_of[environment] for stack in stacks):
                    own = stack_of[environment]
                    found.append(f"{where}: deploys {stacks} under environment {environment!r} (its stack is {own!r})")
            else:
                if set(identities) != {PREVIEW_ID}:
                    found.append(f"{where}: without an environment signs in as {identities}, not {PREVIEW_ID}")
                if any(command != "preview" for command in commands):
                    found.append(f"{where}: runs pulumi {commands} as the preview identity, which may only preview")
    return found


def test_every_cluster_job_runs_on_the_runners_as_the_identity_of_its_kind() -> None:
    assert violations(WORKFLOWS) == []
    # Which jobs the rules saw as touching a cluster: the three kinds, none forgotten.
    touching = sorted(
        f"{w}.{n}" for w, spec in WORKFLOWS.items() for n, job in spec["jobs"].items()
        if any(s.get("uses", "").startswith(AZURE_ACTIONS) for s in job["steps"])
    )  # fmt: skip
    assert touching == ["deploy.prod", "deploy.staging", "drift.detect", "pull-request.preview"]
    assert _labels(WORKFLOWS["pull-request"]["jobs"]["test"]) == ["ubuntu-24.04"]


def _planted(workflow: str, job: str, edit) -> dict:  # type: ignore[no-untyped-def]
    planted = copy.deepcopy(WORKFLOWS)
    edit(planted[workflow]["jobs"][job])
    return planted


def _set_login(job: dict, client_id: str) -> None:
    for step in job["steps"]:
        if step.get("uses", "").startswith("azure/login@"):
            step["with"]["client-id"] = client_id


@pytest.mark.parametrize(
    ("workflow", "job", "edit", "fragment"),
    [
        ("pull-request", "preview", lambda j: j.update({"runs-on": "ubuntu-24.04"}),
         "pull-request.preview: runs on ['ubuntu-24.04'], not the self-hosted runners"),
        ("drift", "detect", lambda j: j.update({"runs-on": ["self-hosted"]}), "drift.detect: runs on ['self-hosted']"),
        ("deploy", "prod", lambda j: _set_login(j, PREVIEW_ID),
         "deploy.prod: under environment 'production' signs in as"),
        ("pull-request", "preview", lambda j: _set_login(j, DEPLOY_ID),
         "pull-request.preview: without an environment signs in as"),
        ("deploy", "staging", lambda j: j.update({"environment": "production"}),
         "deploy.staging: deploys ['staging'] under environment 'production'"),
        ("deploy", "staging", lambda j: j.pop("environment"),
         "deploy.staging: runs pulumi ['up'] as the preview identity"),
        ("pull-request", "test",
         lambda j: j["steps"].append({"uses": "azure/login@v2.3.0", "with": {"client-id": PREVIEW_ID}}),
         "pull-request.test: runs on ['ubuntu-24.04'], not the self-hosted runners"),
    ],
    ids=["preview-on-github-hosted", "drift-without-the-label", "deploy-as-preview", "preview-as-deploy",
         "staging-under-production", "deploy-without-environment", "test-job-signs-in"],
)  # fmt: skip
def test_a_planted_violation_is_found(workflow: str, job: str, edit, fragment: str) -> None:  # type: ignore[no-untyped-def]
    found = violations(_planted(workflow, job, edit))
    assert any(fragment in line for line in found), found


def test_actionlint_knows_the_runners_labels() -> None:
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    assert config["self-hosted-runner"]["labels"] == _bootstrap().runners.labels


def test_a_runner_outlives_the_longest_job_it_may_run() -> None:
    """Container Apps stops a runner after its replica timeout: a job must end first."""
    longest = max(
        job["timeout-minutes"] for spec in WORKFLOWS.values() for job in spec["jobs"].values()
        if "self-hosted" in _labels(job)
    )  # fmt: skip
    assert _bootstrap().runners.replica_timeout_seconds > longest * 60


def test_pull_requests_from_forks_never_reach_the_runners() -> None:
    preview = WORKFLOWS["pull-request"]["jobs"]["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_no_workflow_needs_the_old_shared_identity_or_a_passphrase() -> None:
    text = "".join((ROOT / ".github" / "workflows" / f"{name}.yml").read_text() for name in WORKFLOWS)
    assert "vars.AZURE_CLIENT_ID" not in text and "PULUMI_CONFIG_PASSPHRASE" not in text
