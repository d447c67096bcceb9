"""Every monitor query of every stack, parsed and checked against the pinned
upstream catalog (tests/ksm_catalog.py): metric or check names, scope tags
and their values, group-by tags, monitor type and no-data settings. A query
that names a tag the series never carries can never alert; this is where
that is caught, before Datadog ever sees it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ksm_catalog import CATALOG
from monitor_sim import CheckQuery, QueryError, parse

from components.datadog.monitor_spec import MonitorSpec
from harness import EVERY_KIND, STACKS, monitor_specs_for


def _check_tags(name: str, scope: tuple[str, ...], by: tuple[str, ...]) -> list[str]:
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
    """Why this monitor could never behave as written, or [] if it can. The query is read by the
    simulator's parser (tests/monitor_sim.py), so a query it cannot read fails here too."""
    if spec.notify_no_data and not spec.no_data_timeframe:
        return ["notify_no_data without a no_data_timeframe"]
    try:
        query = parse(spec.query)
    except QueryError as error:
        return [str(error)]
    if isinstance(query, CheckQuery):
        if spec.type != "service check":
            return [f"a service-check query in a {spec.type} monitor"]
        if CATALOG.get(query.check) and CATALOG[query.check].kind != "service check":
            return [f"{query.check} is a {CATALOG[query.check].kind}, not a service check"]
        largest = max(t for t in (spec.critical, spec.warning, spec.ok) if t is not None)
        if not largest <= query.last <= 100:
            return ["last(n) must cover the largest threshold and be at most 100"]
        return _check_tags(query.check, query.over, query.by)
    if spec.type != "query alert":
        return [f"a metric query in a {spec.type} monitor"]
    problems = []
    if query.threshold != spec.critical:
        problems.append(f"the query's threshold {query.threshold} is not the critical threshold {spec.critical}")
    if spec.warning is not None or spec.ok is not None:
        problems.append("warning/ok counts are for service checks")
    for term in query.terms():
        if CATALOG.get(term.metric) and CATALOG[term.metric].kind != "metric":
            problems.append(f"{term.metric} is a {CATALOG[term.metric].kind}, not a metric")
        problems += _check_tags(term.metric, term.scope, term.by)
    if len({term.by for term in query.terms()}) > 1:
        problems.append(f"terms group differently: {sorted({term.by for term in query.terms()})}")
    if spec.notify_no_data and spec.no_data_timeframe < 2 * query.window_minutes:
        problems.append("no_data_timeframe below twice the evaluation window (Datadog's recommendation)")
    return problems


def _used(specs: list[MonitorSpec]) -> set[str]:
    found = set()
    for spec in specs:
        query = parse(spec.query)
        found |= {query.check} if isinstance(query, CheckQuery) else {term.metric for term in query.terms()}
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitor_query_matches_the_upstream_catalog(stack: str) -> None:
    for extra in (None, EVERY_KIND):
        for spec in monitor_specs_for(stack, extra):
            assert problems_of(spec) == [], f"{stack} {spec.key}: {spec.query}"


def test_every_kind_and_both_monitor_types_were_checked() -> None:
    specs = monitor_specs_for("prod", EVERY_KIND)
    keys = {s.key for s in specs}
    assert {"mailer-worker-replicas", "mailer-worker-hpa-max", "etl-job-failed", "etl-load-late"} <= keys
    assert {s.type for s in specs} == {"query alert", "service check"}


def test_the_catalog_is_the_authority_not_a_copy_of_the_monitors() -> None:
    """Monitors use only what the catalog holds, never the other way round: it lists every row of
    the families it covers, most of which no monitor reads, and no monitor reads a row that only
    the newer upstream copy has (the pinned release may predate it)."""
    used = _used(monitor_specs_for("prod", EVERY_KIND))
    assert used <= set(CATALOG)
    assert len(CATALOG) >= 4 * len(used)
    assert not [name for name in used if CATALOG[name].source.endswith(" only")]


def test_only_the_heartbeats_page_on_silence() -> None:
    """Silence pages where it is the failure (a dead agent or KSM check), nowhere else: a late-job
    no-data alert paged for hours on every recreated CronJob."""
    silent = {s.key for s in monitor_specs_for("prod", EVERY_KIND) if s.notify_no_data}
    assert silent == {"ksm-heartbeat", "agent-heartbeat"}


def test_groups_that_can_disappear_while_alerting_time_out() -> None:
    """Service-check groups cannot use on_missing_data (pulumi-datadog 5.17 monitor.py); a deleted
    node or CronJob would otherwise keep its alert forever."""
    for spec in monitor_specs_for("prod", EVERY_KIND):
        if spec.type == "service check":
            assert spec.timeout_h, spec.key


@pytest.mark.parametrize(
    ("query", "type_", "expected"),
    [
        # The queries this catalog was written to catch (issue 9's review).
        ("max(last_5m):sum:kubernetes_state.node.by_condition{condition:ready,status:false} by {kube_node} > 0",
         "query alert", "group-by 'kube_node'"),
        ("max(last_15m):sum:kubernetes_state.job.failures{kube_namespace:admin} by {kube_cronjob} > 0",
         "query alert", "not in the catalog"),
        ("max(last_15m):defaultzero(sum:kubernetes_state.node.status{status:unschedulable} by {node}) > 0",
         "query alert", "cannot read"),
        ('"kubernetes_state.node.ready".over("*").last(1).by("node").count_by_status()', "query alert",
         "service-check query in a query alert"),
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
    spec = replace(monitor_specs_for("prod")[0], query=query, type=type_, critical=1)  # type: ignore[arg-type]
    assert any(expected in problem for problem in problems_of(spec)), problems_of(spec)
