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
CACHE_FILE = "history-v1.marshal"
Group = tuple[str, str | None, str | None, list[ChangeEntry]]  # version, tag, date, changes


def releases(repo: Path, spec: Spec, generator: ChangelogGenerator, *,
             revisions: str = "HEAD", unreleased_as: str = UNRELEASED,
             cache: Path | None = None) -> list[ReleaseChanges]:
    """The releases in ``revisions`` (newest first): commits grouped under the release tag
    that first contains them; those after the last tag under ``unreleased_as``."""
    cacheable = revisions == "HEAD" and cache is not None
    groups = None
    if cacheable and cache is not None and (cache / CACHE_FILE).exists():
        all_tags = git.tags(repo)
        groups = _cached(repo, cache, _key(spec, all_tags), unreleased_as)
    if groups is None:
        with ThreadPoolExecutor(1) as pool:  # read the tags while git walks the history
            reading = pool.submit(git.tags, repo)
            entries = [(c.sha, from_commit(c)) for c in git.log(repo, revisions)]
            all_tags = reading.result()
        tagged = _release_tags_by_commit(spec, all_tags)
        groups = _group(entries, tagged, unreleased_as)
        if cacheable:
            _save(cache, _key(spec, all_tags), tagged, groups)
    kept = [g for g in groups if g[1] or g[3]]  # no empty "Unreleased"
    return [generator.release(version, changes, tag=tag, date=date,
                              previous_tag=kept[i + 1][1] if i + 1 < len(kept) else None)
            for i, (version, tag, date, changes) in enumerate(kept)]


def _group(entries: list[tuple[str, ChangeEntry]], tagged: dict[str, tuple[str, str, str]],
           unreleased_as: str) -> list[Group]:
    """Commits (newest first) under the release tag that first contains them."""
    groups: list[Group] = [(unreleased_as, None, None, [])]
    for sha, entry in entries:
        if sha in tagged:
            tag, version, date = tagged[sha]
            groups.append((version, tag, date, []))
        groups[-1][3].append(entry)
    return groups


def _cached(repo: Path, cache: Path | None, key: str, unreleased_as: str) -> list[Group] | None:
    """The groups from the cache plus the commits after the newest release, or None."""
    if cache is None:
        return None
    try:
        data: Any = marshal.loads((cache / CACHE_FILE).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not data.get("newest"):
        return None
    newest = data["newest"]
    if not git.git(repo, "merge-base", "--is-ancestor", newest, "HEAD", check=False).ok:
        return None  # history was rewritten under the releases: walk it again
    recent = [from_commit(c) for c in git.log(repo, f"{newest}..HEAD")]
    released = [(v, t, d, [ChangeEntry(*e) for e in entries])
                for v, t, d, entries in data["groups"]]
    return [(unreleased_as, None, None, recent), *released]


def _save(cache: Path | None, key: str, tagged: dict[str, tuple[str, str, str]],
          groups: list[Group]) -> None:
    """Write the cache; in a forked child when nothing else runs in this process, so that
    the changelog is rendered meanwhile on the other core (the process waits for the child
    before it exits: nothing is left running)."""
    released = groups[1:]
    if cache is None or not released:
        return
    newest = next(sha for sha, (tag, _, _) in tagged.items() if tag == released[0][1])
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


def _release_tags_by_commit(spec: Spec,
                            all_tags: list[git.Tag]) -> dict[str, tuple[str, str, str]]:
    """commit → (tag, version, date) for the tags that match the tag format (the highest
    version wins when a commit has several)."""
    versions = release_tags(spec, [t.name for t in all_tags])
    found: dict[str, tuple[str, str, str]] = {}
    for tag in sorted((t for t in all_tags if t.name in versions),
                      key=lambda t: versions[t.name]):
        found[tag.commit] = (tag.name, str(versions[tag.name]), tag.date)
    return found
