"""The changelog of a project: the next release's, a range's or the whole history's.

It opens only what it reads: the spec's project, version, changelog and secrets sections
(``spec.load_sections``: no models of the whole spec, no graph, no providers), the git work
tree, and the recorded state only for the next release (an unfinished one continues). A
monorepo's next release is the plan's (the dependency bumps and groups are decided across
packages): that one opens the whole project, as `scalpel plan` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan import git
from scalpel_plan.content.changelog import ChangelogGenerator, ReleaseChanges
from scalpel_plan.content.history import UNRELEASED
from scalpel_plan.errors import ScalpelError
from scalpel_plan.secrets import SecretsManager, declared_envs
from scalpel_plan.spec import Sections, load_sections, pyproject_name
from scalpel_plan.workspace import STATE_FOLDER

if TYPE_CHECKING:
    from scalpel_plan.spec.sections import SpecView

OnSecret = Callable[[str], None]  # told each secret value as it is loaded (::add-mask::)


@dataclass(frozen=True)
class Changelog:
    """What `scalpel changelog` shows: the releases (newest first) and how to render them."""

    releases: list[ReleaseChanges]
    generator: ChangelogGenerator
    project_name: str
    root: Path  # the folder release.yml is in (the changelog file is relative to it)
    repo: Path  # the top of the work tree, which the changelog file must stay in
    left_out: list[str] = field(default_factory=list)  # release tags on other branches
    packages: list[str] = field(default_factory=list)  # a monorepo's, when no --package


def changelog(spec_path: Path, *, whole: bool = False, since: str | None = None,
              to: str = "HEAD", version: str | None = None, pre: str | None = None,
              on_secret: OnSecret | None = None, package: str | None = None) -> Changelog:
    """The next release's changelog; with ``whole``, every release of ``to``'s history; with
    ``since``, the releases from ``since`` to ``to``. With ``package``, a monorepo package's:
    its commits, its tags, its changelog file."""
    root = spec_path.resolve().parent
    workdir = root / STATE_FOLDER
    spec = load_sections(spec_path, str(spec_path), cache=workdir / "cache")
    SecretsManager(declared_envs(spec.data.get("secrets")), on_load=on_secret).load_all()
    repo = _repository(root, spec)
    _check_paths(spec_path, repo, spec)
    name = spec.project_name or pyproject_name(root) or root.name
    if spec.package_views:
        return _monorepo(spec_path, spec, repo, root, whole=whole, since=since, to=to,
                         version=version, pre=pre, on_secret=on_secret, package=package)
    if package is not None:
        _package(spec, package)  # names the error: release.yml declares no packages
    generator = ChangelogGenerator(spec.changelog)
    if whole or since:
        left_out: list[str] = []
        releases = _history(repo, spec, generator, workdir, since, to, left_out)
        return Changelog(releases, generator, name, root, repo, left_out if not since else [])
    from scalpel_plan.content import versioning
    from scalpel_plan.content.sections import release_changes
    from scalpel_plan.state.choice import open_backend

    backend = open_backend(spec.data.get("state"), repo, workdir, project=name)
    decision = versioning.decide(repo, spec, backend.read(), version, pre=pre)
    return Changelog([release_changes(spec, decision, generator)], generator, name, root,
                     repo)


def _history(repo: Path, view: SpecView, generator: ChangelogGenerator, workdir: Path,
             since: str | None, to: str, left_out: list[str],
             belongs: Callable[..., bool] | None = None) -> list[ReleaseChanges]:
    """The releases of ``to``'s history (from ``since``), newest first."""
    from scalpel_plan.content import history

    for option, ref in (("--from", since), ("--to", to)):
        if ref is not None and not git.has_commit(repo, ref):
            raise ScalpelError(f"{option} {ref} is not a commit of this repository",
                               hint="give a tag, a branch or a commit (`git log REF` "
                               "shows it); in a shallow clone, `git fetch --tags "
                               "--unshallow` first")
    return history.releases(repo, view, generator,
                            revisions=f"{since}..{to}" if since else to,
                            cache=workdir / "cache", left_out=left_out, belongs=belongs)


def _monorepo(spec_path: Path, spec: Sections, repo: Path, root: Path, *, whole: bool,
              since: str | None, to: str, version: str | None, pre: str | None,
              on_secret: OnSecret | None, package: str | None) -> Changelog:
    """A monorepo's changelog. The next release's is the plan's: every package decided as
    `scalpel plan` decides it (its own commits and tags, the groups, the dependency bumps),
    the section of ``package`` or, without it, one section per package that moves, each
    headed by its tag (as changesets' "Version Packages" pull request lists them). The
    history (--all, --from) is one package's, by its tags."""
    workdir = root / STATE_FOLDER
    if package is None and (whole or since):
        raise ScalpelError(f"{'--all' if whole else '--from'} in a monorepo is one package's "
                           "history", hint="add --package NAME (packages: "
                           f"{', '.join(spec.package_views)})")
    if package is not None:
        _package(spec, package)
    if version is not None and package is None:
        raise ScalpelError("--version sets one package's version",
                           hint="add --package NAME (packages: "
                           f"{', '.join(spec.package_views)})")
    generator = ChangelogGenerator(spec.package_views[package].changelog if package
                                   else spec.changelog)
    name = package or spec.project_name or pyproject_name(root) or root.name
    if not (whole or since):
        planned = _planned(spec_path, on_secret, package, version, pre)
        if package is None:
            moving = [replace(c, package=n) for n, c in planned.items()
                      if c.version != UNRELEASED]
            return Changelog(moving or list(planned.values())[:1], generator, name, root, repo,
                             packages=list(spec.package_views))
        return Changelog([planned[package]], generator, name, root, repo)
    from scalpel_plan.content.packages import belongs_to

    # The history is the tags' (the commits no tag holds yet: "Unreleased", as a single
    # project's): deciding the next version as the plan does reads the whole history once
    # more, which would double the time of a package's history.
    assert package is not None
    belongs = belongs_to(spec.package_views, package, spec.paths_shared,
                         spec.policy.commit_message)
    left_out: list[str] = []
    releases = _history(repo, spec.package_views[package], generator, workdir, since, to,
                        left_out, belongs)
    return Changelog(releases, generator, name, root, repo, left_out if not since else [])


def _planned(spec_path: Path, on_secret: OnSecret | None, package: str | None,
             version: str | None, pre: str | None) -> dict[str, ReleaseChanges]:
    """Each package's next release as `scalpel plan` decides it (UNRELEASED for one that
    does not move), in release.yml's order."""
    from scalpel_plan.content.sections import release_changes
    from scalpel_plan.operations.project import open_project
    from scalpel_plan.plan.packages import decide_packages
    from scalpel_plan.providers.base import Release

    project = open_project(spec_path, on_secret=on_secret)
    workspace = project.workspace
    commit = git.head(workspace.repo) or ""
    base = Release(project=project.loaded.project_name, version="", previous=None, tag="",
                   commit=commit, repo=workspace.repo, workdir=workspace.workdir)
    only = [package] if version is not None and package else None  # --version: its own
    monorepo = decide_packages(project.loaded, project.graph, workspace,
                               project.backend.read(), base, only=only, version=version,
                               pre=pre)
    return {n: release_changes(p.view, p.decision, ChangelogGenerator(p.view.changelog))
            for n, p in monorepo.packages.items()}


def _package(spec: Sections, package: str) -> SpecView:
    views = spec.package_views
    if package not in views:
        import difflib

        close = difflib.get_close_matches(package, list(views), n=1)
        raise ScalpelError(f"--package {package}: release.yml has no such package",
                           hint=f"did you mean {close[0]}?" if close else
                           f"packages: {', '.join(views) or 'none (no packages: section)'}")
    return views[package]


def _check_paths(spec_path: Path, repo: Path, spec: Sections) -> None:
    """The files these sections name stay in the repository (as `scalpel validate` checks
    them; checked on every run, since a link may have changed): a SpecError at their place."""
    from scalpel_plan.files import IN_REPOSITORY_HINT, path_problem

    named: list[tuple[list[str | int], object]] = []
    version, changelog = spec.data.get("version"), spec.data.get("changelog")
    if isinstance(version, dict) and isinstance(version.get("files"), list):
        for i, rule in enumerate(version["files"]):
            if isinstance(rule, dict):
                named.append((["version", "files", i, "path"], rule.get("path")))
            else:
                named.append((["version", "files", i], rule))
    if isinstance(changelog, dict):
        named.append((["changelog", "file"], changelog.get("file")))
    bad = [(where, value, problem) for where, value in named if isinstance(value, str)
           and (problem := path_problem(repo, value)) is not None]
    if not bad:
        return
    from scalpel_plan.errors import Diagnostic, SpecError
    from scalpel_plan.spec.source import read_source

    source = read_source(spec_path, str(spec_path))
    diagnostics = []
    for where, value, problem in bad:
        d = source.diagnostic(f"{'.'.join(map(str, where))}: {value!r} {problem}", where)
        diagnostics.append(Diagnostic(d.message, d.file, d.line, d.col, hint=IN_REPOSITORY_HINT))
    raise SpecError(f"{source.display} is not valid", diagnostics=diagnostics)


def _repository(root: Path, spec: Sections) -> Path:
    declared = root / spec.repository
    if (declared / ".git").exists():  # the top of a work tree, as most projects have it
        return declared
    repo = git.find_root(declared) if declared.is_dir() else None
    if repo is None:
        raise ScalpelError(
            f"{declared} is not inside a git repository",
            hint="run scalpel in a git work tree, or set project.repository in release.yml")
    return repo
