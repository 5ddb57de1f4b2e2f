"""The release plan: the graph, the recorded state and what is live, diffed into a Plan.

Nothing changes here: providers only read. The Plan carries a fingerprint of what it was
computed from, so a saved plan is refused once the state, the spec or the commit moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from scalpel_plan import git
from scalpel_plan.errors import Diagnostic, ScalpelError, SpecError
from scalpel_plan.graph import Graph
from scalpel_plan.plan.diff import Attributes, Want, diff_graph
from scalpel_plan.plan.model import (
    CommitSummary,
    Fingerprint,
    Plan,
    PlanDiagnostic,
    ReleaseSummary,
    step_release,
)
from scalpel_plan.plan.rollback import interrupted_rollback
from scalpel_plan.providers.base import (
    RELEASE_COMMIT,
    RELEASE_COMMIT_SHA,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    fill,
)
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.state.model import State
from scalpel_plan.workspace import Workspace

if TYPE_CHECKING:  # make_plan imports it: applying a saved plan never needs it
    from scalpel_plan.content import versioning



def make_plan(loaded: LoadedSpec, graph: Graph, registry: Registry, state: State,
              workspace: Workspace, *, version: str | None = None,
              pre: str | None = None, secrets: SecretsManager | None = None,
              allow_missing_secrets: bool = False, for_apply: bool = False,
              packages: list[str] | None = None, base: str | None = None) -> Plan:
    """The plan of the next release; ``for_apply``: the pre-flight's git findings (a dirty
    tree, a detached HEAD, a branch behind its remote) are errors, not warnings. In a
    monorepo (``packages:``), each package's own version, and only those of ``packages``
    when given (--package); ``base``: on a detached HEAD (a pull request's merge commit),
    the branch the release commit is planned onto."""
    from scalpel_plan.content import versioning
    from scalpel_plan.plan import preflight

    secrets = secrets or SecretsManager(loaded.spec.secrets)
    commit = git.head(workspace.repo)
    if commit is None:
        raise ScalpelError(f"{workspace.repo} has no commits yet",
                           hint="commit something first: a release is cut from a commit")
    on = git.current_branch(workspace.repo)
    if base and on and base != on:
        raise ScalpelError(f"--branch {base}, but {on} is checked out",
                           hint="--branch names the branch a detached HEAD (a pull request's "
                           f"merge commit) is planned for; leave it out, or `git checkout "
                           f"{base}`")
    live = LiveCache(secrets)  # what the pre-flight reads from remotes, the nodes need not
    checks = preflight.repository(workspace, graph, state, for_apply=for_apply,
                                  base=None if on else base, live=live)
    if checks.fatal:
        raise ScalpelError("the plan cannot be made", diagnostics=checks.errors)
    if packages and not loaded.spec.packages:
        raise ScalpelError(f"--package {packages[0]}: release.yml declares no packages",
                           hint="--package plans some packages of a monorepo (packages: in "
                           "release.yml); without it, the whole project is one release")
    if missing := preflight.missing_tags(workspace.repo, loaded.spec, graph, live):
        raise ScalpelError("the plan cannot be made", diagnostics=missing + checks.errors)
    monorepo = None
    release = Release(project=loaded.project_name, version="", previous=None, tag="",
                      commit=commit, repo=workspace.repo, workdir=workspace.workdir,
                      base="" if on else base or "")
    if loaded.spec.packages:
        from scalpel_plan.plan.packages import decide_packages

        monorepo = decide_packages(loaded, graph, workspace, state, release, only=packages,
                                   version=version, pre=pre)
        decision = monorepo.decision
    else:
        decision = versioning.decide(workspace.repo, loaded.spec, state, version, pre=pre)
    fingerprint = Fingerprint(lineage=state.lineage, serial=state.serial,
                              spec_sha256=loaded.source.sha256, commit=commit)
    release = replace(release, version=decision.version or "", previous=decision.previous,
                      tag=versioning.tag_for(loaded.spec, decision.version or "")
                      if monorepo is None else decision.version or "",
                      parts=monorepo.parts() if monorepo else (),
                      released=monorepo.released() if monorepo else ())
    content = _content(loaded, decision, release) if decision.version and not monorepo else {}
    release = replace(release, tag_commit=_tag_commit(graph, state, release),
                      changelog=content.get("changelog"), notes=content.get("notes"),
                      commit_message=_commit_message(graph, release))
    release = replace(release, links=release_links(graph, registry, release))
    own = _package_releases(graph, registry, release, monorepo.releases()) if monorepo else {}
    secret_problems, secret_warnings = _check_secrets(loaded, secrets, allow_missing_secrets)
    moving = {p.view.name for p in monorepo.moving} if monorepo else set()
    found = diff_graph(graph, registry, state, release, secrets,
                       _release_wants(release, planned=decision.version is not None,
                                      packages=own, moving=moving), own, live)
    changes, drift = found.changes, found.drift
    refused = preflight.version(loaded.spec, state, version, decision.previous)
    planned = [(p.view, ["packages", p.view.name], p.decision) for p in monorepo.moving] \
        if monorepo else [(loaded.spec, ["version"], decision)] if decision.version else []
    refused += preflight.downgrades(loaded, workspace.repo, planned) or \
        preflight.below_live(loaded, workspace.repo, state, planned)
    credential_problems, credential_warnings = preflight.credentials(
        changes, secrets, allow_missing=allow_missing_secrets)
    problems = (checks.errors + refused + secret_problems + credential_problems  # all at once
                + preflight.explain_tags(found.problems, graph, state, release, refused))
    if problems:
        raise ScalpelError("the plan cannot be made", diagnostics=problems + checks.warnings)
    summary = None
    if decision.version:
        summary = ReleaseSummary(
            project=release.project, version=release.version, previous=release.previous,
            tag=release.tag, commit=commit, reason=decision.reason,
            commits=[CommitSummary(sha=c.sha, type=c.type, scope=c.scope, breaking=c.breaking,
                                   description=c.description,
                                   bump=versioning.bump_for(c, loaded.spec))
                     for c in decision.commits],
            packages=[p.summary for p in monorepo.packages.values()] if monorepo else None,
            **content)
    notes = [PlanDiagnostic(severity="warning", message=n) for n in decision.notes]
    notes += [PlanDiagnostic(severity="warning", message=d.message, address=d.address,
                             hint=d.hint)
              for d in checks.warnings + secret_warnings + credential_warnings]
    notes += [PlanDiagnostic(severity="warning", message=f"{c.address}: {c.warning}",
                             address=c.address) for c in changes if c.warning]
    notes += interrupted_rollback(state)
    return Plan(fingerprint=fingerprint, release=summary, changes=changes, drift=drift,
                nothing_to_release=None if summary else decision.reason, diagnostics=notes)


def saved_release(summary: ReleaseSummary, graph: Graph, registry: Registry, state: State,
                  workspace: Workspace) -> Release:
    """The Release a saved plan's summary stands for, built as `make_plan` builds it: what
    its nodes' desired attributes are computed from again before it is applied."""
    release = step_release(summary, workspace)
    release = replace(release, tag_commit=_tag_commit(graph, state, release),
                      changelog=summary.changelog, notes=summary.notes,
                      commit_message=_commit_message(graph, release))
    return replace(release, links=release_links(graph, registry, release))


def release_links(graph: Graph, registry: Registry,
                  release: Release) -> tuple[tuple[str, str], ...]:
    """(label, URL) of what the release publishes, for its announcements to link to (a
    package's own publishes are its release's)."""
    return tuple(link for address in graph.order if graph.nodes[address].section == "publish"
                 and graph.nodes[address].package is None
                 for link in registry.get(graph.nodes[address].provider).links(
                     graph.nodes[address], release))


def _package_releases(graph: Graph, registry: Registry, release: Release,
                      packages: dict[str, Release]) -> dict[str, Release]:
    """Each package's release as its nodes run it: on the release's commit, its tag on the
    release commit, its links those of its own publishes."""
    found = {}
    for name, own in packages.items():
        own = replace(own, tag_commit=release.tag_commit, commit_message=release.commit_message)
        links = tuple(link for address in graph.order
                      if graph.nodes[address].section == "publish"
                      and graph.nodes[address].package == name
                      for link in registry.get(graph.nodes[address].provider).links(
                          graph.nodes[address], own))
        found[name] = replace(own, links=links)
    return found


def _release_wants(release: Release, *, planned: bool,
                   packages: dict[str, Release] | None = None,
                   moving: set[str] | None = None) -> Want:
    """Release mode: each node's desired attributes for this release, diffed against what is
    recorded and live (a no-op where nothing is to be released). A package's node wants its
    package's release, and nothing when its package does not move."""
    def want(node: Node, provider: Provider, recorded: Attributes | None
             ) -> tuple[Attributes | None, Callable[[Attributes | None], Change | None]]:
        own = (packages or {}).get(node.package or "", release)
        moves = planned and (node.package is None or node.package in (moving or set()))
        desired = provider.desired(node, own) if moves else None

        def change_for(observed: Attributes | None) -> Change:
            if desired is None:
                return provider.change(node, "no-op", before=recorded or {},
                                       after=recorded or {})
            return provider.diff(node, desired, recorded, observed)
        return desired, change_for
    return want


def _commit_message(graph: Graph, release: Release) -> str:
    """The subject of the release commit, as git.commit will write it ("" without one)."""
    node = graph.nodes.get(RELEASE_COMMIT)
    message = getattr(node.config, "message", None) if node else None
    if not isinstance(message, str) or not release.version:
        return ""
    try:
        return fill(message, release, where=f"{RELEASE_COMMIT}.message")
    except ScalpelError:
        return ""  # git.commit itself reports it, where it is


def _tag_commit(graph: Graph, state: State, release: Release) -> str:
    """What the release tag points at: "" for HEAD, or the release commit (made at apply, or
    already made by an interrupted apply of this release and still on HEAD: one a rebase left
    behind is made again)."""
    if RELEASE_COMMIT not in graph.nodes:
        return ""
    recorded = state.recorded(RELEASE_COMMIT)
    if recorded and recorded.get("release") == release.version and \
            git.is_ancestor(release.repo, str(recorded.get("sha")), release.commit):
        return str(recorded["sha"])
    return RELEASE_COMMIT_SHA


def _content(loaded: LoadedSpec, decision: versioning.VersionDecision,
             release: Release) -> dict[str, str]:
    """The changelog section and notes the release publishes, as release.yml asks for them."""
    spec = loaded.spec
    if spec.changelog is None and spec.notes is None:
        return {}
    from scalpel_plan.content.changelog import ChangelogGenerator
    from scalpel_plan.content.sections import release_changes, release_notes

    generator = ChangelogGenerator(spec.changelog)
    changes = release_changes(spec, decision, generator)
    content = {}
    if spec.changelog is not None:
        content["changelog"] = generator.markdown_section(changes)
    if spec.notes is not None:
        try:
            content["notes"] = release_notes(spec, loaded.root, changes, release.project,
                                             release.previous)
        except ScalpelError as exc:  # a template that compiles but cannot render: at its place
            raise SpecError(f"{loaded.source.display}: the release notes cannot be rendered",
                            diagnostics=[loaded.source.diagnostic(
                                f"notes.template: {exc.message}", ["notes", "template"],
                                hint=exc.hint or "fix the template, or use a built-in one: "
                                "default, minimal, detailed or breaking")]) from None
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
