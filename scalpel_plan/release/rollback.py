"""Rollback and hotfix: the way back, as a plan like any other.

Every successful apply records a ``RollbackPoint`` (version, tag, commit, and every artifact's
recorded attributes: digests, file hashes). ``scalpel rollback --to POINT`` plans, for each
recorded resource, the provider's compensating change (moving docker tags re-pointed to the
point's digests, the point's GitHub release made latest again) plus an announcement by the
notify nodes with ``on: [rollback]``, and lists what cannot be undone with what to do by hand.
It is applied, journaled and resumed like a release, and recorded so that the next plan knows
which release is live.

A hotfix starts a branch at a point's commit (``hotfix start``); a plan there proposes the next
patch version; ``hotfix finish`` releases it and records which release it fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
from scalpel_plan.plan import Fingerprint, Plan, PlanDiagnostic, RollbackSummary
from scalpel_plan.providers.announce import Announcer, Message
from scalpel_plan.providers.base import Change, Node, Release
from scalpel_plan.providers.registry import Registry
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.state.model import HotfixRecord, RollbackPoint, State
from scalpel_plan.workspace import Workspace

__all__ = ["Hotfix", "RollbackManager", "RollbackPoint", "finished", "hotfix_on",
           "make_rollback_plan", "point_release"]

ROLLBACK_SUFFIX = "@rollback"  # the resource address of a node's rollback announcement
HOTFIX_PREFIX = "hotfix/"


def find_point(state: State, ref: str) -> RollbackPoint:
    """The rollback point ``ref`` names (its tag or version), or a ScalpelError listing them."""
    point = state.point(ref)
    if point is None:
        known = ", ".join(p.name for p in state.rollback_points[-10:]) or "none yet"
        raise ScalpelError(f"no rollback point {ref}",
                           hint=f"points (newest last): {known}; `scalpel history` lists all")
    return point


def make_rollback_plan(loaded: LoadedSpec, registry: Registry, state: State,
                       workspace: Workspace, to: str) -> Plan:
    """The plan that takes what is live back to the rollback point ``to``."""
    point = find_point(state, to)
    live = state.live_version()
    if live == point.version:
        raise ScalpelError(f"{point.version} is already the live release",
                           hint="`scalpel history` shows the releases and rollback points")
    release = Release(project=loaded.project_name, version=point.version, previous=live,
                      tag=point.name, commit=point.commit, repo=workspace.repo,
                      workdir=workspace.workdir)
    changes: list[Change] = []
    by_hand: list[PlanDiagnostic] = []
    for address, resource in state.resources.items():
        provider = registry.find(resource.provider)
        if provider is None or not provider.keeps_history or address.endswith(ROLLBACK_SUFFIX):
            continue
        then = point.resources.get(address)
        change = provider.revert(address, then) if then is not None else None
        if change is not None and then != resource.attributes:
            changes.append(change)
        if resource.release != point.version and (note := provider.by_hand(
                address, resource.attributes)):
            by_hand.append(PlanDiagnostic(severity="warning", message=note, address=address))
    changes += _announcements(loaded, registry, state, release, point, live)
    commit = git.head(workspace.repo) or ""
    return Plan(mode="rollback",
                fingerprint=Fingerprint(lineage=state.lineage, serial=state.serial,
                                        spec_sha256=loaded.source.sha256, commit=commit),
                release=None,
                rollback=RollbackSummary(project=loaded.project_name, from_version=live,
                                         to_version=point.version, point=point.name,
                                         commit=point.commit, by_hand=by_hand),
                changes=changes)


def _announcements(loaded: LoadedSpec, registry: Registry, state: State, release: Release,
                   point: RollbackPoint, live: str | None) -> list[Change]:
    """For every notify node with ``on: [rollback]``: the announcement of this rollback (at
    most once, as for releases: a resumed rollback does not announce it again)."""
    found = []
    for address, raw in loaded.spec.notify.items():
        provider = registry.find(address.split(".", 1)[0])
        if not isinstance(provider, Announcer):
            continue
        config = provider.config_model.model_validate(raw)
        if "rollback" not in config.on:
            continue
        message = Message(
            "rollback", f"{release.project} rolled back to {point.version}",
            f"{release.project} {live or '?'} was rolled back; {point.version} "
            f"({point.name}) is live again.",
            [("Live now", point.version), ("Rolled back", live or "-"), ("Tag", point.name),
             ("Commit", point.commit[:12])], [],
            {"event": "rollback", "project": release.project, "from": live,
             "to": point.version, "point": point.name, "commit": point.commit}, "warning")
        marker = f"rollback {live} -> {point.version}"
        desired = {"release": marker, **provider.target(config), "message": message.to_dict()}
        node = Node(f"{address}{ROLLBACK_SUFFIX}", provider.name, address.split(".", 1)[1],
                    "notify", config)
        change = provider.diff(node, desired, state.recorded(node.address), None)
        found.append(change.model_copy(update={
            "reason": change.reason or f"announces the rollback to {point.version}"}))
    return found


def point_release(plan: Plan, workspace: Workspace) -> Release:
    """The Release a rollback plan's steps run for: the point's."""
    summary = plan.rollback
    assert summary is not None
    return Release(project=summary.project, version=summary.to_version,
                   previous=summary.from_version, tag=summary.point, commit=summary.commit,
                   repo=workspace.repo, workdir=workspace.workdir)


@dataclass(frozen=True)
class Hotfix:
    """A hotfix: a branch from a rollback point, released as the next patch version."""

    branch: str
    point: str
    fixes: str
    commit: str
    version: str | None = None

    @classmethod
    def from_record(cls, record: HotfixRecord) -> Hotfix:
        return cls(record.branch, record.point, record.fixes, record.commit, record.version)


class RollbackManager:
    """Rollback points, rollbacks and hotfixes over one project's state (the seed's API)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def points(self) -> list[RollbackPoint]:
        return list(self.state.rollback_points)

    def point(self, ref: str) -> RollbackPoint:
        return find_point(self.state, ref)

    def live(self) -> str | None:
        return self.state.live_version()

    def hotfixes(self) -> list[Hotfix]:
        return [Hotfix.from_record(h) for h in self.state.hotfixes]

    def start_hotfix(self, workspace: Workspace, ref: str) -> Hotfix:
        """Create and check out ``hotfix/<version>`` at the point's commit."""
        point = self.point(ref)
        branch = f"{HOTFIX_PREFIX}{point.version}"
        repo = workspace.repo
        if git.git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}",
                   check=False).ok:
            raise ScalpelError(f"branch {branch} already exists",
                               hint=f"`git switch {branch}`, or delete it first")
        if git.git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip():
            raise ScalpelError("the work tree has uncommitted changes",
                               hint="commit or stash them before starting a hotfix")
        done = git.git(repo, "switch", "-c", branch, point.commit, check=False)
        if not done.ok:
            raise ScalpelError(f"cannot create {branch} at {point.commit[:12]}: "
                               f"{done.stderr.strip()}")
        return Hotfix(branch, point.name, point.version, point.commit)


def hotfix_on(state: State, branch: str | None) -> HotfixRecord | None:
    """The unfinished hotfix whose branch is ``branch``."""
    return next((h for h in reversed(state.hotfixes)
                 if h.branch == branch and h.version is None), None)


def finished(record: HotfixRecord, version: str) -> HotfixRecord:
    from scalpel_plan.state.model import now

    return record.model_copy(update={"version": version, "finished_at": now()})
