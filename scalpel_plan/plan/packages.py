"""A monorepo's release: each package's version decided from its own commits and tags (one
read of the history for all of them), its changelog section and notes, and the release its
own nodes run with. The release as a whole is named by the tags it makes
(``a-1.1.0+b-2.0.0``): that is the version the state records (with each package's version,
previous version and tag: ``ReleaseRecord.packages``), and an unfinished release is continued
with the packages it recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from scalpel_plan.content.versioning import CONTINUES, VersionDecision, bump_for, decide, tag_for
from scalpel_plan.errors import ScalpelError, SpecError
from scalpel_plan.plan.model import CommitSummary, PackageSummary
from scalpel_plan.providers.base import Release
from scalpel_plan.state.model import State
from scalpel_plan.state.packages import JOIN, JOIN_MORE, parts_in_name

if TYPE_CHECKING:
    from scalpel_plan.content.packages import MonorepoHistory
    from scalpel_plan.graph import Graph
    from scalpel_plan.spec import LoadedSpec
    from scalpel_plan.spec.sections import PackageView
    from scalpel_plan.workspace import Workspace

MAX_NAME = 100  # as a version in the state may be
VALID_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]*")


@dataclass(frozen=True)
class PackageRelease:
    view: PackageView
    decision: VersionDecision
    release: Release  # what the package's own nodes run with
    summary: PackageSummary

    @property
    def moves(self) -> bool:
        return self.decision.version is not None


@dataclass(frozen=True)
class MonorepoRelease:
    packages: dict[str, PackageRelease]  # every package, moving or not, in release.yml order
    decision: VersionDecision  # the release as a whole: version "a@1.1.0+b@2.0.0", or None

    @property
    def moving(self) -> list[PackageRelease]:
        return [p for p in self.packages.values() if p.moves]

    def releases(self) -> dict[str, Release]:
        return {name: p.release for name, p in self.packages.items()}

    def parts(self) -> tuple[tuple[str, str, str | None], ...]:
        return tuple((p.view.name, p.decision.version or "", p.summary.changelog)
                     for p in self.moving)

    def released(self) -> tuple[tuple[str, str], ...]:
        """(package, last release) of each package that does not move: a dependent that
        moves has its range of it at that release."""
        return tuple((p.view.name, p.decision.previous) for p in self.packages.values()
                     if not p.moves and p.decision.previous)


def decide_packages(loaded: LoadedSpec, graph: Graph, workspace: Workspace, state: State,
                    base: Release, *, only: list[str] | None = None,
                    version: str | None = None, pre: str | None = None) -> MonorepoRelease:
    """Every package's release, deciding only those of ``only`` (all by default); the others
    do not move. ``version`` (--version) sets the version of the one package planned."""
    from scalpel_plan.content.packages import MonorepoHistory

    spec = loaded.spec
    views = spec.package_views
    chosen = _chosen(views, only)
    if version is not None and len(chosen) != 1:
        raise ScalpelError("--version sets one package's version",
                           hint="plan that package alone: --package NAME --version "
                           f"{version} (packages: {', '.join(views)})")
    history = MonorepoHistory(workspace.repo, views, spec.paths_shared,
                              spec.policy.commit_message)
    continued = _unfinished(state, views)
    left_out: list[str] = []
    last = {name: str(max(tags.values())) for name, tags in
            last_releases(history, {n: v for n, v in views.items() if n not in chosen}).items()
            if tags}
    found: dict[str, PackageRelease] = {}
    for name, view in views.items():
        if name not in chosen:
            decision = VersionDecision(None, last.get(name), None, "not planned (--package)")
        elif continued is not None:
            override = continued.get(name)
            made = frozenset(f.replace("{version}", override)
                             for f in view.policy.tag_formats) if override else frozenset()
            decision = decide(workspace.repo, view, State(), override,
                              read=history.read(name, made)) if override else \
                VersionDecision(None, None, None, "not in the unfinished release")
            if override:
                decision = replace(decision, reason=f"{CONTINUES} {state_version(state)}")
        else:
            decision = decide(workspace.repo, view, State(), version, pre=pre,
                              read=history.read(name))
        found[name] = _package(loaded, graph, view, decision, base)
    if continued is None and version is None:
        decisions = grouped({n: p.decision for n, p in found.items()}, views,
                            spec.groups.fixed, spec.groups.linked, chosen)
        if spec.dependency_bump != "none" and graph.package_needs:
            tagged = {n.package for n in graph.nodes.values() if n.provider == "git"}
            since = released_since(history, {n: v for n, v in views.items() if n in tagged},
                                   graph.package_needs)
            decisions = dependents({n: decisions[n] for n in views}, views,
                                   graph.package_needs, spec.dependency_bump, chosen, since)
            left_out = _left_out(decisions, graph.package_needs, chosen, spec.dependency_bump)
            decisions = grouped(decisions, views, spec.groups.fixed, spec.groups.linked,
                                chosen)
        found = {n: p if decisions[n] is p.decision else
                 _package(loaded, graph, views[n], decisions[n], base)
                 for n, p in found.items()}
    moves = [(name, p.release.version) for name, p in found.items() if p.moves]
    whole = release_name(moves) if moves else None
    why = f"{len(moves)} of {len(views)} packages move" if moves else \
        "no package has releasable commits since its last release"
    notes = [f"package {name}: {note}" for name, p in found.items() for note in p.decision.notes]
    notes += left_out
    return MonorepoRelease(found, VersionDecision(whole, None, None, why, notes=notes))


def grouped(decisions: dict[str, VersionDecision], views: dict[str, PackageView],
            fixed: list[list[str]], linked: list[list[str]],
            chosen: set[str]) -> dict[str, VersionDecision]:
    """The decisions with the groups applied, as changesets does: a fixed group moves
    whole to one version, the highest of the group's bumped by the largest bump among those
    that move; in a linked group, those that move share the highest of their versions so
    bumped. A calver package, or a pre-release, keeps its own version."""
    from scalpel_plan.content import dates
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.content.semver import PARTS

    out = dict(decisions)
    for kind, groups in (("fixed", fixed), ("linked", linked)):
        for group in groups:
            members = [n for n in group if n in chosen]
            scheme = SCHEMES[views[members[0]].policy.scheme] if members else None
            moving = [n for n in members if decisions[n].version]
            if scheme is None or not moving or scheme.name == "calver" or \
                    any(views[n].policy.scheme != scheme.name for n in members) or \
                    any(scheme.is_pre(scheme.parse(decisions[n].version or "")) for n in moving):
                continue
            together = members if kind == "fixed" else moving
            parts = [bump_for(c, views[n]) for n in moving for c in decisions[n].commits]
            part = max((p for p in parts if p), key=PARTS.index, default="patch")
            known = [v for n in together
                     if (v := scheme.parse(decisions[n].previous or "")) is not None]
            if known:
                target = str(scheme.bump(max(known), part, dates.today()))
            else:  # no member released yet: the highest first version decided
                target = str(max(v for n in moving
                                 if (v := scheme.parse(decisions[n].version or "")) is not None))
            names = ", ".join(together)
            for n in together:
                d = decisions[n]
                why = f"{kind} group ({names}): {target}, " + \
                    (f"{part} bump of the group's highest version" if known else
                     "the group's first release")
                if d.version:
                    why += f"; its own commits: {d.reason}"
                out[n] = VersionDecision(target, d.previous, d.previous_tag, why, d.commits,
                                         d.entries, d.notes, d.dependencies)
    return out


def last_releases(history: MonorepoHistory, views: dict[str, PackageView]
                  ) -> dict[str, dict[str, Any]]:
    """Each package's final release tags on HEAD, with their versions."""
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.content.versioning import release_tags

    reachable = history.tags.reachable
    finals = {}
    for name, view in views.items():
        scheme = SCHEMES[view.policy.scheme]
        tags = release_tags(view, [r.name for r in history.refs_of(name)
                                   if r.name in reachable])
        finals[name] = {t: v for t, v in tags.items() if not scheme.is_pre(v)}
    return finals


def released_since(history: MonorepoHistory, views: dict[str, PackageView],
                   needs: dict[str, list[str]]) -> dict[str, list[tuple[str, str, str | None]]]:
    """package → (dependency, the dependency's last release, the newest of its releases the
    package's own last release was made with) of each dependency released since the
    package's own last release: its last release tag is not in the history of the
    package's. Its dependency bump is still due (a release of the dependency alone,
    --package, left it out), until the package releases after it. ``views``: the packages
    whose releases are tagged (an untagged release leaves no mark to tell)."""
    finals = last_releases(history, views)
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for name, own in finals.items():
        if not own:
            continue  # never released: its first release comes with its own commits
        last = max(own, key=own.__getitem__)
        for need in needs.get(name, []):
            theirs = finals.get(need)  # (not tagged: never due)
            if not theirs:
                continue
            newest = max(theirs, key=theirs.__getitem__)
            if history.contains(last, newest):
                continue
            seen = [v for t, v in theirs.items() if history.contains(last, t)]
            found.setdefault(name, []).append(
                (need, str(theirs[newest]), str(max(seen)) if seen else None))
    return found


def _left_out(decisions: dict[str, VersionDecision], needs: dict[str, list[str]],
              chosen: set[str], how: str) -> list[str]:
    """The warning of a --package plan that moves a package whose dependents it does not
    plan: they get their dependency bump when they are planned."""
    notes = []
    for name in [n for n in decisions if n in chosen and decisions[n].version]:
        waiting = [n for n in decisions if name in needs.get(n, []) and n not in chosen]
        if waiting:
            bump = "patch bump" if how == "patch" else "bump"
            one = len(waiting) == 1
            notes.append(f"{', '.join(waiting)} depend{'s' * one} on {name}, not planned "
                         f"here (--package): {'it gets its' if one else 'they get their'} "
                         f"{bump} for {name} "
                         f"{decisions[name].version} when planned (a full plan, or "
                         + " ".join(f"--package {n}" for n in waiting) + ")")
    return notes


def dependents(decisions: dict[str, VersionDecision], views: dict[str, PackageView],
               needs: dict[str, list[str]], how: str, chosen: set[str],
               since: dict[str, list[tuple[str, str, str | None]]] | None = None
               ) -> dict[str, VersionDecision]:
    """The decisions with what depends on a package that moves bumped too (in dependency
    order, so that it carries on down the chain): a patch release, or with ``follow`` the
    largest bump of what it needs. A package already moving by its own commits keeps its
    version when that is at least as much. ``since`` (``released_since``): the
    dependencies released since a package's own last release, whose bump is still due."""
    from graphlib import TopologicalSorter

    from scalpel_plan.content import dates
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.content.semver import PARTS

    out = dict(decisions)
    order = TopologicalSorter({n: [d for d in needs.get(n, []) if d in views]
                               for n in views}).static_order()
    for name in order:
        moved = [d for d in needs.get(name, []) if d in views and out[d].version]
        due = {need: VersionDecision(version, seen, None, "") for need, version, seen
               in (since or {}).get(name, []) if need not in moved}
        if not (moved or due) or name not in chosen:
            continue
        d, view = out[name], views[name]
        scheme = SCHEMES[view.policy.scheme]
        part = "patch"
        if how == "follow":
            part = max([_part_of(out[m], views[m]) for m in moved] +
                       [_part_of(due[m], views[m]) for m in due], key=PARTS.index)
        why = "depends on " + ", ".join(
            [f"{m} {out[m].version}" for m in moved] +
            [f"{m} {due[m].version} (released after {name} {d.previous})" for m in due])
        updated = tuple((m, out[m].version or "") for m in moved) + \
            tuple((m, due[m].version or "") for m in due)
        previous = scheme.parse(d.previous or "")
        if previous is None:
            target = view.policy.initial if not d.version else d.version
        else:
            target = str(scheme.bump(previous, part, dates.today()))
        own, wanted = scheme.parse(d.version or ""), scheme.parse(target)
        if own is not None and wanted is not None and own >= wanted:
            out[name] = replace(d, reason=f"{d.reason}; {why}", dependencies=updated)
            continue
        out[name] = VersionDecision(target, d.previous, d.previous_tag,
                                    f"{part} bump: {why}" + (f"; {d.reason}" if d.version
                                                             else ""),
                                    d.commits, d.entries, d.notes, updated)
    return out


def _part_of(decision: VersionDecision, view: PackageView) -> str:
    """The part ``decision`` bumps (major, minor or patch), from its previous version."""
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.content.versioning import _parts

    scheme = SCHEMES[view.policy.scheme]
    new, old = scheme.parse(decision.version or ""), scheme.parse(decision.previous or "")
    if new is None or old is None or view.policy.scheme == "calver":
        return "patch"
    (a, b, _), (x, y, _) = _parts(new), _parts(old)
    return "major" if a != x else "minor" if b != y else "patch"


def state_version(state: State) -> str:
    current = state.current_release()
    return current.version if current else ""


def release_name(moves: list[tuple[str, str]]) -> str:
    """The name a monorepo release is recorded by (its "version" in the state, a name a path
    and a tag may hold): ``a-1.1.0+b-2.0.0``; past MAX_NAME characters, the first packages
    and a digest of all of them."""
    import hashlib

    whole = JOIN.join(f"{name}-{version}" for name, version in moves)
    if len(whole) <= MAX_NAME and VALID_NAME.fullmatch(whole):
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:12]
    head = f"{moves[0][0]}-{moves[0][1]}" if VALID_NAME.fullmatch(
        f"{moves[0][0]}-{moves[0][1]}") else "release"
    return f"{head[:60]}{JOIN}{len(moves) - 1}{JOIN_MORE}{digest}"


def _unfinished(state: State, views: dict[str, PackageView]) -> dict[str, str] | None:
    """package → version of the unfinished monorepo release the state records (by package, or
    by its name, ``release_name``), or None (none unfinished, or a name that cannot be read
    back)."""
    from scalpel_plan.content.schemes import SCHEMES

    current = state.current_release()
    if current is None or not current.unfinished:
        return None
    if current.packages:  # recorded by package
        return {n: p.version for n, p in current.packages.items() if n in views} or None
    return parts_in_name(current.version, list(views), lambda name, version: SCHEMES[
        views[name].policy.scheme].parse(version) is not None)  # (recorded by name only)


def _chosen(views: dict[str, PackageView], only: list[str] | None) -> set[str]:
    if not only:
        return set(views)
    unknown = [n for n in only if n not in views]
    if unknown:
        import difflib

        from scalpel_plan.state.packages import one_per_option

        one_per_option(unknown[0], list(views))

        close = difflib.get_close_matches(unknown[0], list(views), n=1)
        raise ScalpelError(f"--package {unknown[0]}: release.yml has no such package",
                           hint=f"did you mean {close[0]}?" if close else
                           f"packages: {', '.join(views) or 'none (no packages: section)'}")
    return set(only)


def _package(loaded: LoadedSpec, graph: Graph, view: PackageView, decision: VersionDecision,
             base: Release) -> PackageRelease:
    version = decision.version or ""
    release = replace(base, project=view.name, version=version, previous=decision.previous,
                      tag=tag_for(view, version) if version else "", changelog=None,
                      notes=None, parts=())
    changelog = notes = None
    if version and (view.changelog is not None or loaded.spec.notes is not None
                    or view.notes is not None):
        changelog, notes = _content(loaded, view, decision, release)
    release = replace(release, changelog=changelog, notes=notes)
    nodes = [a for a in graph.order if graph.nodes[a].package == view.name]
    summary = PackageSummary(
        name=view.name, version=decision.version, previous=decision.previous,
        tag=release.tag, reason=decision.reason, paths=list(view.paths), nodes=nodes,
        commits=[CommitSummary(sha=c.sha, type=c.type, scope=c.scope, breaking=c.breaking,
                               description=c.description, bump=bump_for(c, view))
                 for c in decision.commits],
        changelog=changelog, notes=notes)
    return PackageRelease(view, decision, release, summary)


def _content(loaded: LoadedSpec, view: PackageView, decision: VersionDecision,
             release: Release) -> tuple[str | None, str | None]:
    from scalpel_plan.content.changelog import ChangelogGenerator
    from scalpel_plan.content.sections import release_changes, release_notes

    generator = ChangelogGenerator(view.changelog)
    changes = release_changes(view, decision, generator)
    changelog = generator.markdown_section(changes) if view.changelog is not None else None
    notes = None
    if loaded.spec.notes is not None or view.notes is not None:  # its own template first
        where = ["packages", view.name, "notes", "template"] if view.notes is not None \
            else ["notes", "template"]
        try:
            notes = release_notes(loaded.spec, loaded.root, changes, view.name,
                                  release.previous, view.notes)
        except ScalpelError as exc:
            raise SpecError(f"{loaded.source.display}: the release notes cannot be rendered",
                            diagnostics=[loaded.source.diagnostic(
                                f"{'.'.join(where)}: {exc.message}", list(where),
                                hint=exc.hint)]) from None
    return changelog, notes
