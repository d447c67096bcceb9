"""Where a component's resources lived before it moved, so that a move is never a replace.

A component's type token names its room (`platform:<area>:<Name>`). When the rooms
were drawn (azure, datadog, service, local), seven components changed area. Each
keeps an alias to its old token, and through it every child stays in place: the
engine tries each old identity of a parent for its children too (pulumi/pulumi
pkg/resource/deploy/source_eval.go, `generateAliases`). tests/e2e checks it on a
real state written under the old tokens."""

from __future__ import annotations

import pulumi


def moved_from(previous_type: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` plus an alias to the type token the component was created under."""
    alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=previous_type)])
    return pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(), alias)
