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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scalpel_plan import __version__, git
from scalpel_plan.content.changelog import ChangelogGenerator, ReleaseChanges
from scalpel_plan.content.commits import ChangeEntry, from_commit
from scalpel_plan.content.versioning import release_tags
from scalpel_plan.files import atomic_write
from scalpel_plan.masking import mask
from scalpel_plan.spec.model import Spec

UNRELEASED = "Unreleased"
CACHE_FILE = "history-v2.marshal"  # v2: releases by ancestry (v1 cut them by commit date)
Group = tuple[str, str | None, str | None, list[ChangeEntry]]  # version, tag, date, changes
Tagged = dict[str, tuple[str, str, str]]  # commit → (tag, version, date)


def releases(repo: Path, spec: Spec, generator: ChangelogGenerator, *,
             revisions: str = "HEAD", unreleased_as: str = UNRELEASED,
             cache: Path | None = None,
             left_out: list[str] | None = None) -> list[ReleaseChanges]:
    """The releases in ``revisions`` (newest version first). Each holds the commits reachable
    from its tag and from no lower release tag (``git log PREV..TAG``, git-cliff's
    semantics: a branch merged after a tag goes under the release that merged it); the
    commits reachable from no tag go under ``unreleased_as``. Release tags that are not in
    ``revisions`` (a maintenance branch) are left out; their names are added to
    ``left_out`` when it is given."""
    cacheable = revisions == "HEAD" and cache is not None
    groups = None
    if cacheable and cache is not None and (cache / CACHE_FILE).exists():
        all_tags = git.tags(repo)
        groups = _cached(repo, cache, _key(spec, all_tags), unreleased_as)
    if groups is None:
        with ThreadPoolExecutor(2) as pool:  # tags and the graph read while git walks history
            reading = pool.submit(git.tags, repo)
            shape = pool.submit(git.parents, repo, revisions)
            entries = [(c.sha, from_commit(c)) for c in git.log(repo, revisions)]
            all_tags, graph = reading.result(), shape.result()
        tagged = _release_tags_by_commit(spec, all_tags)
        groups, tip, outside = _group(entries, graph, tagged, unreleased_as)
        if left_out is not None:
            left_out.extend(outside)
        if cacheable and tip is not None and not outside:
            _save(cache, _key(spec, all_tags), tip, groups)
    kept = [g for g in groups if g[1] or g[3]]  # no empty "Unreleased"
    return [generator.release(version, changes, tag=tag, date=date,
                              previous_tag=kept[i + 1][1] if i + 1 < len(kept) else None)
            for i, (version, tag, date, changes) in enumerate(kept)]


def _group(entries: list[tuple[str, ChangeEntry]], graph: dict[str, tuple[str, ...]],
           tagged: Tagged, unreleased_as: str) -> tuple[list[Group], str | None, list[str]]:
    """Commits (in ``entries``' order) under the lowest release tag they are reachable from,
    in one walk: release tags in version order, each claiming its ancestors that no lower
    tag claimed. Returns the groups (newest version first, "Unreleased" on top), the tag
    commit every other release tag descends to (None when there is no single one: the
    cache then cannot read "commits after it"), and the release tags outside the graph."""
    inside = [sha for sha in tagged if sha in graph]  # lowest version first
    outside = [tagged[sha][0] for sha in tagged if sha not in graph]
    owner: dict[str, str] = {}
    for tag_commit in inside:
        stack = [tag_commit]
        while stack:
            sha = stack.pop()
            if sha in owner:
                continue
            owner[sha] = tag_commit
            stack.extend(p for p in graph.get(sha, ()) if p not in owner and p in graph)
    unreleased: Group = (unreleased_as, None, None, [])
    by_tag: dict[str, Group] = {}
    for sha in reversed(inside):
        tag, version, date = tagged[sha]
        by_tag[sha] = (version, tag, date, [])
    for sha, entry in entries:
        group = by_tag.get(owner[sha]) if sha in owner else None
        (group or unreleased)[3].append(entry)
    return [unreleased, *by_tag.values()], _tip(graph, inside), outside


def _tip(graph: dict[str, tuple[str, ...]], inside: list[str]) -> str | None:
    """The highest release's commit when every other release tag is one of its ancestors."""
    if not inside:
        return None
    wanted, seen, stack = set(inside), set(), [inside[-1]]
    while stack:
        sha = stack.pop()
        if sha not in seen:
            seen.add(sha)
            stack.extend(p for p in graph.get(sha, ()) if p not in seen)
    return inside[-1] if wanted <= seen else None


def _cached(repo: Path, cache: Path | None, key: str, unreleased_as: str) -> list[Group] | None:
    """The groups from the cache plus the commits after the newest release, or None.

    A cache is written only when every release tag was in HEAD's history and all of them
    are ancestors of the newest one, so "after the newest" is "in no release"."""
    if cache is None:
        return None
    try:
        data: Any = marshal.loads((cache / CACHE_FILE).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not data.get("newest"):
        return None
    newest = data["newest"]
    if not git.git(repo, "merge-base", "--is-ancestor", "--end-of-options", newest, "HEAD",
                   check=False).ok:
        return None  # history was rewritten under the releases: walk it again
    recent = [from_commit(c) for c in git.log(repo, f"{newest}..HEAD")]
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


def _write(cache: Path, key: str, newest: str, released: list[Group]) -> None:
    data = {"key": key, "newest": newest,  # a commit message may quote a secret: masked
            "groups": [(v, t, d, [_masked(tuple(e)) for e in entries])
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


def _key(spec: Spec, tags: list[git.Tag]) -> str:
    """What the cached grouping depends on: the tags, the tag format and the parser."""
    text = "\n".join(f"{t.name} {t.commit} {t.date}" for t in sorted(tags, key=lambda t: t.name))
    parser = f"{__version__} {','.join(ChangeEntry._fields)}"
    tags_read = f"{spec.policy.tag}\n{spec.policy.ignore_tags}\n{spec.policy.scheme}"
    return hashlib.sha256(f"{tags_read}\n{parser}\n{text}".encode()).hexdigest()


def _release_tags_by_commit(spec: Spec, all_tags: list[git.Tag]) -> Tagged:
    """commit → (tag, version, date) for the tags that match the tag format (the highest
    version wins when a commit has several), lowest version first."""
    versions = release_tags(spec, [t.name for t in all_tags])
    found: dict[str, tuple[str, str, str]] = {}
    for tag in sorted((t for t in all_tags if t.name in versions),
                      key=lambda t: versions[t.name]):
        found[tag.commit] = (tag.name, str(versions[tag.name]), tag.date)
    return dict(sorted(found.items(), key=lambda item: versions[item[1][0]]))
