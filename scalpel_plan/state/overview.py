"""What `status`, `history` and the dashboard read of a state: its releases, rollbacks and
hotfixes, what is live, and the rollback points by name (without what each resource looked
like then, which is most of a long history's state file).

A backend whose state is one document (the local folder, the git ref) keeps this overview in
``.scalpel/state.index.json``, and uses it only when it was made from exactly the state read
now: the index names the state file's sha256, lineage and serial, and the sha256 of each of
its own parts; anything else (the state written since, edited by hand, another lineage; the
index truncated, edited or damaged) and the overview is made again from one full read, checked
as every read is, and the index replaced atomically (a kill leaves the old one or the new one;
the state file is never written here). An index that cannot be written costs only the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, TypeAdapter, ValidationError

from scalpel_plan.state.model import (
    HotfixRecord,
    Record,
    ReleaseRecord,
    RollbackPoint,
    RollbackRecord,
    State,
    interrupted_rollback,
    live_version,
)

INDEX_NAME = "state.index.json"
INDEX_VERSION = 1
# the start of every state file Scalpel writes (state_format.dump): its lineage and serial
HEAD = re.compile(rb'\A\{\s*"format_version":\s*(\d+),\s*"lineage":\s*"([0-9a-f-]*)",\s*'
                  rb'"serial":\s*(\d+),')


class PointSummary(Record):
    """A rollback point as `history` lists it: the artifacts it names, not their values."""

    name: str
    version: str
    commit: str
    created_at: str
    artifacts: list[str] = Field(default_factory=list)


class Overview(Record):
    """A state less its resources and the rollback points' values; ``points`` is None when
    the reader did not ask for them."""

    lineage: str = ""
    serial: int = 0
    live: str | None = None
    releases: list[ReleaseRecord] = Field(default_factory=list)
    rollbacks: list[RollbackRecord] = Field(default_factory=list)
    hotfixes: list[HotfixRecord] = Field(default_factory=list)
    points: list[PointSummary] | None = None

    @classmethod
    def of(cls, state: State, points: bool = True) -> Overview:
        """The overview of ``state`` (its records shared, not copied)."""
        return cls.model_construct(
            lineage=state.lineage, serial=state.serial, live=state.live,
            releases=state.releases, rollbacks=state.rollbacks, hotfixes=state.hotfixes,
            points=[PointSummary.model_construct(
                name=p.name, version=p.version, commit=p.commit, created_at=p.created_at,
                artifacts=sorted(p.resources)) for p in state.rollback_points]
            if points else None)

    def live_version(self) -> str | None:
        return live_version(self.live, self.releases)

    def interrupted_rollback(self) -> RollbackRecord | None:
        return interrupted_rollback(self.releases, self.rollbacks)

    def current_release(self) -> ReleaseRecord | None:
        return self.releases[-1] if self.releases else None

    def as_state(self) -> State:
        """A state of what this overview holds (its rollback points naming their artifacts
        without values), for the checks every read makes."""
        return State.model_construct(
            lineage=self.lineage, serial=self.serial, live=self.live, releases=self.releases,
            rollbacks=self.rollbacks, hotfixes=self.hotfixes, resources={}, active_apply=None,
            rollback_points=[RollbackPoint.model_construct(
                name=p.name, version=p.version, commit=p.commit, created_at=p.created_at,
                resources={a: {} for a in p.artifacts}) for p in self.points or []])


POINTS: TypeAdapter[list[PointSummary]] = TypeAdapter(list[PointSummary])


def points_from_json(data: bytes | str) -> list[PointSummary]:
    """The rollback points of a JSON array of ``PointSummary`` objects, validated."""
    return POINTS.validate_json(data)


def indexed(data: bytes | None, index: Path, load: Callable[[bytes], State],
            points: bool) -> Overview:
    """The overview of the state document ``data`` (None: there is none yet), from the index
    at ``index`` when it was made from these very bytes, else from ``load(data)`` (the full,
    checked read), the index then made again. A state with an apply's journal to fold in is
    read in full every time (the journal changes under the same snapshot)."""
    if data is None:
        return Overview(points=[] if points else None)
    digest = hashlib.sha256(data).hexdigest()
    head = HEAD.match(data[:512])
    key = {"index": INDEX_VERSION, "state_sha256": digest,
           "lineage": head[2].decode(), "serial": int(head[3])} if head else None
    found = _read_index(index, key, points) if key else None
    if found is not None:
        return found
    state = load(data)
    if key is not None and state.active_apply is None and \
            (state.lineage, state.serial) == (key["lineage"], key["serial"]):
        _write_index(index, key, Overview.of(state))
    return Overview.of(state, points)


def _read_index(index: Path, key: dict[str, object], points: bool) -> Overview | None:
    """The overview the index holds, when it was made from the state ``key`` names and
    every part of it is as written; else None."""
    from scalpel_plan.files import quiet_gc

    try:
        header, body, listed = index.read_bytes().split(b"\n", 2)
        found = json.loads(header)
        if not isinstance(found, dict) or \
                {k: found.get(k) for k in key} != key or \
                found.get("overview_sha256") != hashlib.sha256(body).hexdigest() or \
                found.get("points_sha256") != hashlib.sha256(listed).hexdigest():
            return None
        with quiet_gc():
            overview = Overview.model_validate_json(body)
        if (overview.lineage, overview.serial) != (key["lineage"], key["serial"]) or \
                overview.points is not None:
            return None
        if points:
            with quiet_gc():
                overview.points = points_from_json(listed)
        return overview
    except (OSError, ValueError, ValidationError):  # none, torn or damaged: made again
        return None


def _write_index(index: Path, key: dict[str, object], overview: Overview) -> None:
    from scalpel_plan.files import atomic_write

    body = overview.model_dump_json(exclude={"points"}).encode()
    listed = POINTS.dump_json(overview.points or [])
    header = {**key, "overview_sha256": hashlib.sha256(body).hexdigest(),
              "points_sha256": hashlib.sha256(listed).hexdigest()}
    with contextlib.suppress(OSError):  # a read-only folder, a full disk: made next time
        index.parent.mkdir(parents=True, exist_ok=True)  # (a shared backend's local folder)
        atomic_write(index, json.dumps(header).encode() + b"\n" + body + b"\n" + listed)
