"""The journal's events: every kind in one place, and typed readers of the ones read back.

The journal (``state/journal.py``) writes and reads plain dicts, one JSON object a line::

    {"seq": 7, "ts": "2024-05-01T10:00:01.234+00:00", "event": "step_done", "address": ...}

Writers name the kind with ``EventKind`` (a ``str``, so the JSON is what it always was);
readers turn a dict into one of the frozen dataclasses here with ``parse``. Plain dataclasses,
not validated models: a journal is read whole on every ``scalpel status``. An event of a kind
no reader needs (or one a newer Scalpel wrote) parses to a plain ``Entry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict

from scalpel_plan.state.journal import Event


class EventKind(StrEnum):
    """What a journal line records (its ``"event"`` field)."""

    # the frame of one apply: its first and its last line
    APPLY_STARTED = "apply_started"
    APPLY_FINISHED = "apply_finished"
    APPLY_INTERRUPTED = "apply_interrupted"  # a Ctrl-C: nothing new starts (the 2nd: stop all)
    # a step: pending before it runs, then done, failed or skipped; progress on the way
    STEP_PENDING = "step_pending"
    STEP_PROGRESS = "step_progress"
    STEP_DONE = "step_done"
    STEP_FAILED = "step_failed"
    STEP_SKIPPED = "step_skipped"
    # records folded into the state (see ``state.format.apply_event``)
    RELEASE = "release"
    ROLLBACK = "rollback"
    ROLLBACK_POINT = "rollback_point"
    HOTFIX = "hotfix"
    # failure alerts, journaled after a failed apply
    ALERT_SENT = "alert_sent"
    ALERT_SUPPRESSED = "alert_suppressed"
    ALERT_CHANNEL_FAILED = "alert_channel_failed"


KINDS: dict[str, EventKind] = {kind.value: kind for kind in EventKind}


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """Any journal line: its place, its time (ISO, UTC) and its kind."""

    seq: int
    ts: str
    kind: str  # an EventKind, or the name of a kind this Scalpel does not know


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyStarted(Entry):
    apply_id: str
    mode: str  # release | rollback
    version: str
    parallelism: int = 0
    nodes: int = 0
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # of actionable nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyFinished(Entry):
    status: str  # succeeded | failed
    done: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEntry(Entry):
    """A line about one step (one node of the graph)."""

    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepPending(StepEntry):
    action: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepDone(StepEntry):
    action: str
    duration: float | None  # seconds, as the apply measured them


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(StepEntry):
    action: str
    duration: float | None
    error: str
    hint: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSkipped(StepEntry):
    because: str  # the failed step it needs


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSent(Entry):
    fingerprint: str
    channels: tuple[str, ...]  # the channels it was delivered to
    failed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSuppressed(Entry):
    fingerprint: str
    since: str  # when the same failure was alerted


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertChannelFailed(Entry):
    channel: str
    error: str


StepEvent = StepPending | StepDone | StepFailed | StepSkipped  # what a step's record follows


class _Head(TypedDict):
    seq: int
    ts: str
    kind: str


def parse(raw: Event) -> Entry:
    """The typed event of one journal line (as ``read_journal`` returns it)."""
    name = str(raw.get("event", ""))
    head = _Head(seq=int(raw.get("seq", 0)), ts=str(raw.get("ts", "")),
                 kind=KINDS.get(name, name))
    reader = READERS.get(name)
    return reader(raw, head) if reader else Entry(**head)


def detail(event: Entry) -> str:
    """What an event says in a word: a failed step's error, the failed step a skipped one
    needs, a finished apply's status; empty for the others."""
    if isinstance(event, StepFailed):
        return event.error
    if isinstance(event, StepSkipped):
        return event.because
    return event.status if isinstance(event, ApplyFinished) else ""


def _text(raw: Event, key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value)


def _maybe_text(raw: Event, key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def _maybe_float(raw: Event, key: str) -> float | None:
    value = raw.get(key)
    return None if value is None else float(value)


def _texts(raw: Event, key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in raw.get(key) or ())


def _needs(value: Any) -> dict[str, tuple[str, ...]]:
    return {str(a): tuple(str(n) for n in needs) for a, needs in (value or {}).items()}


def _apply_started(raw: Event, head: _Head) -> ApplyStarted:
    return ApplyStarted(**head, apply_id=_text(raw, "apply_id"), mode=_text(raw, "mode"),
                        version=_text(raw, "version"), parallelism=int(raw.get("parallelism", 0)),
                        nodes=int(raw.get("nodes", 0)), needs=_needs(raw.get("needs")))


def _apply_finished(raw: Event, head: _Head) -> ApplyFinished:
    return ApplyFinished(**head, status=_text(raw, "status"), done=int(raw.get("done", 0)),
                         failed=int(raw.get("failed", 0)), skipped=int(raw.get("skipped", 0)))


def _step_pending(raw: Event, head: _Head) -> StepPending:
    return StepPending(**head, address=_text(raw, "address"), action=_text(raw, "action"))


def _step_done(raw: Event, head: _Head) -> StepDone:
    return StepDone(**head, address=_text(raw, "address"), action=_text(raw, "action"),
                    duration=_maybe_float(raw, "duration"))


def _step_failed(raw: Event, head: _Head) -> StepFailed:
    return StepFailed(**head, address=_text(raw, "address"), action=_text(raw, "action"),
                      duration=_maybe_float(raw, "duration"), error=_text(raw, "error"),
                      hint=_maybe_text(raw, "hint"))


def _step_skipped(raw: Event, head: _Head) -> StepSkipped:
    return StepSkipped(**head, address=_text(raw, "address"), because=_text(raw, "because"))


def _alert_sent(raw: Event, head: _Head) -> AlertSent:
    return AlertSent(**head, fingerprint=_text(raw, "fingerprint"),
                     channels=_texts(raw, "channels"), failed=_texts(raw, "failed"))


def _alert_suppressed(raw: Event, head: _Head) -> AlertSuppressed:
    return AlertSuppressed(**head, fingerprint=_text(raw, "fingerprint"),
                           since=_text(raw, "since"))


def _alert_channel_failed(raw: Event, head: _Head) -> AlertChannelFailed:
    return AlertChannelFailed(**head, channel=_text(raw, "channel"), error=_text(raw, "error"))


READERS: dict[str, Callable[[Event, _Head], Entry]] = {
    EventKind.APPLY_STARTED: _apply_started,
    EventKind.APPLY_FINISHED: _apply_finished,
    EventKind.STEP_PENDING: _step_pending,
    EventKind.STEP_DONE: _step_done,
    EventKind.STEP_FAILED: _step_failed,
    EventKind.STEP_SKIPPED: _step_skipped,
    EventKind.ALERT_SENT: _alert_sent,
    EventKind.ALERT_SUPPRESSED: _alert_suppressed,
    EventKind.ALERT_CHANNEL_FAILED: _alert_channel_failed,
}
