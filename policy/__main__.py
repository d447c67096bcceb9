"""The platform's policy pack: every guardrail, mandatory.

    pulumi preview --policy-pack policy

The rules live in guardrails.py; this file only wires them into pulumi_policy."""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi_policy
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy import deserialize as _deserialize
from pulumi_policy import policy as _policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guardrails import GUARDRAILS, Guardrail


def _keep_secret_markers(props: dict, proxy_secrets: bool = False) -> dict:
    # pulumi_policy drops secretness before validation; keep it as Secret
    # objects (its remediation form) so one rule can see it. Guardrail.run
    # unwraps them for every rule that does not ask for them.
    return {key: _deserialize._deserialize_property(value, True) for key, value in props.items()}


_policy.deserialize_properties = _keep_secret_markers


def _validator(rail: Guardrail):  # type: ignore[no-untyped-def]
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        props = dict(args.props.items()) if hasattr(args.props, "items") else args.props
        for problem in rail.run(args.resource_type, props, args.get_config() or {}):
            report_violation(problem, args.urn)

    return validate


def _policy_for(rail: Guardrail) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=rail.name,
        description=rail.description,
        validate=_validator(rail),
        config_schema=PolicyConfigSchema(properties=dict(rail.config_schema)) if rail.config_schema else None,
    )


PolicyPack(
    name="platform-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy_for(rail) for rail in GUARDRAILS],
)

__all__ = ["pulumi_policy"]
