"""git: the release's annotated tag, pushed atomically to a remote (with the release commit,
when there is one: see ``git_commit``).

A release tag never moves: a tag that already exists at another commit is an error. One that
already exists at the release's commit (an earlier, interrupted apply) is adopted. ``moving``
tags (stable, latest) do move: to each release, and back to a rollback point's commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from scalpel_plan import git
from scalpel_plan.errors import ProviderError
from scalpel_plan.providers.base import (
    RELEASE_COMMIT_BRANCH,
    Attributes,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
    is_reference,
    local_tags_key,
    remote_branch_key,
    remote_tags_key,
)
from scalpel_plan.spec.model import NodeConfig


class GitTagConfig(NodeConfig):
    templates = ("message",)
    git_names = ("push", "moving")
    push: str | None = Field(None, description="The remote to push the tag to, e.g. origin")
    message: str = Field("Release {version}", description="The annotated tag's message; a "
                         "package's tag's is \"Release {project} {version}\" by default "
                         "({project}: the package)")
    moving: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]] = Field(
        default_factory=list, description="Lightweight tags moved to each release (stable, "
        "latest), force-pushed; a rollback moves them back")


PACKAGE_MESSAGE = "Release {project} {version}"  # a package's tag, by default: it names it


def tag_message(node: Node, config: GitTagConfig) -> str:
    """The tag's message template: as release.yml says, else "Release {version}", and for a
    package's tag "Release {project} {version}" (Release cli 3.1.0)."""
    if node.package is None or "message" in config.model_fields_set:
        return config.message
    return PACKAGE_MESSAGE


class GitProvider(Provider):
    name = "git"
    spec_bound = ("tag", "remote", "message", "moving")
    publishes = True
    config_model: ClassVar[type[GitTagConfig]] = GitTagConfig

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, GitTagConfig)
        after: Attributes = {
            "tag": release.tag, "commit": release.tagged, "remote": config.push,
            "message": fill(tag_message(node, config), release,
                        where=f"{node.address}.message")}
        if config.moving:
            after["moving"] = sorted(config.moving)
        if release.tag_commit and config.push:  # on a release commit (to make, or made)
            after["branch"] = RELEASE_COMMIT_BRANCH  # it goes up with the tag, every time
        return after

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes:
        """Where the desired tag and the recorded tag point, locally and on their remote."""
        observed: Attributes = {}
        for prefix, attrs in (("", desired), ("recorded_", recorded)):
            if not attrs or not attrs.get("tag"):
                continue
            tag, remote = attrs["tag"], attrs.get("remote")
            observed[prefix + "local"] = git.tag_commit(release.repo, tag)
            if remote:
                tags = self._remote_tags(node, release, remote, live)
                observed[prefix + "remote"] = tags.get(tag)
        local = observed.get("local")
        if local and desired and desired.get("remote") and observed.get("remote") is None \
                and _stray(release.repo, local):
            observed["local_stray"] = True
        if desired and not desired.get("branch") and desired.get("remote") and \
                observed.get("remote") is None:
            observed.update(self._head_on_branch(release, desired, live))
        return observed

    def read_past(self, node: Node, release: Release, live: LiveCache) -> Attributes | None:
        """The release tag as this repository has it (the moving tags a rollback to it puts
        back on its commit)."""
        config = node.config
        assert isinstance(config, GitTagConfig)
        known = live.get(local_tags_key(release.repo), lambda: None)
        if known is not None:
            commit, oid = known.get(release.tag, (None, None))
        else:
            commit = git.tag_commit(release.repo, release.tag)
            oid = git.ref_oid(release.repo, f"refs/tags/{release.tag}") if commit else None
        if commit is None:
            return None
        recorded: Attributes = {
            "tag": release.tag, "commit": commit, "remote": config.push,
            "message": fill(tag_message(node, config), release,
                        where=f"{node.address}.message"),
            "object": oid}
        if config.moving:
            recorded["moving"] = sorted(config.moving)
        return recorded

    def confirm(self, change: Change, release: Release) -> None:
        """Before the push: the tag was not pushed elsewhere since the plan."""
        after = change.after
        tag, commit, remote = after.get("tag"), after.get("commit"), after.get("remote")
        if change.action == "update" or not remote or not tag:
            return
        there = git.remote_tags(release.repo, remote).get(tag)
        if there is not None and not is_reference(commit) and there != commit:
            raise ProviderError(f"{change.address}: tag {tag} appeared on {remote} at "
                                f"{there[:12]} since the plan; nothing was pushed or uploaded",
                                hint="someone else released this version: `git fetch --tags`, "
                                "then `scalpel plan` proposes the next one")

    def _head_on_branch(self, release: Release, desired: Attributes,
                        live: LiveCache) -> Attributes:
        """A tag on HEAD (no release commit) goes up with the branch when the branch on the
        remote does not contain HEAD yet: a tag is never on a commit no branch has there."""
        branch, remote, commit = git.current_branch(release.repo), desired["remote"], \
            desired["commit"]
        if branch is None:
            return {}
        there = live.get(remote_branch_key(remote, branch),
                         lambda: git.remote_branch(release.repo, remote, branch))
        if there == commit:
            return {}
        if there is not None and not git.has_commit(release.repo, there):
            git.git(release.repo, "fetch", "--quiet", "--", remote, f"refs/heads/{branch}",
                    check=False)  # to tell whether it contains HEAD
        if there is not None and git.is_ancestor(release.repo, commit, there):
            return {}
        if there is None or git.is_ancestor(release.repo, there, commit):
            return {"push_branch": branch}
        return {}  # diverged: pre-flight warns in plan and refuses the apply

    def _remote_tags(self, node: Node, release: Release, remote: str,
                     live: LiveCache) -> dict[str, str]:
        if remote not in live.get(("git-remotes",), lambda: git.remotes(release.repo)):
            raise ProviderError(f"{node.address}: the repository has no remote '{remote}'",
                                hint=f"add it with `git remote add {remote} URL` or change `push:`")
        tags: dict[str, str] = live.get(remote_tags_key(remote),
                                        lambda: git.remote_tags(release.repo, remote))
        return tags

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        seen = observed or {}
        tag, commit, remote = desired["tag"], desired["commit"], desired["remote"]
        unknown = ["object", "commit"] if is_reference(commit) else ["object"]
        stray = seen.get("local_stray") and seen.get("local") != commit
        for where, found in (("locally", seen.get("local")), (f"on {remote}", seen.get("remote"))):
            if found and found != commit and not (stray and where == "locally"):
                at = "the release commit it makes" if is_reference(commit) else commit[:12]
                raise ProviderError(
                    f"{node.address}: tag {tag} already exists {where} at {found[:12]}, "
                    f"but this release is at {at}; a release tag never moves",
                    hint="release another version with --version, or delete the stray tag")
        done_remotely = seen.get("remote") == commit if remote else seen.get("local") == commit
        if recorded and recorded.get("tag") == tag and done_remotely:
            return self.change(node, "no-op", before=recorded, after=recorded)
        if seen.get("push_branch") and not done_remotely:
            branch = seen["push_branch"]
            return self.change(node, "create", after={**desired, "branch": branch},
                               unknown=unknown, reason=f"{commit[:12]} is not on {remote}'s "
                               f"{branch} yet: the branch goes up with the tag, in one push")
        if done_remotely:
            return self.change(node, "adopt", after=desired, unknown=["object"],
                               reason=f"{tag} already exists at {commit[:12]}; "
                                      "it will be recorded, not created again")
        reason = "exists locally; will be pushed" if seen.get("local") else ""
        if stray:
            reason = (f"the local tag {tag} at {seen['local'][:12]} was never pushed and is on "
                      "no branch (a release commit left behind by a rebase): it is made again")
        return self.change(node, "create", after=desired, unknown=unknown, reason=reason)

    def drift(self, node: Node, recorded: Attributes, observed: Attributes | None) -> str | None:
        seen = observed or {}
        tag, commit, remote = recorded.get("tag"), recorded.get("commit"), recorded.get("remote")
        key = "recorded_remote" if remote else "recorded_local"
        where = f"on {remote}" if remote else "locally"
        if key not in seen or seen[key] == commit:
            return None
        now = f"points at {seen[key][:12]}" if seen[key] else "is gone"
        return f"tag {tag} {where} {now}; it was recorded at {str(commit)[:12]}"

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        repo = ctx.release.repo
        after = change.after
        tag, commit, remote = after["tag"], after["commit"], after["remote"]
        removed = git.clear_stale_locks(repo)  # a kill during an earlier tag left them
        for note in removed:
            ctx.announce(change.address, note)
        if change.action == "update":  # a rollback: only the moving tags go back
            there = git.remote_tags(repo, remote, ctx.timeout) if remote else {}
            left = [t for t in after["moving"] if git.tag_commit(repo, t) != commit
                    or (remote and there.get(t) != commit)]  # (a resumed one: those not yet)
            if left:
                git.move_tags(repo, left, commit, remote, ctx.timeout)
            return dict(after)
        local = git.tag_commit(repo, tag)
        if local is not None and local != commit and remote and _stray(repo, local) and \
                git.remote_tags(repo, remote, ctx.timeout).get(tag) is None:
            git.git(repo, "tag", "--delete", "--", tag)  # never pushed, on no branch: made again
            local = None
        if local is None:
            git.create_tag(repo, tag, commit, after["message"])
        elif local != commit:
            raise ProviderError(f"{change.address}: tag {tag} exists locally at {local[:12]}, "
                                f"not at {commit[:12]}; refusing to move it")
        if remote:
            on_remote = git.remote_tags(repo, remote, ctx.timeout).get(tag)  # adopt what landed
            if on_remote is None:
                git.push_tag(repo, remote, tag, ctx.timeout, branch=after.get("branch"),
                             commit=commit)
            elif on_remote != commit:
                raise ProviderError(f"{change.address}: tag {tag} exists on {remote} at "
                                    f"{on_remote[:12]}; refusing to move it")
            elif after.get("branch"):
                _branch_contains(repo, remote, after["branch"], commit, ctx.timeout)
        git.move_tags(repo, after.get("moving", []), commit, remote, ctx.timeout)
        obj = git.git(repo, "rev-parse", "--verify", "--end-of-options",
                      f"refs/tags/{tag}").stdout.strip()
        recorded = {"tag": tag, "commit": commit, "remote": remote,
                    "message": after["message"], "object": obj}
        if after.get("moving"):
            recorded["moving"] = after["moving"]
        return {**recorded, "removed_locks": removed} if removed else recorded

    def revert(self, address: str, recorded: Attributes) -> Change | None:
        """The moving tags go back to the point's commit (its release tag never moved)."""
        if not recorded.get("moving"):
            return None
        return Change(address=address, provider=self.name, action="update", before={},
                      after=dict(recorded), reason=f"moves {', '.join(recorded['moving'])} "
                      f"back to {recorded['tag']} ({str(recorded['commit'])[:12]})")

    def by_hand(self, address: str, current: Attributes) -> str | None:
        return (f"tag {current.get('tag')} stays: a release tag never moves, and the next "
                "release takes a new version")


def _branch_contains(repo: Path, remote: str, branch: str, commit: str,
                     timeout: float | None) -> None:
    """An adopted tag's commit must be on the release branch there too: push the branch
    (a fast-forward) when it is behind; one that moved elsewhere is an error."""
    there = git.remote_branch(repo, remote, branch, timeout)
    if there is not None and not git.has_commit(repo, there):
        git.git(repo, "fetch", "--quiet", "--", remote, f"refs/heads/{branch}", timeout=timeout,
                check=False)  # to tell whether it contains the commit
    if there is not None and (there == commit or git.is_ancestor(repo, commit, there)):
        return
    if there is not None and not git.is_ancestor(repo, there, commit):
        raise git.remote_moved(remote, branch)
    git.git(repo, "push", "--porcelain", "--", remote, f"{commit}:refs/heads/{branch}",
            timeout=timeout)


def _stray(repo: Path, commit: str) -> bool:
    """Whether no local branch contains ``commit`` (a release commit a rebase left behind)."""
    return not git.git(repo, "for-each-ref", f"--contains={commit}", "--format=%(refname)",
                       "refs/heads").stdout.strip()
