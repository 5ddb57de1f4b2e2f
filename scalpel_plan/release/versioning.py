"""The next version: from --version, an unfinished release, a fixed version in the spec, or
Conventional Commits since the last release tag (a semver bump)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
from scalpel_plan.release.commits import ChangeEntry, cancel_reverts, from_commit
from scalpel_plan.release.semver import PARTS, SemVer
from scalpel_plan.spec.model import Spec
from scalpel_plan.state.model import State

BUMP_ORDER = PARTS


@dataclass(frozen=True)
class VersionDecision:
    version: str | None  # None: there is nothing to release
    previous: str | None
    previous_tag: str | None
    reason: str
    commits: list[ChangeEntry] = field(default_factory=list)  # those that decided it
    entries: list[ChangeEntry] = field(default_factory=list)  # all since the previous tag


def tag_for(spec: Spec, version: str) -> str:
    return spec.policy.tag.replace("{version}", version)


def release_tags(spec: Spec, tags: list[str]) -> dict[str, SemVer]:
    """Tags that match the tag format, with their version."""
    head, _, tail = spec.policy.tag.partition("{version}")
    pattern = re.compile(rf"^{re.escape(head)}(?P<v>.+){re.escape(tail)}$")
    found = {}
    for tag in tags:
        match = pattern.match(tag)
        version = SemVer.parse(match["v"]) if match else None
        if version:
            found[tag] = version
    return found


def decide(repo: Path, spec: Spec, state: State, override: str | None = None) -> VersionDecision:
    tags = release_tags(spec, git.tags_merged(repo))
    previous_tag = max(tags, key=tags.__getitem__) if tags else None
    previous = str(tags[previous_tag]) if previous_tag else None
    if override:
        if SemVer.parse(override) is None:
            raise ScalpelError(f"--version {override} is not a semantic version",
                               hint="for example --version 1.4.0 or --version 2.0.0-rc.1")
        return VersionDecision(override, previous, previous_tag, "set with --version",
                               entries=_entries(repo, previous_tag))
    current = state.current_release()
    if current and current.unfinished:
        since = tag_for(spec, current.previous) if current.previous else None
        since = since if since in tags else None
        return VersionDecision(current.version, current.previous, since,
                               f"continues the unfinished release {current.version} "
                               f"({current.status.replace('_', ' ')})",
                               entries=_entries(repo, since))
    if spec.fixed_version:
        fixed = spec.fixed_version
        done = state.release(fixed)
        if (done and done.status == "succeeded") or tag_for(spec, fixed) in tags:
            return VersionDecision(None, previous, previous_tag, f"{fixed} is already released")
        return VersionDecision(fixed, previous, previous_tag, "fixed in release.yml",
                               entries=_entries(repo, previous_tag))
    return _from_commits(repo, spec, previous, previous_tag)


def _from_commits(repo: Path, spec: Spec, previous: str | None,
                  previous_tag: str | None) -> VersionDecision:
    commits = _entries(repo, previous_tag)
    if not commits:
        why = f"no commits since {previous_tag}" if previous_tag else "no commits"
        return VersionDecision(None, previous, previous_tag, why)
    deciding = [c for c in commits if c.bump]
    if previous is None:
        initial = spec.policy.initial
        return VersionDecision(initial, None, None,
                               f"first release ({_count(commits, 'commit')}, no release tag yet)",
                               deciding, commits)
    if not deciding:
        return VersionDecision(None, previous, previous_tag,
                               f"no releasable commits since {previous_tag} "
                               f"({_count(commits, 'commit')}, none a feat, fix, perf or breaking)")
    part = max((c.bump for c in deciding if c.bump), key=BUMP_ORDER.index)
    base = SemVer.parse(previous)
    assert base is not None  # it came from a matching tag
    if part == "major" and base.major == 0 and spec.policy.zero_major_breaking == "minor":
        part = "minor"
    version = str(base.bump(part))
    return VersionDecision(version, previous, previous_tag,
                           f"{part} bump: {len(deciding)} of {_count(commits, 'commit')} since "
                           f"{previous_tag} decide it", deciding, commits)


def _entries(repo: Path, since: str | None) -> list[ChangeEntry]:
    """The changes since ``since`` (a tag), reverted pairs cancelled out."""
    return cancel_reverts([from_commit(c) for c in git.commits_since(repo, since)])


def _count(items: list[ChangeEntry], noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"
