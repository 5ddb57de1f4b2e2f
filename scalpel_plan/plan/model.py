"""The plan as a value: the changes, the release or rollback it makes, the diagnostics, and the
fingerprint of what it was computed from. Its JSON form is documented in docs/plan-format.md."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from scalpel_plan import __version__
from scalpel_plan.providers.base import ACTIONS, Change, Drift, Release
from scalpel_plan.state.model import PackagePart, State, now
from scalpel_plan.workspace import Workspace

PLAN_FORMAT_VERSION = 1


class Fingerprint(BaseModel):
    """What a plan was computed from; any difference at apply time makes it stale."""

    model_config = ConfigDict(frozen=True)

    lineage: str
    serial: int
    spec_sha256: str
    commit: str


class CommitSummary(BaseModel):
    sha: str
    type: str | None
    scope: str | None
    breaking: bool
    description: str
    bump: str | None

    @property
    def title(self) -> str:
        """The commit's first line as Conventional Commits writes it."""
        scope = f"({self.scope})" if self.scope else ""
        return f"{self.type}{scope}{'!' if self.breaking else ''}: {self.description}"


class PackageSummary(BaseModel):
    """One package of a monorepo release: its version, why, its changelog, its nodes."""

    name: str
    version: str | None  # None: the package does not move
    previous: str | None
    tag: str
    reason: str
    paths: list[str] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=list)  # its own nodes' addresses
    commits: list[CommitSummary] = Field(default_factory=list)
    changelog: str | None = None
    notes: str | None = None


class ReleaseSummary(BaseModel):
    project: str
    version: str
    previous: str | None
    tag: str
    commit: str
    reason: str
    commits: list[CommitSummary] = Field(default_factory=list)
    changelog: str | None = None  # the Markdown section, when release.yml has `changelog:`
    notes: str | None = None  # the release notes, when release.yml has `notes:`
    packages: list[PackageSummary] | None = None  # a monorepo's: every package, in order


class PlanDiagnostic(BaseModel):
    severity: Literal["error", "warning"]
    message: str
    address: str | None = None
    hint: str | None = None


class PackageMove(BaseModel):
    """One package a monorepo's rollback of a whole release moves: from its live version to
    the one the point recorded."""

    name: str
    from_version: str | None  # live now (None: not released before the point)
    to_version: str


class RollbackSummary(BaseModel):
    """What a rollback plan goes back from and to."""

    project: str
    from_version: str | None  # what is live now
    to_version: str
    point: str  # the rollback point's name (its tag)
    commit: str  # the point's commit
    by_hand: list[PlanDiagnostic] = Field(default_factory=list)  # what cannot be undone
    package: str | None = None  # a monorepo's: the one package rolled back (versions: its)
    unchanged: list[str] = Field(default_factory=list)  # the other packages, left as they are
    # a monorepo's rollback of a whole release: each package that goes back (those at the
    # point's version already, rolled back since or not moved, are in ``unchanged``)
    packages: list[PackageMove] = Field(default_factory=list)


class Plan(BaseModel):
    """A release plan. Its JSON form is documented in docs/plan-format.md."""

    format_version: int = PLAN_FORMAT_VERSION
    mode: Literal["release", "rollback"] = "release"
    scalpel_version: str = __version__
    created_at: str = Field(default_factory=now)
    fingerprint: Fingerprint
    release: ReleaseSummary | None
    rollback: RollbackSummary | None = None  # mode "rollback": release is None
    nothing_to_release: str | None = None  # why, when release is None
    changes: list[Change]
    drift: list[Drift] = Field(default_factory=list)
    diagnostics: list[PlanDiagnostic] = Field(default_factory=list)
    # Written by plan_json (scalpel_plan.plan.file), checked by load_plan: sha256 of the
    # canonical JSON of the rest of the file, and of each of its parts (to name what changed).
    digests: dict[str, str] = Field(default_factory=dict)
    digest: str | None = None

    @property
    def has_changes(self) -> bool:
        return self.release is not None or self.rollback is not None

    @property
    def steps(self) -> int:
        """How many changes applying carries out."""
        return sum(1 for change in self.changes if change.actionable)

    def does_nothing(self, state: State) -> bool:
        """A release plan with no step to carry out, for a release no earlier apply started:
        applying it would record a release that nothing made (a rollback with nothing to put
        back still records that the point is live again; a release whose steps an earlier,
        interrupted apply did all is finished by recording it)."""
        if self.release is None or self.steps:
            return False
        started = state.release(self.release.version)
        return started is None or not started.unfinished

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def change(self, address: str) -> Change:
        return next(c for c in self.changes if c.address == address)


def step_release(summary: ReleaseSummary | RollbackSummary, workspace: Workspace) -> Release:
    """The Release a plan's steps run for: the planned release, or a rollback's point."""
    if isinstance(summary, RollbackSummary):
        return Release(project=summary.project, version=summary.to_version,
                       previous=summary.from_version, tag=summary.point, commit=summary.commit,
                       repo=workspace.repo, workdir=workspace.workdir)
    return Release(project=summary.project, version=summary.version, previous=summary.previous,
                   tag=summary.tag, commit=summary.commit, repo=workspace.repo,
                   workdir=workspace.workdir,
                   parts=tuple((p.name, p.version, p.changelog) for p in summary.packages or []
                               if p.version),
                   released=tuple((p.name, p.previous) for p in summary.packages or []
                                  if not p.version and p.previous))


def package_parts(summary: ReleaseSummary) -> dict[str, PackagePart]:
    """The packages a monorepo release moves, as the state records them."""
    return {p.name: PackagePart(version=p.version, previous=p.previous, tag=p.tag)
            for p in summary.packages or [] if p.version}


def package_releases(summary: ReleaseSummary, release: Release) -> dict[str, Release]:
    """A monorepo release's package nodes (address → the Release each runs with): its
    package's version, previous version, tag and changelog, on ``release``'s commit."""
    from dataclasses import replace

    found = {}
    for p in summary.packages or []:
        if p.version:
            own = replace(release, project=p.name, version=p.version, previous=p.previous,
                          tag=p.tag, changelog=p.changelog, notes=p.notes, parts=())
            found.update(dict.fromkeys(p.nodes, own))
    return found
