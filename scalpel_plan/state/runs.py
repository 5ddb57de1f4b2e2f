"""Releases and rollbacks as runs: each with every apply that worked on it (a release finished
by a second apply has two), for the dashboard, the profiler and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scalpel_plan.state.model import ReleaseRecord, RollbackRecord, State

if TYPE_CHECKING:
    from scalpel_plan.state.overview import Overview


@dataclass(frozen=True)
class Run:
    """A release or a rollback, with every apply that worked on it."""

    operation: str  # release | rollback
    version: str
    applies: tuple[str, ...]  # apply ids, oldest first
    status: str  # as recorded
    started: str
    finished: str | None


def runs(state: State | Overview) -> list[Run]:
    """Every release and rollback, oldest first (by when it started)."""
    return _runs(state.releases, state.rollbacks)


def latest_run(state: State | Overview) -> Run | None:
    """The newest release or rollback."""
    newest = _runs(state.releases[-1:], state.rollbacks[-1:])
    return newest[-1] if newest else None


def latest_run_of(state: State | Overview, packages: list[str]) -> Run | None:
    """The newest release or rollback of one of a monorepo's ``packages``: a release that
    moved one, a rollback of one or of the whole release."""
    wanted = set(packages)
    releases = [r for r in state.releases if wanted & set(r.packages)]
    rollbacks = [b for b in state.rollbacks if b.package is None or b.package in wanted]
    newest = _runs(releases[-1:], rollbacks[-1:])
    return newest[-1] if newest else None


def _runs(releases: list[ReleaseRecord], rollbacks: list[RollbackRecord]) -> list[Run]:
    found = [Run("release", r.version, tuple(r.runs), r.status, r.started_at, r.finished_at)
             for r in releases]
    found += [Run("rollback", b.to_version, (b.id,), b.status, b.started_at, b.finished_at)
              for b in rollbacks]
    return sorted(found, key=lambda run: run.started)
