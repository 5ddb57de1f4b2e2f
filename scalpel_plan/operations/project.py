"""A project opened for an operation: its secrets loaded and masked first, then its spec loaded
and compiled, its repository and its state found.

Whatever the command, opening a project registers every declared secret's value with the
mask before anything else can print, write or send text: a secret quoted in a commit message
is masked by ``scalpel changelog`` exactly as by ``scalpel plan``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
from scalpel_plan.secrets import SecretsManager, declared_envs
from scalpel_plan.state import State, StateBackend
from scalpel_plan.state.choice import open_backend
from scalpel_plan.state.local import LocalBackend
from scalpel_plan.workspace import STATE_FOLDER, Workspace

if TYPE_CHECKING:  # imported by open_project: the read-only commands never need them
    from scalpel_plan.graph import Graph
    from scalpel_plan.providers.registry import Registry
    from scalpel_plan.spec import LoadedSpec

OnSecret = Callable[[str], None]  # told each secret value as it is loaded (::add-mask::)


@dataclass(frozen=True)
class Project:
    loaded: LoadedSpec
    graph: Graph
    registry: Registry
    workspace: Workspace
    backend: StateBackend
    secrets: SecretsManager


@dataclass(frozen=True)
class Records:
    """What the read-only commands (status, history, metrics, profile) need: the project's
    name and its recorded state. The spec is read for the name and the secrets' variables
    only, not compiled, so the records stay readable while release.yml is being edited."""

    project_name: str
    backend: StateBackend
    state_key: str = ""  # the project's key in a store that holds many (PostgreSQL)
    packages: dict[str, list[str]] = field(default_factory=dict)  # a monorepo's: tag formats
    nodes: dict[str, list[str]] = field(default_factory=dict)  # a monorepo's: its nodes

    def others(self, only: list[str]) -> set[str]:
        """The nodes of the packages not in ``only`` (--package; none: no node)."""
        return {a for n, nodes in self.nodes.items() if only and n not in only for a in nodes}

    def read(self) -> State:
        """The recorded state, a monorepo's releases all in the per-package form (those
        recorded before releases named their packages read back from their names)."""
        from scalpel_plan.state.packages import read_back

        return read_back(self.backend.read(), self.packages)

    def chosen(self, wanted: list[str] | None, state: State) -> list[str]:
        """``wanted`` (--package), once each is a package release.yml declares or the state
        records; none: every package."""
        from scalpel_plan.state.packages import checked_packages, packages_in

        known = list(dict.fromkeys([*self.packages, *packages_in(state)]))
        return checked_packages(wanted, known) if wanted else []


def open_records(spec_path: Path, *, on_secret: OnSecret | None = None) -> Records:
    from scalpel_plan.spec import pyproject_name
    from scalpel_plan.spec.source import read_source

    source = read_source(spec_path, str(spec_path))
    SecretsManager(declared_envs(source.data.get("secrets")), on_load=on_secret).load_all()
    project = source.data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    root = spec_path.resolve().parent
    if not isinstance(name, str) or not name:
        name = pyproject_name(root) or root.name
    section = source.data.get("state")
    key = section.get("project") if isinstance(section, dict) else None
    return Records(name, open_backend(section, git.find_root(root), root / STATE_FOLDER,
                                      project=name),
                   key if isinstance(key, str) and key else name,
                   package_tags(source.data.get("packages")),
                   package_nodes(source.data.get("packages")))


def package_nodes(packages: object) -> dict[str, list[str]]:
    """A monorepo's packages (as read, not yet checked) with the addresses of their own nodes
    (publish: and notify:)."""
    found: dict[str, list[str]] = {}
    for name, package in (packages.items() if isinstance(packages, dict) else ()):
        if isinstance(name, str) and isinstance(package, dict):
            found[name] = [a for section in ("publish", "notify")
                           if isinstance(nodes := package.get(section), dict)
                           for a in nodes if isinstance(a, str)]
    return found


def package_tags(packages: object) -> dict[str, list[str]]:
    """A monorepo's packages (release.yml's ``packages:``, as read, not yet checked) with their
    tag formats, {name} filled in; what is not a package is left out."""
    found: dict[str, list[str]] = {}
    for name, package in (packages.items() if isinstance(packages, dict) else ()):
        tag = package.get("tag", "{name}@{version}") if isinstance(package, dict) else None
        formats = [tag] if isinstance(tag, str) else tag if isinstance(tag, list) else []
        if isinstance(name, str):
            found[name] = [f.replace("{name}", name) for f in formats
                           if isinstance(f, str) and "{version}" in f] or [f"{name}@{{version}}"]
    return found


def every_project(records: Records) -> list[dict[str, str | None]]:
    """Each project's last release in a store that holds many (`scalpel status --all`)."""
    from scalpel_plan.state import ManyProjects

    backend = records.backend
    if not isinstance(backend, ManyProjects):
        raise ScalpelError(f"`status --all` lists the projects of a store that holds many; "
                           f"{backend.describe()} holds this project's state alone",
                           hint="`scalpel status` shows this project; the postgres backend "
                           "(release.yml's `state: {backend: postgres, url: ...}` or "
                           "SCALPEL_STATE=postgresql://...) holds many")
    found = []
    for name, state in backend.project_states().items():
        last = state.current_release()
        found.append({"project": name, "live": state.live_version(),
                      "last_release": last.version if last else None,
                      "status": last.status if last else None,
                      "tag": last.tag if last else None,
                      "finished_at": last.finished_at if last else None})
    return found


def open_project(spec_path: Path, *, need_repo: bool = True,
                 on_secret: OnSecret | None = None) -> Project:
    """Load, validate and compile ``spec_path``; load its secrets; find its git work tree and
    its state."""
    from scalpel_plan.graph import compile_graph
    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec import load_spec
    from scalpel_plan.spec.source import read_source

    # The secrets first, from the raw spec: a spec error quoting a value is masked too.
    raw = read_source(spec_path, str(spec_path))
    SecretsManager(declared_envs(raw.data.get("secrets")), on_load=on_secret).load_all()
    registry = default_registry()
    configs = registry.node_configs() if registry.has_plugins() else None
    cache = spec_path.resolve().parent / STATE_FOLDER / "cache"
    loaded = load_spec(spec_path, configs, display=str(spec_path), cache=cache, source=raw,
                       models=registry.node_configs())
    secrets = SecretsManager(loaded.spec.secrets, on_load=on_secret)
    secrets.load_all()
    graph = compile_graph(loaded, registry)
    declared = loaded.root / loaded.spec.project.repository
    repo = git.find_root(declared) if declared.is_dir() else None
    in_a_clone = repo is not None
    if repo is None:
        if need_repo:
            raise ScalpelError(
                f"{declared} is not inside a git repository",
                hint="run scalpel in a git work tree, or set project.repository in release.yml")
        repo = declared
    _check_paths(loaded, graph, repo)
    workdir = loaded.root / STATE_FOLDER
    # validate, graph and secrets read no state: outside a clone they need no remote for it
    backend = open_backend(raw.data.get("state"), repo, workdir, project=loaded.project_name) \
        if in_a_clone or need_repo else LocalBackend(workdir)
    return Project(loaded, graph, registry, Workspace(repo, workdir), backend, secrets)


def _check_paths(loaded: LoadedSpec, graph: Graph, repo: Path) -> None:
    """Every file release.yml names is one of the repository's (never outside it, nor in
    .git/), reported where release.yml names it."""
    from scalpel_plan.errors import SpecError
    from scalpel_plan.plan.paths import path_problems

    problems = path_problems(loaded, graph, repo)
    if problems:
        raise SpecError(f"{loaded.source.display} names files outside the repository or in .git/",
                        diagnostics=problems)
