"""A Datadog monitor simulator: the subset of the query language and of the alert state machine
our monitors use, small enough to read in one sitting. The tests replay series shaped the way
the agent emits them (tests/agent_series.py) through each monitor's real query and options.

What is modelled, and from where
--------------------------------
Queries (the subset components/**/monitors.py write):
- metric:  `<min|max|avg|sum>(last_<N>m):<expr> <cmp> <threshold>`, where <expr> is arithmetic
  (+ - * /) over terms `<space agg>:<metric>{<scope>} [by {<tags>}]`, numbers and
  `default_zero(<expr>)`; a scope is `*` or `key:value` / `!key:value` tags, all of which must hold.
- service check: `"<check>".over(<quoted tags>).last(<n>).by(<quoted tags>).count_by_status()`
  (the `.by()` and `.last()` calls in either order), the form the monitor API documents
  (DataDog/datadog-api-client-python monitors_api.py create_monitor).

Evaluation of a metric query, per group (the `by` tags' values):
- The window is cut into rollup buckets. In a bucket, each series' points are averaged (time
  aggregation, "Enforced default: avg", https://docs.datadoghq.com/dashboards/functions/rollup/),
  then series of the same group are combined with the space aggregator.
- `default_zero()` fills every empty bucket of a group with 0, after time and space aggregation
  (https://docs.datadoghq.com/dashboards/functions/interpolation/), and so gives a group that
  stopped reporting a value again: the documented "resolving monitors from a no-data condition"
  (same page). It can fill only groups the monitor has seen.
- Arithmetic combines buckets present on both sides. The window aggregator then reduces the
  buckets: `max` alerts if any value crosses, `min` only if all do, `avg` on the mean, `sum` on
  the total (https://docs.datadoghq.com/monitors/guide/monitor_aggregators).
- With `require_full_window` false a partial window is evaluated (pulumi-datadog 5.17 monitor.py).
ASSUMPTIONS (not sourced; the tests that depend on them run at more than one value): the rollup
bucket length (60 s by default; 15 s, the check interval, is the finest) and that monitors
evaluate once a minute.

The state machine, per group: OK, WARN, ALERT, NO DATA.
- A metric group with no points in the window keeps its last state (on_missing_data `default`:
  "the monitor shows the last known status" for non-count queries, pulumi-datadog 5.17 monitor.py
  `on_missing_data`) unless `default_zero()` gives it a value, or
  `notify_no_data` is set and `no_data_timeframe` minutes passed without data: NO DATA, notified
  (same file, `notify_no_data`, `no_data_timeframe`).
- `timeout_h`: a triggered group without data for that many hours resolves (same file).
- `new_group_delay`: a group is not evaluated for that many seconds after it first reports.
- Service checks: `last(n)` reads a group's latest n statuses; `critical`: that many consecutive
  CRITICAL runs alert, `warning`: that many WARNING-or-worse runs warn, `ok`: that many OK runs
  resolve ("Trigger the alert after selected consecutive failures", "Resolve the alert after
  selected consecutive successes", https://docs.datadoghq.com/monitors/types/custom_check).
- Notifications: on entering ALERT, WARN or NO DATA; on recovery; and every `renotify_interval`
  minutes while not resolved (pulumi-datadog 5.17 monitor.py `renotify_interval`).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from components.datadog.monitor_spec import RENOTIFY_MINUTES, REQUIRE_FULL_WINDOW, MonitorSpec

EVALUATE_EVERY = 60
ROLLUP_SECONDS = 60
OK, WARN, ALERT, NO_DATA = "OK", "WARN", "ALERT", "NO DATA"
CRITICAL, WARNING = "CRITICAL", "WARNING"  # service-check statuses besides OK

# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Term:
    space: str
    metric: str
    scope: tuple[str, ...]
    by: tuple[str, ...]


@dataclass(frozen=True)
class DefaultZero:
    inner: object


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class MetricQuery:
    window_agg: str
    window_minutes: int
    expr: object
    comparator: str
    threshold: float

    def terms(self) -> list[Term]:
        found, todo = [], [self.expr]
        while todo:
            node = todo.pop()
            if isinstance(node, Term):
                found.append(node)
            elif isinstance(node, DefaultZero):
                todo.append(node.inner)
            elif isinstance(node, BinOp):
                todo += [node.right, node.left]
        return found[::-1]


@dataclass(frozen=True)
class CheckQuery:
    check: str
    over: tuple[str, ...]
    by: tuple[str, ...]
    last: int


class QueryError(ValueError):
    pass


_HEAD = re.compile(r"^(min|max|avg|sum)\(last_(\d+)m\):(.+?)\s*(>=|<=|>|<)\s*(-?[\d.]+)$")
_TOKEN = re.compile(
    r"\s*(default_zero\(|[()+\-*/]|\d+(?:\.\d+)?|(?:min|max|avg|sum):[a-z0-9_.]+\{[^}]*\}(?:\s+by\s+\{[^}]*\})?)"
)
_TERM = re.compile(r"(min|max|avg|sum):([a-z0-9_.]+)\{([^}]*)\}(?:\s+by\s+\{([^}]*)\})?")
_CHECK = re.compile(r'^"([a-z0-9_.]+)"\.over\(([^)]*)\)((?:\.(?:last\(\d+\)|by\([^)]*\))){2})\.count_by_status\(\)$')


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            raise QueryError(f"cannot read {text[at:]!r}")
        tokens.append(match.group(1))
        at = match.end()
    return tokens


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse(query: str) -> MetricQuery | CheckQuery:
    """The query as data, or QueryError for anything outside the subset."""
    if match := _CHECK.match(query):
        calls = dict(re.findall(r"\.(last|by)\(([^)]*)\)", match[3]))
        quoted = lambda text: tuple(re.findall(r'"([^"]+)"', text))  # noqa: E731
        return CheckQuery(match[1], quoted(match[2]), quoted(calls["by"]), int(calls["last"]))
    head = _HEAD.match(query)
    if not head:
        raise QueryError(f"not a metric or service-check query: {query}")
    tokens = _tokens(head[3])
    expr, rest = _sum(tokens)
    if rest:
        raise QueryError(f"unparsed {rest}")
    return MetricQuery(head[1], int(head[2]), expr, head[4], float(head[5]))


def _sum(tokens: list[str]) -> tuple[object, list[str]]:
    left, tokens = _product(tokens)
    while tokens and tokens[0] in "+-":
        right, rest = _product(tokens[1:])
        left, tokens = BinOp(tokens[0], left, right), rest
    return left, tokens


def _product(tokens: list[str]) -> tuple[object, list[str]]:
    left, tokens = _primary(tokens)
    while tokens and tokens[0] in "*/":
        right, rest = _primary(tokens[1:])
        left, tokens = BinOp(tokens[0], left, right), rest
    return left, tokens


def _primary(tokens: list[str]) -> tuple[object, list[str]]:
    if not tokens:
        raise QueryError("expression ends early")
    head, rest = tokens[0], tokens[1:]
    if head in ("default_zero(", "("):
        inner, rest = _sum(rest)
        if not rest or rest[0] != ")":
            raise QueryError("missing )")
        return (DefaultZero(inner) if head == "default_zero(" else inner), rest[1:]
    if term := _TERM.fullmatch(head):
        scope = tuple(t for t in _split(term[3]) if t != "*")
        return Term(term[1], term[2], scope, _split(term[4] or "")), rest
    if re.fullmatch(r"\d+(?:\.\d+)?", head):
        return float(head), rest
    raise QueryError(f"unexpected {head!r}")


# --------------------------------------------------------------------------- data


def matches(scope: Iterable[str], tags: frozenset[str]) -> bool:
    """Every `key:value` of the scope is a tag of the series; no `!key:value` is."""
    return all((s[1:] not in tags) if s.startswith("!") else (s in tags) for s in scope)


def group_of(by: tuple[str, ...], tags: frozenset[str]) -> tuple[str, ...]:
    values = {t.split(":", 1)[0]: t.split(":", 1)[1] for t in tags if ":" in t}
    return tuple(values.get(key, "N/A") for key in by)


@dataclass
class Timeline:
    """Everything the agents sent: metric points and service-check runs, in time order."""

    points: dict[str, list[tuple[float, frozenset[str], float]]] = field(default_factory=lambda: defaultdict(list))
    runs: dict[str, list[tuple[float, frozenset[str], str]]] = field(default_factory=lambda: defaultdict(list))

    def gauge(self, t: float, metric: str, value: float, tags: Iterable[str]) -> None:
        self.points[metric].append((t, frozenset(tags), value))

    def check(self, t: float, name: str, status: str, tags: Iterable[str]) -> None:
        self.runs[name].append((t, frozenset(tags), status))

    def sort(self) -> None:
        for series in (*self.points.values(), *self.runs.values()):
            series.sort(key=lambda item: item[0])
        self._times = {name: [item[0] for item in series] for name, series in self.points.items()}

    def window(self, metric: str, start: float, end: float) -> list[tuple[float, frozenset[str], float]]:
        series, times = self.points.get(metric, []), self._times.get(metric, [])
        return series[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]

    def reports(self, query: MetricQuery | CheckQuery) -> list[tuple[float, tuple[str, ...], str | None]]:
        """Every report the query's scope selects, in time order: (time, group, check status or None)."""
        if isinstance(query, CheckQuery):
            found = [(t, group_of(query.by, tags), status)
                     for t, tags, status in self.runs.get(query.check, []) if matches(query.over, tags)]  # fmt: skip
        else:
            found = [(t, group_of(term.by, tags), None)
                     for term in query.terms()
                     for t, tags, _ in self.points.get(term.metric, []) if matches(term.scope, tags)]  # fmt: skip
        return sorted(found, key=lambda item: item[0])


# --------------------------------------------------------------------------- evaluation

Buckets = dict[tuple[str, ...], dict[int, float]]
"""Per group, per bucket index: a value. A missing bucket is no data."""


def _term(term: Term, timeline: Timeline, start: float, end: float, rollup: int) -> Buckets:
    per_series: dict[tuple, list[float]] = defaultdict(list)
    for t, tags, value in timeline.window(term.metric, start, end):
        if matches(term.scope, tags):
            per_series[(group_of(term.by, tags), tags, int((t - start) // rollup))].append(value)
    per_group: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (group, _, bucket), values in per_series.items():
        per_group[group][bucket].append(sum(values) / len(values))  # time aggregation: avg
    space = {"sum": sum, "max": max, "min": min, "avg": lambda v: sum(v) / len(v)}[term.space]
    return {g: {b: space(v) for b, v in buckets.items()} for g, buckets in per_group.items()}


def _evaluate(node: object, timeline: Timeline, start: float, end: float, rollup: int, known: set) -> Buckets:
    if isinstance(node, Term):
        return _term(node, timeline, start, end, rollup)
    if isinstance(node, DefaultZero):
        inner = _evaluate(node.inner, timeline, start, end, rollup, known)
        count = int((end - start) // rollup)
        return {g: {b: inner.get(g, {}).get(b, 0.0) for b in range(count)} for g in set(inner) | known}
    if isinstance(node, float):
        return {(): {b: node for b in range(int((end - start) // rollup))}}
    assert isinstance(node, BinOp)
    left = _evaluate(node.left, timeline, start, end, rollup, known)
    right = _evaluate(node.right, timeline, start, end, rollup, known)
    apply = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": lambda a, b: a / b if b else None}
    found: Buckets = {}
    for group in set(left) | set(right):
        lhs, rhs = left.get(group, left.get((), {})), right.get(group, right.get((), {}))
        values = {b: apply[node.op](float(lhs[b]), float(rhs[b])) for b in set(lhs) & set(rhs)}
        found[group] = {b: v for b, v in values.items() if v is not None}
    return found


def metric_values(
    query: MetricQuery, timeline: Timeline, now: float, known: set, rollup: int = ROLLUP_SECONDS
) -> dict[tuple[str, ...], float | None]:
    """Each group's value over the window ending at `now`; None where it has no data."""
    start = now - query.window_minutes * 60
    buckets = _evaluate(query.expr, timeline, start, now, rollup, known)
    reduce = {"min": min, "max": max, "sum": sum, "avg": lambda v: sum(v) / len(v)}[query.window_agg]
    full = int((now - start) // rollup)
    values: dict[tuple[str, ...], float | None] = {}
    for group in set(buckets) | known:
        present = list(buckets.get(group, {}).values())
        if REQUIRE_FULL_WINDOW and len(present) < full:
            values[group] = None
        else:
            values[group] = reduce(present) if present else None
    return values


def crosses(query: MetricQuery, value: float) -> bool:
    return {">": value > query.threshold, ">=": value >= query.threshold,
            "<": value < query.threshold, "<=": value <= query.threshold}[query.comparator]  # fmt: skip


# --------------------------------------------------------------------------- state machine


@dataclass(frozen=True)
class Notification:
    t: float
    group: tuple[str, ...]
    state: str
    kind: str
    """'trigger' (entering ALERT, WARN or NO DATA), 'recovery' or 'renotify'."""


@dataclass
class Result:
    notifications: list[Notification]
    states: dict[float, dict[tuple[str, ...], str]]
    """Every group's state after each evaluation, by time."""

    def state(self, t: float, group: tuple[str, ...] = ()) -> str:
        at = max(when for when in self.states if when <= t)
        return self.states[at].get(group, OK)

    def triggered(self, start: float = 0, end: float = float("inf")) -> list[Notification]:
        return [n for n in self.notifications if n.kind == "trigger" and start <= n.t < end]

    def pages(self, start: float = 0, end: float = float("inf")) -> list[Notification]:
        """Every notification that is not a recovery."""
        return [n for n in self.notifications if n.kind != "recovery" and start <= n.t < end]


CHECK_STALE_SECONDS = 120
"""ASSUMPTION: a service-check group with no run for this long has no data (pulumi-datadog 5.17
monitor.py recommends `no_data_timeframe` of at least 2 minutes for service checks)."""


@dataclass
class _Group:
    first_seen: float
    last_data: float
    state: str = OK
    notified: float = 0.0
    statuses: list[str] = field(default_factory=list)
    """Service checks: every status the group reported so far."""


def simulate(spec: MonitorSpec, timeline: Timeline, until: float, rollup: int = ROLLUP_SECONDS) -> Result:
    """Evaluate `spec` once a minute from the start of the timeline to `until`."""
    timeline.sort()
    query = parse(spec.query)
    if isinstance(query, MetricQuery) and query.threshold != spec.critical:
        raise QueryError(f"the query's threshold {query.threshold} is not monitor_thresholds.critical {spec.critical}")
    reports = timeline.reports(query)
    groups: dict[tuple[str, ...], _Group] = {}
    notifications: list[Notification] = []
    states: dict[float, dict[tuple[str, ...], str]] = {}
    cursor, now = 0, EVALUATE_EVERY
    while now <= until:
        while cursor < len(reports) and reports[cursor][0] < now:
            t, group, status = reports[cursor]
            entry = groups.setdefault(group, _Group(first_seen=t, last_data=t))
            entry.last_data = t
            if status is not None:
                entry.statuses.append(status)
            cursor += 1
        decided = _decide(spec, query, timeline, now, groups, rollup)
        for group, entry in groups.items():
            # A group left undecided keeps its state, and an unresolved one still re-notifies.
            _transition(entry, group, decided.get(group, entry.state), now, notifications)
        states[now] = {g: entry.state for g, entry in groups.items()}
        now += EVALUATE_EVERY
    return Result(notifications, states)


def _decide(spec: MonitorSpec, query, timeline: Timeline, now: float, groups: dict, rollup: int) -> dict:
    """The state each evaluable group should be in now; a group left out keeps its state."""
    # `new_group_delay`: the Deployment monitors set it to their window (a new Deployment starts
    # with nothing available); a new CronJob or container has no series before it matters.
    delay = getattr(spec, "new_group_delay", None) or 0
    ready = {g for g, entry in groups.items() if now - entry.first_seen >= delay}
    decided: dict[tuple[str, ...], str] = {}
    if isinstance(query, CheckQuery):
        for group in ready:
            entry = groups[group]
            if now - entry.last_data < CHECK_STALE_SECONDS:
                state = _check_state(spec, entry.statuses[-query.last :])
                if state:
                    decided[group] = state
    else:
        values = metric_values(query, timeline, now, known=set(groups), rollup=rollup)
        for group in ready:
            value = values.get(group)
            if value is not None:
                decided[group] = ALERT if crosses(query, value) else OK
    for group in ready - set(decided):
        entry = groups[group]
        silent = now - entry.last_data
        if silent < CHECK_STALE_SECONDS and isinstance(query, CheckQuery):
            continue  # reporting, just not enough consecutive runs to change state
        if spec.notify_no_data and silent >= (spec.no_data_timeframe or 0) * 60:
            decided[group] = NO_DATA
        elif spec.timeout_h and entry.state in (ALERT, WARN) and silent >= spec.timeout_h * 3600:
            decided[group] = OK
    return decided


def _check_state(spec: MonitorSpec, statuses: list[str]) -> str | None:
    def last(count: float | None, allowed: set[str]) -> bool:
        n = int(count or 0)
        return bool(n) and len(statuses) >= n and all(s in allowed for s in statuses[-n:])

    if last(spec.critical, {CRITICAL}):
        return ALERT
    if last(spec.warning, {WARNING, CRITICAL}):
        return WARN
    if last(spec.ok if spec.ok is not None else 1, {OK}):
        return OK
    return None


def _transition(entry: _Group, group: tuple[str, ...], state: str, now: float, out: list[Notification]) -> None:
    if state != entry.state:
        kind = "recovery" if state == OK else "trigger"
        entry.state, entry.notified = state, now
        out.append(Notification(now, group, state, kind))
    elif state != OK and now - entry.notified >= RENOTIFY_MINUTES * 60:
        entry.notified = now
        out.append(Notification(now, group, state, "renotify"))
