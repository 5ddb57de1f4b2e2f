"""Incident reports: a Markdown page under .scalpel/incidents/ for every failed apply.

What failed and why, the timeline from the journal, what was done, what remains, and the exact
commands to finish the release or go back. Written through the secrets mask; alerts link to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scalpel_plan.masking import mask
from scalpel_plan.state import StateBackend
from scalpel_plan.state.events import Entry, EventKind, StepDone, StepEntry, StepFailed, detail
from scalpel_plan.state.journal import Event
from scalpel_plan.state.timeline import timeline

FOLDER = "incidents"
TIMELINE_EVENTS: dict[str, str] = {
    EventKind.APPLY_STARTED: "apply started", EventKind.STEP_PENDING: "started",
    EventKind.STEP_DONE: "done", EventKind.STEP_FAILED: "failed",
    EventKind.STEP_SKIPPED: "skipped", EventKind.APPLY_INTERRUPTED: "interrupted",
    EventKind.APPLY_FINISHED: "apply finished"}

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM): no step started after it"


@dataclass(frozen=True)
class Incident:
    """A failed apply (or rollback), as the report and the alerts tell it."""

    operation: str  # "release" | "rollback"
    project: str
    version: str
    apply_id: str
    failures: list[tuple[str, str, str | None]]  # (node, error, hint)
    done: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    rollback_point: str | None = None  # the last good release, if any
    interrupted: bool = False  # stopped by a Ctrl-C (or a SIGTERM)

    @property
    def title(self) -> str:
        if self.interrupted and not self.failures:
            return f"{self.project} {self.version}: {self.operation} interrupted"
        where = f" at {self.failures[0][0]}" if self.failures else ""
        return f"{self.project} {self.version}: {self.operation} failed{where}"


def write_report(store: StateBackend, incident: Incident, events: list[Event]) -> str:
    """Keep the report of ``incident`` beside the state; returns where it is."""
    return store.write_record(f"{FOLDER}/{incident.apply_id}.md",
                              mask(render(incident, events)).encode())


def render(incident: Incident, events: list[Event]) -> str:
    lines = [f"# Incident: {incident.title}", "",
             f"- Project: {incident.project}", f"- Version: {incident.version}",
             f"- Operation: {incident.operation}", f"- Apply: `{incident.apply_id}`", "",
             "## What failed", ""]
    if incident.interrupted:
        lines.append(f"- {INTERRUPTED}")
    for node, error, hint in incident.failures:
        lines.append(f"- `{node}`: {error}")
        if hint:
            lines += ["", "  ```", *(f"  {line}" for line in hint.splitlines()), "  ```"]
    lines += ["", "## Timeline", "", "| Time (UTC) | Event | Node | Detail |",
              "|---|---|---|---|"]
    lines += [_row(e) for e in timeline(events).events if e.kind in TIMELINE_EVENTS]
    lines += ["", "## What was done", ""]
    lines += [f"- `{a}`" for a in incident.done] or ["- nothing"]
    lines += ["", "## What remains", ""]
    lines += [f"- `{a}`" for a in incident.remaining] or ["- nothing"]
    lines += ["", "## What to do", "",
              "1. Fix the cause above (the failed step's log is under `.scalpel/logs/`)."
              if incident.failures else "1. Nothing failed: the apply was interrupted."]
    if incident.operation == "rollback":
        lines.append(f"2. `scalpel rollback --to {incident.version}` again plans what remains "
                     "of the rollback and finishes it. What was done is not done again.")
        return "\n".join(lines) + "\n"
    lines.append("2. `scalpel plan` shows what remains; `scalpel apply` finishes the release. "
                 "What was done is recorded and is not done again.")
    if incident.rollback_point:
        lines.append(f"3. To go back instead: `scalpel rollback --to "
                     f"{incident.rollback_point}` (the last good release; `scalpel history` "
                     "lists every rollback point).")
    return "\n".join(lines) + "\n"


def _row(event: Entry) -> str:
    """One event as a row of the report's timeline table."""
    address = event.address if isinstance(event, StepEntry) else ""
    return f"| {event.ts} | {TIMELINE_EVENTS[event.kind]} | {address} | {_cell(_detail(event))} |"


def _detail(event: Entry) -> str:
    if isinstance(event, StepDone | StepFailed) and event.duration is not None:
        return f"{event.duration} s {detail(event)}".strip()
    return detail(event)


def _cell(text: str) -> str:
    """``text`` fit for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")[:300]
