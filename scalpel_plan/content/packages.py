"""A monorepo's history, read once for every package: which commits belong to which package.

A commit belongs to a package when it touches one of the package's paths (a rename counts
for both sides; a merge, by the paths its branch brought in), when its Conventional Commit
scope is one of the package's ``scopes``, or when it touches ``paths_shared``. The whole
history is one ``git log --name-status`` (never one git process per package); each
package's release range (the commits since its last tag) is then found by ancestry in that
read, as ``git log TAG..HEAD`` would find it.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan import git
from scalpel_plan.content.commits import HEADER
from scalpel_plan.content.versioning import HistoryRead, TagRef, _message_pattern

if TYPE_CHECKING:
    from scalpel_plan.spec.sections import PackageView

GLOB = re.compile(r"[*?\[]")
SHARED = "\0shared"  # what a file under paths_shared belongs to: every package


def path_matcher(paths: Iterable[str]) -> PathMatcher:
    return PathMatcher(tuple(paths))


@dataclass(frozen=True)
class PathMatcher:
    """Whether a file is under one of ``paths``: a folder (``packages/a``: every file in it),
    a file, or a glob pattern (``packages/*/pyproject.toml``)."""

    paths: tuple[str, ...]
    _folders: tuple[str, ...] = field(init=False, repr=False)
    _globs: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        plain = [p.strip("/") for p in self.paths if not GLOB.search(p)]
        object.__setattr__(self, "_folders", tuple(p for p in plain if p and p != "."))
        object.__setattr__(self, "_globs", tuple(p for p in self.paths if GLOB.search(p)))
        if any(p in ("", ".") for p in plain):  # the whole repository
            object.__setattr__(self, "_folders", ("",))

    def __call__(self, file: str) -> bool:
        for folder in self._folders:
            if not folder or file == folder or file.startswith(folder + "/"):
                return True
        return any(fnmatch.fnmatchcase(file, g) or fnmatch.fnmatchcase(file, g + "/*")
                   for g in self._globs)


class Attribution:
    """The packages a commit belongs to: those whose paths it touches, those its scope
    names (``scopes:``), or all of them when it touches ``paths_shared``."""

    def __init__(self, packages: dict[str, PackageView], shared: Sequence[str] = ()) -> None:
        self.everyone = frozenset(packages)
        globbed = [p for p in shared if GLOB.search(p)]
        self.shared_globs = path_matcher(globbed) if globbed else None
        # a file's folders (and itself) looked up, not every package's paths tried in turn
        self.folders: dict[str, set[str]] = {}
        self.globs: dict[str, PathMatcher] = {}
        self.scopes: dict[str, set[str]] = {}
        for name, view in packages.items():
            for path in view.paths:
                if GLOB.search(path):
                    self.globs[name] = path_matcher([*self.globs.get(
                        name, PathMatcher(())).paths, path])
                else:
                    folder = path.strip("/")
                    self.folders.setdefault("" if folder == "." else folder, set()).add(name)
            for scope in view.scopes:
                self.scopes.setdefault(scope, set()).add(name)
        for path in shared:  # a shared folder marks the commit as everyone's
            if not GLOB.search(path):
                folder = path.strip("/")
                self.folders.setdefault("" if folder == "." else folder, set()).add(SHARED)

    def owners(self, commit: git.Commit, files: Sequence[str]) -> frozenset[str]:
        owners: set[str] = set()
        folders = self.folders
        for file in files:
            owners |= folders.get("", set())
            at = file.find("/")
            while at != -1:
                if (found := folders.get(file[:at])) is not None:
                    owners |= found
                at = file.find("/", at + 1)
            if (found := folders.get(file)) is not None:
                owners |= found
        if SHARED in owners or (self.shared_globs is not None and
                                any(map(self.shared_globs, files))):
            return self.everyone
        for name, match in self.globs.items():
            if name not in owners and any(map(match, files)):
                owners.add(name)
        if self.scopes and (header := HEADER.match(commit.subject)) and header["scope"]:
            for scope in header["scope"].split(","):
                owners |= self.scopes.get(scope.strip(), set())
        return frozenset(owners)


def belongs_to(packages: dict[str, PackageView], package: str, shared: Sequence[str] = (),
               commit_message: str = "") -> Callable[[git.Commit, tuple[str, ...]], bool]:
    """Whether a commit (with the paths it changed) is one of ``package``'s, release commits
    of the monorepo left out."""
    attribution = Attribution(packages, shared)
    release = _message_pattern(commit_message) if commit_message else None

    def belongs(commit: git.Commit, files: tuple[str, ...]) -> bool:
        if release is not None and release.fullmatch(commit.subject.strip()):
            return False
        return package in attribution.owners(commit, files)
    return belongs


def tag_owner(packages: dict[str, PackageView]) -> Callable[[str], str]:
    """The package whose tag format a tag matches ("": none). A tag's prefixes are looked
    up, not every package's formats tried in turn: a hundred packages' thousands of tags."""
    prefixes: dict[str, list[tuple[str, str]]] = {}
    for name, view in packages.items():
        for fmt in view.policy.tag_formats:
            head, _, tail = fmt.partition("{version}")
            prefixes.setdefault(head, []).append((tail, name))

    def owner(tag: str) -> str:
        for at in range(len(tag), -1, -1):  # the longest prefix first
            tails = prefixes.get(tag[:at])
            if tails:
                found = next((n for t, n in tails if tag.endswith(t) and
                              len(tag) - at > len(t)), "")
                if found:
                    return found
        return ""

    return owner


class MonorepoHistory:
    """HEAD's whole history with the packages each commit belongs to, from one read.

    ``read(package)`` is the ``HistoryRead`` deciding that package's version uses: the tags
    are read once for all packages, and the commits since a tag are found by ancestry."""

    def __init__(self, repo: Path, packages: dict[str, PackageView],
                 shared: Sequence[str] = (), commit_message: str = "") -> None:
        self.repo = repo
        self.packages = packages
        self.tags = HistoryRead(repo)  # tags and what HEAD contains: read once, shared
        self.order: list[git.Commit] = []
        self.parents: dict[str, tuple[str, ...]] = {}
        self.owners: dict[str, frozenset[str]] = {}
        self._release = _message_pattern(commit_message) if commit_message else None
        self.by_package: dict[str, list[git.Commit]] = {name: [] for name in packages}
        self._index: dict[str, int] | None = None  # commit → its place, parents first
        self._masks: dict[str, int] = {}  # tag commit → its ancestors, as bits of _index
        self._tag_commits: dict[str, str] | None = None
        self._own_refs: dict[str, list[tuple[int, TagRef]]] | None = None
        attribution = Attribution(packages, shared)
        for commit, files in git.log_files(repo, "HEAD"):  # the one read of the history
            self.order.append(commit)
            self.parents[commit.sha] = commit.parents
            owners = self.owners[commit.sha] = attribution.owners(commit, files)
            for name in owners:
                self.by_package[name].append(commit)

    def read(self, package: str, hide: frozenset[str] = frozenset()) -> PackageRead:
        """``package``'s reads; the tags of ``hide`` are not seen (the tags an unfinished
        release already made: it continues from the tags before them)."""
        return PackageRead(self, package, hide)

    def refs_of(self, package: str) -> list[TagRef]:
        """The tags (newest first) but those of the other packages: each package's version
        is decided from its own tags (and warned of tags that belong to no package), never
        from a hundred other packages' thousands. Partitioned once, for all packages."""
        if self._own_refs is None:
            self._own_refs = self._partition()
        own, unowned = self._own_refs.get(package, []), self._own_refs.get("", [])
        return [ref for _, ref in heapq.merge(own, unowned, key=lambda pair: pair[0])]

    def _partition(self) -> dict[str, list[tuple[int, TagRef]]]:
        """The tags by the package whose tag format they match ("": none), with their
        place among all tags."""
        found: dict[str, list[tuple[int, TagRef]]] = {}
        owner = tag_owner(self.packages)
        for i, ref in enumerate(self.tags.refs):
            found.setdefault(owner(ref.name), []).append((i, ref))
        return found

    def commits_of(self, package: str, since: str | None) -> list[git.Commit]:
        """The package's commits on HEAD after ``since`` (a tag or a commit; None: all of
        them), newest first, as ``git log since..HEAD`` lists them."""
        commits = self.by_package.get(package, [])
        if not since:
            return list(commits)
        mask, index = self.ancestors(since), self._index or {}
        bits = mask.to_bytes((mask.bit_length() + 7) // 8 or 1, "little")  # one test each
        size = len(bits) * 8
        return [c for c in commits if (i := index[c.sha]) >= size
                or not bits[i >> 3] >> (i & 7) & 1]

    def ancestors(self, revision: str) -> int:
        """``revision`` and every commit it descends from (within HEAD's history), as the
        bits of their places. The first call finds them for every tag in one walk of the
        history, parents first (each commit's ancestors: itself and its parents'); the
        masks of other commits are let go as soon as their last child has its own."""
        if self._tag_commits is None:  # every tag's commit, read once for all packages
            self._tag_commits = {t.name: t.commit for t in git.tags(self.repo)}
        sha = revision if revision in self.parents else self._tag_commits.get(revision, revision)
        if self._index is None:
            self._walk(set(self._tag_commits.values()))
        if sha not in self._masks:
            self._walk({sha})
        return self._masks.get(sha, 0)

    def contains(self, revision: str, other: str) -> bool:
        """Whether ``other`` (a tag or a commit) is ``revision`` or one of its ancestors."""
        mask = self.ancestors(revision)
        tags = self._tag_commits or {}
        at = (self._index or {}).get(other if other in self.parents else tags.get(other, other))
        return at is not None and bool(mask >> at & 1)

    def _walk(self, wanted: set[str]) -> None:
        parents = self.parents
        children = dict.fromkeys(parents, 0)
        for sha in parents:
            for p in parents[sha]:
                if p in children:
                    children[p] += 1
        if self._index is None:  # parents first: Kahn's order from HEAD, reversed
            ready = [sha for sha, n in children.items() if n == 0]
            left = dict(children)
            order = []
            while ready:
                sha = ready.pop()
                order.append(sha)
                for p in parents[sha]:
                    if p in left:
                        left[p] -= 1
                        if left[p] == 0:
                            ready.append(p)
            order.reverse()
            self._index = {sha: i for i, sha in enumerate(order)}
        index = self._index
        masks: dict[str, int] = {}
        for sha in sorted(index, key=index.__getitem__):
            mask = 1 << index[sha]
            for p in parents[sha]:
                if p in masks:
                    mask |= masks[p]
                    children[p] -= 1
                    if children[p] == 0 and p not in wanted:
                        del masks[p]
            masks[sha] = mask
        self._masks.update((sha, m) for sha, m in masks.items() if sha in wanted)

    def is_release_commit(self, commit: git.Commit) -> bool:
        """A release commit of the monorepo: its subject is the release commit message, for
        any version (it names the packages it releases)."""
        return bool(self._release and self._release.fullmatch(commit.subject.strip()))


class PackageRead(HistoryRead):
    """One package's view of a MonorepoHistory, for ``versioning.decide``."""

    def __init__(self, history: MonorepoHistory, package: str,
                 hide: frozenset[str] = frozenset()) -> None:
        super().__init__(history.repo)
        self.history, self.package, self.hide = history, package, hide

    @property
    def refs(self) -> list[TagRef]:
        refs = self.history.refs_of(self.package)
        return [r for r in refs if r.name not in self.hide] if self.hide else refs

    @property
    def reachable(self) -> set[str]:
        return self.history.tags.reachable

    def commits_since(self, since: str | None) -> list[git.Commit]:
        return self.history.commits_of(self.package, since)

    def is_release_commit(self, commit: git.Commit) -> bool:
        return self.history.is_release_commit(commit)

