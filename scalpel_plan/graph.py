"""Compile a Spec into the dependency graph of Nodes (a networkx DiGraph on demand).

The graph is built by an ordered list of small steps; each adds nodes or edges, or reports
problems (unknown needs, cycles, undeclared secrets) as diagnostics, all at once.
An edge ``a → b`` means b needs a.

Ordering uses the standard library's graphlib; networkx is imported only where its algorithms
are needed (naming every cycle, ``Graph.dag``): importing it costs half of the 0.4 s that
`scalpel plan` may take.
"""

from __future__ import annotations

import difflib
import heapq
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from scalpel_plan import git
from scalpel_plan.errors import Diagnostic, GitError, SpecError
from scalpel_plan.providers.base import RELEASE_COMMIT as ADDRESS
from scalpel_plan.providers.base import Node
from scalpel_plan.providers.registry import Registry
from scalpel_plan.spec import LoadedSpec, checks
from scalpel_plan.spec.messages import from_pydantic
from scalpel_plan.spec.model import NodeConfig

if TYPE_CHECKING:
    import networkx as nx

SECTIONS = ("stages", "publish", "notify")
MAX_CYCLES_SHOWN = 10
MAX_NAMES_SHOWN = 10  # addresses listed in a hint
MAX_COMPARED = 100_000  # did-you-mean comparisons in one compile (linear, not quadratic)
SECRET_REF = re.compile(r"\$\{\s*secrets\.([^}\s]*)\s*\}")


@dataclass
class Graph:
    """The compiled release: nodes by address, what each needs, and a stable run order."""

    nodes: dict[str, Node]
    requires: dict[str, set[str]]  # address → the addresses it needs
    order: list[str]  # topological; ties broken by the order of declaration
    where: dict[str, list[str | int]] = field(default_factory=dict)  # address → spec path
    # a monorepo: package → the packages it depends on (declared, or read from manifests)
    package_needs: dict[str, list[str]] = field(default_factory=dict)
    _rank: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rank = {a: i for i, a in enumerate(self.order)}

    def needs(self, address: str) -> list[str]:
        return sorted(self.requires[address], key=self._rank.__getitem__)

    def upstream(self, address: str) -> set[str]:
        """Every node that runs before ``address`` (what it needs, transitively)."""
        return _reach(self.requires, address)

    def edges(self) -> list[tuple[str, str]]:
        """(needed, needer) pairs, in run order."""
        return [(need, a) for a in self.order for need in self.needs(a)]

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The graph as a networkx DiGraph, for graph algorithms (imported on first use)."""
        import networkx as nx

        dag = nx.DiGraph()
        dag.add_nodes_from((a, {"node": self.nodes[a]}) for a in self.order)
        dag.add_edges_from(self.edges())
        return dag


@dataclass
class _Build:
    loaded: LoadedSpec
    registry: Registry
    requires: dict[str, set[str]] = field(default_factory=dict)
    dependents: dict[str, set[str]] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    where: dict[str, list[str | int]] = field(default_factory=dict)  # address → spec path
    problems: list[Diagnostic] = field(default_factory=list)
    alert_only: dict[str, list[str | int]] = field(default_factory=dict)  # not steps: no node
    compared: int = 0  # addresses compared for a did-you-mean so far
    package_needs: dict[str, list[str]] = field(default_factory=dict)
    manifests: dict[str, Any] = field(default_factory=dict)  # package → its Manifest

    def edge(self, needed: str, needer: str) -> None:
        self.requires[needer].add(needed)
        self.dependents[needed].add(needer)

    def problem(self, message: str, path: list[str | int], *, key: bool = False,
                hint: str | None = None, address: str | None = None) -> None:
        d = self.loaded.source.diagnostic(message, path, key=key, hint=hint)
        self.problems.append(Diagnostic(d.message, d.file, d.line, d.col, address, d.hint))


def compile_graph(loaded: LoadedSpec, registry: Registry) -> Graph:
    """The release graph of ``loaded``, or a SpecError listing every problem found."""
    build = _Build(loaded, registry)
    for step in (
        _add_stage_nodes,  # stages: map form (independent) or list form (ordered phases)
        _add_section_nodes,  # publish and notify: provider config typed per node
        _read_dependencies,  # a monorepo's packages' needs of each other, cycles named
        _check_package_paths,  # each package path matches a file git tracks
        _add_release_commit,  # git.commit, when version files or a changelog file change
        _add_explicit_needs,  # `needs:`; unknown addresses reported with a did-you-mean
        _add_phase_edges,  # a phase's members run after its gate, before the next gate
        _add_section_edges,  # publish after the stages, notify after the publishes
        _tag_after_release_commit,  # a git tag points at the release commit
        _package_tags_in_turn,  # a monorepo's tags push the branch one after another
        _publish_after_push,  # nothing irreversible before the branch and tag are pushed
        _publish_dependencies_first,  # a package is published after what it depends on
        _check_secret_refs,  # ${secrets.NAME} and `secrets:` must name declared secrets
        _check_alert_channels,  # alerts.on_failure names notify nodes that can send
        _check_notes_template,  # a template file exists and compiles, naming no other
    ):
        step(build)
    order = _run_order(build)  # also names every cycle
    if any(p.severity == "error" for p in build.problems):
        raise SpecError(f"{loaded.source.display} does not compile", diagnostics=build.problems)
    return Graph(build.nodes, build.requires, order, build.where, build.package_needs)


def _add_node(b: _Build, node: Node, path: list[str | int]) -> None:
    if node.address in b.nodes:
        first, _ = b.loaded.source.position(b.where[node.address], key=True)
        b.problem(f"{node.address} is declared twice", path, key=True, address=node.address,
                  hint=f"it is also declared at line {first}")
        return
    b.nodes[node.address] = node
    b.where[node.address] = path
    b.requires[node.address] = set()
    b.dependents[node.address] = set()


def _add_stage_nodes(b: _Build) -> None:
    for index, (name, config, ordered) in enumerate(b.loaded.spec.stage_list()):
        path: list[str | int] = ["stages", index] if ordered else ["stages", name]
        phase = name if ordered else config.phase
        _add_node(b, Node(f"stage.{name}", "stage", name, "stages", config, phase, ordered), path)


def _add_section_nodes(b: _Build) -> None:
    spec = b.loaded.spec
    phases = _phase_names(b)
    places: list[tuple[str | None, Any, list[str | int]]] = [(None, spec, [])]
    places += [(name, package, ["packages", name]) for name, package in spec.packages.items()]
    for package, holder, base in places:
        for section in ("publish", "notify"):
            for address, raw in getattr(holder, section).items():
                _add_declared_node(b, section, address, raw, [*base, section, address],
                                   package, phases)


def _add_declared_node(b: _Build, section: str, address: str, raw: dict[str, object],
                       path: list[str | int], package: str | None, phases: list[str]) -> None:
    provider_name, name = address.split(".", 1)
    provider = b.registry.get(provider_name)
    try:
        config = provider.config_model.model_validate(raw)
    except ValidationError as exc:
        for message, where, hint in from_pydantic(exc, raw, path):
            b.problem(message, where, hint=hint, address=address)
        return
    _check_config_strings(b, config, path, address)
    if provider_name == "git" and package is None and b.loaded.spec.packages:
        b.problem(f"{address}: with `packages:`, each package tags its own releases",
                  path, key=True, address=address,
                  hint="move it under a package's publish: (packages.<name>.publish."
                  "git.<name>), which tags with that package's tag format")
        return
    if "success" not in getattr(config, "on", ["success"]):
        b.alert_only[address] = path
        return  # a failure or rollback channel only: not a step of the release
    phase = config.phase or _default_phase(section, phases)
    _add_node(b, Node(address, provider_name, name, section, config, phase,
                      package=package), path)


def _check_config_strings(b: _Build, config: NodeConfig, path: list[str | int],
                          address: str) -> None:
    """The config's templates (only the variables `fill` knows, bounded widths) and git
    names (by git's rules), at the position of each."""
    for name in config.templates:
        for sub_path, text in _strings(getattr(config, name), [*path, name]):
            if (problem := checks.template_problem(text, checks.NODE_VARIABLES)) is not None:
                b.problem(f"{address}.{name}: {problem}", sub_path, address=address,
                          hint=checks.template_hint(problem))
    for name in config.git_names:
        for sub_path, text in _strings(getattr(config, name), [*path, name]):
            if (problem := git.ref_name_problem(text)) is not None:
                b.problem(f"{address}.{name}: git refuses {text!r}: {problem}", sub_path,
                          address=address, hint="a name like origin, stable or latest")


def _dependency_ranges(b: _Build) -> list[dict[str, Any]]:
    """Version file rules for the ranges a package's manifest asks of the packages it needs
    (``b>=1.2.0``): moved to what each of them releases. Only the ranges the manifest spells
    with a version (a bare name needs nothing moved)."""
    if b.loaded.spec.dependency_bump == "none" or not b.package_needs:
        return []
    from scalpel_plan.content.dependencies import range_pattern

    repo = b.loaded.root / b.loaded.spec.project.repository
    rules = []
    for name, needs in b.package_needs.items():
        manifest = b.manifests.get(name)
        if manifest is None:
            continue
        try:
            text = (repo / manifest.path).read_text()
        except OSError:
            continue
        for need in needs:
            other = b.manifests.get(need)
            pattern = range_pattern(manifest, (other.name if other else None) or need)
            if re.search(pattern, text):
                rules.append({"path": manifest.path, "pattern": pattern, "package": need,
                              "range_of": name})
    return rules


def _add_release_commit(b: _Build) -> None:
    spec = b.loaded.spec
    changelog = spec.changelog if spec.changelog and spec.changelog.update else None
    if ADDRESS in b.nodes:
        b.problem(f"{ADDRESS} is made by Scalpel from version.files and changelog",
                  b.where[ADDRESS], key=True, address=ADDRESS,
                  hint="list the files under version.files instead")
        return
    views = spec.package_views
    package_files = [{**({"path": f} if isinstance(f, str) else f.model_dump()),
                      "package": name} for name, package in spec.packages.items()
                     for f in package.files] + _dependency_ranges(b)
    changelogs = [{"package": name, "file": view.changelog.file}
                  for name, view in views.items() if changelog and view.changelog]
    if not spec.policy.files and not package_files and changelog is None:
        return
    files = [{"path": f} if isinstance(f, str) else f.model_dump() for f in spec.policy.files]
    config = b.registry.get("git_commit").config_model.model_validate(dict(
        files=files + package_files, message=spec.policy.commit_message,
        changelog_file=changelog.file if changelog and not views else None,
        changelog_marker=changelog.marker if changelog else "", changelogs=changelogs))
    phase = _default_phase("publish", _phase_names(b))
    where: list[str | int] = ["version", "files"] if spec.policy.files else \
        ["changelog"] if changelog else ["packages"]
    _add_node(b, Node(ADDRESS, "git_commit", "commit", "publish", config, phase), where)


def _read_dependencies(b: _Build) -> None:
    """Which packages need which; a cycle between packages is an error naming it."""
    spec = b.loaded.spec
    if not spec.packages:
        return
    from scalpel_plan.content.dependencies import internal_dependencies

    repo = b.loaded.root / spec.project.repository
    b.package_needs, b.manifests = internal_dependencies(repo, spec.packages)
    for name, needs in b.package_needs.items():
        for i, need in enumerate(needs):
            if need not in spec.packages:
                close = difflib.get_close_matches(need, list(spec.packages), n=1)
                b.problem(f"packages.{name}.depends_on: {need!r} is not a package",
                          ["packages", name, "depends_on", i],
                          hint=f"did you mean {close[0]!r}?" if close else
                          f"packages: {', '.join(spec.packages)}")
    known = {n: [d for d in needs if d in spec.packages] for n, needs in b.package_needs.items()}
    try:
        TopologicalSorter(known).prepare()
    except CycleError as exc:
        cycle = list(exc.args[1])  # [a, b, ..., a]
        cycle.reverse()
        where: list[str | int] = ["packages", cycle[0]]
        if spec.packages[cycle[0]].depends_on is not None:
            where.append("depends_on")
        b.problem(f"packages depend on each other in a cycle: {' → '.join(cycle)}", where,
                  key=len(where) == 2,
                  hint="a package cannot be published before what it needs: remove one of "
                  "these dependencies (or declare depends_on)")


def _check_package_paths(b: _Build) -> None:
    """A package path that matches no file git tracks (packages/parser for packages/parse)
    would release nothing, silently: an error at its place, with the closest folder git has.
    One ``git ls-files`` for every package (two when one is wrong)."""
    spec = b.loaded.spec
    repo = b.loaded.root / spec.project.repository
    if not spec.packages or not repo.is_dir():
        return
    from scalpel_plan.content.packages import GLOB, path_matcher

    every = [p for package in spec.packages.values() for p in package.paths]
    try:
        files = git.tracked(repo, every)
    except GitError:  # not a repository (validate needs none): nothing to check against
        return
    held = _folders_and_files(files)  # a plain path is one of them, or matches nothing
    folders: list[str] | None = None
    for name, package in spec.packages.items():
        for i, path in enumerate(package.paths):
            plain = path.strip("/")
            if plain in ("", ".") or (plain in held if not GLOB.search(path) else
                                      any(map(path_matcher([path]), files))):
                continue
            if folders is None:  # the suggestions: every folder git tracks a file in
                folders = sorted(_folders_and_files(git.tracked(repo)))
            close = difflib.get_close_matches(path.strip("/"), folders, n=1, cutoff=0.6)
            b.problem(f"packages.{name}.paths[{i}]: {path} matches no file git tracks: no "
                      "commit would ever release the package by it", ["packages", name,
                                                                      "paths", i],
                      hint=f"did you mean {close[0]}?" if close else
                      "give a folder or a file of the repository (a path from its top), or "
                      "`git add` the package's files first")


def _folders_and_files(files: list[str]) -> set[str]:
    """``files`` and every folder they are in."""
    found = set(files)
    for file in files:
        at = file.find("/")
        while at != -1:
            found.add(file[:at])
            at = file.find("/", at + 1)
    return found


def _publish_dependencies_first(b: _Build) -> None:
    """A package's publishes (other than its tag) wait for those of the packages it needs:
    a dependent is never published before what it depends on."""
    by_package: dict[str, list[str]] = {}
    for address, node in b.nodes.items():
        if node.package and node.section == "publish" and node.provider != "git":
            by_package.setdefault(node.package, []).append(address)
    for name, needs in b.package_needs.items():
        for need in needs:
            for before in by_package.get(need, []):
                for after in by_package.get(name, []):
                    if after not in _upstream(b, before):
                        b.edge(before, after)


def _tag_after_release_commit(b: _Build) -> None:
    if ADDRESS not in b.nodes:
        return
    for address, node in b.nodes.items():
        if node.provider == "git" and address != ADDRESS:
            b.edge(ADDRESS, address)


def _package_tags_in_turn(b: _Build) -> None:
    """The packages' git tags, each pushed with the branch, push one after another (two
    pushes of the branch at once would refuse each other): a package's after those of the
    packages it depends on, else in release.yml's order, so that a push that fails half way
    never leaves a package tagged before what it needs."""
    tags = [a for a, n in b.nodes.items() if n.provider == "git" and n.package is not None]
    rank = {name: i for i, name in enumerate(_dependencies_first(b))}
    tags.sort(key=lambda a: rank.get(b.nodes[a].package or "", len(rank)))
    for before, after in itertools.pairwise(tags):
        if before not in _downstream(b, after):
            b.edge(before, after)


def _dependencies_first(b: _Build) -> list[str]:
    """The packages, each after those it depends on, else in release.yml's order (a cycle,
    an error of its own, in release.yml's order)."""
    left = list(b.loaded.spec.packages)
    placed: list[str] = []
    while left:
        ready = next((n for n in left if all(d in placed or d not in left
                                                 for d in b.package_needs.get(n, []))), left[0])
        placed.append(ready)
        left.remove(ready)
    return placed


def _publish_after_push(b: _Build) -> None:
    """Every other publish (PyPI, images, the GitHub release) waits for the git tags, whose
    push carries the release commit: a push that fails publishes nothing. Where release.yml
    has a tag wait for a publish instead, its own order stands."""
    tags = [a for a, n in b.nodes.items() if n.provider == "git"]
    before_tags = set().union(*(_upstream(b, t) for t in tags))
    for address, node in b.nodes.items():
        if node.section != "publish" or node.provider in ("git", "git_commit") or \
                address in before_tags:
            continue
        for tag in tags:
            b.edge(tag, address)
    _announce_last(b)


def _announce_last(b: _Build) -> None:
    """Announcements go out after every publish, phases or not (they name what was
    published and the commit the tag is on), unless release.yml ordered it otherwise."""
    publishes = [a for a, n in b.nodes.items() if n.section == "publish"]
    for address, node in b.nodes.items():
        if node.section != "notify":
            continue
        after = _downstream(b, address)
        for publish in publishes:
            if publish not in after:
                b.edge(publish, address)


def _phase_names(b: _Build) -> list[str]:
    return [n.name for n in b.nodes.values() if n.ordered_phase]


def _default_phase(section: str, phases: list[str]) -> str | None:
    """With phases declared, a node runs in the phase named like its section, else the last."""
    if not phases:
        return None
    return section if section in phases else phases[-1]


def _add_explicit_needs(b: _Build) -> None:
    for address, node in b.nodes.items():
        for i, need in enumerate(node.config.needs):
            if need in b.nodes:
                b.edge(need, address)
            else:
                _unknown_need(b, address, need, [*b.where[address], "needs", i])
    for address, path in b.alert_only.items():  # no step, but what they name must exist
        raw: Any = b.loaded.source.data
        for part in path:
            raw = raw[part]
        for i, need in enumerate(raw.get("needs") or [] if isinstance(raw, dict) else []):
            if need not in b.nodes and need not in b.alert_only:
                _unknown_need(b, address, need, [*path, "needs", i])


def _unknown_need(b: _Build, address: str, need: str, path: list[str | int]) -> None:
    if need in b.alert_only:
        b.problem(f"{address} needs {need}, which only sends alerts (no `on: [success]`): "
                  "it is not a step of the release", path, address=address,
                  hint=f"remove {need} from `needs`")
        return
    close: list[str] = []
    if b.compared < MAX_COMPARED:  # a did-you-mean compares with every node: not for thousands
        provider = need.split(".", 1)[0]
        same = [a for a in b.nodes if a.split(".", 1)[0] == provider] or list(b.nodes)
        b.compared += len(same)
        close = difflib.get_close_matches(need, same, n=1, cutoff=0.6)
    shown = ", ".join(itertools.islice(b.nodes, MAX_NAMES_SHOWN)) + \
        (f" and {len(b.nodes) - MAX_NAMES_SHOWN:,} more" if len(b.nodes) > MAX_NAMES_SHOWN
         else "")
    b.problem(f"{address} needs unknown node '{need}'", path, address=address,
              hint=f"did you mean '{close[0]}'?" if close else f"declared nodes: {shown}")


def _add_phase_edges(b: _Build) -> None:
    gates = [n for n in b.nodes.values() if n.ordered_phase]
    members: dict[str, list[str]] = {g.name: [] for g in gates}
    for address, node in b.nodes.items():
        if node.ordered_phase or node.phase is None:
            continue
        if node.phase not in members:
            close = difflib.get_close_matches(node.phase, list(members), n=1)
            b.problem(f"{address} is in unknown phase '{node.phase}'",
                      [*b.where[address], "phase"], address=address,
                      hint=f"did you mean '{close[0]}'?" if close else
                      "phases are the stages of a list-form `stages:`; "
                      f"declared: {', '.join(members) or 'none'}")
            continue
        members[node.phase].append(address)
        b.edge(f"stage.{node.phase}", address)
    for previous, gate in itertools.pairwise(gates):
        b.edge(previous.address, gate.address)
        for member in members[previous.name]:
            b.edge(member, gate.address)


def _add_section_edges(b: _Build) -> None:
    """Nodes without a phase and without explicit needs run after the section before them;
    the release commit runs after the checks only (the stages that do not need it: the
    builds that do run on it)."""
    on_commit = _downstream(b, ADDRESS)
    earlier: list[str] = [a for a, n in b.nodes.items() if n.section == "stages" or n.phase]
    for section in ("publish", "notify"):
        sinks = _sinks(b, earlier)
        current = [a for a, n in b.nodes.items()
                   if n.section == section and n.phase is None and not n.config.needs]
        for address in current:
            before = sinks if address != ADDRESS else \
                _sinks(b, [a for a in earlier if a not in on_commit])
            for sink in before:
                b.edge(sink, address)
        earlier += [a for a, n in b.nodes.items() if n.section == section]


def _downstream(b: _Build, address: str) -> set[str]:
    """Every node that needs ``address``, directly or through others."""
    return _reach(b.dependents, address)


def _upstream(b: _Build, address: str) -> set[str]:
    """Every node ``address`` needs, directly or through others."""
    return _reach(b.requires, address)


def _reach(edges: dict[str, set[str]], address: str) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(address, ()))
    while stack:
        found = stack.pop()
        if found not in seen:
            seen.add(found)
            stack += edges.get(found, ())
    return seen


def _sinks(b: _Build, addresses: list[str]) -> list[str]:
    """Those of ``addresses`` that no other of them needs: the last ones to finish."""
    chosen = set(addresses)
    return [a for a in addresses if not any(s in chosen for s in b.dependents[a])]


def _run_order(b: _Build) -> list[str]:
    """Dependencies first; among nodes ready at once, the one declared first."""
    sorter = TopologicalSorter(b.requires)
    try:
        sorter.prepare()
    except CycleError:
        _report_cycles(b)
        return []
    rank = {a: i for i, a in enumerate(b.nodes)}
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for address in sorter.get_ready():
            heapq.heappush(ready, (rank[address], address))
        _, address = heapq.heappop(ready)
        order.append(address)
        sorter.done(address)
    return order


def _report_cycles(b: _Build) -> None:
    import networkx as nx

    dag = nx.DiGraph([(need, a) for a, needs in b.requires.items() for need in needs])
    rank = {a: i for i, a in enumerate(b.nodes)}
    for found in itertools.islice(nx.simple_cycles(dag), MAX_CYCLES_SHOWN):
        start = min(range(len(found)), key=lambda i: rank[found[i]])
        cycle = found[start:] + found[:start]  # named from the node declared first
        loop = " → ".join([*cycle, cycle[0]])
        first = cycle[0]
        b.problem(f"dependency cycle: {loop}", [*b.where[first], "needs"], address=first,
                  hint="remove one of these `needs` (or a phase) to break the cycle")


def _check_alert_channels(b: _Build) -> None:
    alerts = b.loaded.spec.alerts
    notify = b.loaded.spec.notify
    for i, channel in enumerate(alerts.on_failure if alerts else []):
        if channel in ("console", "custom"):
            continue
        path: list[str | int] = ["alerts", "on_failure", i]
        if channel not in notify:
            close = difflib.get_close_matches(channel, list(notify), n=1)
            b.problem(f"alerts.on_failure names {channel}, which is not a notify node", path,
                      hint=f"did you mean {close[0]}?" if close else
                      "declare it under `notify:` (with `on: [failure]` to use it only for "
                      "alerts), or use console or custom")
        elif not getattr(b.registry.find(channel.split(".")[0]), "announces", False):
            b.problem(f"alerts.on_failure: {channel} cannot send alerts", path,
                      hint="use a slack, email or webhook node, console or custom")


def _check_notes_template(b: _Build) -> None:
    spec = b.loaded.spec
    if spec.notes is not None:
        _check_template(b, spec.notes.template, ["notes", "template"])
    for name, package in spec.packages.items():  # a package's own template
        if package.notes is not None:
            _check_template(b, package.notes.template, ["packages", name, "notes", "template"])


def _check_template(b: _Build, template: str, path: list[str | int]) -> None:
    from scalpel_plan.content.notes import BUILTIN, MAX_TEMPLATE, template_problem

    if template in BUILTIN:
        return
    where = ".".join(str(p) for p in path)
    file = b.loaded.root / template
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_TEMPLATE + 1)
    except (OSError, ValueError) as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else \
            getattr(exc, "strerror", None) or "not a readable file"
        b.problem(f"{where}: {template}: {reason}", path,
                  hint=f"built-in templates: {', '.join(BUILTIN)}; or a Jinja2 file relative "
                  "to release.yml")
        return
    if len(data) > MAX_TEMPLATE:
        b.problem(f"{where}: {template} is over {MAX_TEMPLATE:,} bytes", path,
                  hint="a release-notes template is a page of text")
        return
    try:
        problem = template_problem(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.start})"
    if problem is not None:
        b.problem(f"{where}: {template}: {problem}", path)


def _check_secret_refs(b: _Build) -> None:
    declared = set(b.loaded.spec.secrets)
    for address, node in b.nodes.items():
        if node.section != "stages" and node.package is None and \
                address not in getattr(b.loaded.spec, node.section):
            continue  # made by Scalpel (git.commit): nothing the user wrote to check
        path = b.where[address]
        raw: Any = b.loaded.source.data
        for part in path:
            raw = raw[part]
        for sub_path, text in _strings(raw, path):
            for match in SECRET_REF.finditer(text):
                _check_secret(b, match.group(1), declared, sub_path, address)
                if node.section == "stages":
                    _check_stage_secret(b, node, match.group(1), sub_path, address)
        if isinstance(node.config, NodeConfig) and hasattr(node.config, "secrets"):
            for i, name in enumerate(getattr(node.config, "secrets", [])):
                _check_secret(b, name, declared, [*path, "secrets", i], address)


def _check_secret(b: _Build, name: str, declared: set[str], path: list[str | int],
                  address: str) -> None:
    if name in declared:
        return
    close = difflib.get_close_matches(name, sorted(declared), n=1)
    example = f"{name or 'name'}: {{env: {name.upper() or 'VAR'}}}"
    b.problem(f"{address} uses undeclared secret '{name}'", path, address=address,
              hint=f"did you mean '{close[0]}'?" if close
              else f"declare it under `secrets:`, e.g. {example}")


def _check_stage_secret(b: _Build, node: Node, name: str, path: list[str | int],
                        address: str) -> None:
    """A stage gets only the secrets its `secrets:` lists, as their variables: a reference
    in `run:` would put the value on a command line (or reach the shell as it is), one in
    `env:` to a secret it does not list would hand it over by the back door."""
    config = node.config
    listed = getattr(config, "secrets", [])
    decl = b.loaded.spec.secrets.get(name)
    where = b.where[address]
    field = path[len(where)] if len(path) > len(where) else None
    if decl is None:
        return  # undeclared: said already
    variable = f"${decl.env}"
    if field == "run":
        how = (f"use {variable} in the command (the stage lists {name})" if name in listed
               else f"list it under this stage's `secrets: [{name}]` and use {variable}")
        b.problem(f"{address}: ${{secrets.{name}}} in `run:` is not replaced (a secret never "
                  "goes on a command line)", path, address=address, hint=how)
    elif field == "env" and name not in listed:
        b.problem(f"{address} passes secret '{name}' in `env:` without listing it under "
                  "`secrets:`", path, address=address,
                  hint=f"add it: `secrets: [{name}]` (a stage gets only the secrets it "
                  "lists, as their variables)")


def _strings(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, [*path, k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, [*path, i])


def graph_dot(graph: Graph) -> str:
    """Graphviz DOT; edges point from a node to what needs it."""
    lines = ["digraph release {", "  rankdir=LR;", "  node [shape=box];"]
    for address in graph.order:
        node = graph.nodes[address]
        shape = ' shape=cds' if node.ordered_phase else ""
        lines.append(f'  "{address}" [label="{address}"{shape}];')
    lines += [f'  "{a}" -> "{b}";' for a, b in graph.edges()]
    return "\n".join([*lines, "}"])


def graph_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart (renders in GitHub Markdown)."""
    ids = {a: f"n{i}" for i, a in enumerate(graph.order)}
    lines = ["flowchart LR"]
    lines += [f'  {ids[a]}["{a}"]' for a in graph.order]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges()]
    return "\n".join(lines)
