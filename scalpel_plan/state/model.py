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
    version: str
    previous: str | None = None
    tag: str | None = None
    commit: str
    status: ReleaseStatus = "in_progress"
    apply_id: str | None = None
    started_at: str = Field(default_factory=now)
    finished_at: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.status in ("in_progress", "failed")


class RollbackPoint(Record):
    """A release that finished, and what every resource looked like then."""

    name: str
    version: str
    commit: str
    created_at: str = Field(default_factory=now)
    resources: dict[str, dict[str, Any]] = Field(default_factory=dict)


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
    active_apply: ActiveApply | None = None

    def with_lineage(self) -> State:
        """This state, given a lineage if it has none yet (its first write)."""
        return self if self.lineage else self.model_copy(update={"lineage": str(uuid.uuid4())})

    def current_release(self) -> ReleaseRecord | None:
        return self.releases[-1] if self.releases else None

    def last_succeeded(self) -> ReleaseRecord | None:
        return next((r for r in reversed(self.releases) if r.status == "succeeded"), None)

    def release(self, version: str) -> ReleaseRecord | None:
        return next((r for r in reversed(self.releases) if r.version == version), None)

    def recorded(self, address: str) -> dict[str, Any] | None:
        resource = self.resources.get(address)
        return resource.attributes if resource else None
