"""One apply's timeline, from its journal: the apply's own start, end, status, mode and
version; one record per step (when it started and finished, how long it ran, how it ended);
and every event, typed, in journal order.

The one place that walks journal events: the status dashboard, incident reports, the build
profiler and the metrics all read a ``Timeline``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from scalpel_plan.state.events import (
    ApplyFinished,
    ApplyStarted,
    Entry,
    StepEvent,
    StepFailed,
    StepPending,
    StepSkipped,
    parse,
)
from scalpel_plan.state.journal import Event

StepStatus = Literal["pending", "done", "failed", "skipped"]
UNFINISHED = "unfinished"  # the apply's status while it runs, or when it was killed


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the apply, as the journal tells it."""

    address: str
    action: str
    status: StepStatus  # pending: journaled as started, and nothing since
    started: str | None = None  # when it was journaled pending (ISO, UTC)
    finished: str | None = None  # when it was journaled done or failed
    duration: float | None = None  # the seconds it ran, as the apply measured them
    error: str | None = None  # failed: why
    because: str | None = None  # skipped: the failed step it needs


@dataclass(frozen=True, slots=True)
class Timeline:
    """One apply, as its journal tells it (``timeline`` builds it)."""

    apply_id: str = ""
    mode: str = ""  # release | rollback; empty when the journal has no apply_started
    version: str = ""
    started: str | None = None
    finished: str | None = None
    status: str = UNFINISHED  # succeeded | failed | unfinished
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()  # in the order they reached their last status
    events: tuple[Entry, ...] = ()  # every event, in journal order
    last: str | None = None  # when the newest event was journaled (alerts come after the end)

    @property
    def duration(self) -> float | None:
        """The apply's wall time, start to finish, in seconds (None until it finished)."""
        if self.started is None or self.finished is None:
            return None
        return seconds(self.finished) - seconds(self.started)

    def settled(self) -> list[Step]:
        """The steps that ran to an end (done or failed), in the order they ended."""
        return [s for s in self.steps if s.status in ("done", "failed")]


def timeline(events: Iterable[Event]) -> Timeline:
    """The timeline of one apply's journal ``events`` (as ``read_journal`` returns them)."""
    entries = tuple(parse(e) for e in events)
    begun = next((e for e in entries if isinstance(e, ApplyStarted)), None)
    ended = next((e for e in reversed(entries) if isinstance(e, ApplyFinished)), None)
    return Timeline(
        apply_id=begun.apply_id if begun else "", mode=begun.mode if begun else "",
        version=begun.version if begun else "", started=begun.ts if begun else None,
        finished=ended.ts if ended else None, status=ended.status if ended else UNFINISHED,
        needs=begun.needs if begun else {}, steps=_steps(entries), events=entries,
        # journal times share one format (UTC, milliseconds), so the text orders as the time
        last=max((e.ts for e in entries), default=None))


def seconds(iso: str) -> float:
    """A journaled time as seconds since the epoch."""
    return dt.datetime.fromisoformat(iso).timestamp()


def _steps(entries: Iterable[Entry]) -> tuple[Step, ...]:
    steps: dict[str, Step] = {}
    for entry in entries:
        if isinstance(entry, StepEvent):
            prior = steps.pop(entry.address, None)  # re-inserted: the order they settled in
            steps[entry.address] = _advance(prior, entry)
    return tuple(steps.values())


def _advance(prior: Step | None, entry: StepEvent) -> Step:
    """The step ``prior`` (None: not journaled yet) after ``entry``."""
    if isinstance(entry, StepPending):
        return Step(entry.address, entry.action, "pending", started=entry.ts)
    if isinstance(entry, StepSkipped):
        return Step(entry.address, prior.action if prior else "", "skipped",
                    because=entry.because)
    failed = entry.error if isinstance(entry, StepFailed) else None
    return Step(entry.address, entry.action, "done" if failed is None else "failed",
                started=prior.started if prior else None, finished=entry.ts,
                duration=entry.duration, error=failed)
