"""The next version: from --version, an unfinished release, a fixed version in the spec, or
Conventional Commits since the last release tag, bumped by the spec's scheme (semver, PEP 440
or calver), optionally as a pre-release (--pre rc)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any

from scalpel_plan import git
from scalpel_plan.content import dates
from scalpel_plan.content.commits import ChangeEntry, cancel_reverts, from_commit
from scalpel_plan.content.schemes import SCHEMES, Scheme
from scalpel_plan.content.semver import PARTS
from scalpel_plan.errors import ScalpelError
from scalpel_plan.spec.sections import PackageView

if TYPE_CHECKING:  # types only: the state is read by the caller
    from scalpel_plan.spec.sections import SpecView
    from scalpel_plan.state.model import State

CONTINUES = "continues the unfinished release"  # the reason of a resumed release
LOOKS_LIKE_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?\S*)$")


@dataclass(frozen=True)
class VersionDecision:
    version: str | None  # None: there is nothing to release
    previous: str | None
    previous_tag: str | None
    reason: str
    commits: list[ChangeEntry] = field(default_factory=list)  # those that decided it
    entries: list[ChangeEntry] = field(default_factory=list)  # all since the previous tag
    notes: list[str] = field(default_factory=list)  # things the user likely wants to know
    # a monorepo package's: (package, version) of each package it depends on that moves
    dependencies: tuple[tuple[str, str], ...] = ()


def tag_for(spec: SpecView, version: str) -> str:
    """The tag a new release gets: the first of the tag formats."""
    return spec.policy.tag_formats[0].replace("{version}", version)


def ignored(spec: SpecView, tag: str) -> bool:
    """Whether ``tag`` matches one of version.ignore_tags (glob patterns)."""
    patterns = spec.policy.ignore_tags
    return bool(patterns) and _globs(tuple(patterns)).match(tag) is not None


@functools.lru_cache(maxsize=256)
def _globs(patterns: tuple[str, ...]) -> _Globs:
    return _Globs(patterns)


class _Globs:
    """Glob patterns matched at once: those with one ``*`` (``create-vite@*``, the tags of a
    monorepo's other packages: a hundred of them, tried on thousands of tags) by the tag's
    prefixes looked up, the others as one regex."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.prefixes: dict[str, list[str]] = {}
        others = []
        for p in patterns:
            if p.count("*") == 1 and not set(p) & set("?[]"):
                head, _, tail = p.partition("*")
                self.prefixes.setdefault(head, []).append(tail)
            else:
                others.append(p)
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in others)) \
            if others else None

    def match(self, tag: str) -> bool | None:
        prefixes = self.prefixes
        for i in range(len(tag) + 1):
            tails = prefixes.get(tag[:i])
            if tails and any(tag.endswith(t) and len(tag) - i >= len(t) for t in tails):
                return True
        return True if self.regex is not None and self.regex.match(tag) else None


def release_tags(spec: SpecView, tags: list[str]) -> dict[str, Any]:
    """Tags that match one of the tag formats (and none of version.ignore_tags), with their
    version (in the spec's scheme)."""
    scheme = SCHEMES[spec.policy.scheme]
    patterns = []
    for fmt in spec.policy.tag_formats:
        head, _, tail = fmt.partition("{version}")
        patterns.append(re.compile(rf"^{re.escape(head)}(?P<v>.+){re.escape(tail)}$"))
    found = {}
    for tag in tags:
        if ignored(spec, tag):
            continue
        for pattern in patterns:
            match = pattern.match(tag)
            version = scheme.parse(match["v"]) if match else None
            if version is not None:
                found[tag] = version
                break
    return found


@dataclass(frozen=True)
class TagRef:
    name: str
    kind: str  # what the tag points at, peeled: commit, tree or blob
    date: str  # creator date, ISO
    commit: str = ""  # the commit it points at (peeled)
    object: str = ""  # the tag's own object (an annotated tag's; a lightweight one's commit)


def tag_refs(repo: Path) -> list[TagRef]:
    """Every tag, newest first (by creator date), with the kind of object it points at."""
    fmt = git.FIELD.join(("%(refname:short)", "%(objecttype)", "%(*objecttype)",
                          "%(creatordate:iso-strict)", "%(objectname)", "%(*objectname)"))
    out = git.git(repo, "for-each-ref", "--sort=-creatordate", f"--format={fmt}",
                  "refs/tags").stdout
    found = []
    for line in out.splitlines():
        name, kind, peeled, date, oid, target = [*line.split(git.FIELD), *[""] * 6][:6]
        found.append(TagRef(name, peeled or kind, date, target or oid, oid))
    return found


def check_tag_kinds(spec: SpecView, refs: list[TagRef]) -> None:
    """An error for a release tag (one that matches the tag format) that is not a commit."""
    bad = [r for r in refs if r.kind != "commit"]
    for ref in bad:
        if release_tags(spec, [ref.name]):
            raise ScalpelError(
                f"tag {ref.name} points at a {ref.kind}, not a commit: it cannot mark a release",
                hint=f"delete it (git tag -d {ref.name}, and on the remote git push origin "
                f":refs/tags/{ref.name}) and tag the release commit again, or add it to "
                "version.ignore_tags in release.yml")


PRE_LABEL = re.compile(r"[A-Za-z][0-9A-Za-z-]*")  # one identifier: rc, beta, dev, pre-alpha


class HistoryRead:
    """What deciding a version reads of the repository: its tags (newest first), those HEAD
    contains, and the commits since a tag. This one asks git each time; a monorepo's reads
    (``content.packages``) answer every package from one read of the history."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._refs: list[TagRef] | None = None
        self._reachable: set[str] | None = None

    @property
    def refs(self) -> list[TagRef]:
        if self._refs is None:
            self._refs = tag_refs(self.repo)
        return self._refs

    @property
    def reachable(self) -> set[str]:
        if self._reachable is None:
            self._reachable = set(git.tags_merged(self.repo))
        return self._reachable

    def commits_since(self, since: str | None) -> list[git.Commit]:
        return git.commits_since(self.repo, since)

    def is_release_commit(self, commit: git.Commit) -> bool:
        """A commit that is a release commit whatever release.yml's message says (a
        monorepo's, which names several packages): none here."""
        return False


def decide(repo: Path, spec: SpecView, state: State, override: str | None = None, *,
           pre: str | None = None, today: dt.date | None = None,
           read: HistoryRead | None = None) -> VersionDecision:
    scheme = SCHEMES[spec.policy.scheme]
    if pre is not None and not PRE_LABEL.fullmatch(pre):
        raise ScalpelError(f"--pre {pre!r} is not a pre-release label",
                           hint="a word of letters, digits and '-' that starts with a letter, "
                           "e.g. --pre rc or --pre beta (the number is added: rc.1, rc.2, ...)")
    read = read or HistoryRead(repo)
    refs = read.refs
    check_tag_kinds(spec, refs)
    reachable = read.reachable
    merged = [r.name for r in refs if r.name in reachable]  # newest first
    tags = release_tags(spec, merged)
    finals = {t: v for t, v in tags.items() if not scheme.is_pre(v)}
    previous_tag = max(finals, key=finals.__getitem__) if finals else None
    previous = str(finals[previous_tag]) if previous_tag else None
    notes = _hidden_tags(spec, scheme, merged, tags, finals.get(previous_tag or ""))
    pending = _pending_pre(scheme, tags, finals.get(previous_tag or ""))
    recorded = release_commits(spec, state, {str(v) for v in tags.values()})

    def skip(commit: git.Commit) -> bool:
        return read.is_release_commit(commit) or recorded(commit)

    def entries(since: str | None) -> list[ChangeEntry]:
        return cancel_reverts([from_commit(c) for c in read.commits_since(since)
                               if not skip(c)])

    since = previous_tag  # where the release's commits start
    last = state.last_released()
    if previous_tag is None and last is not None and git.has_commit(repo, last.commit):
        previous, since = last.version, last.commit  # released without a tag: the state knows
    if override:
        if scheme.parse(override) is None:
            raise ScalpelError(f"--version {override} is not a {scheme.name} version",
                               hint=f"for example --version {scheme.example}")
        return VersionDecision(override, previous, previous_tag, "set with --version",
                               entries=entries(since), notes=notes)
    current = state.current_release()
    if current and current.unfinished:
        since = _tag_of(tags, current.previous)
        return VersionDecision(current.version, current.previous, since,
                               f"{CONTINUES} {current.version} "
                               f"({current.status.replace('_', ' ')})",
                               entries=entries(since), notes=notes)
    if spec.fixed_version:
        fixed = spec.fixed_version
        if scheme.parse(fixed) is None:
            raise ScalpelError(f"version: {fixed} in release.yml is not a {scheme.name} version",
                               hint=f"for example {scheme.example}, or set version.scheme")
        done = state.release(fixed)
        if (done and done.released) or _tag_of(tags, fixed):
            return VersionDecision(None, previous, previous_tag, f"{fixed} is already released")
        return VersionDecision(fixed, previous, previous_tag, "fixed in release.yml",
                               entries=entries(since), notes=notes)
    commits = entries(since)
    if pending is not None and spec.policy.scheme != "calver":
        decision = _after_pre(commits, spec, scheme, previous, previous_tag, pending)
    else:
        decision = _from_commits(commits, spec, scheme, previous, previous_tag, today)
    if decision.version and pre:
        if pending is not None and not entries(pending[0]):
            return VersionDecision(None, previous, previous_tag,
                                   f"no commits since {pending[0]}", notes=notes)
        decision = _as_pre_release(decision, scheme, tags, pre, spec.policy.pre_start)
    return VersionDecision(**{**decision.__dict__, "notes": notes})


def _tag_of(tags: dict[str, Any], version: str | None) -> str | None:
    """The release tag of ``version`` (in any of the tag formats), or None."""
    return next((t for t, v in tags.items() if version and str(v) == version), None)


def _pending_pre(scheme: Scheme, tags: dict[str, Any], final: Any) -> tuple[str, Any] | None:
    """The newest pre-release tag above the last final release (2.0.0-beta.70 after 1.9.0, or
    with no final release yet), as (tag, version): the base of the next release."""
    pres = [(t, v) for t, v in tags.items() if scheme.is_pre(v) and (final is None or v > final)]
    return max(pres, key=lambda tv: tv[1]) if pres else None


def _after_pre(commits: list[ChangeEntry], spec: SpecView, scheme: Scheme, previous: str | None,
               previous_tag: str | None, pending: tuple[str, Any]) -> VersionDecision:
    """The release after the pre-release ``pending``: its version (2.0.0 after 2.0.0-beta.70),
    unless the commits since the last final release bump more than it does (a breaking change
    after 1.3.0-rc.1 gives 2.0.0), as npm and semantic-release count."""
    tag, version = pending
    deciding = [c for c in commits if bump_for(c, spec)]
    part = max((bump_for(c, spec) or "patch" for c in deciding), key=PARTS.index,
               default="patch")
    target = scheme.base(version)
    major, minor, patch = _parts(target)
    level = "major" if minor == patch == 0 else "minor" if patch == 0 else "patch"
    if part == "major" and major == 0 and spec.policy.zero_major_breaking == "minor":
        part = "minor"
    if PARTS.index(part) > PARTS.index(level):
        target = scheme.bump(target, part, dates.today())
    since = previous_tag or previous or "the first commit"
    return VersionDecision(str(target), previous, previous_tag,
                           f"release of the pre-release {tag} ({part} bump: {len(deciding)} of "
                           f"{_count(commits, 'commit')} since {since} decide it)",
                           deciding, commits)


def _parts(version: Any) -> tuple[int, int, int]:
    """major, minor, patch of a semver or PEP 440 version."""
    if hasattr(version, "release"):
        major, minor, patch = [*version.release, 0, 0][:3]
        return major, minor, patch
    return version.major, version.minor, version.patch


def _from_commits(commits: list[ChangeEntry], spec: SpecView, scheme: Scheme, previous: str | None,
                  previous_tag: str | None, today: dt.date | None) -> VersionDecision:
    last = previous_tag or previous
    if not commits:
        why = f"no commits since {last}" if last else "no commits"
        return VersionDecision(None, previous, previous_tag, why)
    deciding = [c for c in commits if bump_for(c, spec)]
    today = today or dates.today()
    if previous is None:
        initial = spec.policy.initial
        if spec.policy.scheme == "calver":
            initial = str(scheme.bump(scheme.parse("1970.01.0"), "patch", today))
        return VersionDecision(initial, None, None,
                               f"first release ({_count(commits, 'commit')}, no release tag yet)",
                               deciding, commits)
    if not deciding:
        return VersionDecision(None, previous, previous_tag,
                               f"no releasable commits since {last} "
                               f"({_count(commits, 'commit')}, none of them "
                               f"{', '.join(spec.policy.bumps)} or breaking)",
                               entries=commits)
    part = max((bump_for(c, spec) or "patch" for c in deciding), key=PARTS.index)
    base = scheme.parse(previous)
    if part == "major" and _major(base) == 0 and spec.policy.zero_major_breaking == "minor":
        part = "minor"
    version = str(scheme.bump(base, part, today))
    return VersionDecision(version, previous, previous_tag,
                           f"{part} bump: {len(deciding)} of {_count(commits, 'commit')} since "
                           f"{last} decide it", deciding, commits)


def bump_for(entry: ChangeEntry, spec: SpecView) -> str | None:
    """The part ``entry`` bumps: "major" for a breaking change, else as version.bumps says."""
    if entry.breaking:
        return "major"
    return spec.policy.bumps.get(entry.type or "")


def _as_pre_release(decision: VersionDecision, scheme: Scheme, tags: dict[str, Any],
                    label: str, start: int | None = None) -> VersionDecision:
    """The next ``label`` pre-release of the decided version: rc.1, then rc.2, ...; a new
    series starts at ``start`` (version.pre_start), else where the repository's own series of
    ``label`` start (rc.0 when one started at 0), else at 1."""
    target = scheme.parse(decision.version or "")
    numbers: dict[Any, list[int]] = {}
    for v in tags.values():
        if (n := scheme.pre_number(v, label)) is not None:
            numbers.setdefault(scheme.base(v), []).append(n)
    if target in numbers:
        number = max(numbers[target]) + 1
    elif start is not None:
        number = start
    else:
        number = 0 if any(min(ns) == 0 for ns in numbers.values()) else 1
    made = scheme.pre(target, label, number)
    if made is None or scheme.parse(str(made)) != made:
        raise ScalpelError(f"--pre {label} makes no {scheme.name} version of {target}",
                           hint=f"a {scheme.name} pre-release label, e.g. --pre "
                           f"{'rc' if scheme.name != 'calver' else 'dev'}")
    version = str(made)
    return VersionDecision(version, decision.previous, decision.previous_tag,
                           f"{decision.reason}; pre-release {label}", decision.commits,
                           decision.entries)


def _major(version: Any) -> int:
    return int(getattr(version, "major", 1))


def _hidden_tags(spec: SpecView, scheme: Scheme, merged: list[str], tags: dict[str, Any],
                 previous: Any) -> list[str]:
    """Tags that look like newer releases but do not match the tag format: likely meant."""
    hidden = []
    for tag in merged:
        if tag in tags or ignored(spec, tag):
            continue
        match = LOOKS_LIKE_VERSION.search(tag)
        version = scheme.parse(match[1]) if match else None
        if version is not None and (previous is None or version > previous):
            hidden.append(tag)
    if isinstance(spec, PackageView):  # a monorepo: only the tags that name this package
        hidden = [t for t in hidden if spec.name in re.split(r"[^A-Za-z0-9_.]+|(?<=\D)\.",
                                                             _format_of(t))]
    if not hidden:
        return []
    shown = ", ".join(hidden[:5]) + (" ..." if len(hidden) > 5 else "")  # newest first
    formats = spec.policy.tag_formats
    spelt = repr(formats[0]) if len(formats) == 1 else repr(formats)
    styles = list(dict.fromkeys(_format_of(t) for t in hidden))  # newest first
    globs = [s.replace("{version}", "*") for s in styles if s.replace("{version}", "").strip("vV")]
    plural = "s" * (len(formats) > 1)
    newer = "though newer than the last release" if previous is not None else \
        "and no release is tagged in it yet"
    ignore = f"list them in version.ignore_tags (ignore_tags: {(globs or hidden[:1])[:3]!r})"
    if isinstance(spec, PackageView):  # a monorepo: another package's, most likely
        return [f"ignored tag{'s' * (len(hidden) > 1)} {shown}: not in its "
                f"tag format{plural} {spelt}, {newer}; if they are another package's, declare "
                f"it under packages: (its tags are then its own), or {ignore}; if they are "
                f"{spec.name}'s, give it their format (packages.{spec.name}.tag)"]
    return [f"ignored tag{'s' * (len(hidden) > 1)} {shown}: not in the tag format{plural} "
            f"{spelt}, {newer}; if they are releases, add their format to version.tag as a "
            f"list (tag: {[*formats, styles[0]]!r}); if they are not (another package's "
            f"tags), {ignore}"]


def _format_of(tag: str) -> str:
    """The tag format ``tag`` is spelt in: the version in it replaced by {version}."""
    match = LOOKS_LIKE_VERSION.search(tag)
    return tag[:match.start(1)] + "{version}" if match else tag


def release_commits(spec: SpecView, state: State,
                    versions: set[str]) -> Callable[[git.Commit], bool]:
    """Whether a commit is a release commit, never a change of a release: the commit the state
    records as ``git.commit``'s, or one whose subject is the spec's release commit message for a
    version released or started (in the state, or tagged: ``versions``)."""
    recorded = state.recorded("git.commit") or {}
    made = recorded.get("sha")
    known = versions | {r.version for r in state.releases}
    pattern = _message_pattern(spec.policy.commit_message)

    def skip(commit: git.Commit) -> bool:
        if made and commit.sha == made:
            return True
        match = pattern.fullmatch(commit.subject.strip()) if pattern else None
        if match is None:
            return False
        version = match.groupdict().get("version")
        return version is None or version in known
    return skip


def _message_pattern(template: str) -> re.Pattern[str] | None:
    """The release commit message template's subject line as a pattern: {version} captured,
    the other fields ({project}, {tag}, ...) any text."""
    subject = template.strip().splitlines()[0] if template.strip() else ""
    parts = []
    try:
        for literal, name, _, _ in Formatter().parse(subject):
            parts.append(re.escape(literal))
            if name == "version":
                parts.append("(?P=version)" if "(?P<version>" in "".join(parts)
                             else r"(?P<version>\S+)")
            elif name is not None:
                parts.append(".*?")
    except ValueError:  # a bad template: the plan says so where it fills it
        return None
    return re.compile("".join(parts)) if subject else None


def _count(items: list[ChangeEntry], noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"
