"""A repository's history as releases: commits read from git, grouped by release tag.

Released history never changes, so the whole-history grouping is cached under .scalpel/cache:
while the tags are the same and HEAD still descends from the newest release, a later run reads
only the commits after it (git's walk of the whole history is most of the cost otherwise).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import marshal
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from scalpel_plan import __version__, git, masking
from scalpel_plan.content.changelog import ChangelogGenerator, ReleaseChanges
from scalpel_plan.content.commits import ChangeEntry, from_commit
from scalpel_plan.errors import GitError
from scalpel_plan.files import atomic_write
from scalpel_plan.masking import mask

if TYPE_CHECKING:
    from scalpel_plan.spec.sections import SpecView

UNRELEASED = "Unreleased"
CACHE_FILE = "history-v2.marshal"  # v2: releases by ancestry (v1 cut them by commit date)
Group = tuple[str, str | None, str | None, list[ChangeEntry]]  # version, tag, date, changes
Belongs = Callable[[git.Commit, tuple[str, ...]], bool]  # a commit, the paths it changed
Tagged = dict[str, tuple[str, str, str]]  # commit → (tag, version, date)
T = TypeVar("T")
_WRITING: list[int] = []  # the forked children writing the cache


def releases(repo: Path, spec: SpecView, generator: ChangelogGenerator, *,
             revisions: str = "HEAD", unreleased_as: str = UNRELEASED,
             cache: Path | None = None,
             left_out: list[str] | None = None,
             belongs: Belongs | None = None) -> list[ReleaseChanges]:
    """The releases in ``revisions`` (newest version first). Each holds the commits reachable
    from its tag and from no lower release tag (``git log PREV..TAG``, git-cliff's
    semantics: a branch merged after a tag goes under the release that merged it); the
    commits reachable from no tag go under ``unreleased_as``. Release tags that are not in
    ``revisions`` (a maintenance branch) are left out; their names are added to
    ``left_out`` when it is given. With ``belongs`` (a monorepo package's: whether a
    commit, with the paths it changed, is one of the package's), only those commits are
    told, the history still walked whole (read once, with the paths; never cached)."""
    for pid in list(_WRITING):  # a cache this process is still writing: the next read needs it
        _reap(pid)
    cacheable = revisions == "HEAD" and cache is not None and belongs is None
    groups = None
    if cacheable and cache is not None and (cache / CACHE_FILE).exists():
        groups = _cached(repo, cache, spec, unreleased_as)
    if groups is None:
        reading = _Later(git.tags, repo)  # the tags are read while git walks history
        graph: dict[str, tuple[str, ...]] = {}
        entries = []
        if belongs is not None:  # and the paths each commit changed, in the same read
            for commit, files in git.log_files(repo, revisions):
                graph[commit.sha] = commit.parents
                if belongs(commit, files):
                    entries.append((commit.sha, from_commit(commit)))
        else:
            for commit in git.log(repo, revisions):  # parents and messages in one read
                graph[commit.sha] = commit.parents
                entries.append((commit.sha, from_commit(commit)))
        all_tags = reading.result()
        tagged = _release_tags_by_commit(spec, all_tags)
        groups, tip, outside = _group(entries, graph, tagged, unreleased_as)
        if outside:  # on another branch, or no commit at all: an error naming it
            from scalpel_plan.content.versioning import check_tag_kinds, tag_refs

            check_tag_kinds(spec, tag_refs(repo))
        if left_out is not None:
            left_out.extend(outside)
        if cacheable and tip is not None and not outside:
            _save(cache, _key(spec, all_tags), tip, groups)
    kept = [g for g in groups if g[1] or g[3]]  # no empty "Unreleased"
    return [generator.release(version, changes, tag=tag, date=date,
                              previous_tag=kept[i + 1][1] if i + 1 < len(kept) else None)
            for i, (version, tag, date, changes) in enumerate(kept)]


class _Later(threading.Thread, Generic[T]):
    """``work(*args)`` in a thread of its own, its result (or its error) from ``result``
    (concurrent.futures would import logging: a tenth of a small changelog's start-up)."""

    def __init__(self, work: Callable[..., T], *args: Any) -> None:
        super().__init__(daemon=True)
        self.work, self.args = work, args
        self.value: T | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.work(*self.args)
        except BaseException as exc:  # handed to the caller by result()
            self.error = exc

    def result(self) -> T:
        self.join()
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


def _group(entries: list[tuple[str, ChangeEntry]], graph: dict[str, tuple[str, ...]],
           tagged: Tagged, unreleased_as: str) -> tuple[list[Group], str | None, list[str]]:
    """Commits (in ``entries``' order) under the lowest release tag they are reachable from,
    in one walk: release tags in version order, each claiming its ancestors that no lower
    tag claimed. Returns the groups (newest version first, "Unreleased" on top), the tag
    commit every other release tag descends to (None when there is no single one: the
    cache then cannot read "commits after it"), and the release tags outside the graph.

    The same walk finds that tip: a tag's walk stops at the commits a lower tag claimed, and
    each other release tag's commit it stops at is one of its ancestors; the highest tag is
    the tip when every release tag is among its ancestors that way, directly or through
    another tag. (A history whose only path to a tag runs through another release's
    commits, not through its tag, gets no tip: that only costs the cache.)"""
    inside = [sha for sha in tagged if sha in graph]  # lowest version first
    outside = [tagged[sha][0] for sha in tagged if sha not in graph]
    owner: dict[str, str] = {}
    met: dict[str, list[str]] = {}  # tag commit → the lower tags' commits its walk stopped at
    for tag_commit in inside:
        stops = met[tag_commit] = []
        stack = [tag_commit]
        while stack:
            sha = stack.pop()
            if sha in owner:
                continue
            owner[sha] = tag_commit
            for parent in graph[sha]:
                if parent not in owner:
                    if parent in graph:
                        stack.append(parent)
                elif parent in met:
                    stops.append(parent)
    unreleased: Group = (unreleased_as, None, None, [])
    by_tag: dict[str, Group] = {}
    for sha in reversed(inside):
        tag, version, date = tagged[sha]
        by_tag[sha] = (version, tag, date, [])
    for sha, entry in entries:
        group = by_tag.get(owner[sha]) if sha in owner else None
        (group or unreleased)[3].append(entry)
    return [unreleased, *by_tag.values()], _tip(inside, met), outside


def _tip(inside: list[str], met: dict[str, list[str]]) -> str | None:
    """The highest release's commit when every other release tag is one of its ancestors,
    by the tags each tag's walk stopped at."""
    if not inside:
        return None
    seen, stack = set(), [inside[-1]]
    while stack:
        sha = stack.pop()
        if sha not in seen:
            seen.add(sha)
            stack.extend(met[sha])
    return inside[-1] if len(seen) == len(inside) else None


def _cached(repo: Path, cache: Path | None, spec: SpecView,
            unreleased_as: str) -> list[Group] | None:
    """The groups from the cache plus the commits after the newest release, or None.

    A cache is written only when every release tag was in HEAD's history and all of them
    are ancestors of the newest one, so "after the newest" is "in no release". The tags
    (the cache's key) and the newest release's ancestry are asked of git while git lists
    the commits after it."""
    if cache is None:
        return None
    try:
        data: Any = marshal.loads((cache / CACHE_FILE).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("newest"), str):
        return None
    newest = data["newest"]
    tags = _Later(git.tags, repo)
    ancestor = _Later(git.is_ancestor, repo, newest, "HEAD")
    try:
        recent = [from_commit(c) for c in git.log(repo, f"{newest}..HEAD")]
    except GitError:
        recent = None  # the newest release's commit is gone
    same_tags, descends = data.get("key") == _key(spec, tags.result()), ancestor.result()
    if recent is None or not same_tags or not descends:
        return None  # other tags, or history rewritten under the releases: walk it again
    released = [(v, t, d, [ChangeEntry(*e) for e in entries])
                for v, t, d, entries in data["groups"]]
    return [(unreleased_as, None, None, recent), *released]


def _save(cache: Path | None, key: str, newest: str, groups: list[Group]) -> None:
    """Write the cache; in a forked child when nothing else runs in this process, so that
    the changelog is rendered meanwhile on the other core (the process waits for the child
    before it exits: nothing is left running)."""
    released = groups[1:]
    if cache is None or not released:
        return
    if hasattr(os, "fork") and threading.active_count() == 1:
        pid = os.fork()
        if pid:
            _WRITING.append(pid)
            atexit.register(_reap, pid)
            return
        try:
            _write(cache, key, newest, released)
        finally:
            os._exit(0)
    _write(cache, key, newest, released)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    with contextlib.suppress(ValueError):
        _WRITING.remove(pid)


def _write(cache: Path, key: str, newest: str, released: list[Group]) -> None:
    secret = masking.active()  # a message may quote a secret: masked (when any is known)
    data = {"key": key, "newest": newest,
            "groups": [(v, t, d, [_masked(tuple(e)) if secret else tuple(e) for e in entries])
                       for v, t, d, entries in released]}
    try:  # it appears whole or not at all
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write(cache / CACHE_FILE, marshal.dumps(data))
    except (OSError, ValueError):
        pass  # a cache that cannot be written only costs time


def _masked(value: Any) -> Any:
    """``value`` (a cached entry) with every string in it masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, tuple | list):
        return type(value)(_masked(v) for v in value)
    return value


def _key(spec: SpecView, tags: list[git.Tag]) -> str:
    """What the cached grouping depends on: the tags, the tag format and the parser."""
    text = "\n".join(f"{t.name} {t.commit} {t.date}" for t in sorted(tags, key=lambda t: t.name))
    parser = f"{__version__} {','.join(ChangeEntry._fields)}"
    tags_read = f"{spec.policy.tag}\n{spec.policy.ignore_tags}\n{spec.policy.scheme}"
    return hashlib.sha256(f"{tags_read}\n{parser}\n{text}".encode()).hexdigest()


def _release_tags_by_commit(spec: SpecView, all_tags: list[git.Tag]) -> Tagged:
    """commit → (tag, version, date) for the tags that match the tag format (the highest
    version wins when a commit has several), lowest version first."""
    from scalpel_plan.content.versioning import release_tags  # here: a cached run needs none

    versions = release_tags(spec, [t.name for t in all_tags])
    found: dict[str, tuple[str, str, str]] = {}
    for tag in sorted((t for t in all_tags if t.name in versions),
                      key=lambda t: versions[t.name]):
        found[tag.commit] = (tag.name, str(versions[tag.name]), tag.date)
    return dict(sorted(found.items(), key=lambda item: versions[item[1][0]]))
