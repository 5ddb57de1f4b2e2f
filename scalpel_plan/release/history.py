"""A repository's history as releases: commits read from git, grouped by release tag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scalpel_plan import git
from scalpel_plan.release.changelog import ChangelogGenerator, ReleaseChanges
from scalpel_plan.release.commits import ChangeEntry, from_commit
from scalpel_plan.release.versioning import release_tags
from scalpel_plan.spec.model import Spec

UNRELEASED = "Unreleased"


def releases(repo: Path, spec: Spec, generator: ChangelogGenerator, *,
             revisions: str = "HEAD", unreleased_as: str = UNRELEASED) -> list[ReleaseChanges]:
    """The releases in ``revisions`` (newest first): commits grouped under the release tag
    that first contains them; those after the last tag under ``unreleased_as``."""
    with ThreadPoolExecutor(1) as pool:  # read the tags while git walks the history
        tagging = pool.submit(_release_tags_by_commit, repo, spec)
        entries = [(c.sha, from_commit(c)) for c in git.log(repo, revisions)]
        tagged = tagging.result()
    Group = tuple[str, str | None, str | None, list[ChangeEntry]]  # version, tag, date, changes
    groups: list[Group] = [(unreleased_as, None, None, [])]
    for sha, entry in entries:
        if sha in tagged:
            tag, version, date = tagged[sha]
            groups.append((version, tag, date, []))
        groups[-1][3].append(entry)
    kept = [g for g in groups if g[1] or g[3]]  # no empty "Unreleased"
    return [generator.release(version, changes, tag=tag, date=date,
                              previous_tag=kept[i + 1][1] if i + 1 < len(kept) else None)
            for i, (version, tag, date, changes) in enumerate(kept)]


def _release_tags_by_commit(repo: Path, spec: Spec) -> dict[str, tuple[str, str, str]]:
    """commit → (tag, version, date) for the tags that match the tag format (the highest
    version wins when a commit has several)."""
    all_tags = git.tags(repo)
    versions = release_tags(spec, [t.name for t in all_tags])
    found: dict[str, tuple[str, str, str]] = {}
    for tag in sorted((t for t in all_tags if t.name in versions),
                      key=lambda t: versions[t.name]):
        found[tag.commit] = (tag.name, str(versions[tag.name]), tag.date)
    return found
