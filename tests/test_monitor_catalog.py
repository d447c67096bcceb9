"""Every monitor query of every stack, parsed and checked against the pinned
upstream catalog (tests/ksm_catalog.py): metric or check names, scope tags
and their values, group-by tags, monitor type and no-data settings. A query
that names a tag the series never carries can never alert; this is where
that is caught, before Datadog ever sees it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from ksm_catalog import CATALOG

from components.datadog.monitor_spec import MonitorSpec
from components.service.monitors import monitor_specs
from harness import STACKS, stack_file_config

TERM = re.compile(r"(?:avg|sum|min|max):(?P<metric>[a-z0-9_.]+)\{(?P<scope>[^}]*)\}(?:\s+by\s+\{(?P<by>[^}]*)\})?")
QUERY_ALERT = re.compile(r"^(?:avg|sum|min|max)\(last_(?P<window>\d+)m\):(?P<body>.+?)\s*(?:<|>|<=|>=)\s*-?[\d.]+$")
SERVICE_CHECK = re.compile(
    r'^"(?P<check>[a-z0-9_.]+)"\.over\((?P<over>"[^"]+"(?:,"[^"]+")*)\)'
    r"\.last\((?P<last>\d+)\)\.by\((?P<by>\"[^\"]+\"(?:,\"[^\"]+\")*)\)\.count_by_status\(\)$"
)


def _check_tags(name: str, scope: list[str], by: list[str]) -> list[str]:
    entry = CATALOG.get(name)
    if entry is None:
        return [f"{name}: not in the catalog"]
    problems = []
    for tag in scope:
        key, _, value = tag.removeprefix("!").partition(":")
        if key not in entry.tags:
            problems.append(f"{name}: scope tag {key!r} is not one it carries {sorted(entry.tags)}")
        elif key in entry.values and value not in entry.values[key]:
            problems.append(f"{name}: {key}:{value} never occurs (values: {sorted(entry.values[key])})")
    problems += [f"{name}: group-by {key!r} is not a tag it carries" for key in by if key not in entry.tags]
    return problems


def problems_of(spec: MonitorSpec) -> list[str]:
    """Why this monitor could never behave as written, or [] if it can."""
    if spec.notify_no_data and not spec.no_data_timeframe:
        return ["notify_no_data without a no_data_timeframe"]
    if spec.type == "service check":
        match = SERVICE_CHECK.match(spec.query)
        if not match:
            return [f"not a service-check query: {spec.query}"]
        name = match["check"]
        if CATALOG.get(name) and CATALOG[name].kind != "service check":
            return [f"{name} is a {CATALOG[name].kind}, not a service check"]
        if not spec.critical <= int(match["last"]) <= 100:
            return ["last(n) must cover the critical threshold and be at most 100"]
        quoted = lambda text: re.findall(r'"([^"]+)"', text)  # noqa: E731
        return _check_tags(name, quoted(match["over"]), quoted(match["by"]))
    match = QUERY_ALERT.match(spec.query)
    if not match:
        return [f"not a metric query alert: {spec.query}"]
    if re.sub(r"\s*[-+*/]\s*", "", TERM.sub("", match["body"])):
        return [f"unparsed text in {match['body']!r}"]
    problems = []
    groupings = set()
    for term in TERM.finditer(match["body"]):
        name = term["metric"]
        if CATALOG.get(name) and CATALOG[name].kind != "metric":
            problems.append(f"{name} is a {CATALOG[name].kind}, not a metric")
        by = [k.strip() for k in (term["by"] or "").split(",") if k.strip()]
        groupings.add(tuple(by))
        problems += _check_tags(name, [t for t in term["scope"].split(",") if t and t != "*"], by)
    if len(groupings) > 1:
        problems.append(f"terms group differently: {groupings}")
    if spec.notify_no_data and spec.no_data_timeframe < 2 * int(match["window"]):
        problems.append("no_data_timeframe below twice the evaluation window (Datadog's recommendation)")
    return problems


def _specs(stack: str, extra_services: dict | None = None) -> list[MonitorSpec]:
    from settings.loader import validate_settings

    runtime = {key.split(":", 1)[1]: value for key, value in stack_file_config(stack).items()}
    if extra_services:
        runtime["services"] = {**(runtime.get("services") or {}), **extra_services}
    settings = validate_settings(stack, runtime)
    cluster = settings.cluster_name(stack)
    return monitor_specs(settings.datadog, dict(settings.services), cluster, settings.environment)


# A worker, a jobs-only service and a fixed-size web app: every kind's monitors.
EVERY_KIND = {
    "mailer": {"team": "growth", "worker": {"image": "ghcr.io/example-org/mailer:0.9.0", "probe": {"command": ["true"]},
                                            "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}},
    "etl": {"team": "data", "jobs": [{"name": "load", "schedule": "0 3 * * *", "command": ["etl"],
                                      "image": "ghcr.io/example-org/etl:2.0.1"}]},
}  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitor_query_matches_the_upstream_catalog(stack: str) -> None:
    for extra in (None, EVERY_KIND):
        for spec in _specs(stack, extra):
            assert problems_of(spec) == [], f"{stack} {spec.key}: {spec.query}"


def test_every_kind_and_both_monitor_types_were_checked() -> None:
    specs = _specs("prod", EVERY_KIND)
    keys = {s.key for s in specs}
    assert {"mailer-worker-replicas", "mailer-worker-hpa-max", "etl-job-failed", "etl-load-late"} <= keys
    assert {s.type for s in specs} == {"query alert", "service check"}
    checked = {m for s in specs for m in re.findall(r"[a-z_]+\.[a-z_.]+(?=[{\"])", s.query)}
    assert checked == set(CATALOG), "every catalog entry is used, and nothing else"


def test_at_least_two_monitors_page_on_silence() -> None:
    silent = [s for s in _specs("prod") if s.notify_no_data]
    queries = " ".join(s.query for s in silent)
    assert "kubernetes_state.node.count" in queries and "datadog.agent.running" in queries
    assert all(s.key.endswith("-late") for s in silent if "cronjob" in s.query)


@pytest.mark.parametrize(
    ("query", "type_", "expected"),
    [
        # The queries this catalog was written to catch (issue 9's review).
        ("max(last_5m):sum:kubernetes_state.node.by_condition{condition:ready,status:false} by {kube_node} > 0",
         "query alert", "group-by 'kube_node'"),
        ("max(last_15m):sum:kubernetes_state.job.failed{kube_namespace:admin} by {kube_cronjob} > 0",
         "query alert", "not in the catalog"),
        ("max(last_5m):sum:kubernetes_state.node.by_condition{status:ok} by {node} > 0", "query alert", "never occurs"),
        ("max(last_5m):max:kubernetes_state.container.status_report.count.waiting{kube_namespace:a} "
         "by {kube_deployment} >= 1", "query alert", "group-by 'kube_deployment'"),
        ('"kubernetes_state.cronjob.complete".over("kube_namespace:a").last(1).by("kube_job").count_by_status()',
         "service check", "group-by 'kube_job'"),
        ("max(last_5m):sum:kubernetes_state.cronjob.complete{kube_namespace:a} > 0", "query alert", "not a metric"),
        ('"kubernetes_state.node.count".over("*").last(1).by("node").count_by_status()',
         "service check", "not a service check"),
        ("max(last_5m):sum:kubernetes_state.node.status{status:unschedulable} by {node} - "
         "sum:kubernetes_state.node.status{status:unschedulable} > 0", "query alert", "group differently"),
    ],
)  # fmt: skip
def test_the_check_rejects_queries_that_can_never_alert(query: str, type_: str, expected: str) -> None:
    spec = replace(_specs("prod")[0], query=query, type=type_, critical=1)  # type: ignore[arg-type]
    assert any(expected in problem for problem in problems_of(spec)), problems_of(spec)
