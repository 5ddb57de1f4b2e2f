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
    RollbackRecord,
    State,
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
    """A state less its resources and the rollback points' values: what is live, the rollback
    that waits to be finished, the releases and rollbacks (every one, or the newest alone for
    a reader that shows the current one), the hotfixes and (``points``; None when the reader
    did not ask for them) the rollback points."""

    lineage: str = ""
    serial: int = 0
    live: str | None = None  # State.live_version()
    interrupted: RollbackRecord | None = None  # State.interrupted_rollback()
    releases: list[ReleaseRecord] = Field(default_factory=list)
    rollbacks: list[RollbackRecord] = Field(default_factory=list)
    hotfixes: list[HotfixRecord] = Field(default_factory=list)
    points: list[PointSummary] | None = None

    @classmethod
    def of(cls, state: State, points: bool = True, every_release: bool = True) -> Overview:
        """The overview of ``state`` (its records shared, not copied)."""
        return cls.model_construct(
            lineage=state.lineage, serial=state.serial, live=state.live_version(),
            interrupted=state.interrupted_rollback(),
            releases=state.releases if every_release else state.releases[-1:],
            rollbacks=state.rollbacks if every_release else state.rollbacks[-1:],
            hotfixes=state.hotfixes,
            points=[PointSummary.model_construct(
                name=p.name, version=p.version, commit=p.commit, created_at=p.created_at,
                artifacts=sorted(p.resources)) for p in state.rollback_points]
            if points else None)

    def live_version(self) -> str | None:
        return self.live

    def interrupted_rollback(self) -> RollbackRecord | None:
        return self.interrupted

    def current_release(self) -> ReleaseRecord | None:
        return self.releases[-1] if self.releases else None


class _Records(Record):
    """The index's part with every release and rollback."""

    releases: list[ReleaseRecord]
    rollbacks: list[RollbackRecord]


POINTS: TypeAdapter[list[PointSummary]] = TypeAdapter(list[PointSummary])


def points_from_json(data: bytes | str) -> list[PointSummary]:
    """The rollback points of a JSON array of ``PointSummary`` objects, validated."""
    return POINTS.validate_json(data)


def indexed(data: bytes | None, index: Path, load: Callable[[bytes], State],
            points: bool, every_release: bool) -> Overview:
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
    found = _read_index(index, key, points, every_release) if key else None
    if found is not None:
        return found
    state = load(data)
    if key is not None and state.active_apply is None and \
            (state.lineage, state.serial) == (key["lineage"], key["serial"]):
        _write_index(index, key, state)
    return Overview.of(state, points, every_release)


PARTS = ("latest", "records", "points")  # the index's lines after its header, in order


def _read_index(index: Path, key: dict[str, object], points: bool,
                every_release: bool) -> Overview | None:
    """The overview the index holds, when it was made from the state ``key`` names and
    every part read is as written; else None."""
    from scalpel_plan.files import quiet_gc

    try:
        header, *lines = index.read_bytes().split(b"\n", len(PARTS))
        found = json.loads(header)
        parts = dict(zip(PARTS, lines, strict=True))
        wanted = ["latest", *(["records"] if every_release else []),
                  *(["points"] if points else [])]
        if not isinstance(found, dict) or {k: found.get(k) for k in key} != key or any(
                found.get(f"{part}_sha256") != hashlib.sha256(parts[part]).hexdigest()
                for part in wanted):
            return None
        with quiet_gc():
            overview = Overview.model_validate_json(parts["latest"])
            if every_release:
                every = _Records.model_validate_json(parts["records"])
                overview.releases, overview.rollbacks = every.releases, every.rollbacks
            if points:
                overview.points = points_from_json(parts["points"])
        if (overview.lineage, overview.serial) != (key["lineage"], key["serial"]):
            return None
        return overview
    except (OSError, ValueError, ValidationError):  # none, torn or damaged: made again
        return None


def _write_index(index: Path, key: dict[str, object], state: State) -> None:
    from scalpel_plan.files import atomic_write
    from scalpel_plan.masking import mask_bytes

    parts = {"latest": Overview.of(state, False, False).model_dump_json(exclude={"points"}),
             "records": _Records.model_construct(releases=state.releases,
                                                 rollbacks=state.rollbacks).model_dump_json(),
             "points": POINTS.dump_json(Overview.of(state).points or []).decode()}
    encoded = [parts[part].encode() for part in PARTS]
    header = {**key, **{f"{part}_sha256": hashlib.sha256(data).hexdigest()
                        for part, data in zip(PARTS, encoded, strict=True)}}
    with contextlib.suppress(OSError):  # a read-only folder, a full disk: made next time
        index.parent.mkdir(parents=True, exist_ok=True)  # (a shared backend's local folder)
        atomic_write(index, mask_bytes(b"\n".join([json.dumps(header).encode(), *encoded])))
