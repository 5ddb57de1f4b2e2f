"""The state model: what Scalpel has recorded about releases, resources and rollback points.

``serial`` grows with every recorded change; ``lineage`` names one state's history, so a
plan or a journal from another history is never mixed in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
ReleaseStatus = Literal["in_progress", "failed", "succeeded", "rolled_back"]


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resource(Record):
    """What one node recorded the last time it was applied."""

    address: str
    provider: str
    release: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    updated_at: str = Field(default_factory=now)


class ReleaseRecord(Record):
    """A release: made by an apply (``apply_id``), or made before Scalpel and recorded from its
    tag by ``scalpel state import`` (no apply id)."""

    version: str
    previous: str | None = None
    tag: str | None = None
    commit: str
    status: ReleaseStatus = "in_progress"
    apply_id: str | None = None  # the last apply that worked on it
    attempts: list[str] = Field(default_factory=list)  # every such apply, oldest first
    started_at: str = Field(default_factory=now)
    finished_at: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.status in ("in_progress", "failed")

    @property
    def runs(self) -> list[str]:
        """The applies that worked on this release, oldest first (one before attempts were
        recorded)."""
        if self.attempts:
            return list(self.attempts)
        return [self.apply_id] if self.apply_id else []

    @property
    def released(self) -> bool:
        return self.status in ("succeeded", "rolled_back")


class RollbackPoint(Record):
    """A release that finished, and what every resource looked like then."""

    name: str
    version: str
    commit: str
    created_at: str = Field(default_factory=now)
    resources: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RollbackRecord(Record):
    """A rollback: from the release that was live back to a rollback point."""

    id: str  # the apply id of the rollback
    from_version: str | None
    to_version: str
    point: str  # the rollback point's name (its tag)
    status: ReleaseStatus = "in_progress"
    started_at: str = Field(default_factory=now)
    finished_at: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.status in ("in_progress", "failed")

    @property
    def finish_command(self) -> str:
        """The command that finishes this rollback (it resumes where it stopped)."""
        return f"scalpel rollback --to {self.point}"

    def interruption(self) -> str:
        """What the plan, `status` and `history` say of this rollback while it is unfinished."""
        what = "stopped before it finished" if self.status == "failed" else "was interrupted"
        return (f"a rollback to {self.point} ({self.from_version or '?'} → {self.to_version}) "
                f"{what}; run `{self.finish_command}` to finish it")


class HotfixRecord(Record):
    """A hotfix branch cut from a rollback point, and the release that finished it."""

    branch: str
    point: str  # the rollback point it starts from
    fixes: str  # the version it fixes
    commit: str
    started_at: str = Field(default_factory=now)
    version: str | None = None  # the release that finished it
    finished_at: str | None = None


class ActiveApply(Record):
    """An apply whose journal holds changes not yet folded into the snapshot."""

    id: str
    journal: str  # path relative to the state folder
    folded_seq: int = 0


class State(Record):
    format_version: int = FORMAT_VERSION
    lineage: str = ""  # set when the state is first written; empty: nothing recorded yet
    serial: int = 0
    releases: list[ReleaseRecord] = Field(default_factory=list)
    resources: dict[str, Resource] = Field(default_factory=dict)
    rollback_points: list[RollbackPoint] = Field(default_factory=list)
    rollbacks: list[RollbackRecord] = Field(default_factory=list)
    hotfixes: list[HotfixRecord] = Field(default_factory=list)
    live: str | None = None  # the version in use: the last release, or a rollback's target
    active_apply: ActiveApply | None = None

    def with_lineage(self) -> State:
        """This state, given a lineage if it has none yet (its first write)."""
        return self if self.lineage else self.model_copy(update={"lineage": str(uuid.uuid4())})

    def current_release(self) -> ReleaseRecord | None:
        return self.releases[-1] if self.releases else None

    def last_released(self) -> ReleaseRecord | None:
        """The newest release that finished (one rolled back since was still released)."""
        return next((r for r in reversed(self.releases) if r.released), None)

    def live_version(self) -> str | None:
        """The release in use now: what the last release or rollback left live."""
        if self.live:
            return self.live
        done = self.last_released()
        return done.version if done else None

    def interrupted_rollback(self) -> RollbackRecord | None:
        """The newest rollback when it did not finish and no release finished since (once one
        did, the rollback was given up)."""
        last = self.rollbacks[-1] if self.rollbacks else None
        if last is None or not last.unfinished:
            return None
        if any(r.finished_at and r.finished_at > last.started_at for r in self.releases):
            return None
        return last

    def point(self, ref: str) -> RollbackPoint | None:
        """The newest rollback point named ``ref`` (its tag) or of version ``ref``."""
        return next((p for p in reversed(self.rollback_points)
                     if ref in (p.name, p.version)), None)

    def release(self, version: str) -> ReleaseRecord | None:
        return next((r for r in reversed(self.releases) if r.version == version), None)

    def recorded(self, address: str) -> dict[str, Any] | None:
        resource = self.resources.get(address)
        return resource.attributes if resource else None
