"""git.commit: the release commit that bumps the version files and adds the changelog section.

Scalpel makes this node itself from `version.files` and `changelog:` (it cannot be declared);
the release tag then points at the commit it makes (known after apply). Re-applied after a
crash, a release commit already at HEAD is adopted, not made again.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from scalpel_plan import git
from scalpel_plan.content import version_files
from scalpel_plan.content.changelog import write_section
from scalpel_plan.errors import ProviderError
from scalpel_plan.providers.base import (
    RELEASE_COMMIT,
    Attributes,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
)
from scalpel_plan.spec.model import NodeConfig

ADDRESS = RELEASE_COMMIT
DETACHED = "(detached)"  # the branch a plan on a detached HEAD shows


class GitCommitConfig(NodeConfig):
    files: list[dict[str, Any]] = Field(default_factory=list)  # [{path, pattern}]
    message: str = "chore(release): {version}"
    changelog_file: str | None = None
    changelog_marker: str = ""


class GitCommitProvider(Provider):
    name = "git_commit"
    config_model: ClassVar[type[GitCommitConfig]] = GitCommitConfig
    declarable = False

    def desired(self, node: Node, release: Release) -> Attributes:
        return _desired(node, release)

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes:
        return {"head_subject": git.git(release.repo, "log", "-1", "--format=%s").stdout.strip()}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        if done := self.done_for_release(node, desired, recorded):
            return done
        if (observed or {}).get("head_subject") == desired["message"]:
            return self.change(node, "adopt", after=desired, unknown=["sha"],
                               reason="HEAD is already this release's commit")
        return self.change(node, "create", after=desired, unknown=["sha"])

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        return _apply(change, ctx)


def _desired(node: Node, release: Release) -> Attributes:
    config = node.config
    assert isinstance(config, GitCommitConfig)
    edits = {}
    for rule in config.files:
        planned = version_files.plan_edits(release.repo, rule["path"], rule.get("pattern"),
                                           release.version)
        if planned:
            edits[rule["path"]] = [asdict(e) for e in planned]
    after: Attributes = {"kind": "commit", "release": release.version,
                         "message": fill(config.message, release, where=f"{ADDRESS}.message"),
                         "branch": _branch(release), "files": edits}
    if config.changelog_file and release.changelog:
        after["changelog"] = {"file": config.changelog_file, "marker": config.changelog_marker,
                              "section": release.changelog}
    return after


def _apply(change: Change, ctx: StepContext) -> Attributes:
    after, repo = change.after, ctx.release.repo
    head = git.git(repo, "log", "-1", "--format=%H%x1f%s").stdout.strip().split("\x1f")
    if head[1:] != [after["message"]]:  # not made yet by an earlier, interrupted apply
        paths = list(after["files"])
        for path, edits in after["files"].items():
            version_files.apply_edits(repo, path, [version_files.Edit(**e) for e in edits])
        if after.get("changelog"):
            paths.append(_write_changelog(repo, after["changelog"]))
        if not paths:
            raise ProviderError(f"{ADDRESS}: nothing to commit")
        git.git(repo, "add", "--", *paths)
        git.git(repo, "commit", "--quiet", "--no-verify", "-m", after["message"], "--", *paths)
        head = git.git(repo, "log", "-1", "--format=%H").stdout.split()
    return {"kind": "commit", "release": after["release"], "sha": head[0],
            "branch": after["branch"], "message": after["message"], "files": sorted(after["files"])}


def _write_changelog(repo: Path, changelog: dict[str, str]) -> str:
    """Add the release's section to the changelog file (unless an earlier, interrupted apply
    did); the path to commit."""
    write_section(repo / changelog["file"], changelog["section"], changelog["marker"])
    return changelog["file"]


def _branch(release: Release) -> str:
    """The branch the release commit goes on. On a detached HEAD (a pull request's merge
    commit) the plan is for review only: it shows the pull request's base branch, or
    "(detached)"; pre-flight refuses to apply it (see ``scalpel_plan.plan.preflight``)."""
    return git.current_branch(release.repo) or os.environ.get("GITHUB_BASE_REF") or DETACHED
