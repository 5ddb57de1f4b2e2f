"""git.commit: the release commit that bumps the version files and adds the changelog section.

Scalpel makes this node itself from `version.files` and `changelog:` (it cannot be declared);
the release tag then points at the commit it makes (known after apply). Re-applied after a
crash, a release commit already at HEAD is adopted, not made again. Edits are planned against
the files as HEAD has them, so an apply stopped between editing and committing resumes with
every file; when nothing differs from HEAD, no commit is made and the tag goes on HEAD. A
recorded release commit that HEAD no longer contains (rebased, reset) is made again.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from scalpel_plan import git
from scalpel_plan.content import version_files
from scalpel_plan.content.changelog import section_of, write_section
from scalpel_plan.errors import ProviderError
from scalpel_plan.files import inside
from scalpel_plan.masking import mask
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
    # a monorepo: each package's changelog file, [{package, file}]; a file rule with a
    # `package` spells that package's version
    changelogs: list[dict[str, str]] = Field(default_factory=list)


class GitCommitProvider(Provider):
    name = "git_commit"
    spec_bound = ("kind", "message", "files", "changelog", "changelogs")
    config_model: ClassVar[type[GitCommitConfig]] = GitCommitConfig
    declarable = False

    def desired(self, node: Node, release: Release) -> Attributes:
        return _desired(node, release)

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes:
        head, subject = git.git(release.repo, "log", "-1", "--format=%H%x1f%s").stdout.strip() \
            .split("\x1f", 1)
        observed: Attributes = {"head": head, "head_subject": subject}
        if recorded and recorded.get("sha"):
            observed["recorded_on_head"] = on_head(release, recorded)
        if desired and subject == desired["message"]:
            observed["head_current"] = _changelog_current(release, desired)
            observed["head_pushed"] = git.on_a_remote(release.repo, head)
        return observed

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        seen = observed or {}
        if seen.get("recorded_on_head", True) and (
                done := self.done_for_release(node, desired, recorded)):
            return done
        if seen.get("head_subject") == desired["message"] and not desired["files"]:
            if seen.get("head_current", True):
                return self.change(node, "adopt", after=desired, unknown=["sha"],
                                   reason="HEAD is already this release's commit")
            if not seen.get("head_pushed"):  # left behind by a rebase, its changelog stale
                return self.change(
                    node, "replace", after={**desired, "replaces": seen["head"]},
                    unknown=["sha"], reason=f"HEAD {str(seen['head'])[:12]} is this release's "
                    "commit as it was before a rebase, its changelog out of date; it was never "
                    "pushed, and is made again")
        reason = ""
        if recorded and recorded.get("release") == desired["release"]:
            reason = (f"the release commit {str(recorded.get('sha'))[:12]} made before is not "
                      "on HEAD any more (never pushed); it is made again on top of HEAD")
        elif not desired["files"] and not desired.get("changelog") and \
                not desired.get("changelogs"):
            reason = "nothing differs from HEAD: no commit is made, the tag goes on HEAD"
        return self.change(node, "create", after=desired, unknown=["sha"], reason=reason)

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        return _apply(change, ctx)


def _desired(node: Node, release: Release) -> Attributes:
    config = node.config
    assert isinstance(config, GitCommitConfig)
    edits: dict[str, list[dict[str, Any]]] = {}
    versions = {name: version for name, version, _ in release.parts}
    released = dict(release.released)
    for rule in config.files:  # against HEAD's files: what the release commit must change
        version = versions.get(rule["package"]) if rule.get("package") else release.version
        if not version and rule.get("range_of") in versions:  # a dependent that moves: its
            version = released.get(rule["package"])  # range of one released before it
        if not version:
            continue  # a package this release does not move
        version_files.pattern_for(rule["path"], rule.get("pattern"))  # a broken one first
        committed = git.show_file(release.repo, "HEAD", rule["path"])
        if committed is None:  # never read from the disk: the plan shows committed text only
            raise ProviderError(f"{ADDRESS}: version file {rule['path']} is not in HEAD",
                                hint=f"commit it first (git add {rule['path']}): the release "
                                "commit bumps files git has, never an untracked or ignored one")
        planned = version_files.plan_edits(release.repo, rule["path"], rule.get("pattern"),
                                           version, text=committed)
        if planned:  # (two rules may edit one file: its version, a dependency's range)
            edits.setdefault(rule["path"], []).extend(asdict(e) for e in planned)
    after: Attributes = {"kind": "commit", "release": release.version,
                         "message": fill(config.message, release, where=f"{ADDRESS}.message"),
                         "branch": _branch(release), "files": edits}
    if config.changelog_file and release.changelog:
        after["changelog"] = {"file": config.changelog_file, "marker": config.changelog_marker,
                              "section": release.changelog}
    sections = {name: section for name, _, section in release.parts if section}
    changelogs = {c["file"]: {"marker": config.changelog_marker,
                              "section": sections[c["package"]]}
                  for c in config.changelogs if c["package"] in sections}
    if changelogs:
        after["changelogs"] = changelogs
    return after


def _apply(change: Change, ctx: StepContext) -> Attributes:
    """Make every file say what the release wants (each compared with its desired content, so
    a resume after a kill between editing and committing misses none), then commit what
    differs from HEAD; nothing differing, HEAD is the commit (an earlier apply's release
    commit, or no release commit at all)."""
    after, repo = change.after, ctx.release.repo
    removed = git.clear_stale_locks(repo)  # a kill during an earlier commit left them
    for note in removed:
        ctx.announce(ADDRESS, note)
    paths = list(after["files"])
    if after.get("replaces") and git.head(repo) == after["replaces"] and \
            not git.on_a_remote(repo, after["replaces"]):
        paths += git.git(repo, "diff", "--name-only", "HEAD~1", "HEAD", "--").stdout.split("\n")
        git.git(repo, "reset", "--quiet", "--soft", "HEAD~1")  # its changes stay staged
        paths = sorted({p for p in paths if p})
    for path, edits in after["files"].items():
        version_files.apply_edits(repo, path, [version_files.Edit(**e) for e in edits])
    for changelog in [after["changelog"]] if after.get("changelog") else []:
        paths.append(_write_changelog(repo, changelog))
    for file, changelog in after.get("changelogs", {}).items():  # a monorepo's: a package each
        paths.append(_write_changelog(repo, {**changelog, "file": file}))
    changed = [p for p in paths if _differs_from_head(repo, p)]
    if changed:
        git.git(repo, "add", "--", *changed)
        git.git(repo, "commit", "--quiet", "--no-verify", "-m", after["message"], "--",
                *changed)
    sha, subject = git.git(repo, "log", "-1", "--format=%H%x1f%s").stdout.strip().split("\x1f")
    recorded = {"kind": "commit", "release": after["release"], "sha": sha,
                "branch": after["branch"], "message": after["message"],
                "files": sorted(after["files"]), "made": subject == after["message"]}
    return {**recorded, "removed_locks": removed} if removed else recorded


def _differs_from_head(repo: Path, path: str) -> bool:
    """Whether the work tree's ``path`` is not what HEAD has (a new file differs)."""
    if git.show_file(repo, "HEAD", path) is None:
        return (repo / path).exists()
    return not git.git(repo, "diff", "--quiet", "HEAD", "--", path, check=False).ok


def on_head(release: Release, recorded: Attributes) -> bool:
    """Whether the release commit ``recorded`` is HEAD or one of its ancestors (False once a
    rebase or a reset left it behind: it is then on no branch and never to be tagged)."""
    return git.is_ancestor(release.repo, str(recorded.get("sha")), "HEAD")


def _write_changelog(repo: Path, changelog: dict[str, str]) -> str:
    """Add the release's section to the changelog file (unless an earlier, interrupted apply
    did); the path to commit."""
    write_section(inside(repo, changelog["file"], what="changelog file"), changelog["section"],
                  changelog["marker"], replace=True)
    return changelog["file"]


def _changelog_current(release: Release, desired: Attributes) -> bool:
    """Whether HEAD's changelogs have the release's sections as the plan makes them now."""
    changelogs = [desired["changelog"]] if desired.get("changelog") else []
    changelogs += [{**c, "file": f} for f, c in desired.get("changelogs", {}).items()]
    for changelog in changelogs:
        text = git.show_file(release.repo, "HEAD", changelog["file"]) or ""
        section = mask(changelog["section"])
        heading = section.split("\n", 1)[0]
        if not (heading in text and section_of(text, heading) == section.rstrip("\n")):
            return False
    return True


def _branch(release: Release) -> str:
    """The branch the release commit goes on. On a detached HEAD (a pull request's merge
    commit) the plan is for review only: it shows the branch it was planned for (`--branch`,
    the pull request's base), or "(detached)"; pre-flight refuses to apply it (see
    ``scalpel_plan.plan.preflight``)."""
    return git.current_branch(release.repo) or release.base or DETACHED
