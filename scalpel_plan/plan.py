"""plan: the graph, the recorded state and what is live, diffed into a Plan (a value).

Nothing changes here: providers only read. The Plan carries a fingerprint of what it was
computed from, so a saved plan is refused once the state, the spec or the commit moved.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalpel_plan import __version__, git
from scalpel_plan.errors import Diagnostic, ScalpelError, StalePlanError
from scalpel_plan.graph import Graph
from scalpel_plan.providers.base import ACTIONS, Change, Drift, LiveCache, Release
from scalpel_plan.providers.registry import Registry
from scalpel_plan.release.secrets import SecretsManager
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.state.model import State, now
from scalpel_plan.workspace import Workspace

if TYPE_CHECKING:  # make_plan imports it: applying a saved plan never needs it
    from scalpel_plan.release import versioning

PLAN_FORMAT_VERSION = 1
READ_WORKERS = 8


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


class PlanDiagnostic(BaseModel):
    severity: Literal["error", "warning"]
    message: str
    address: str | None = None
    hint: str | None = None


class RollbackSummary(BaseModel):
    """What a rollback plan goes back from and to."""

    project: str
    from_version: str | None  # what is live now
    to_version: str
    point: str  # the rollback point's name (its tag)
    commit: str  # the point's commit
    by_hand: list[PlanDiagnostic] = Field(default_factory=list)  # what cannot be undone


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

    @property
    def has_changes(self) -> bool:
        return self.release is not None or self.rollback is not None

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def change(self, address: str) -> Change:
        return next(c for c in self.changes if c.address == address)


def make_plan(loaded: LoadedSpec, graph: Graph, registry: Registry, state: State,
              workspace: Workspace, *, version: str | None = None,
              pre: str | None = None, secrets: SecretsManager | None = None,
              allow_missing_secrets: bool = False) -> Plan:
    from scalpel_plan.release import versioning

    secrets = secrets or SecretsManager(loaded.spec.secrets)
    commit = git.head(workspace.repo)
    if commit is None:
        raise ScalpelError(f"{workspace.repo} has no commits yet",
                           hint="commit something first: a release is cut from a commit")
    decision = versioning.decide(workspace.repo, loaded.spec, state, version, pre=pre)
    fingerprint = Fingerprint(lineage=state.lineage, serial=state.serial,
                              spec_sha256=loaded.source.sha256, commit=commit)
    release = Release(project=loaded.project_name, version=decision.version or "",
                      previous=decision.previous,
                      tag=versioning.tag_for(loaded.spec, decision.version or ""),
                      commit=commit, repo=workspace.repo, workdir=workspace.workdir)
    content = _content(loaded, decision, release) if decision.version else {}
    release = replace(release, tag_commit=_tag_commit(graph, state, release),
                      changelog=content.get("changelog"), notes=content.get("notes"))
    release = replace(release, links=tuple(
        link for address in graph.order if graph.nodes[address].section == "publish"
        for link in registry.get(graph.nodes[address].provider).links(graph.nodes[address],
                                                                       release)))
    secret_problems, secret_warnings = _check_secrets(loaded, secrets, allow_missing_secrets)
    changes, drift, problems = _diff_nodes(graph, registry, state, release,
                                           planned=decision.version is not None,
                                           secrets=secrets)
    problems = secret_problems + problems  # every problem at once, before anything is applied
    if problems:
        raise ScalpelError("the plan cannot be made", diagnostics=problems)
    summary = None
    if decision.version:
        summary = ReleaseSummary(
            project=release.project, version=release.version, previous=release.previous,
            tag=release.tag, commit=commit, reason=decision.reason,
            commits=[CommitSummary(sha=c.sha, type=c.type, scope=c.scope, breaking=c.breaking,
                                   description=c.description,
                                   bump=versioning.bump_for(c, loaded.spec))
                     for c in decision.commits],
            **content)
    notes = [PlanDiagnostic(severity="warning", message=n) for n in decision.notes]
    notes += [PlanDiagnostic(severity="warning", message=d.message, address=d.address,
                             hint=d.hint) for d in secret_warnings]
    notes += [PlanDiagnostic(severity="warning", message=f"{c.address}: {c.warning}",
                             address=c.address) for c in changes if c.warning]
    return Plan(fingerprint=fingerprint, release=summary, changes=changes, drift=drift,
                nothing_to_release=None if summary else decision.reason, diagnostics=notes)


def _tag_commit(graph: Graph, state: State, release: Release) -> str:
    """What the release tag points at: HEAD, or the release commit (made at apply, or already
    made by an interrupted apply of this release)."""
    from scalpel_plan.providers.git_commit import ADDRESS, SHA_REF

    if ADDRESS not in graph.nodes:
        return release.commit
    recorded = state.recorded(ADDRESS)
    if recorded and recorded.get("release") == release.version:
        return str(recorded["sha"])
    return SHA_REF


def _content(loaded: LoadedSpec, decision: versioning.VersionDecision,
             release: Release) -> dict[str, str]:
    """The changelog section and notes the release publishes, as release.yml asks for them."""
    spec = loaded.spec
    if spec.changelog is None and spec.notes is None:
        return {}
    from scalpel_plan.release.changelog import ChangelogGenerator
    from scalpel_plan.release.content import release_changes, release_notes

    generator = ChangelogGenerator(spec.changelog)
    changes = release_changes(spec, decision, generator)
    content = {}
    if spec.changelog is not None:
        content["changelog"] = generator.markdown_section(changes)
    if spec.notes is not None:
        content["notes"] = release_notes(spec, loaded.root, changes, release.project,
                                         release.previous)
    return content


def _check_secrets(loaded: LoadedSpec, secrets: SecretsManager, allow_missing: bool = False
                   ) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(errors, warnings) for every declared secret, where it is declared in release.yml. With
    ``allow_missing`` (a pull request from a fork gets no secrets), a missing one is only a
    warning; one that is set but invalid or expired is still an error."""
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for status in secrets.statuses():
        if status.status == "set":
            continue
        where = loaded.source.diagnostic(status.detail, ["secrets", status.name], key=True)
        hint = {"missing": f"export {status.env}=... (values come from the environment only)",
                "invalid": f"check the value of ${status.env}",
                "expired": f"renew it and update `expires` under secrets.{status.name}",
                "expiring": f"renew it before then and update `expires` under "
                            f"secrets.{status.name}"}[status.status]
        tolerated = status.ok or (allow_missing and status.status == "missing")
        diagnostic = Diagnostic(f"secret {status.name}: {status.detail}", where.file,
                                where.line, where.col, f"secrets.{status.name}", hint,
                                "warning" if tolerated else "error")
        (warnings if tolerated else errors).append(diagnostic)
    return errors, warnings


def _diff_nodes(graph: Graph, registry: Registry, state: State, release: Release, *,
                planned: bool, secrets: SecretsManager
                ) -> tuple[list[Change], list[Drift], list[Diagnostic]]:
    """One Change per node (reads run in parallel), the drift found, and every problem."""
    live = LiveCache(secrets)

    def one(address: str) -> tuple[Change, str | None]:
        node = graph.nodes[address]
        provider = registry.get(node.provider)
        recorded = state.recorded(address)
        desired = provider.desired(node, release) if planned else None
        observed = provider.read(node, release, desired, recorded, live)
        drifted = provider.drift(node, recorded, observed) if recorded else None
        if desired is None:
            change = provider.change(node, "no-op", before=recorded or {}, after=recorded or {})
        else:
            change = provider.diff(node, desired, recorded, observed)
        if change.actionable:
            provider.preflight(change, graph.upstream(address))
        return change.model_copy(update={"needs": graph.needs(address)}), drifted

    changes: list[Change] = []
    drift: list[Drift] = []
    problems: list[Diagnostic] = []
    with ThreadPoolExecutor(READ_WORKERS) as pool:
        futures = [(a, pool.submit(one, a)) for a in graph.order]
        for address, future in futures:
            try:
                change, drifted = future.result()
            except ScalpelError as exc:
                problems.append(Diagnostic(exc.message, address=address, hint=exc.hint))
                continue
            changes.append(change)
            if drifted:
                drift.append(Drift(address=address, message=drifted))
    return changes, drift, problems


def stale_reasons(plan: Plan, state: State, spec_sha256: str, commit: str | None) -> list[str]:
    """Why a saved plan no longer applies (empty when it still does)."""
    fp = plan.fingerprint
    reasons = []
    if fp.lineage and fp.lineage != state.lineage:
        reasons.append(f"it was made for another state (lineage {fp.lineage}, "
                       f"now {state.lineage or 'none'})")
    elif fp.serial != state.serial or fp.lineage != state.lineage:
        reasons.append(f"the state changed since (serial {fp.serial} then, {state.serial} now)")
    if fp.spec_sha256 != spec_sha256:
        reasons.append("release.yml changed since")
    if fp.commit != commit:
        reasons.append(f"HEAD moved since ({fp.commit[:12]} then, {(commit or 'none')[:12]} now)")
    return reasons


def check_fresh(plan: Plan, state: State, spec_sha256: str, commit: str | None) -> None:
    reasons = stale_reasons(plan, state, spec_sha256, commit)
    if reasons:
        raise StalePlanError("the saved plan is stale: " + "; ".join(reasons),
                             hint="make a new one with `scalpel plan --out plan.json`")


def load_plan(path: Path) -> Plan:
    try:
        data: Any = path.read_text()
    except OSError as exc:
        raise ScalpelError(f"cannot read plan {path}: {exc.strerror}") from None
    try:
        plan = Plan.model_validate_json(data)
    except ValueError as exc:
        raise ScalpelError(f"{path} is not a Scalpel plan: {str(exc).splitlines()[0]}",
                           hint="plans are written by `scalpel plan --out FILE`") from None
    if plan.format_version > PLAN_FORMAT_VERSION:
        raise ScalpelError(f"{path} was written by a newer Scalpel (plan format "
                           f"{plan.format_version})", hint="upgrade Scalpel")
    return plan
