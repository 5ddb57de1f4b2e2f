"""The state file format: versioned JSON, upgrades from older versions, and journal folding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from scalpel_plan.errors import StateError
from scalpel_plan.masking import mask
from scalpel_plan.state.events import EventKind
from scalpel_plan.state.journal import Event
from scalpel_plan.state.model import (
    FORMAT_VERSION,
    HotfixRecord,
    ReleaseRecord,
    Resource,
    RollbackPoint,
    RollbackRecord,
    State,
)
from scalpel_plan.state.values import state_value_problems

UPGRADES: dict[int, Any] = {}  # format version N → function(dict) -> dict of version N+1


def load(data: dict[str, Any]) -> State:
    """A State from a decoded state file of this or any older format version."""
    version = data.get("format_version")
    if not isinstance(version, int):
        raise StateError("the state file has no format_version: it is not a Scalpel state")
    if version > FORMAT_VERSION:
        raise StateError(
            f"the state was written by a newer Scalpel (format {version}; this one reads "
            f"up to {FORMAT_VERSION})", hint="upgrade Scalpel: `pip install -U scalpel-plan`")
    while version < FORMAT_VERSION:
        data = UPGRADES[version](data)
        version = data["format_version"]
    return State.model_validate(data)


def dump(state: State) -> bytes:
    """The state file's bytes; masked, though a value never belongs in the state."""
    text = json.dumps(state.model_dump(mode="json"), indent=1, sort_keys=False)
    return mask(text).encode() + b"\n"


def loaded(data: Any, where: str, hint: str) -> State:
    """The state in ``data`` (a state file's decoded JSON); a StateError saying that
    ``where`` is unreadable, and ``hint``, when it holds none."""
    if not isinstance(data, dict):
        raise StateError(f"{where} is unreadable: it holds no JSON object", hint=hint)
    try:
        return load(data)
    except ValidationError as exc:
        raise StateError(f"{where} is unreadable: {first_error(exc)}", hint=hint) from None


def decoded(text: str, where: str, hint: str) -> State:
    """The state in ``text`` (a state file's JSON), as ``loaded``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StateError(f"{where} is unreadable: {exc}", hint=hint) from None
    return loaded(data, where, hint)


def folded(state: State, events: list[Event], journal: str, hint: str) -> State:
    """``fold``, with a damaged ``journal`` (named as the error names it) a StateError."""
    try:
        return fold(state, events)
    except (ValidationError, KeyError, TypeError) as exc:
        raise StateError(f"{journal} is unreadable: {first_error(exc)}", hint=hint) from None


def checked(state: State, where: str, hint: str) -> State:
    """``state`` (read from ``where``), once none of its values could reach a command line, a
    path or a URL as no spec's could."""
    problems = state_value_problems(state)
    if problems:
        raise StateError(f"{where} holds values no state can have: " + "; ".join(problems[:5]),
                         hint=hint)
    return state


def first_error(exc: Exception) -> str:
    """What is wrong, in a line: pydantic's first error with where it is."""
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the document"
        return f"{where}: {err['msg'].lower()}"
    return f"a journal event lacks {exc}" if isinstance(exc, KeyError) else str(exc)


def fold(state: State, events: list[Event]) -> State:
    """``state`` with the recorded changes of journal ``events`` (after the folded ones) applied."""
    active = state.active_apply
    after = active.folded_seq if active else 0
    state = state.model_copy(deep=True)
    for event in events:
        if event["seq"] <= after:
            continue
        apply_event(state, event)
        if state.active_apply:
            state.active_apply.folded_seq = event["seq"]
    return state


def apply_event(state: State, event: Event) -> None:
    """Apply one journaled change to ``state`` in place (events that record nothing are ignored)."""
    change = CHANGES.get(event["event"])
    if change is None:
        return
    change(state, event)
    state.serial = max(state.serial + 1, event.get("serial", 0))


def _release(state: State, event: Event) -> None:
    record = ReleaseRecord.model_validate(event["record"])
    state.releases = [r for r in state.releases if r.version != record.version] + [record]
    _end_dead_rollbacks(state, record.apply_id)
    if record.status == "succeeded":
        state.live = record.version


def _rollback(state: State, event: Event) -> None:
    rollback = RollbackRecord.model_validate(event["record"])
    state.rollbacks = [r for r in state.rollbacks if r.id != rollback.id
                       and not _resumes(rollback, r)] + [rollback]
    _end_dead_rollbacks(state, rollback.id)
    if rollback.status == "succeeded" and rollback.package is None:  # (a package's: its own)
        state.live = rollback.to_version
        state.releases = [r.model_copy(update={"status": "rolled_back"})
                          if r.version == rollback.from_version else r
                          for r in state.releases]


def _resumes(rollback: RollbackRecord, earlier: RollbackRecord) -> bool:
    """Whether ``rollback`` is ``earlier`` started again after it stopped (it then takes its
    place in the history, as a resumed release does)."""
    return earlier.unfinished and (earlier.from_version, earlier.to_version, earlier.point,
                                   earlier.package) \
        == (rollback.from_version, rollback.to_version, rollback.point, rollback.package)


def _end_dead_rollbacks(state: State, apply_id: str | None) -> None:
    """An apply runs under the state lock: a rollback still "in progress" when another apply
    records itself was killed; it is recorded as failed, not in progress for good."""
    state.rollbacks = [r.model_copy(update={"status": "failed"})
                       if r.status == "in_progress" and r.id != apply_id else r
                       for r in state.rollbacks]


def _hotfix(state: State, event: Event) -> None:
    hotfix = HotfixRecord.model_validate(event["record"])
    state.hotfixes = [h for h in state.hotfixes if h.branch != hotfix.branch] + [hotfix]


def _resource(state: State, event: Event) -> None:
    if event.get("resource") is None:
        state.resources.pop(event["address"], None)
    else:
        state.resources[event["address"]] = Resource.model_validate(event["resource"])


def _rollback_point(state: State, event: Event) -> None:
    state.rollback_points.append(RollbackPoint.model_validate(event["point"]))


CHANGES: dict[str, Callable[[State, Event], None]] = {  # the kinds that change the state
    EventKind.RELEASE: _release,
    EventKind.ROLLBACK: _rollback,
    EventKind.HOTFIX: _hotfix,
    EventKind.STEP_DONE: _resource,
    EventKind.STEP_PROGRESS: _resource,
    EventKind.ROLLBACK_POINT: _rollback_point,
}
