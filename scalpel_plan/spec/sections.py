"""The sections of release.yml that the content commands read (project, version, changelog,
secrets), typed without pydantic: `scalpel changelog` reads these and nothing else, so it
starts without importing the whole spec's models (a fifth of its time on a small history).

``VersionView`` and ``ChangelogView`` are what the content layer asks of a spec; the pydantic
models of ``spec.model`` satisfy them, and so do the plain values here, made from release.yml
data already validated against the schema. The defaults are the models' own: a test checks
that the two agree field by field.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

Part = Literal["major", "minor", "patch"]
DEFAULT_BUMPS: dict[str, Part] = {"feat": "minor", "fix": "patch", "perf": "patch"}
DEFAULT_CATEGORIES = {
    "feat": "Features", "fix": "Bug Fixes", "perf": "Performance", "revert": "Reverts",
    "docs": "Documentation", "refactor": "Refactoring", "style": "Styling", "test": "Testing",
    "build": "Build System", "ci": "Continuous Integration", "chore": "Miscellaneous",
}
READ = ("project", "version", "changelog", "secrets", "packages", "paths_shared")  # the
# sections the content commands read


if TYPE_CHECKING:  # types only (a Protocol costs a millisecond to make at run time)

    class VersionView(Protocol):
        """What the content layer reads of ``version:``."""

        @property
        def scheme(self) -> str: ...
        @property
        def tag(self) -> str | list[str]: ...
        @property
        def tag_formats(self) -> list[str]: ...
        @property
        def ignore_tags(self) -> list[str]: ...
        @property
        def pre_start(self) -> int | None: ...
        @property
        def initial(self) -> str: ...
        @property
        def zero_major_breaking(self) -> str: ...
        @property
        def bumps(self) -> Mapping[str, str]: ...
        @property
        def commit_message(self) -> str: ...


    class ChangelogView(Protocol):
        """What the content layer reads of ``changelog:``."""

        @property
        def file(self) -> str: ...
        @property
        def marker(self) -> str: ...
        @property
        def categories(self) -> Mapping[str, str]: ...
        @property
        def other(self) -> str: ...
        @property
        def commits(self) -> str | None: ...
        @property
        def issues(self) -> str | None: ...
        @property
        def pulls(self) -> str | None: ...
        @property
        def compare(self) -> str | None: ...
        @property
        def contributors(self) -> bool: ...


    class SpecView(Protocol):
        """What the content layer reads of a spec: its version policy and changelog settings."""

        @property
        def policy(self) -> VersionView: ...
        @property
        def changelog(self) -> ChangelogView | None: ...
        @property
        def fixed_version(self) -> str | None: ...


@dataclass(frozen=True)
class VersionSettings:
    scheme: str = "semver"
    tag: str | list[str] = "v{version}"
    ignore_tags: list[str] = field(default_factory=list)
    pre_start: int | None = None
    initial: str = "0.1.0"
    zero_major_breaking: str = "minor"
    bumps: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BUMPS))
    commit_message: str = "chore(release): {version}"

    @property
    def tag_formats(self) -> list[str]:
        """The tag formats, the one new tags are made with first."""
        return [self.tag] if isinstance(self.tag, str) else list(self.tag)


@dataclass(frozen=True)
class ChangelogSettings:
    file: str = "CHANGELOG.md"
    marker: str = "<!-- scalpel: new releases go below this line -->"
    categories: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    other: str = "ignore"
    commits: str | None = None
    issues: str | None = None
    pulls: str | None = None
    compare: str | None = None
    contributors: bool = True
    update: bool = True


@dataclass(frozen=True)
class PackageSettings:
    """A package of a monorepo as the content layer reads it (``spec.model.PackageConfig``
    holds the same defaults)."""

    paths: list[str] = field(default_factory=list)
    tag: str | list[str] = "{name}@{version}"
    scheme: str | None = None
    initial: str | None = None
    files: list[Any] = field(default_factory=list)
    changelog: str | None = None
    scopes: list[str] = field(default_factory=list)
    notes: Any = None  # {template: ...}, as release.yml spells it


@dataclass(frozen=True)
class PackageView:
    """One package as a spec of its own (``SpecView``): the top-level version policy with the
    package's tag formats ({name} filled in), scheme and initial version, and the top-level
    changelog settings with the package's file. Other packages' tags are ignored."""

    name: str
    paths: tuple[str, ...]
    scopes: tuple[str, ...]
    policy: VersionSettings
    changelog: ChangelogSettings | None
    files: tuple[Any, ...] = ()
    fixed_version: str | None = None
    notes: str | None = None  # its own release-notes template (None: the top-level one)


def package_views(policy: VersionView, changelog: ChangelogView | None,
                  packages: Mapping[str, Any]) -> dict[str, PackageView]:
    """Every package (``packages:``, models or PackageSettings) as a PackageView."""
    formats = {name: [f.replace("{name}", name) for f in
                      ([p.tag] if isinstance(p.tag, str) else list(p.tag))]
               for name, p in packages.items()}
    views = {}
    for name, package in packages.items():
        others = [f.replace("{version}", "*") for other, fs in formats.items() if other != name
                  for f in fs]
        samples = [f.replace("{version}", "1.0.0") for f in formats[name]]
        kept = [g for g in policy.ignore_tags  # a glob that would hide its own tags is not its
                if not any(fnmatch.fnmatchcase(t, g) for t in samples)]
        own = VersionSettings(
            scheme=package.scheme or policy.scheme, tag=formats[name],
            ignore_tags=[*kept, *others], pre_start=policy.pre_start,
            initial=package.initial or policy.initial,
            zero_major_breaking=policy.zero_major_breaking, bumps=dict(policy.bumps),
            commit_message=policy.commit_message)
        log = None
        if changelog is not None:
            first = package.paths[0].rstrip("/")
            file = package.changelog or (f"{first}/CHANGELOG.md" if first else "CHANGELOG.md")
            log = ChangelogSettings(**{**{k: getattr(changelog, k) for k in
                                          ChangelogSettings.__dataclass_fields__
                                          if hasattr(changelog, k)}, "file": file})
        views[name] = PackageView(name, tuple(package.paths), tuple(package.scopes), own, log,
                                  tuple(package.files), notes=_template(package.notes))
    return views


def _template(notes: Any) -> str | None:
    """A package's ``notes:`` (a model, or the mapping release.yml holds) as its template."""
    if notes is None:
        return None
    found = notes.get("template", "default") if isinstance(notes, Mapping) else notes.template
    return str(found)


@dataclass(frozen=True)
class Sections:
    """The sections read, typed; ``data`` is those sections of release.yml as plain values."""

    data: Mapping[str, Any]
    policy: VersionSettings
    changelog: ChangelogSettings | None
    fixed_version: str | None

    @property
    def package_views(self) -> dict[str, PackageView]:
        raw = self.data.get("packages") or {}
        return package_views(self.policy, self.changelog, {
            name: PackageSettings(**_fields(PackageSettings, value))
            for name, value in raw.items()})

    @property
    def paths_shared(self) -> list[str]:
        return list(self.data.get("paths_shared") or [])

    @property
    def project_name(self) -> str | None:
        name = (self.data.get("project") or {}).get("name")
        return name if isinstance(name, str) and name else None

    @property
    def repository(self) -> str:
        return str((self.data.get("project") or {}).get("repository", "."))


def sections_of(data: Mapping[str, Any]) -> Sections:
    """The sections of ``data`` (release.yml as plain values, valid against the schema)."""
    kept = {k: data[k] for k in READ if k in data}
    version = kept.get("version")
    policy = VersionSettings(**_fields(VersionSettings, version)) \
        if isinstance(version, dict) else VersionSettings()
    changelog = kept.get("changelog")
    return Sections(kept, policy,
                    ChangelogSettings(**_fields(ChangelogSettings, changelog))
                    if isinstance(changelog, dict) else None,
                    version if isinstance(version, str) else None)


def _fields(kind: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``values`` that ``kind`` reads (the schema allows others: version.files)."""
    names = kind.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in values.items() if k in names}
