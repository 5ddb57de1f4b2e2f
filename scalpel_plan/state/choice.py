"""Which backend holds the state: ``SCALPEL_STATE`` (``local``, ``git+REMOTE``) when set, else
release.yml's ``state: {backend: local | git, remote: origin}``, else the local folder.

Every operation opens its backend here, and only here.
"""

from __future__ import annotations

import os
from pathlib import Path

from scalpel_plan import git
from scalpel_plan.errors import StateError
from scalpel_plan.state import StateBackend

ENV = "SCALPEL_STATE"
DEFAULT_REMOTE = "origin"


def chosen(section: object) -> tuple[str, str]:
    """(backend, remote) from the environment or release.yml's raw ``state`` section."""
    value = os.environ.get(ENV, "").strip()
    if value:
        if value == "local":
            return "local", DEFAULT_REMOTE
        if value.startswith("git+") and git.ref_name_problem(value[4:]) is None:
            return "git", value[4:]
        if value == "git":
            return "git", DEFAULT_REMOTE
        raise StateError(f"{ENV}={value!r} names no state backend",
                         hint=f"set {ENV} to `local` or `git+REMOTE` (e.g. git+origin), or "
                         "unset it to use release.yml's `state:`")
    if isinstance(section, dict):
        backend, remote = section.get("backend", "local"), section.get("remote", DEFAULT_REMOTE)
        if backend in ("local", "git") and isinstance(remote, str) and remote:
            return str(backend), remote
        raise StateError(f"release.yml's state section {section!r} names no state backend",
                         hint="use `state: {backend: local}` or `state: {backend: git, "
                         "remote: origin}`")
    return "local", DEFAULT_REMOTE


def open_backend(section: object, repo: Path | None, folder: Path) -> StateBackend:
    """The backend for ``section`` (release.yml's ``state``, raw); ``folder`` is the local
    ``.scalpel`` (the local backend's state, and the git backend's journal copy)."""
    from scalpel_plan.state.local import LocalBackend

    backend, remote = chosen(section)
    if backend == "local":
        return LocalBackend(folder)
    from scalpel_plan.state.git_backend import GitBackend

    if repo is None or git.find_root(repo) is None:
        raise StateError(f"the git state backend needs a git repository; {folder.parent} is "
                         "in none", hint=f"run scalpel in a clone, or set {ENV}=local")
    if remote not in git.remotes(repo):
        raise StateError(f"the git state backend keeps the state on remote {remote!r}, which "
                         f"{repo} does not have",
                         hint=f"add it (`git remote add {remote} URL`), or name another in "
                         f"release.yml's `state: {{remote: ...}}` or {ENV}=git+REMOTE")
    return GitBackend(repo, remote, folder)


def open_url(url: str, repo: Path | None, folder: Path) -> StateBackend:
    """The backend ``url`` names, read exactly as ``SCALPEL_STATE`` is (``local``,
    ``git+REMOTE``, and whatever else the variable learns to name), for ``state migrate --to``;
    ``folder`` as for ``open_backend``."""
    saved = os.environ.get(ENV)
    os.environ[ENV] = url
    try:
        return open_backend(None, repo, folder)
    except StateError as exc:
        if "names no state backend" not in exc.message:
            raise
        raise StateError(f"--to {url!r} names no state backend",
                         hint=f"--to takes what {ENV} takes: " + (exc.hint or "")) from None
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved
