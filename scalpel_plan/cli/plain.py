"""What the commands share that needs no typer: the UI, the runner's mask, opening a project
and its records. (`scalpel changelog` and `scalpel plan` run without importing typer at all:
see ``cli.changelog`` and ``cli.plan``.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from scalpel_plan.operations.project import Project, Records
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.ui import UI


def console_ui() -> UI:
    from scalpel_plan.ui import UI

    return UI()


def runner_mask() -> Callable[[str], None] | None:
    """Under GitHub Actions each secret value is also registered with the runner
    (``::add-mask::``), so that the runner's own log masks it."""
    return console_ui().add_mask if os.environ.get("GITHUB_ACTIONS") == "true" else None


def open_at(file: Path, *, need_repo: bool = True) -> Project:
    """The project ``file`` declares, its secrets loaded and masked before anything prints."""
    from scalpel_plan.operations.project import open_project

    return open_project(file, need_repo=need_repo, on_secret=runner_mask())


def records_at(file: Path) -> Records:
    from scalpel_plan.operations.project import open_records

    return open_records(file, on_secret=runner_mask())


def duration(text: str) -> float:
    from scalpel_plan.errors import ScalpelError

    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    if text.replace(".", "", 1).isdigit():
        return float(text)
    raise ScalpelError(f"--lock-timeout {text!r} is not a duration", hint="for example 30s or 5m")


def full_plan_url(given: str | None) -> str | None:
    """``given``, or under GitHub Actions the page of the running workflow run (its
    artifacts are listed there)."""
    if given:
        return given
    server, repository, run = (os.environ.get(k) for k in (
        "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if os.environ.get("GITHUB_ACTIONS") == "true" and server and repository and run:
        return f"{server}/{repository}/actions/runs/{run}"
    return None


def save_plan(the_plan: Plan, out: Path) -> None:
    from scalpel_plan.plan.file import save_plan as save

    save(the_plan, out)
