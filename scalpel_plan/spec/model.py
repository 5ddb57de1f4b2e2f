"""The typed release spec: frozen pydantic models, and the one source of the JSON Schema.

``schemas/release.schema.json`` is generated from these models (see ``spec.schema``); a test
fails when the committed file and the models drift apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scalpel_plan.spec.patterns import (  # re-exported: the models' own patterns
    ADDRESS_PATTERN,
    ALERT_PATTERN,
    ENV_PATTERN,
    FIXED_VERSION_PATTERN,
    NAME_PATTERN,
    POSTGRES_URL_PATTERN,
    PROJECT_KEY_PATTERN,
    SEMVER_PATTERN,
)
from scalpel_plan.spec.sections import (
    DEFAULT_BUMPS,
    DEFAULT_CATEGORIES,
    PackageView,
    Part,
    package_views,
)

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN, description="A node: <provider>.<name>")]
Seconds = Annotated[float, Field(gt=0, description="Seconds")]
SecretRef = Annotated[str, Field(
    pattern=r"^\$\{\s*secrets\.[A-Za-z0-9_-]+\s*\}$",
    description="A declared secret, ${secrets.NAME}: never the value itself")]


@dataclass(frozen=True)
class InRepository:
    """Field metadata: the value (each value, of a list) is a path or a ``glob`` pattern of a
    file in the repository; validate checks that it stays inside it, outside .git/ (values
    starting with ``unless_prefix`` name something else)."""

    glob: bool = False
    unless_prefix: str | None = None


class Model(BaseModel):
    """Frozen, and strict about unknown keys: a misspelt key is an error, never ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              defer_build=True)


class Project(Model):
    name: str | None = Field(None, description="Defaults to pyproject.toml's name or the folder")
    repository: str = Field(".", description="The git work tree, relative to release.yml")


class VersionFileRule(Model):
    path: Annotated[str, InRepository()]
    pattern: str | None = Field(None, description="A regex with a (?P<version>...) group")


TagFormat = Annotated[str, Field(pattern=r"\{version\}")]


class VersionPolicy(Model):
    scheme: Literal["semver", "pep440", "calver"] = "semver"
    from_: Literal["conventional-commits"] = Field("conventional-commits", alias="from")
    tag: TagFormat | Annotated[list[TagFormat], Field(min_length=1)] = Field(
        "v{version}", description="Tag format; {version} is replaced by the version. A list: "
        "every format is read when finding released versions, the first is used for new tags"
    )
    ignore_tags: list[str] = Field(
        default_factory=list, description="Glob patterns of tags to ignore entirely (e.g. other "
        "packages' tags in a monorepo: 'create-vite@*'), never warned about")
    pre_start: Literal[0, 1] | None = Field(
        None, description="The number a new pre-release series starts at (rc.0 or rc.1); "
        "default: as the repository's own series of that label start, else 1")
    initial: Annotated[str, Field(pattern=SEMVER_PATTERN)] = Field(
        "0.1.0", description="The first release's version when no release tag exists"
    )
    zero_major_breaking: Literal["minor", "major"] = Field(
        "minor", description="What a breaking change bumps while the major version is 0"
    )
    bumps: dict[str, Part] = Field(
        default_factory=lambda: dict(DEFAULT_BUMPS),
        description="Commit type → the part it bumps (a breaking change always bumps major); "
        "other types bump nothing")
    files: Annotated[list[str | VersionFileRule], InRepository()] = Field(
        default_factory=list, description="Files that spell the version: bumped in the release "
        "commit (pyproject.toml, package.json, uv.lock, package-lock.json, *.py with "
        "__version__, or {path, pattern})")
    commit_message: str = Field("chore(release): {version}",
                                description="The release commit's message")

    @property
    def tag_formats(self) -> list[str]:
        """The tag formats, the one new tags are made with first."""
        return [self.tag] if isinstance(self.tag, str) else list(self.tag)


FixedVersion = Annotated[
    str, Field(pattern=FIXED_VERSION_PATTERN, description="A fixed version for the next release")
]




class ChangelogConfig(Model):
    file: Annotated[str, InRepository()] = Field("CHANGELOG.md", description="The changelog "
                                                 "the release updates")
    marker: str = Field("<!-- scalpel: new releases go below this line -->",
                        description="New sections are inserted right under this line")
    categories: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORIES),
        description="Commit type → section title, in the order shown (breaking changes first)")
    other: Literal["keep", "ignore"] = Field(
        "ignore", description="What to do with messages that are not Conventional Commits")
    commits: str | None = Field(None, description="Commit URL template, with {sha}")
    issues: str | None = Field(None, description="Issue URL template, with {id}")
    pulls: str | None = Field(None, description="Pull request URL template, with {id}")
    compare: str | None = Field(None, description="Compare URL, with {previous} and {tag}")
    contributors: bool = True
    update: bool = Field(True, description="Write the new section into `file` in the release "
                         "commit")


class NotesConfig(Model):
    template: str = Field("default", description="default, minimal, detailed, breaking, or a "
                          "template file (Jinja2) relative to release.yml")


class SecretDecl(Model):
    """A secret: its value comes from the environment variable ``env``, never from a file."""

    env: Annotated[str, Field(pattern=ENV_PATTERN,
                              description="The environment variable that holds the value")]
    pattern: str | None = Field(None, description="A regex the value must match")
    min_length: Annotated[int, Field(ge=1)] | None = None
    expires: dt.date | None = Field(None, description="An error after this date")
    warn_days: Annotated[int, Field(ge=0)] = Field(
        14, description="A warning from this many days before `expires`")
    ttl: Seconds = Field(900, description="Seconds a loaded value is reused before the "
                         "environment is read again")


class NodeConfig(Model):
    """What every node accepts, whatever its provider."""

    # The fields filled with {version}, {tag}, ... (providers.base.fill): checked at validate
    templates: ClassVar[tuple[str, ...]] = ()
    # The fields that name git refs or remotes (git's rules, no leading '-'): checked too
    git_names: ClassVar[tuple[str, ...]] = ()

    needs: list[Address] = Field(default_factory=list, description="Nodes that must finish first")
    phase: Name | None = Field(None, description="The phase (a list-form stage) this node runs in")
    timeout: Seconds | None = None


class StageConfig(NodeConfig):
    run: str | None = Field(None, description="A shell command; none makes the stage a phase")
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[Name] = Field(default_factory=list, description="Secrets passed as env vars")


class StageItem(StageConfig):
    """A stage in the list form: ordered phases, each a time budget its members share."""

    name: Name


class AlertsConfig(Model):
    """Where failure alerts go when a release or a rollback fails."""

    on_failure: list[Annotated[str, Field(pattern=ALERT_PATTERN)]] = Field(
        default_factory=lambda: ["console"], description=(
            "Channels: notify nodes (slack.x, email.x, webhook.x), `console`, and `custom` "
            "(handlers registered in Python or under the `scalpel.alert_handlers` entry point)"))
    repeat_after: Seconds = Field(3600, description=(
        "The same failure (release, node, error) is alerted again only after this long"))


class StateConfig(Model):
    """Where the state (releases, rollback points, journal, metrics) lives."""

    backend: Literal["local", "git", "postgres"] = Field("local", description=(
        "`local`: the .scalpel folder beside release.yml; `git`: refs/scalpel/* of the "
        "remote, shared by every clone and CI run; `postgres`: a PostgreSQL database shared "
        "by many projects (SCALPEL_STATE=git+origin or =postgresql://... overrides)"))
    remote: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        "origin", description="The git remote the git backend keeps the state in")
    url: Annotated[str, Field(pattern=POSTGRES_URL_PATTERN, max_length=2000)] | None = Field(
        None, description=(
            "The postgres backend's database, without its password (release.yml is "
            "committed: set PGPASSWORD or use ~/.pgpass)"),
        examples=["postgresql://scalpel@db.internal:5432/releases"])
    project: Annotated[str, Field(pattern=PROJECT_KEY_PATTERN,
                                  max_length=200)] | None = Field(
        None, description="This project's key in the postgres backend's database (default: "
        "the project's name)")

    @model_validator(mode="after")
    def _postgres_needs_url(self) -> StateConfig:
        if self.backend == "postgres" and not self.url:
            raise ValueError("`backend: postgres` needs `url: postgresql://USER@HOST/DATABASE`")
        return self


PackageTag = Annotated[str, Field(pattern=r"\{version\}")]


class PackageConfig(Model):
    """One package of a monorepo: the commits that touch its paths release it, with its own
    version (read from its own tags), changelog and nodes."""

    paths: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1),
                     InRepository(glob=True)] = Field(
        description="Folders (or glob patterns) of the repository that belong to the package")
    tag: PackageTag | Annotated[list[PackageTag], Field(min_length=1)] = Field(
        "{name}@{version}", description="Tag format; {name} is the package's name, {version} "
        "its version. A list: every format is read, the first is used for new tags")
    scheme: Literal["semver", "pep440", "calver"] | None = Field(
        None, description="Default: version.scheme")
    initial: Annotated[str, Field(pattern=SEMVER_PATTERN)] | None = Field(
        None, description="The first release's version (default: version.initial)")
    files: Annotated[list[str | VersionFileRule], InRepository()] = Field(
        default_factory=list, description="Files that spell the package's version, bumped in "
        "the release commit")
    changelog: Annotated[str, InRepository()] | None = Field(
        None, description="The package's changelog file (default, with a top-level "
        "`changelog:`: CHANGELOG.md in its first path)")
    scopes: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Commit scopes that count for the package whatever "
        "paths the commit touches (feat(b): ... for b)")
    depends_on: list[Name] | None = Field(
        None, description="The packages it depends on (default: read from the pyproject.toml "
        "or package.json in its first path): each of their releases updates its dependency "
        "and bumps it (dependency_bump); it is published after them")
    publish: dict[Address, dict[str, object]] = Field(
        default_factory=dict, description="The package's own publish nodes (git.<package>, "
        "pypi.<package>, ...): they run with its version and tag")
    notify: dict[Address, dict[str, object]] = Field(
        default_factory=dict, description="The package's own announcements")
    notes: NotesConfig | None = Field(
        None, description="The package's own release notes (its template; default: the "
        "top-level `notes:`)")


class Groups(Model):
    """Packages that release together, as changesets' groups do."""

    fixed: list[Annotated[list[Name], Field(min_length=2)]] = Field(
        default_factory=list, description="Each group shares one version: when any of them "
        "moves, all of them release the highest version of the group, bumped")
    linked: list[Annotated[list[Name], Field(min_length=2)]] = Field(
        default_factory=list, description="Those of a group that move release one version: "
        "the highest of theirs, bumped by the largest bump among them")


class Spec(Model):
    project: Project = Field(default_factory=Project)
    version: VersionPolicy | FixedVersion = Field(default_factory=VersionPolicy)
    changelog: ChangelogConfig | None = None
    notes: NotesConfig | None = None
    secrets: dict[Name, SecretDecl] = Field(default_factory=dict)
    stages: dict[Name, StageConfig] | list[StageItem] = Field(default_factory=dict)
    publish: dict[Address, dict[str, object]] = Field(default_factory=dict)
    notify: dict[Address, dict[str, object]] = Field(default_factory=dict)
    alerts: AlertsConfig | None = Field(None, description="Failure alerts (default: the "
                                        "console, and every notify node with `on: [failure]`)")
    state: StateConfig = Field(default_factory=StateConfig)
    packages: dict[Name, PackageConfig] = Field(
        default_factory=dict, description="A monorepo's packages, each released on its own "
        "(versions, tags, changelogs, nodes) in one plan")
    dependency_bump: Literal["none", "patch", "follow"] = Field(
        "patch", description="What a package whose dependency releases gets: nothing, a patch "
        "release, or the same bump as the dependency (follow)")
    groups: Groups = Field(default_factory=Groups, description="Fixed and linked groups of "
                           "packages")
    paths_shared: Annotated[list[Annotated[str, Field(min_length=1)]], InRepository(glob=True)
                            ] = Field(default_factory=list, description="Paths whose commits "
                                      "count for every package")

    @property
    def policy(self) -> VersionPolicy:
        return self.version if isinstance(self.version, VersionPolicy) else VersionPolicy()

    @property
    def fixed_version(self) -> str | None:
        return self.version if isinstance(self.version, str) else None

    @property
    def package_views(self) -> dict[str, PackageView]:
        """Each package as a spec of its own (its version policy and changelog)."""
        return package_views(self.policy, self.changelog, self.packages)

    def stage_list(self) -> list[tuple[str, StageConfig, bool]]:
        """(name, config, ordered) for every stage, in file order."""
        if isinstance(self.stages, list):
            return [(item.name, item, True) for item in self.stages]
        return [(name, cfg, False) for name, cfg in self.stages.items()]
