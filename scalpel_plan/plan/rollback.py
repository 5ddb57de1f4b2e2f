"""Rollback: the way back, as a plan like any other.

Every successful apply records a ``RollbackPoint`` (version, tag, commit, and every artifact's
recorded attributes: digests, file hashes). ``scalpel rollback --to POINT`` plans, for each
recorded resource, the provider's compensating change (moving docker tags re-pointed to the
point's digests, the point's GitHub release made latest again) plus an announcement by the
notify nodes with ``on: [rollback]``, and lists what cannot be undone with what to do by hand.
It is applied, journaled and resumed like a release, and recorded so that the next plan knows
which release is live.
"""

from __future__ import annotations

from collections.abc import Callable

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
from scalpel_plan.graph import Graph
from scalpel_plan.plan.diff import Attributes, Want, diff_graph
from scalpel_plan.plan.model import (
    Fingerprint,
    PackageMove,
    Plan,
    PlanDiagnostic,
    RollbackSummary,
    step_release,
)
from scalpel_plan.providers.base import RELEASE_COMMIT, Change, Node, Provider, Release
from scalpel_plan.providers.message import Message
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.state.model import RollbackPoint, State
from scalpel_plan.state.packages import (
    PackagePoint,
    as_of,
    checked_packages,
    live_packages,
    package_point,
    points_of,
    read_back,
)
from scalpel_plan.workspace import Workspace

__all__ = ["find_point", "interrupted_rollback", "make_rollback_plan"]

ROLLBACK_SUFFIX = "@rollback"  # the resource address of a node's rollback announcement


def find_point(state: State, ref: str) -> RollbackPoint:
    """The rollback point ``ref`` names (its tag or version), or a ScalpelError listing them."""
    point = state.point(ref)
    if point is None:
        known = ", ".join(p.name for p in state.rollback_points[-10:]) or "none yet"
        raise ScalpelError(f"no rollback point {ref}",
                           hint=f"points (newest last): {known}; `scalpel history` lists all")
    return point


def make_rollback_plan(loaded: LoadedSpec, graph: Graph, registry: Registry, state: State,
                       workspace: Workspace, to: str, *, package: str | None = None,
                       secrets: SecretsManager | None = None) -> Plan:
    """The plan that takes what is live back to the rollback point ``to``: the release
    planner's diff in rollback mode (live reads, drift, pre-flight), each revert ordered by
    the graph's ``needs``, the rollback announcements after every revert. In a monorepo, a
    point of one package (``b@1.0.1``, or ``to`` a version with ``package``) takes only that
    package's nodes back; the other packages are left as they are."""
    secrets = secrets or SecretsManager(loaded.spec.secrets)
    state = read_back(state, tag_formats(loaded))
    one = package_rollback(loaded, state, to, package)
    if one is not None:
        point = one.point
        live_now = live_packages(state).get(one.package)
        live = live_now.version if live_now else None
        if live == one.part.version:
            raise ScalpelError(f"{one.package} {live} is already {one.package}'s live release",
                               hint="`scalpel status --package "
                               f"{one.package}` shows what is live")
        summary = RollbackSummary(project=loaded.project_name, from_version=live,
                                  to_version=one.part.version, point=one.name,
                                  commit=point.commit, package=one.package,
                                  unchanged=[n for n in loaded.spec.packages
                                             if n != one.package])
        ours = {a for a, n in graph.nodes.items() if n.package == one.package}
    else:
        point = find_point(state, to)
        live = state.live_version()
        moves, unchanged = _package_moves(state, point, list(loaded.spec.packages))
        if not moves and (loaded.spec.packages or live == point.version):
            raise ScalpelError(f"{point.version} is already the live release" +
                               (": every package is at the point's version" if
                                loaded.spec.packages else ""),
                               hint="`scalpel history` shows the releases and rollback points")
        summary = RollbackSummary(project=loaded.project_name, from_version=live,
                                  to_version=point.version, point=point.name,
                                  commit=point.commit, packages=moves, unchanged=unchanged)
        ours = set(graph.nodes)
    release = step_release(summary, workspace)
    found = diff_graph(graph, registry, state, release, secrets, _rollback_wants(point, ours))
    if found.problems:
        raise ScalpelError("the rollback plan cannot be made", diagnostics=found.problems)
    reverts = _order_reverts(graph, found.changes)
    if one is None:
        reverts += _reverts_outside_graph(graph, registry, state, point)
    announcements = [c.model_copy(update={"needs": [r.address for r in reverts]})
                     for c in _announcements(loaded, registry, state, release, point, live,
                                             summary)]
    kept_version = summary.to_version
    by_hand = [PlanDiagnostic(severity="warning", message=note, address=address)
               for address, resource in state.resources.items()
               if resource.release != kept_version and (one is None or address in ours)
               and (provider := registry.find(resource.provider)) is not None
               and provider.keeps_history and not address.endswith(ROLLBACK_SUFFIX)
               and (note := provider.by_hand(address, resource.attributes))]
    commit = git.head(workspace.repo) or ""
    warnings = [PlanDiagnostic(severity="warning", message=f"{c.address}: {c.warning}",
                               address=c.address) for c in reverts + announcements if c.warning]
    return Plan(mode="rollback",
                fingerprint=Fingerprint(lineage=state.lineage, serial=state.serial,
                                        spec_sha256=loaded.source.sha256, commit=commit),
                release=None, rollback=summary.model_copy(update={"by_hand": by_hand}),
                changes=reverts + announcements, drift=found.drift,
                diagnostics=interrupted_rollback(state, but=summary.point) + warnings)


def _package_moves(state: State, point: RollbackPoint, declared: list[str]
                   ) -> tuple[list[PackageMove], list[str]]:
    """A monorepo's rollback of a whole release: each package whose live version (after any
    rollback of it since) is not the one the point recorded, and the others; none without
    packages."""
    if not declared:
        return [], []
    now, then = live_packages(state), as_of(state, point)
    moves = [PackageMove(name=n, from_version=now[n].version if n in now else None,
                         to_version=part.version)
             for n, part in then.items() if n not in now or now[n].version != part.version]
    moving = {m.name for m in moves}
    return moves, [n for n in declared if n not in moving]


def tag_formats(loaded: LoadedSpec) -> dict[str, list[str]]:
    """A monorepo's packages with their tag formats ({version} in them); none without."""
    return {name: list(view.policy.tag_formats)
            for name, view in loaded.spec.package_views.items()} if loaded.spec.packages \
        else {}


def package_rollback(loaded: LoadedSpec, state: State, to: str,
                     package: str | None) -> PackagePoint | None:
    """The one package's point ``to`` names (with ``package``: its version or tag), or None
    for a point of the whole release; a ScalpelError for an unknown package or point."""
    known = list(loaded.spec.packages)
    if package is None:
        if not known:
            return None
        found = package_point(state, to)
        if found is None and state.point(to) is None:
            if "@" in to:
                name = to.rsplit("@", 1)[0]
                checked_packages([name], known, what=f"--to {to}: package")
                raise _no_point(state, to, name)
            points = ", ".join(p.name for p in state.rollback_points[-5:]) or "none yet"
            raise ScalpelError(f"no rollback point {to}",
                               hint=f"a package's point: --to NAME@VERSION, or --to {to} "
                               f"--package NAME (packages: {', '.join(known)}); the whole "
                               f"release's (newest last): {points}")
        return found
    if not known:
        raise ScalpelError(f"--package {package}: release.yml declares no packages",
                           hint="--package rolls back one package of a monorepo (packages: "
                           "in release.yml); without it, the whole release goes back")
    checked_packages([package], known)
    found = package_point(state, to, package)
    if found is None:
        raise _no_point(state, to, package)
    return found


def _no_point(state: State, to: str, package: str) -> ScalpelError:
    known = ", ".join(points_of(state, package)[-10:]) or "none yet"
    return ScalpelError(f"no rollback point {to} of package {package}",
                        hint=f"{package}'s points (newest last): {known}; "
                        f"`scalpel history --package {package}` lists them")


def interrupted_rollback(state: State, *, but: str | None = None) -> list[PlanDiagnostic]:
    """The warning a plan shows while a rollback is unfinished (none when the plan is the
    rollback to the same point ``but``, which finishes it)."""
    rollback = state.interrupted_rollback()
    if rollback is None or rollback.point == but:
        return []
    return [PlanDiagnostic(severity="warning", message=rollback.interruption())]


def _rollback_wants(point: RollbackPoint, nodes: set[str]) -> Want:
    """Rollback mode: a node's provider's compensating change, where the point recorded
    something other than what is recorded now; nothing elsewhere, nor for the nodes not
    among ``nodes`` (those of the packages a package's rollback leaves as they are)."""
    def want(node: Node, provider: Provider, recorded: Attributes | None
             ) -> tuple[Attributes | None, Callable[[Attributes | None], Change | None]]:
        then = point.resources.get(node.address) if node.address in nodes else None
        revert = None
        if provider.keeps_history and then is not None and then != recorded:
            revert = provider.revert(node.address, then)
        return (revert.after if revert else None), lambda observed: revert
    return want


def _order_reverts(graph: Graph, changes: list[Change]) -> list[Change]:
    """Each revert needs the reverts of the nodes that run before it in a release."""
    included = {c.address for c in changes}
    return [c.model_copy(update={"needs": [a for a in graph.order
                                           if a in included and a in graph.upstream(c.address)]})
            for c in changes]


def _reverts_outside_graph(graph: Graph, registry: Registry, state: State,
                           point: RollbackPoint) -> list[Change]:
    """Recorded resources whose node release.yml no longer declares are still put back."""
    found = []
    for address, resource in state.resources.items():
        provider = registry.find(resource.provider)
        if address in graph.nodes or address.endswith(ROLLBACK_SUFFIX) or provider is None \
                or not provider.keeps_history:
            continue
        then = point.resources.get(address)
        if then is not None and then != resource.attributes and \
                (change := provider.revert(address, then)) is not None:
            found.append(change)
    return found


def _announcements(loaded: LoadedSpec, registry: Registry, state: State, release: Release,
                   point: RollbackPoint, live: str | None,
                   summary: RollbackSummary) -> list[Change]:
    """For every notify node with ``on: [rollback]``: the announcement of this rollback (at
    most once, as for releases: a resumed rollback does not announce it again). A package's
    rollback is announced as that package's."""
    found = []
    made = point.resources.get(RELEASE_COMMIT) or {}  # the point's tag is on its release commit
    commit = str(made["sha"]) if made.get("release") == point.version and made.get("sha") \
        else point.commit
    to, name, package = summary.to_version, summary.point, summary.package
    who = f"{release.project} {package}" if package else release.project
    for address, raw in loaded.spec.notify.items():
        provider = registry.find(address.split(".", 1)[0])
        if provider is None or not provider.announces:
            continue
        config = provider.config_model.model_validate(raw)
        if "rollback" not in getattr(config, "on", ()):
            continue
        data = {"event": "rollback", "project": release.project, "from": live,
                "to": to, "point": name, "commit": commit}
        message = Message(
            "rollback", f"{who} rolled back to {to}",
            f"{who} {live or '?'} was rolled back; {to} ({name}) is live again.",
            [("Live now", to), ("Rolled back", live or "-"), ("Tag", name),
             ("Commit", commit[:12])], [],
            data | {"package": package} if package else data, "warning")
        marker = f"rollback {package + ' ' if package else ''}{live} -> {to}"
        desired = {"release": marker, **provider.target(config), "message": message.to_dict()}
        node = Node(f"{address}{ROLLBACK_SUFFIX}", provider.name, address.split(".", 1)[1],
                    "notify", config)
        change = provider.diff(node, desired, state.recorded(node.address), None)
        found.append(change.model_copy(update={
            "reason": change.reason or f"announces the rollback to {to}"}))
    return found
