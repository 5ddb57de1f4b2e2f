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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from scalpel_plan.content import versioning
from scalpel_plan.content.packages import tag_owner
from scalpel_plan.content.schemes import SCHEMES
from scalpel_plan.errors import ScalpelError
from scalpel_plan.plan.packages import release_name
from scalpel_plan.providers.base import LiveCache, Release, local_tags_key
from scalpel_plan.state.model import PackagePart, ReleaseRecord, RollbackPoint, State

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
    package: str | None = None  # a monorepo's: the package the tag is of
    previous: str | None = None  # the version before it (of its package)

    @property
    def name(self) -> str:
        """What the state records the release by: its version, or (a package's) the
        monorepo release's name (``cli-3.0.1``)."""
        return release_name([(self.package, self.version)]) if self.package else self.version


@dataclass(frozen=True)
class Imports:
    found: list[Found]  # recorded (or, with --dry-run, to be)
    skipped: list[tuple[str, str]]  # (tag, why)
    backend: str
    dry_run: bool
    serial: int  # the state's serial after the import
    looked_at: list[str] = field(default_factory=list)  # the tag formats read
    tags: int = 0  # the tags that matched one of them


@dataclass(frozen=True)
class Line:
    """Whose releases a tag can be: the project (package None), or one package."""

    package: str | None
    view: Any  # the spec, or the package's view: its tag formats, scheme, ignore_tags


def import_tags(project: Project, *, dry_run: bool = False,
                lock_timeout: float = 0.0) -> Imports:
    """Record the releases the repository's tags show and the state does not know yet: a
    monorepo's, each package's from the tags of its own tag format."""
    from scalpel_plan.plan.rollback import tag_formats
    from scalpel_plan.state.packages import read_back

    repo = project.workspace.repo
    spec = project.loaded.spec
    refs = versioning.tag_refs(repo)  # the one git read: every tag, its commit and object
    by_name = {r.name: r for r in refs}
    lines, owned = _lines(spec, [r.name for r in refs])
    with project.backend.lock("import", lock_timeout):
        state = project.backend.read()
        known = read_back(state, tag_formats(project.loaded))
        todo: list[Found] = []
        skipped: list[tuple[str, str]] = []
        matched = 0
        for line in lines:
            tags = owned.get(line.package, [])
            scheme = SCHEMES[line.view.policy.scheme]
            versions = versioning.release_tags(line.view, tags)
            matched += len(versions)
            mine, why = _todo(line, versions, by_name, known, skipped)
            skipped += _shaped_not_versions(line.view, [t for t in tags if t not in versions],
                                            scheme.name)
            previous = _previous([f.version for f in mine], why, scheme.parse)
            todo += [replace(f, previous=previous.get(f.version)) for f in mine]
        cache = LiveCache(project.secrets)
        cache.get(local_tags_key(repo), lambda: {r.name: (r.commit, r.object) for r in refs})
        with ThreadPoolExecutor(READERS) as pool:
            found = list(pool.map(lambda f: _read(project, cache, f), todo))
        serial = state.serial
        if found and not dry_run:
            new = _recorded(state, found, {line.package: SCHEMES[line.view.policy.scheme]
                                           for line in lines})
            project.backend.write(new)
            serial = new.serial
        formats = [f for line in lines for f in line.view.policy.tag_formats]
        return Imports(found, skipped, project.backend.describe(), dry_run, serial,
                       formats, matched)


def _lines(spec: Any, tags: list[str]) -> tuple[list[Line], dict[str | None, list[str]]]:
    """Whose releases the tags are, and each one's tags: a monorepo's packages (each tag to
    the package whose tag format it matches, looked up once for all of them), or the
    project."""
    if not spec.packages:
        return [Line(None, spec)], {None: tags}
    views = spec.package_views
    owner = tag_owner(views)
    owned: dict[str | None, list[str]] = {}
    for tag in tags:
        if name := owner(tag):
            owned.setdefault(name, []).append(tag)
    return [Line(name, view) for name, view in views.items()], owned


def _todo(line: Line, versions: dict[str, Any], refs: dict[str, versioning.TagRef],
          state: State, skipped: list[tuple[str, str]]) -> tuple[list[Found], list[str]]:
    """The line's tags to import (a version once, one the state does not record yet), and
    every version of the line recorded or to be (the previous release of each is among
    them)."""
    recorded = _recorded_versions(state, line.package)
    todo: list[Found] = []
    seen: dict[str, str] = {}
    for tag, version in sorted(versions.items(), key=lambda item: (item[1], item[0])):
        text, ref = str(version), refs[tag]
        by = recorded.get(text)
        if ref.kind != "commit":
            skipped.append((tag, f"it points at a {ref.kind}, not a commit"))
        elif text in seen:
            skipped.append((tag, f"{seen[text]} is {text} already"))
        elif by is not None:
            what = f"{line.package} {text}" if line.package else text
            skipped.append((tag, f"{what} is recorded ({by}); left as it is"))
        elif state.point(tag) is not None:
            skipped.append((tag, "a rollback point has this name already"))
        else:
            todo.append(Found(text, tag, ref.commit, _utc(ref.date), package=line.package))
        seen.setdefault(text, tag)
    return todo, [*recorded, *(f.version for f in todo)]


def _recorded_versions(state: State, package: str | None) -> dict[str, str]:
    """The versions the state records a release of (the project's, or ``package``'s), each
    with who recorded it."""
    found: dict[str, str] = {}
    for record in state.releases:
        by = "Scalpel released it" if record.apply_id else "imported before"
        if package is None:
            found.setdefault(record.version, by)
        elif (part := record.packages.get(package)) is not None:
            found.setdefault(part.version, by)
    return found


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


def _previous(versions: list[str], known: list[str], parse: Callable[[str], Any]
              ) -> dict[str, str | None]:
    """Each imported version's previous release: the next lower version of ``known`` (those
    recorded and those imported)."""
    parsed = {v: parse(v) for v in known}
    ordered = sorted((p, v) for v, p in parsed.items() if p is not None)
    below = {v: (ordered[i - 1][1] if i else None) for i, (_p, v) in enumerate(ordered)}
    return {v: below.get(v) for v in versions}


def _read(project: Project, cache: LiveCache, found: Found) -> Found:
    """What each node that keeps history left for this release (a package's: each of its
    package's nodes), read where it is live."""
    release = Release(project=found.package or project.loaded.project_name,
                      version=found.version, previous=found.previous, tag=found.tag,
                      commit=found.commit, repo=project.workspace.repo,
                      workdir=project.workspace.workdir, tag_commit=found.commit)
    resources, unread = {}, []
    for address in project.graph.order:
        node = project.graph.nodes[address]
        provider = project.registry.find(node.provider)
        if provider is None or not provider.keeps_history or node.package != found.package:
            continue
        try:
            attributes = provider.read_past(node, release, cache)
        except ScalpelError as exc:
            unread.append(f"{address}: {exc.message}")
            continue
        if attributes is not None:
            resources[address] = attributes
    return replace(found, resources=resources, unread=unread)


def _recorded(state: State, found: list[Found], schemes: dict[str | None, Any]) -> State:
    """``state`` with the imported releases and rollback points, each where its date puts it
    among those recorded (Scalpel's own records keep their order). A package's release
    records the package it moved, as a monorepo release Scalpel made does."""
    releases, points = [], []
    for f in found:
        parts = {f.package: PackagePart(version=f.version, previous=f.previous, tag=f.tag)} \
            if f.package else {}
        before = (release_name([(f.package, f.previous)]) if f.package else f.previous) \
            if f.previous else None
        releases.append(ReleaseRecord(version=f.name, previous=before, tag=f.tag,
                                      commit=f.commit, status="succeeded", apply_id=None,
                                      started_at=f.date, finished_at=f.date, packages=parts))
        points.append(RollbackPoint(name=f.tag, version=f.name, commit=f.commit,
                                    created_at=f.date, resources=f.resources, packages=parts))
    new = state.with_lineage().model_copy(deep=True)
    head, tail = new.releases, []
    if head and head[-1].unfinished:  # it stays the current release: the next plan resumes it
        head, tail = head[:-1], head[-1:]
    new.releases = _insert(head, releases, lambda r: r.started_at) + tail
    new.rollback_points = _insert(new.rollback_points, points, lambda p: p.created_at)
    scheme = schemes.get(None)
    if scheme is not None and state.live_version() is None:
        # nothing was live by Scalpel: the newest final release (a monorepo's packages are
        # each live by their newest release, state.packages.live_packages)
        parsed = [(scheme.parse(f.version), f.version) for f in found]
        finals = [item for item in parsed if item[0] is not None and not scheme.is_pre(item[0])]
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
