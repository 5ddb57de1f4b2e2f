"""Release metrics: durations by category and outcome for every apply and rollback, kept across
releases in the state backend (``metrics.jsonl`` beside the state), plus custom metrics::

    tracker.record_metric("custom_metric", 123.45, MetricType.CUSTOM)

``scalpel metrics`` shows them per release with trends; ``scalpel metrics export`` writes all
history as JSON, CSV or OpenMetrics.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from scalpel_plan.files import quiet_gc
from scalpel_plan.state.model import now
from scalpel_plan.state.timeline import UNFINISHED, seconds, timeline

if TYPE_CHECKING:
    from scalpel_plan.apply import ApplyResult
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.state.journal import Event

TEST_WORDS = ("test", "lint", "check", "verify", "audit")
PUBLISHERS = {"git", "git_commit", "pypi", "docker", "github"}  # the release commit too


class MetricType(StrEnum):
    BUILD = "build"
    TEST = "test"
    PUBLISH = "publish"
    DEPLOY = "deploy"
    CUSTOM = "custom"
    TOTAL = "total"  # a whole apply or rollback, wall time


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    type: MetricType
    release: str | None = None  # the version the run was for
    operation: str = "release"  # "release" | "rollback"
    outcome: str | None = None  # "succeeded" | "failed"; None for a custom metric
    run: str | None = None  # the apply id
    recorded_at: str = field(default_factory=now)
    unit: str = "seconds"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type": self.type.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        if type(data) is dict and data.keys() <= _FIELDS and data.keys() >= _NEEDED:
            # what the fields say, without the frozen __init__'s per-field setattr (a long
            # history reads 50,000 of them): the same Metric, in a third of the time
            metric = object.__new__(cls)
            fields = metric.__dict__
            fields.update(_DEFAULTS)
            fields.update(data)
            kind = data.get("type", "custom")
            fields["type"] = _TYPES.get(kind) if type(kind) is str else None
            if fields["type"] is None:
                fields["type"] = MetricType(kind)  # (raises what it raises for no type)
            return metric
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**{**known, "type": MetricType(known.get("type", "custom"))})


_FIELDS = frozenset(Metric.__dataclass_fields__)
_TYPES = {kind.value: kind for kind in MetricType}
_NEEDED = frozenset({"name", "value", "recorded_at"})  # those without a plain default
_DEFAULTS = {name: f.default for name, f in Metric.__dataclass_fields__.items()
             if name not in _NEEDED | {"type"}}


class MetricsStore(Protocol):
    """Where metrics are kept: the state backend."""

    def append_metrics(self, records: list[dict[str, Any]]) -> None: ...
    def read_metrics(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Trend:
    name: str
    count: int
    median: float
    p90: float
    last: float
    change: float | None  # last against the previous, as a fraction (0.1 = 10 % slower)


class MetricRow(Mapping[str, Metric]):
    """One release's metrics by name (a row of ``MetricsTracker.by_release``): each cell is
    made a Metric when it is read, so that the trends of 10,000 releases are worked out
    without making 50,000 of them (``trends`` reads the cells' values alone)."""

    __slots__ = ("_cells", "_made")

    def __init__(self, cells: dict[str, tuple[Any, str | None, Metric | dict[str, Any]]]
                 ) -> None:
        self._cells = cells  # name → (value, outcome, the recorded metric or its record)
        self._made: dict[str, Metric] = {}

    def __getitem__(self, name: str) -> Metric:
        made = self._made.get(name)
        if made is None:
            value, outcome, source = self._cells[name]
            made = source if isinstance(source, Metric) else Metric.from_dict(source)
            if made.value != value or made.outcome != outcome:
                made = replace(made, value=value, outcome=outcome)
            self._made[name] = made
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._cells)

    def __len__(self) -> int:
        return len(self._cells)

    def __contains__(self, name: object) -> bool:
        return name in self._cells


# (operation, release, run, name, value, outcome, the metric or its record) of one metric
Entry = tuple[str, str | None, str | None, str, Any, str | None, "Metric | dict[str, Any]"]


class MetricsTracker:
    """Records metrics (kept in ``store`` when given, else in memory) and reads their history."""

    def __init__(self, store: MetricsStore | None = None, *, release: str | None = None,
                 operation: str = "release", run: str | None = None) -> None:
        self.store = store
        self.release, self.operation, self.run = release, operation, run
        self._memory: list[Metric] = []
        self._read: list[Entry] | None = None  # the store's metrics, read once
        self._tables: dict[str, dict[str, MetricRow]] = {}  # by_release's, by operation
        self._attempts: dict[str, dict[str, int]] = {}  # and how many applies, by version

    def record_metric(self, name: str, value: float, metric_type: MetricType = MetricType.CUSTOM,
                      *, outcome: str | None = None, unit: str = "seconds") -> Metric:
        metric = Metric(name, float(value), MetricType(metric_type), self.release,
                        self.operation, outcome, self.run, unit=unit)
        self.record([metric])
        return metric

    def record(self, metrics: list[Metric]) -> None:
        if self.store is None:
            self._memory += metrics
        else:
            self.store.append_metrics([m.to_dict() for m in metrics])
            self._read = None
        self._tables.clear()
        self._attempts.clear()

    def metrics(self) -> list[Metric]:
        """Every metric recorded, oldest first."""
        return [s if isinstance(s, Metric) else Metric.from_dict(s) for *_, s in self._entries()]

    def _entries(self) -> list[Entry]:
        """Every metric recorded, oldest first, as (operation, release, run, name, value,
        outcome, the metric or its record); of the store's records, those that are metrics
        (that ``Metric.from_dict`` takes; a line edited by hand into something else is left
        out, the others count), read once."""
        if self.store is None:
            return [(m.operation, m.release, m.run, m.name, m.value, m.outcome, m)
                    for m in self._memory]
        if self._read is None:
            with quiet_gc():
                self._read = [
                    (r.get("operation", "release"), r.get("release"), r.get("run"), r["name"],
                     r["value"], r.get("outcome"), r) for r in self.store.read_metrics()
                    if type(r) is dict and "name" in r and "value" in r and
                    type(kind := r.get("type", "custom")) is str and kind in _TYPES]
        return self._read

    def by_release(self, operation: str = "release") -> dict[str, MetricRow]:
        """version → metric name → its value for that release, in release order: the sum
        over every apply that worked on it (a release finished by a second apply took both),
        with the last apply's outcome. Worked out once (until a metric is recorded)."""
        if operation in self._tables:
            return self._tables[operation]
        with quiet_gc():
            self._tables[operation], self._attempts[operation] = self._by_release(operation)
        return self._tables[operation]

    def _by_release(self, operation: str) -> tuple[dict[str, MetricRow], dict[str, int]]:
        runs: dict[str, dict[str | None, dict[str, tuple[Any, str | None, Any]]]] = {}
        for kind, release, run, name, value, outcome, source in self._entries():
            if kind == operation and release:
                by_run = runs.get(release)
                if by_run is None:
                    by_run = runs[release] = {}
                named = by_run.get(run)
                if named is None:
                    named = by_run[run] = {}
                named[name] = (value, outcome, source)
        table: dict[str, MetricRow] = {}
        for version, by_run in runs.items():
            last = list(by_run.values())[-1]
            outcome = next((o for _, o, _ in last.values() if o), None)
            if len(by_run) == 1:  # one apply made the release (nearly every one)
                table[version] = MetricRow({name: (round(value, 3), outcome, source)
                                            for name, (value, _, source) in last.items()})
                continue
            cells: dict[str, tuple[Any, str | None, Any]] = {}
            for metrics in by_run.values():
                for name, (value, _, source) in metrics.items():
                    total = cells[name][0] + value if name in cells else value
                    cells[name] = (round(total, 3), outcome, source)
            table[version] = MetricRow(cells)
        return table, {version: len(by_run) for version, by_run in runs.items()}

    def attempts(self, operation: str = "release") -> dict[str, int]:
        """version → how many applies worked on it (counted as ``by_release`` groups them)."""
        self.by_release(operation)
        return dict(self._attempts[operation])

    def trends(self, by_release: Mapping[str, Mapping[str, Metric]] | None = None
               ) -> list[Trend]:
        """Median, p90, last and change per metric over the releases (of ``by_release``, when
        the caller already has it)."""
        series: dict[str, list[float]] = {}
        for row in (self.by_release() if by_release is None else by_release).values():
            if isinstance(row, MetricRow):
                for name, (value, *_) in row._cells.items():
                    series.setdefault(name, []).append(value)
                continue
            for name, metric in row.items():
                series.setdefault(name, []).append(metric.value)
        return [trend(name, values) for name, values in series.items()]

    def export(self, fmt: str) -> str:
        metrics = self.metrics()
        if fmt == "json":
            return json.dumps({"format_version": 1, "metrics": [m.to_dict() for m in metrics]},
                              indent=1) + "\n"
        if fmt == "csv":
            out = io.StringIO()
            fields = list(Metric.__dataclass_fields__)
            writer = csv.DictWriter(out, fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(m.to_dict() for m in metrics)
            return out.getvalue()
        return openmetrics(metrics)


def trend(name: str, values: list[float]) -> Trend:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    previous = values[-2] if len(values) > 1 else None
    change = (values[-1] - previous) / previous if previous else None
    return Trend(name, len(values), statistics.median(values), p90, values[-1], change)


def openmetrics(metrics: Iterable[Metric]) -> str:
    """The OpenMetrics text format: one gauge family per metric name, then ``# EOF``."""
    families: dict[str, list[Metric]] = {}
    for metric in metrics:
        families.setdefault(_family(metric), []).append(metric)
    lines = []
    for family, members in families.items():
        lines.append(f"# TYPE {family} gauge")
        if members[0].unit == "seconds":
            lines.append(f"# UNIT {family} seconds")
        for m in members:
            labels = {"release": m.release or "", "operation": m.operation,
                      "outcome": m.outcome or "", "type": m.type.value, "run": m.run or ""}
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{family}{{{text}}} {m.value!r} {_epoch(m.recorded_at)}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _family(metric: Metric) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", metric.name)
    return f"scalpel_{name}" + ("_seconds" if metric.unit == "seconds" else "")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _epoch(iso: str) -> str:
    import datetime as dt

    return f"{dt.datetime.fromisoformat(iso).timestamp():.3f}"


def category(address: str, provider: str, operation: str) -> MetricType:
    """Which category a step's time counts under."""
    if operation == "rollback":
        return MetricType.DEPLOY
    if provider == "stage":
        name = address.split(".", 1)[1].lower()
        return MetricType.TEST if any(w in name for w in TEST_WORDS) else MetricType.BUILD
    return MetricType.PUBLISH if provider in PUBLISHERS else MetricType.CUSTOM


def run_metrics(plan: Plan, result: ApplyResult, events: list[Event],
                providers: dict[str, str] | None = None) -> list[Metric]:
    """The metrics of one apply or rollback, from its journal ``events``: time per category,
    the whole run's wall time, and its outcome. ``result`` is the apply that just ended;
    another apply's journal (an earlier attempt at the same release) is told by its own id in
    ``events``, and its outcome read there."""
    run = timeline(events)
    version = (plan.release.version if plan.release else
               plan.rollback.to_version if plan.rollback else None)
    if run.apply_id and run.apply_id != result.apply_id:  # an earlier attempt
        apply_id = run.apply_id
        outcome = "interrupted" if run.status == UNFINISHED else run.status
    else:
        apply_id, outcome = result.apply_id, "succeeded" if result.ok else "failed"
    known = {**(providers or {}), **{c.address: c.provider for c in plan.changes}}
    totals: dict[MetricType, float] = {}
    for step in run.settled():
        if step.address in known:
            kind = category(step.address, known[step.address], plan.mode)
            totals[kind] = totals.get(kind, 0.0) + (step.duration or 0.0)
    wall = run.duration
    if wall is None:  # killed: it ran until its last journal line
        wall = seconds(run.last) - seconds(run.started) if run.started and run.last else \
            sum(totals.values())

    def metric(name: str, value: float, kind: MetricType) -> Metric:
        return Metric(name, round(value, 3), kind, version, plan.mode, outcome, apply_id)

    found = [metric(f"{plan.mode}.duration", wall, MetricType.TOTAL)]
    found += [metric(f"{kind.value}.duration", value, kind) for kind, value in totals.items()]
    return found


def record_run(store: Any, plan: Plan, result: ApplyResult) -> None:
    """Record the metrics of a finished apply or rollback in the state backend, and of the
    earlier applies at the same release that recorded none (killed ones): a release finished
    by a second apply counts the time of both. Metrics are worth less than the release: a
    disk or a remote that refuses them costs the metrics, nothing else."""
    from scalpel_plan.errors import StateError

    try:
        runs = [result.apply_id]
        providers: dict[str, str] = {}
        if plan.release is not None and result.state is not None:
            record = result.state.release(plan.release.version)
            earlier = [a for a in (record.runs if record else []) if a != result.apply_id]
            if earlier:
                seen = {m.get("run") for m in store.read_metrics()}
                runs = [a for a in earlier if a not in seen] + runs
                providers = {a: r.provider for a, r in result.state.resources.items()}
        found: list[Metric] = []
        for apply_id in runs:
            events = store.read_journal(apply_id)
            if events or apply_id == result.apply_id:
                found += run_metrics(plan, result, events, providers)
        MetricsTracker(store).record(found)
    except (OSError, StateError):  # (a shared backend out of reach: the release is recorded)
        pass
