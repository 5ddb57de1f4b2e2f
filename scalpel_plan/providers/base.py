"""The provider protocol: what every kind of node (stage, git, console, ...) implements.

A provider turns a node's config into desired attributes, reads what is live (read-only),
diffs desired against recorded and live into a Change, applies a Change idempotently (adopting
what already happened remotely), and says how to revert what it recorded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalpel_plan.providers.message import Message
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import NodeConfig

Action = Literal["create", "update", "replace", "delete", "run", "adopt", "no-op"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete", "run", "adopt", "no-op")
Attributes = dict[str, Any]


class Change(BaseModel):
    """What the plan will do to one node. ``unknown`` names attributes known only after apply."""

    model_config = ConfigDict(frozen=True)

    address: str
    provider: str
    action: Action
    before: Attributes = Field(default_factory=dict)
    after: Attributes = Field(default_factory=dict)
    unknown: list[str] = Field(default_factory=list)
    reason: str = ""
    warning: str = ""  # something the reviewer must know (shown with the plan's warnings)
    reversible: bool = True
    needs: list[str] = Field(default_factory=list)
    phase: str | None = None
    timeout: float | None = None

    @property
    def actionable(self) -> bool:
        return self.action != "no-op"


class Drift(BaseModel):
    """Something changed outside Scalpel since it was recorded."""

    model_config = ConfigDict(frozen=True)

    address: str
    message: str


@dataclass(frozen=True)
class Node:
    """One thing a release does, addressed ``<provider>.<name>``."""

    address: str
    provider: str
    name: str
    section: str  # "stages" | "publish" | "notify"
    config: NodeConfig
    phase: str | None = None
    ordered_phase: bool = False  # a list-form stage: a phase gate
    package: str | None = None  # a monorepo package's own node: it runs with its release

    @property
    def timeout(self) -> float | None:
        return self.config.timeout


@dataclass(frozen=True)
class Release:
    """The release a plan is for: what the desired attributes are computed from."""

    project: str
    version: str
    previous: str | None
    tag: str
    commit: str  # HEAD when the plan was made
    repo: Path
    workdir: Path  # the .scalpel folder
    tag_commit: str = ""  # what the tag points at: `commit`, or the release commit's reference
    changelog: str | None = None  # the changelog section the release publishes
    notes: str | None = None  # the release notes
    links: tuple[tuple[str, str], ...] = ()  # (label, URL): the release and its artifacts
    commit_message: str = ""  # the release commit's subject, when the release makes one
    # a monorepo's release: (package, version, changelog section) of each package it moves
    parts: tuple[tuple[str, str, str | None], ...] = ()
    # and (package, last release) of each package it does not move: the version a moving
    # dependent's range of it is moved to (a dependency released alone, --package)
    released: tuple[tuple[str, str], ...] = ()
    base: str = ""  # on a detached HEAD (a pull request's merge commit): the branch planned on

    @property
    def tagged(self) -> str:
        return self.tag_commit or self.commit


class LiveCache:
    """What a plan's reads share (its pre-flight checks and its nodes): memoised reads (one
    ls-remote per remote), thread-safe, and the secrets they may use to read (never to change
    anything). A read that fails is not kept: the next one asks again."""

    def __init__(self, secrets: SecretsManager | None = None) -> None:
        self.secrets = secrets or SecretsManager({})
        self._values: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._values:
                self._values[key] = load()
            return self._values[key]


def remote_tags_key(remote: str) -> tuple[str, ...]:
    """The LiveCache key of ``remote``'s tags (name → commit, ``git.remote_tags``)."""
    return ("git-ls-remote", remote)


def local_tags_key(repo: Path) -> tuple[str, ...]:
    """The LiveCache key of the repository's own tags (name → (commit, tag object)), read
    once for many releases (``scalpel state import``); unset, each read asks git."""
    return ("git-local-tags", str(repo))


def remote_branch_key(remote: str, branch: str) -> tuple[str, ...]:
    """The LiveCache key of the commit ``branch`` is at on ``remote`` (None: no such
    branch)."""
    return ("git-ls-remote-branch", remote, branch)


@dataclass
class StepContext:
    """What a provider's apply gets besides the change itself."""

    release: Release
    timeout: float | None
    announce: Callable[[str, str], None]  # (address, text): shown at once (printed, flushed)
    log_dir: Path
    secrets: SecretsManager = field(default_factory=lambda: SecretsManager({}))
    extra_env: dict[str, str] = field(default_factory=dict)
    # Journal what the step has got to before it finishes (durably): e.g. "sending", so a
    # killed apply knows a message may have gone out.
    record: Callable[[Attributes], None] = field(default=lambda attributes: None)
    # What a stage prints, masked, as it comes (text, not cut into lines): `--verbose` shows it
    output: Callable[[str], None] = field(default=lambda text: None)


class Provider:
    """Base class with the defaults most providers want; subclasses override what they need."""

    name: ClassVar[str]
    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    reversible: ClassVar[bool] = True
    keeps_history: ClassVar[bool] = True  # recorded in rollback points (what a rollback reads)
    declarable: ClassVar[bool] = True  # False: its nodes are made by Scalpel, not release.yml
    announces: ClassVar[bool] = False  # True: sends messages (notify nodes, failure alerts)
    publishes: ClassVar[bool] = False  # True: pushes or uploads what cannot be taken back
    # The attributes of a Change release.yml alone fixes (never what exists at apply time):
    # a saved plan whose values differ from what release.yml gives was edited, and is refused.
    spec_bound: ClassVar[tuple[str, ...]] = ()

    def desired(self, node: Node, release: Release) -> Attributes:
        raise NotImplementedError

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes | None:
        """What is live now (read-only). None when the provider has nothing to read."""
        return None

    def read_past(self, node: Node, release: Release, live: LiveCache) -> Attributes | None:
        """What this node left for ``release``, a release made before Scalpel (its tag, its
        image's digests, its files on the index), read where it is now and given as an apply
        would have recorded it: ``scalpel state import``. None when nothing is found there,
        or when the provider has nothing to read."""
        return None

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        raise NotImplementedError

    def links(self, node: Node, release: Release) -> list[tuple[str, str]]:
        """(label, URL) of what this node publishes, for announcements to link to."""
        return []

    def preflight(self, change: Change, upstream: set[str]) -> None:
        """Raise ProviderError for a problem plan can see before anything is applied
        (``upstream``: every node that runs before this one), e.g. files nothing builds."""

    def confirm(self, change: Change, release: Release) -> None:
        """Raise ProviderError when, just before the first irreversible step of an apply,
        what ``change`` would publish is not what was planned (the build made files of
        another version; the target moved). Called once per apply, for every publishing
        change still to do, before any of them starts."""

    def drift(self, node: Node, recorded: Attributes, observed: Attributes | None) -> str | None:
        """A sentence when what was recorded is no longer what is live."""
        return None

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        """Make ``change`` real and return the attributes to record. Must be idempotent."""
        raise NotImplementedError

    def revert(self, address: str, recorded: Attributes) -> Change | None:
        """The change that puts back what ``recorded`` (a rollback point's attributes) says,
        or None when going back needs nothing here, or cannot be done."""
        return None

    def target(self, config: Any) -> Attributes:
        """An announcer's recipient, as recorded (secret references, never values)."""
        raise NotImplementedError

    def send(self, address: str, target: Attributes, message: Message,
             secrets: SecretsManager) -> Attributes:
        """An announcer delivers ``message``; returns what to record. Raises ProviderError."""
        raise NotImplementedError

    def by_hand(self, address: str, current: Attributes) -> str | None:
        """What a rollback cannot undo here, and what to do about it by hand (None: nothing
        is left behind)."""
        return None

    def done_for_release(self, node: Node, desired: Attributes, recorded: Attributes | None,
                         reason: str = "") -> Change | None:
        """A no-op when ``recorded`` says this node already did its part for the release."""
        if recorded and recorded.get("release") == desired["release"]:
            return self.change(node, "no-op", before=recorded, after=recorded, reason=reason)
        return None

    def change(self, node: Node, action: Action, *, before: Attributes | None = None,
               after: Attributes | None = None, reason: str = "",
               unknown: list[str] | None = None) -> Change:
        """A Change for ``node`` with the provider's reversibility filled in."""
        return Change(address=node.address, provider=self.name, action=action,
                      before=before or {}, after=after or {}, unknown=unknown or [],
                      reason=reason, reversible=self.reversible, phase=node.phase,
                      timeout=node.timeout)


# The release commit, made by Scalpel itself from version.files and changelog (the
# ``git_commit`` provider); the release tag points at it, known once it is made.
RELEASE_COMMIT = "git.commit"
RELEASE_COMMIT_SHA = "${git.commit.sha}"
RELEASE_COMMIT_SHORT = "${git.commit.sha[:12]}"  # in a message's text: its first 12 digits
RELEASE_COMMIT_BRANCH = "${git.commit.branch}"

REFERENCE = re.compile(r"^\$\{(?P<address>[a-z][a-z0-9_]*\.[A-Za-z0-9_-]+)\.(?P<attr>\w+)\}$")


def is_reference(value: object) -> bool:
    """Whether ``value`` is another node's attribute, known only once that node is applied."""
    return isinstance(value, str) and REFERENCE.match(value) is not None


def resolve(attributes: Attributes, recorded: Callable[[str], Attributes | None]) -> Attributes:
    """``attributes`` with every ``${address.attr}`` replaced by what that node recorded."""
    def one(value: Any) -> Any:
        if isinstance(value, str) and (match := REFERENCE.match(value)):
            found = recorded(match["address"]) or {}
            if match["attr"] not in found:
                from scalpel_plan.errors import ProviderError

                raise ProviderError(f"{value} is not known: {match['address']} recorded no "
                                    f"{match['attr']}")
            return found[match["attr"]]
        return value

    return {key: one(value) for key, value in attributes.items()}


def fill(template: str, release: Release, *, where: str) -> str:
    """Replace {project}, {version}, {previous}, {tag}, {commit} in a short config string."""
    from string import Formatter

    from scalpel_plan.errors import ProviderError

    values = {"project": release.project, "version": release.version,
              "previous": release.previous or "", "tag": release.tag,
              "commit": release.commit,  # (a reference: announcements fill it in at apply)
              "short_commit": RELEASE_COMMIT_SHORT if release.commit == RELEASE_COMMIT_SHA
              else release.commit[:12]}
    try:
        names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ProviderError(f"{where}: bad template {template!r}: {exc}",
                            hint="write a literal brace as {{ or }}") from None
    unknown = sorted(names - set(values))
    if unknown:
        raise ProviderError(f"{where}: unknown variable {{{unknown[0]}}} in {template!r}",
                            hint=f"available: {', '.join('{' + v + '}' for v in values)}")
    return template.format_map(values)
