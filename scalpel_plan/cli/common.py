"""What every command module shares: the typer apps, the option types, and the helpers that
open a project, its records and its secrets, write files and ask for confirmation."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan.cli.plain import console_ui as console_ui  # re-exported: the commands' UI
from scalpel_plan.cli.plain import runner_mask

if TYPE_CHECKING:
    from scalpel_plan.operations.project import Project, Records
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.ui import UI

app = typer.Typer(
    name="scalpel", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Release engineering as a reviewable plan: validate, plan, apply, resume.",
)
state_app = typer.Typer(help="Inspect the recorded state and its lock.", no_args_is_help=True)
app.add_typer(state_app, name="state")
hotfix_app = typer.Typer(help="Fix a released version on a branch of its own.",
                         no_args_is_help=True)
app.add_typer(hotfix_app, name="hotfix")
metrics_app = typer.Typer(help="Release metrics: durations by category, trends, export.")
app.add_typer(metrics_app, name="metrics")

SpecFile = Annotated[Path, typer.Option("--file", "-f", help="The release spec.",
                                        show_default=True)]
LockTimeout = Annotated[str, typer.Option(help="Wait this long for the state lock (e.g. 30s, 5m).")]
Pre = Annotated[str | None, typer.Option(
    "--pre", help="Make a pre-release with this label (rc → 1.3.0-rc.1, then rc.2, ...).")]
Version = Annotated[str | None, typer.Option(
    "--version", help="Release this version instead of the computed one.")]
Packages = Annotated[list[str] | None, typer.Option(
    "--package", help="In a monorepo, plan this package only (repeatable).")]
AutoApprove = Annotated[bool, typer.Option(help="Do not ask for confirmation.")]
Parallelism = Annotated[int, typer.Option(min=1, help="Steps run at once.")]
JsonProgress = Annotated[bool, typer.Option("--json", help="Progress as JSON lines.")]
StageOutput = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Show each stage's output as it runs, prefixed by its address.")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Show the whole plan: every commit, the whole changelog and "
    "release notes, every line of each value.")]
FullPlanUrl = Annotated[str | None, typer.Option(
    "--full-plan-url",
    help="Where the whole plan is kept (a workflow run's artifacts): the Markdown plan links "
    "it when it has to cut itself to fit a comment; default, under GitHub Actions, the run's "
    "page.")]
DEFAULT_SPEC = Path("release.yml")


class PlanFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class ChangelogFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


class MetricsFormat(StrEnum):
    json = "json"
    csv = "csv"
    openmetrics = "openmetrics"


class GraphFormat(StrEnum):
    dot = "dot"
    mermaid = "mermaid"


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
    import os

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


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file the user named, atomically, through the secrets mask."""
    from scalpel_plan.files import write_masked

    write_masked(path, data)


def approved(ui: UI) -> bool:
    from scalpel_plan.errors import ScalpelError

    if not sys.stdin.isatty():
        raise ScalpelError("these changes need confirmation but there is no terminal to ask "
                           "at", hint="pass --auto-approve, or save the plan (--out FILE) and "
                           "apply that file")
    return ui.confirm("Do you want to perform these actions?")

