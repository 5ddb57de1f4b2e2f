"""Which backend holds the state: ``SCALPEL_STATE`` (``local``, ``git+REMOTE``,
``postgresql://...``) when set, else release.yml's ``state: {backend: local | git | postgres,
...}``, else the local folder.

Every operation opens its backend here, and only here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from scalpel_plan import git
from scalpel_plan.errors import StateError
from scalpel_plan.state import StateBackend

ENV = "SCALPEL_STATE"
DEFAULT_REMOTE = "origin"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
CHOICES = "`local`, `git+REMOTE` (e.g. git+origin) or `postgresql://USER@HOST/DATABASE`"


@dataclass(frozen=True)
class Choice:
    backend: str  # local | git | postgres
    remote: str = DEFAULT_REMOTE  # git's
    url: str = ""  # postgres's
    project: str | None = None  # postgres's project key, when release.yml's state names one


def chosen(section: object) -> Choice:
    """The backend from the environment or release.yml's raw ``state`` section."""
    from scalpel_plan.state.postgres_url import masked_url, url_password

    key = section.get("project") if isinstance(section, dict) else None
    project = key if isinstance(key, str) and key else None
    value = os.environ.get(ENV, "").strip()
    if value:
        if value == "local":
            return Choice("local")
        if value.startswith("git+") and git.ref_name_problem(value[4:]) is None:
            return Choice("git", value[4:])
        if value == "git":
            return Choice("git")
        if value.startswith(POSTGRES_SCHEMES):
            return Choice("postgres", url=value, project=project)
        shown = masked_url(value) if "://" in value else \
            re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", value)  # a key=value string
        raise StateError(f"{ENV}={shown!r} names no state backend",
                         hint=f"set {ENV} to {CHOICES}, or unset it to use release.yml's "
                         "`state:`")
    if not isinstance(section, dict):
        return Choice("local")
    backend, remote = section.get("backend", "local"), section.get("remote", DEFAULT_REMOTE)
    url = section.get("url")
    if backend == "postgres" and isinstance(url, str) and url.startswith(POSTGRES_SCHEMES):
        if url_password(url):
            raise StateError(f"release.yml's state url {masked_url(url)} holds a password",
                             hint="release.yml is committed: take the password out of it and "
                             "set PGPASSWORD (or use ~/.pgpass) where scalpel runs")
        return Choice("postgres", url=url, project=project)
    if backend in ("local", "git") and isinstance(remote, str) and remote:
        return Choice(str(backend), remote)
    raise StateError(f"release.yml's state section {_shown(section)} names no state backend",
                     hint="use `state: {backend: local}`, `state: {backend: git, remote: "
                     "origin}` or `state: {backend: postgres, url: postgresql://USER@HOST/DB}`")


def _shown(section: dict[object, object]) -> str:
    from scalpel_plan.state.postgres_url import masked_url

    return repr({k: masked_url(v) if isinstance(v, str) and "://" in v else v
                 for k, v in section.items()})


def open_backend(section: object, repo: Path | None, folder: Path, *,
                 project: str | None = None) -> StateBackend:
    """The backend for ``section`` (release.yml's ``state``, raw); ``folder`` is the local
    ``.scalpel`` (the local backend's state, and a shared backend's journal copy);
    ``project`` is the project's name, the postgres backend's key unless release.yml's
    ``state: {project: KEY}`` names another."""
    from scalpel_plan.state.local import LocalBackend

    choice = chosen(section)
    if choice.backend == "local":
        return LocalBackend(folder)
    if choice.backend == "postgres":
        from scalpel_plan.state.postgres_backend import PostgresBackend

        return PostgresBackend(choice.url, choice.project or project or folder.parent.name,
                               folder)
    from scalpel_plan.state.git_backend import GitBackend

    remote = choice.remote
    if repo is None or git.find_root(repo) is None:
        raise StateError(f"the git state backend needs a git repository; {folder.parent} is "
                         "in none", hint=f"run scalpel in a clone, or set {ENV}=local")
    if remote not in git.remotes(repo):
        raise StateError(f"the git state backend keeps the state on remote {remote!r}, which "
                         f"{repo} does not have",
                         hint=f"add it (`git remote add {remote} URL`), or name another in "
                         f"release.yml's `state: {{remote: ...}}` or {ENV}=git+REMOTE")
    return GitBackend(repo, remote, folder)


def open_url(url: str, repo: Path | None, folder: Path, *,
             project: str | None = None) -> StateBackend:
    """The backend ``url`` names, read exactly as ``SCALPEL_STATE`` is (``local``,
    ``git+REMOTE``, and whatever else the variable learns to name), for ``state migrate --to``;
    ``folder`` as for ``open_backend``."""
    saved = os.environ.get(ENV)
    os.environ[ENV] = url
    try:
        return open_backend(None, repo, folder, project=project)
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
