"""Releases made before Scalpel, recorded from their tags: ``scalpel state import``.

Every tag that matches release.yml's tag formats (``version.tag``, and none of
``version.ignore_tags``) and points at a commit becomes a finished release and a rollback
point: its version, tag, tagged commit and date, and what each node left for it where that is
live now (the git tag, the image's digest under the version tag, the files and their sha256 on
the index), read by the node's provider as a plan reads. ``scalpel rollback --to VERSION``
then plans the way back to it like to any release Scalpel made.

Importing again adds nothing: a version the state already records (Scalpel's own release, or
an earlier import) is left exactly as it is. Imported records have no apply id: no apply of
Scalpel's made them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from scalpel_plan import git
from scalpel_plan.content import versioning
from scalpel_plan.content.schemes import SCHEMES
from scalpel_plan.errors import ScalpelError
from scalpel_plan.providers.base import LiveCache, Release
from scalpel_plan.state.model import ReleaseRecord, RollbackPoint, State

if TYPE_CHECKING:
    from scalpel_plan.operations.project import Project

READERS = 8  # tags read at once (each reads its nodes: an index, a registry)
T = TypeVar("T")


@dataclass(frozen=True)
class Found:
    """One release made before Scalpel, as its tag and the live reads give it."""

    version: str
    tag: str
    commit: str
    date: str
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # by node address
    unread: list[str] = field(default_factory=list)  # "address: why" for a read that failed


@dataclass(frozen=True)
class Imports:
    found: list[Found]  # recorded (or, with --dry-run, to be)
    skipped: list[tuple[str, str]]  # (tag, why)
    backend: str
    dry_run: bool
    serial: int  # the state's serial after the import


def import_tags(project: Project, *, dry_run: bool = False,
                lock_timeout: float = 0.0) -> Imports:
    """Record the releases the repository's tags show and the state does not know yet."""
    repo = project.workspace.repo
    spec = project.loaded.spec
    scheme = SCHEMES[spec.policy.scheme]
    refs = {r.name: r for r in versioning.tag_refs(repo)}
    commits = {t.name: t.commit for t in git.tags(repo)}
    versions = versioning.release_tags(spec, list(refs))
    shaped = _shaped_not_versions(spec, [t for t in refs if t not in versions], scheme.name)
    with project.backend.lock("import", lock_timeout):
        state = project.backend.read()
        todo: list[tuple[str, str, str, str]] = []  # tag, version, commit, date
        skipped: list[tuple[str, str]] = []
        seen: dict[str, str] = {}
        for tag, version in sorted(versions.items(), key=lambda item: (item[1], item[0])):
            text, ref = str(version), refs[tag]
            known = state.release(text)
            if ref.kind != "commit":
                skipped.append((tag, f"it points at a {ref.kind}, not a commit"))
            elif text in seen:
                skipped.append((tag, f"{seen[text]} is {text} already"))
            elif known is not None:
                by = "Scalpel released it" if known.apply_id else "imported before"
                skipped.append((tag, f"{text} is recorded ({by}); left as it is"))
            elif state.point(tag) is not None:
                skipped.append((tag, "a rollback point has this name already"))
            else:
                todo.append((tag, text, commits[tag], _utc(ref.date)))
            seen.setdefault(text, tag)
        skipped += shaped
        previous = _previous([v for _t, v, _c, _d in todo], state, scheme.parse)
        cache = LiveCache(project.secrets)
        with ThreadPoolExecutor(READERS) as pool:
            found = list(pool.map(lambda t: _read(project, cache, t, previous.get(t[1])),
                                  todo))
        serial = state.serial
        if found and not dry_run:
            new = _recorded(state, found, previous, scheme.parse, scheme.is_pre)
            project.backend.write(new)
            serial = new.serial
        return Imports(found, skipped, project.backend.describe(), dry_run, serial)


def _shaped_not_versions(spec: Any, tags: list[str], scheme: str) -> list[tuple[str, str]]:
    """Tags shaped as a release tag (a tag format around something like ``1.2.3``: a digit
    first, two dots; not ignored) whose version part is not a version of the scheme
    (``v1.2.3.4``, ``v1.02.0``): never imported, and said, not dropped in silence. Moving
    tags (``v1``, ``v1.2``) and other names are not release-shaped."""
    shapes = []
    for fmt in spec.policy.tag_formats:
        head, _, tail = fmt.partition("{version}")
        shapes.append((head, tail))
    found = []
    for tag in tags:
        for head, tail in shapes:
            middle = tag[len(head):len(tag) - len(tail)] if tail else tag[len(head):]
            if (tag.startswith(head) and tag.endswith(tail) and middle[:1].isdigit()
                    and middle.count(".") >= 2 and not versioning.ignored(spec, tag)):
                found.append((tag, f"{middle!r} is not a {scheme} version"))
                break
    return found


def _utc(date: str) -> str:
    """A tag's date as the state writes times (UTC, milliseconds)."""
    try:
        when = dt.datetime.fromisoformat(date)
    except ValueError:
        return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _previous(versions: list[str], state: State, parse: Callable[[str], Any]
              ) -> dict[str, str | None]:
    """Each imported version's previous release: the next lower version recorded or imported."""
    known = {v: parse(v) for v in [*versions, *(r.version for r in state.releases)]}
    ordered = sorted((p, v) for v, p in known.items() if p is not None)
    below = {v: (ordered[i - 1][1] if i else None) for i, (_p, v) in enumerate(ordered)}
    return {v: below.get(v) for v in versions}


def _read(project: Project, cache: LiveCache, todo: tuple[str, str, str, str],
          previous: str | None) -> Found:
    """What each node that keeps history left for this release, read where it is live."""
    tag, version, commit, date = todo
    release = Release(project=project.loaded.project_name, version=version, previous=previous,
                      tag=tag, commit=commit, repo=project.workspace.repo,
                      workdir=project.workspace.workdir, tag_commit=commit)
    resources, unread = {}, []
    for address in project.graph.order:
        node = project.graph.nodes[address]
        provider = project.registry.find(node.provider)
        if provider is None or not provider.keeps_history:
            continue
        try:
            attributes = provider.read_past(node, release, cache)
        except ScalpelError as exc:
            unread.append(f"{address}: {exc.message}")
            continue
        if attributes is not None:
            resources[address] = attributes
    return Found(version, tag, commit, date, resources, unread)


def _recorded(state: State, found: list[Found], previous: dict[str, str | None],
              parse: Callable[[str], Any], is_pre: Callable[[Any], bool]) -> State:
    """``state`` with the imported releases and rollback points, each where its date puts it
    among those recorded (Scalpel's own records keep their order)."""
    releases = [ReleaseRecord(version=f.version, previous=previous.get(f.version), tag=f.tag,
                              commit=f.commit, status="succeeded", apply_id=None,
                              started_at=f.date, finished_at=f.date) for f in found]
    points = [RollbackPoint(name=f.tag, version=f.version, commit=f.commit, created_at=f.date,
                            resources=f.resources) for f in found]
    new = state.with_lineage().model_copy(deep=True)
    head, tail = new.releases, []
    if head and head[-1].unfinished:  # it stays the current release: the next plan resumes it
        head, tail = head[:-1], head[-1:]
    new.releases = _insert(head, releases, lambda r: r.started_at) + tail
    new.rollback_points = _insert(new.rollback_points, points, lambda p: p.created_at)
    if state.live_version() is None:  # nothing was live by Scalpel: the newest final release
        parsed = [(parse(f.version), f.version) for f in found]
        finals = [item for item in parsed if item[0] is not None and not is_pre(item[0])]
        new.live = max(finals or [item for item in parsed if item[0] is not None])[1]
    new.serial = state.serial + 1
    return new


def _insert(existing: list[T], new: list[T], when: Callable[[T], str]) -> list[T]:
    """``existing`` in its order, each of ``new`` (in their order) before the first one later."""
    out = list(existing)
    for item in new:
        at = next((i for i, e in enumerate(out) if when(e) > when(item)), len(out))
        out.insert(at, item)
    return out
