"""The values a plan or a state file may hold where they reach a command line, a path or a URL,
checked as a spec's are: whoever can write the file must not get an option into a git call
(``--upload-pack=...``), a path out of .scalpel/ or the repository, or a URL that is no URL.

Tags and branches follow git's own rules (``git check-ref-format``), and never start with
``-``; addresses, versions and apply ids are names without a ``/``; paths stay in the
repository. Each check returns the problems found as short texts ("release.tag '-x'").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from scalpel_plan.files import lexical_problem
from scalpel_plan.state.model import State

ADDRESS = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_@-]+$")
PROVIDER = re.compile(r"^[a-z][a-z0-9_]*$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,99}$")
APPLY_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
PLACEHOLDER = re.compile(r"^\$\{[a-z][a-z0-9_]*\.[A-Za-z0-9_-]+\.\w+\}$")
OWNER_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")  # a GitHub repository, as the spec has it
URL = re.compile(r"^https?://(?:[^\s/?#@]+@)?[^\s/?#@]+(?:[/?#]\S*)?$", re.ASCII)
DETACHED = "(detached)"  # the branch a plan on a detached HEAD shows
MAX_REF = 255
REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
TRANSPORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*::")  # git's <transport>::<address> (ext::)
URL_KEYS = ("api", "index", "url")  # attributes that hold where requests go

Check = Callable[[bool, str, object], None]


def ref_ok(name: object) -> bool:
    """Whether ``name`` is a tag or a branch name git accepts (``git check-ref-format``'s
    rules) that cannot be taken for an option."""
    if not isinstance(name, str) or not name or len(name) > MAX_REF or name.startswith("-"):
        return False
    if REF_FORBIDDEN.search(name) or name.startswith("/") or \
            name.endswith(("/", ".")):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))


def path_ok(value: object) -> bool:
    """Whether ``value`` is a path (or a glob) relative to the repository, staying in it."""
    return isinstance(value, str) and lexical_problem(value) is None and \
        not value.startswith("-")


def remote_ok(value: object) -> bool:
    """A git remote (a name or a URL) that cannot be taken for an option, nor name a transport
    helper (``ext::sh -c ...`` runs a command; only git's protocol policy stops it)."""
    return isinstance(value, str) and bool(value) and len(value) <= 2048 and \
        not value.startswith("-") and not _controls(value) and not TRANSPORT.match(value)


def url_ok(value: object) -> bool:
    """An http(s) URL with a host, no spaces and no control characters, or a secret or
    another node's attribute still to be filled in."""
    return isinstance(value, str) and not _controls(value) and \
        (bool(URL.match(value)) or _reference(value))


def _controls(value: str) -> bool:
    return any(ord(c) < 0x20 or c == "\x7f" for c in value)


def _reference(value: str) -> bool:
    return value.startswith("${") and value.endswith("}")


def collect() -> tuple[list[str], Check]:
    """A list of problems, and the function that adds one when a check fails."""
    problems: list[str] = []

    def check(ok: bool, what: str, value: object) -> None:
        if not ok:
            problems.append(f"{what} {_shown(value)}")
    return problems, check


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_attributes(address: str, provider: str, attrs: dict[str, Any], check: Check) -> None:
    """The attributes of a node (planned or recorded) that git, the file system and HTTP
    see: refs, commits, remotes, paths and URLs."""
    def ref_or_placeholder(value: object) -> bool:
        return ref_ok(value) or (isinstance(value, str) and bool(PLACEHOLDER.match(value)))

    for key in ("tag", "branch", "push_branch"):
        if attrs.get(key) is not None:
            value = attrs[key]
            check(ref_or_placeholder(value) or (key == "branch" and value == DETACHED),
                  f"{address}.{key}", value)
    for key in ("commit", "sha"):
        if attrs.get(key) is not None:
            value = attrs[key]
            check(isinstance(value, str) and bool(SHA.match(value) or PLACEHOLDER.match(value)),
                  f"{address}.{key}", value)
    if attrs.get("remote") is not None:
        check(remote_ok(attrs["remote"]), f"{address}.remote", attrs["remote"])
    for tag in _listed(attrs.get("moving")):
        check(ref_ok(tag), f"{address}.moving", tag)
    files = attrs.get("files")
    if attrs.get("kind") == "commit" and isinstance(files, dict | list):
        for path in files:
            check(path_ok(path), f"{address}.files", path)
    changelog = attrs.get("changelog")
    if isinstance(changelog, dict) and changelog.get("file") is not None:
        check(path_ok(changelog["file"]), f"{address}.changelog.file", changelog["file"])
    _check_provider_values(address, provider, attrs, check)


def _check_provider_values(address: str, provider: str, attrs: dict[str, Any],
                           check: Check) -> None:
    """Paths and URLs, by the provider whose spec fields they come from."""
    for key in URL_KEYS:
        if attrs.get(key) is not None:
            check(url_ok(attrs[key]), f"{address}.{key}", attrs[key])
    repository = attrs.get("repository")
    if repository is not None:
        ok = bool(OWNER_NAME.match(repository)) if provider == "github" and \
            isinstance(repository, str) else url_ok(repository)
        check(ok, f"{address}.repository", repository)
    if provider == "pypi" and attrs.get("pattern") is not None:
        check(path_ok(attrs["pattern"]), f"{address}.pattern", attrs["pattern"])
    if provider == "github":
        for pattern in _listed(attrs.get("assets")):
            check(path_ok(pattern), f"{address}.assets", pattern)
    source = attrs.get("source")
    if provider == "docker" and isinstance(source, str) and \
            not source.startswith("docker-daemon:"):
        check(path_ok(source), f"{address}.source", source)


def _listed(value: object) -> Iterable[object]:
    """The names ``value`` holds: itself, a list's items, or a mapping's keys (a recorded
    ``{name: id}``)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value)
    return [] if value is None else [value]


def state_value_problems(state: State) -> list[str]:
    """Every value of ``state`` that would reach a command line, a path or a URL, checked as
    a spec's (an empty list when all are fine)."""
    problems, check = collect()

    def version(value: str | None, what: str, optional: bool = True) -> None:
        check((optional and value is None) or bool(VERSION.match(value or "")), what, value)

    def commit(value: str | None, what: str) -> None:
        check(not value or bool(SHA.match(value)), what, value)

    version(state.live, "live")
    for i, r in enumerate(state.releases):
        version(r.version, f"releases[{i}].version", optional=False)
        version(r.previous, f"releases[{i}].previous")
        check(r.tag is None or ref_ok(r.tag), f"releases[{i}].tag", r.tag)
        commit(r.commit, f"releases[{i}].commit")
        check(r.apply_id is None or bool(APPLY_ID.match(r.apply_id)), f"releases[{i}].apply_id",
              r.apply_id)
        for k, attempt in enumerate(r.attempts):
            check(bool(APPLY_ID.match(attempt)), f"releases[{i}].attempts[{k}]", attempt)
    for address, resource in state.resources.items():
        check(bool(ADDRESS.match(address)) and resource.address == address, "a resource",
              address)
        check(bool(PROVIDER.match(resource.provider)), f"{address}.provider", resource.provider)
        check_attributes(address, resource.provider, resource.attributes, check)
    for i, p in enumerate(state.rollback_points):
        check(ref_ok(p.name), f"rollback_points[{i}].name", p.name)
        version(p.version, f"rollback_points[{i}].version", optional=False)
        commit(p.commit, f"rollback_points[{i}].commit")
        for address, attrs in p.resources.items():
            check(bool(ADDRESS.match(address)), f"rollback_points[{i}]: a resource", address)
            check_attributes(f"rollback_points[{i}].{address}", address.split(".", 1)[0],
                             attrs, check)
    for i, b in enumerate(state.rollbacks):
        check(bool(APPLY_ID.match(b.id)), f"rollbacks[{i}].id", b.id)
        version(b.from_version, f"rollbacks[{i}].from_version")
        version(b.to_version, f"rollbacks[{i}].to_version", optional=False)
        check(ref_ok(b.point), f"rollbacks[{i}].point", b.point)
    for i, h in enumerate(state.hotfixes):
        check(ref_ok(h.branch), f"hotfixes[{i}].branch", h.branch)
        check(ref_ok(h.point), f"hotfixes[{i}].point", h.point)
        version(h.fixes, f"hotfixes[{i}].fixes", optional=False)
        version(h.version, f"hotfixes[{i}].version")
        commit(h.commit, f"hotfixes[{i}].commit")
    if (active := state.active_apply) is not None:
        check(bool(APPLY_ID.match(active.id)), "active_apply.id", active.id)
        check(active.journal == f"journal/{active.id}.jsonl", "active_apply.journal",
              active.journal)
    return problems
